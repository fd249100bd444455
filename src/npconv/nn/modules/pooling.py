"""Pooling layers. Dimension-generic bases hold the hyper-parameters exactly as torch stores them (for equal
reprs) and make one call into ``npconv.nn.functional``; the 1d/2d/3d classes set the dimension count."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...tensor import Tensor
from ..functional import pooling as P
from .module import Module

__all__ = [
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "AdaptiveAvgPool3d",
    "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
    "AdaptiveMaxPool3d",
    "AvgPool1d",
    "AvgPool2d",
    "AvgPool3d",
    "MaxPool1d",
    "MaxPool2d",
    "MaxPool3d",
]

IntOrTuple = int | Sequence[int]


class _WindowPoolNd(Module):
    """What max and average pooling share: the window arguments, stored as given (stride defaulting to
    kernel_size) for torch's reprs."""

    ndim: int

    def __init__(
        self, kernel_size: IntOrTuple, stride: IntOrTuple | None, padding: IntOrTuple, ceil_mode: bool
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _MaxPoolNd(_WindowPoolNd):
    """Max pooling over ``ndim`` spatial dims.

    Args:
        kernel_size: window size, int or tuple.
        stride: window step. Default: None (= kernel_size).
        padding: implicit −inf padding on both sides, at most half the kernel size. Default: 0.
        dilation: spacing between window elements. Default: 1.
        return_indices: also return the flat per-plane index of each maximum. Default: False.
        ceil_mode: round the output size up. Default: False.

    Shape:
        - Input: (N, C, *in) or (C, *in).
        - Output: (N, C, *out) or (C, *out) with, per spatial dim,
          out = floor((in + 2·padding − dilation·(kernel_size − 1) − 1) / stride + 1) (ceil in ceil_mode).
    """

    def __init__(
        self,
        kernel_size: IntOrTuple,
        stride: IntOrTuple | None = None,
        padding: IntOrTuple = 0,
        dilation: IntOrTuple = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.dilation = dilation
        self.return_indices = return_indices

    def forward(self, input: Tensor) -> Any:  # noqa: A002
        return P.max_pool_nd(
            self.ndim, input, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
            self.return_indices,
        )

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, dilation={self.dilation}, ceil_mode={self.ceil_mode}"


class MaxPool1d(_MaxPoolNd):
    __doc__ = "1-d " + _MaxPoolNd.__doc__
    ndim = 1


class MaxPool2d(_MaxPoolNd):
    __doc__ = "2-d " + _MaxPoolNd.__doc__ + """
    Example:
        >>> nn.MaxPool2d(2)(npconv.randn(1, 6, 28, 28)).shape
        npconv.Size([1, 6, 14, 14])
    """
    ndim = 2


class MaxPool3d(_MaxPoolNd):
    __doc__ = "3-d " + _MaxPoolNd.__doc__
    ndim = 3


class _AvgPoolNd(_WindowPoolNd):
    """Average pooling over ``ndim`` spatial dims.

    Args:
        kernel_size: window size, int or tuple.
        stride: window step. Default: None (= kernel_size).
        padding: implicit zero padding on both sides, at most half the kernel size. Default: 0.
        ceil_mode: round the output size up. Default: False.
        count_include_pad: count the zero padding in the divisor. Default: True.
        divisor_override: (2d and 3d) divide every window sum by this number instead. Default: None.

    Shape:
        - Input: (N, C, *in) or (C, *in).
        - Output: (N, C, *out) or (C, *out) with, per spatial dim,
          out = floor((in + 2·padding − kernel_size) / stride + 1) (ceil in ceil_mode).
    """

    def __init__(
        self,
        kernel_size: IntOrTuple,
        stride: IntOrTuple | None = None,
        padding: IntOrTuple = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> None:
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return P.avg_pool_nd(
            self.ndim, input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
            self.count_include_pad, self.divisor_override,
        )


class AvgPool1d(_AvgPoolNd):
    __doc__ = "1-d " + _AvgPoolNd.__doc__
    ndim = 1

    def __init__(
        self,
        kernel_size: IntOrTuple,
        stride: IntOrTuple | None = None,
        padding: IntOrTuple = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
    ) -> None:
        # torch stores AvgPool1d's hyper-parameters as 1-tuples (and prints them so)
        super().__init__(
            _single(kernel_size), _single(stride if stride is not None else kernel_size), _single(padding),
            ceil_mode, count_include_pad,
        )

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return P.avg_pool_nd(
            1, input, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad
        )


class AvgPool2d(_AvgPoolNd):
    __doc__ = "2-d " + _AvgPoolNd.__doc__
    ndim = 2


class AvgPool3d(_AvgPoolNd):
    __doc__ = "3-d " + _AvgPoolNd.__doc__
    ndim = 3


def _single(value: Any) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


class _AdaptivePoolNd(Module):
    """What adaptive average and max pooling share: the output size, stored as given."""

    ndim: int

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class _AdaptiveAvgPoolNd(_AdaptivePoolNd):
    """Adaptive average pooling to a fixed output size over ``ndim`` spatial dims.

    Args:
        output_size: int or tuple; a None entry keeps the input's size.

    Shape:
        - Input: (N, C, *in) or (C, *in).  - Output: (N, C, *output_size) or (C, *output_size).
        Output position i covers input positions floor(i·in/out) … ceil((i + 1)·in/out) − 1.
    """

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return P.adaptive_avg_pool_nd(self.ndim, input, self.output_size)


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    __doc__ = "1-d " + _AdaptiveAvgPoolNd.__doc__
    ndim = 1


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    __doc__ = "2-d " + _AdaptiveAvgPoolNd.__doc__
    ndim = 2


class AdaptiveAvgPool3d(_AdaptiveAvgPoolNd):
    __doc__ = "3-d " + _AdaptiveAvgPoolNd.__doc__
    ndim = 3


class _AdaptiveMaxPoolNd(_AdaptivePoolNd):
    """Adaptive max pooling to a fixed output size over ``ndim`` spatial dims.

    Args:
        output_size: int or tuple; a None entry keeps the input's size.
        return_indices: also return the flat per-plane index of each maximum. Default: False.

    Shape:
        - Input: (N, C, *in) or (C, *in).  - Output: (N, C, *output_size) or (C, *output_size).
    """

    def __init__(self, output_size: Any, return_indices: bool = False) -> None:
        super().__init__(output_size)
        self.return_indices = return_indices

    def forward(self, input: Tensor) -> Any:  # noqa: A002
        return P.adaptive_max_pool_nd(self.ndim, input, self.output_size, self.return_indices)


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    __doc__ = "1-d " + _AdaptiveMaxPoolNd.__doc__
    ndim = 1


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    __doc__ = "2-d " + _AdaptiveMaxPoolNd.__doc__
    ndim = 2


class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd):
    __doc__ = "3-d " + _AdaptiveMaxPoolNd.__doc__
    ndim = 3
