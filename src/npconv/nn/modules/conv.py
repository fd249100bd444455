"""Convolution layers: Conv1d/2d/3d and ConvTranspose1d/2d/3d.

One dimension-generic base, ``_ConvNd``, holds the normalised hyper-parameters and the Parameters; the
transposed base only changes the constructor's argument order and the forward call. The concrete classes
set the number of spatial dimensions and nothing else. Every argument rule comes from
``npconv.conv.arguments``; every computation from ``npconv.nn.functional``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from ... import dtypes as _dtypes
from ...conv import arguments
from ...tensor import DEFAULT_FLOAT, Tensor
from .. import init
from ..functional import conv as conv_functional
from ..functional.padding_modes import conv_transpose_nd_with_padding_mode
from ..parameter import Parameter, UninitializedParameter
from .module import Module

__all__ = [
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "ConvTranspose1d",
    "ConvTranspose2d",
    "ConvTranspose3d",
    "LazyConv1d",
    "LazyConv2d",
    "LazyConv3d",
    "LazyConvTranspose1d",
    "LazyConvTranspose2d",
    "LazyConvTranspose3d",
]

IntOrTuple = int | Sequence[int]
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _check_channels(name: str, value: Any, lazy: bool = False) -> int:
    """A channel count: a positive int (0 marks a lazy layer's in_channels, inferred at the first call)."""
    if not arguments._is_int(value):
        raise TypeError(f"{name} must be an int, but got {name}={value!r}")
    if value < 0:
        # torch fails here too, creating the weight: "Trying to create tensor with negative dimension"
        raise RuntimeError(f"{name} must be a positive integer, but got {name}={value}")
    if value == 0 and not lazy:
        raise ValueError(f"{name} must be a positive integer, but got {name}={value}")
    return int(value)


class _ConvNd(Module):
    """Base of the convolution layers; subclasses set ``_ndim`` (the number of spatial dimensions)."""

    _ndim: ClassVar[int]
    _transposed: ClassVar[bool] = False
    # Padding modes a layer of this kind accepts; the only place that says so.
    _padding_modes: ClassVar[tuple[str, ...]] = PADDING_MODES

    in_channels: int
    out_channels: int
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: str | tuple[int, ...] | tuple[tuple[int, int], ...]
    dilation: tuple[int, ...]
    transposed: bool
    output_padding: tuple[int, ...]
    groups: int
    padding_mode: str
    weight: Parameter
    bias: Parameter | None

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrTuple,
        stride: IntOrTuple = 1,
        padding: arguments.PaddingArg = 0,
        dilation: IntOrTuple = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self._setup(
            in_channels, out_channels, kernel_size, stride, padding, dilation, 0, groups, bias, padding_mode,
            device, dtype,
        )

    def _setup(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrTuple,
        stride: IntOrTuple,
        padding: arguments.PaddingArg,
        dilation: IntOrTuple,
        output_padding: IntOrTuple,
        groups: int,
        bias: bool,
        padding_mode: str,
        device: Any,
        dtype: Any,
    ) -> None:
        """Validate and store the hyper-parameters, create the Parameters and initialise them."""
        name, ndim = type(self).__name__, self._ndim
        self._check_padding_mode(padding_mode)
        in_channels = _check_channels("in_channels", in_channels, lazy=isinstance(self, _LazyConvMixin))
        out_channels = _check_channels("out_channels", out_channels)
        if not arguments._is_int(groups) or groups <= 0:
            raise ValueError(f"groups must be a positive integer, but got groups={groups!r}")
        if in_channels % groups:
            raise ValueError(f"in_channels must be divisible by groups, but got in_channels={in_channels}, groups={groups}")
        if out_channels % groups:
            raise ValueError(f"out_channels must be divisible by groups, but got out_channels={out_channels}, groups={groups}")
        kernel = arguments.expand_arg(kernel_size, ndim, "kernel_size", name)
        strides = arguments.expand_arg(stride, ndim, "stride", name)
        dilations = arguments.expand_arg(dilation, ndim, "dilation", name)
        extra = arguments.expand_arg(output_padding, ndim, "output_padding", name)
        if any(k <= 0 for k in kernel):
            raise RuntimeError(f"kernel size should be greater than zero, but got kernel_size={kernel} in {name}")
        arguments._check_positive(name, "stride", strides)
        arguments._check_positive(name, "dilation", dilations)
        allowed = arguments.CONV_TRANSPOSE_PADDING_STRINGS if self._transposed else arguments.CONV_PADDING_STRINGS
        normalized = arguments.normalize_padding(padding, ndim, name, allowed)
        if normalized == "same" and not self._transposed:
            # torch rejects 'same' with a stride at construction; the rule itself lives with the others.
            arguments.resolve_conv_padding(normalized, kernel, kernel, strides, dilations)
        if device not in (None, "cpu"):
            raise RuntimeError(f"npconv runs on the CPU only, but got device={device!r}")

        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel
        self.stride = strides
        self.padding = _stored_padding(padding, normalized)
        self.dilation = dilations
        self.transposed = self._transposed
        self.output_padding = extra
        self.groups = int(groups)
        self.padding_mode = padding_mode

        numpy_dtype = _dtypes.to_numpy_dtype(dtype) or DEFAULT_FLOAT
        if self._transposed:
            weight_shape = (in_channels, out_channels // groups, *kernel)
        else:
            weight_shape = (out_channels, in_channels // groups, *kernel)
        self.weight = Parameter(Tensor._wrap(np.empty(weight_shape, dtype=numpy_dtype)))
        if bias:
            self.bias = Parameter(Tensor._wrap(np.empty(out_channels, dtype=numpy_dtype)))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def _check_padding_mode(self, padding_mode: str) -> None:
        if padding_mode in self._padding_modes:
            return
        if self._padding_modes == ("zeros",):
            raise ValueError(f'Only "zeros" padding mode is supported for {type(self).__name__}')
        raise ValueError(
            f"padding_mode must be one of {set(self._padding_modes)}, but got padding_mode={padding_mode!r}"
        )

    def reset_parameters(self) -> None:
        """torch's default init: weight ~ kaiming_uniform_(a=√5), i.e. U(−1/√fan_in, 1/√fan_in), and
        bias ~ U(−1/√fan_in, 1/√fan_in), with fan_in = weight.shape[1]·Πkernel_size."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * len(self.padding):
            text += f", padding={self.padding}"
        if self.dilation != (1,) * len(self.dilation):
            text += f", dilation={self.dilation}"
        if self.output_padding != (0,) * len(self.output_padding):
            text += f", output_padding={self.output_padding}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode}"
        return text

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return conv_functional.conv_nd_with_padding_mode(
            self._ndim, input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups,
            self.padding_mode,
        )


def _stored_padding(given: Any, normalized: str | list[arguments.Pair]) -> Any:
    """The ``padding`` attribute as torch stores it: the string, one int per dim, or — for the (lo, hi)
    extension — one pair per dim."""
    if isinstance(normalized, str):
        return normalized
    given_as_pairs = isinstance(given, (tuple, list)) and any(isinstance(p, (tuple, list)) for p in given)
    if given_as_pairs:
        return tuple(normalized)
    return tuple(lo for lo, _ in normalized)


class _ConvTransposeNd(_ConvNd):
    """Base of the transposed convolution layers (torch's argument order: output_padding, groups, bias,
    dilation)."""

    _transposed: ClassVar[bool] = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrTuple,
        stride: IntOrTuple = 1,
        padding: IntOrTuple | str = 0,
        output_padding: IntOrTuple = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: IntOrTuple = 1,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        Module.__init__(self)
        self._setup(
            in_channels, out_channels, kernel_size, stride, padding, dilation, output_padding, groups, bias,
            padding_mode, device, dtype,
        )

    def forward(self, input: Tensor, output_size: Sequence[int] | None = None) -> Tensor:  # noqa: A002
        """``output_size`` (spatial, or with the batch and channel dims) picks the output_padding that
        reaches it; ValueError when it lies outside [min, min + stride − 1] in some dimension.

        padding_mode 'reflect', 'replicate' or 'circular' (which torch rejects here) gives the exact adjoint
        of the Conv layer with the same configuration and weight."""
        return conv_transpose_nd_with_padding_mode(
            self._ndim, input, self.weight, self.bias, self.stride, self.padding, self.output_padding,
            self.groups, self.dilation, self.padding_mode, output_size=output_size,
        )


class Conv1d(_ConvNd):
    r"""Applies a 1D convolution (cross-correlation) over an input signal of several input planes.

    Args:
        in_channels (int): Number of channels in the input.
        out_channels (int): Number of channels produced by the convolution.
        kernel_size (int or tuple): Size of the convolving kernel.
        stride (int or tuple, optional): Stride of the convolution. Default: 1
        padding (int, tuple or str, optional): Padding added to both sides of the input: an int, a
            (lo, hi) pair in a 1-tuple, ``'valid'``, ``'same'`` (stride 1), ``'same_upper'``,
            ``'same_lower'`` or ``'causal'`` (d·(k − 1) on the left). Default: 0
        dilation (int or tuple, optional): Spacing between kernel elements. Default: 1
        groups (int, optional): Number of blocked connections from input to output channels. Default: 1
        bias (bool, optional): If ``True``, adds a learnable bias to the output. Default: ``True``
        padding_mode (str, optional): ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``.
            Default: ``'zeros'``
        device: only ``None`` or ``'cpu'``. Default: ``None``
        dtype: dtype of the parameters. Default: ``None`` (float32)

    Shape:
        - Input: :math:`(N, C_{in}, L_{in})` or :math:`(C_{in}, L_{in})`
        - Output: :math:`(N, C_{out}, L_{out})` or :math:`(C_{out}, L_{out})`, where

          L_out = floor((L_in + 2·padding − dilation·(kernel_size − 1) − 1) / stride + 1)

    Attributes:
        weight (Tensor): the learnable weights of shape (out_channels, in_channels / groups, kernel_size),
            sampled from U(−√k, √k) with k = groups / (C_in · kernel_size).
        bias (Tensor): the learnable bias of shape (out_channels), sampled from U(−√k, √k), same k.

    Examples::

        >>> m = nn.Conv1d(16, 33, 3, stride=2)
        >>> m(npconv.randn(4, 16, 50)).shape
        npconv.Size([4, 33, 24])
    """

    _ndim = 1


class Conv2d(_ConvNd):
    r"""Applies a 2D convolution (cross-correlation) over an input signal of several input planes.

    Args:
        in_channels (int): Number of channels in the input image.
        out_channels (int): Number of channels produced by the convolution.
        kernel_size (int or tuple): Size of the convolving kernel.
        stride (int or tuple, optional): Stride of the convolution. Default: 1
        padding (int, tuple or str, optional): Padding added to all four sides of the input: an int, a
            pair (pH, pW), two (lo, hi) pairs, ``'valid'``, ``'same'`` (stride 1), ``'same_upper'`` or
            ``'same_lower'``. Default: 0
        dilation (int or tuple, optional): Spacing between kernel elements. Default: 1
        groups (int, optional): Number of blocked connections from input to output channels. Default: 1
        bias (bool, optional): If ``True``, adds a learnable bias to the output. Default: ``True``
        padding_mode (str, optional): ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``.
            Default: ``'zeros'``
        device: only ``None`` or ``'cpu'``. Default: ``None``
        dtype: dtype of the parameters. Default: ``None`` (float32)

    Shape:
        - Input: :math:`(N, C_{in}, H_{in}, W_{in})` or :math:`(C_{in}, H_{in}, W_{in})`
        - Output: :math:`(N, C_{out}, H_{out}, W_{out})` or :math:`(C_{out}, H_{out}, W_{out})`, where

          H_out = floor((H_in + 2·padding[0] − dilation[0]·(kernel_size[0] − 1) − 1) / stride[0] + 1)

          W_out = floor((W_in + 2·padding[1] − dilation[1]·(kernel_size[1] − 1) − 1) / stride[1] + 1)

    Attributes:
        weight (Tensor): the learnable weights of shape
            (out_channels, in_channels / groups, kernel_size[0], kernel_size[1]), sampled from
            U(−√k, √k) with k = groups / (C_in · kernel_size[0] · kernel_size[1]).
        bias (Tensor): the learnable bias of shape (out_channels), sampled from U(−√k, √k), same k.

    Examples::

        >>> m = nn.Conv2d(16, 33, (3, 5), stride=(2, 1), padding=(4, 2), dilation=(3, 1))
        >>> m(npconv.randn(1, 16, 20, 30)).shape
        npconv.Size([1, 33, 11, 30])
    """

    _ndim = 2


class Conv3d(_ConvNd):
    r"""Applies a 3D convolution (cross-correlation) over an input signal of several input planes.

    Args:
        in_channels (int): Number of channels in the input.
        out_channels (int): Number of channels produced by the convolution.
        kernel_size (int or tuple): Size of the convolving kernel.
        stride (int or tuple, optional): Stride of the convolution. Default: 1
        padding (int, tuple or str, optional): Padding added to all six sides of the input: an int, a
            triple, three (lo, hi) pairs, ``'valid'``, ``'same'`` (stride 1), ``'same_upper'`` or
            ``'same_lower'``. Default: 0
        dilation (int or tuple, optional): Spacing between kernel elements. Default: 1
        groups (int, optional): Number of blocked connections from input to output channels. Default: 1
        bias (bool, optional): If ``True``, adds a learnable bias to the output. Default: ``True``
        padding_mode (str, optional): ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``.
            Default: ``'zeros'``
        device: only ``None`` or ``'cpu'``. Default: ``None``
        dtype: dtype of the parameters. Default: ``None`` (float32)

    Shape:
        - Input: :math:`(N, C_{in}, D_{in}, H_{in}, W_{in})` or :math:`(C_{in}, D_{in}, H_{in}, W_{in})`
        - Output: :math:`(N, C_{out}, D_{out}, H_{out}, W_{out})` or without N, where for each of
          D, H, W (index i = 0, 1, 2)

          out_i = floor((in_i + 2·padding[i] − dilation[i]·(kernel_size[i] − 1) − 1) / stride[i] + 1)

    Attributes:
        weight (Tensor): the learnable weights of shape
            (out_channels, in_channels / groups, kernel_size[0], kernel_size[1], kernel_size[2]), sampled
            from U(−√k, √k) with k = groups / (C_in · Π kernel_size[i]).
        bias (Tensor): the learnable bias of shape (out_channels), sampled from U(−√k, √k), same k.

    Examples::

        >>> m = nn.Conv3d(16, 33, (3, 5, 2), stride=(2, 1, 1), padding=(4, 2, 0))
        >>> m(npconv.randn(1, 16, 6, 8, 10)).shape
        npconv.Size([1, 33, 6, 8, 9])
    """

    _ndim = 3


class ConvTranspose1d(_ConvTransposeNd):
    r"""Applies a 1D transposed convolution (the gradient of Conv1d with respect to its input).

    Args:
        in_channels (int): Number of channels in the input.
        out_channels (int): Number of channels produced by the convolution.
        kernel_size (int or tuple): Size of the convolving kernel.
        stride (int or tuple, optional): Stride of the convolution. Default: 1
        padding (int or tuple, optional): ``dilation·(kernel_size − 1) − padding`` zero-padding is
            added to both sides of the input. Default: 0
        output_padding (int or tuple, optional): Additional size added to one side of the output
            shape; smaller than stride or dilation. Default: 0
        groups (int, optional): Number of blocked connections from input to output channels. Default: 1
        bias (bool, optional): If ``True``, adds a learnable bias to the output. Default: ``True``
        dilation (int or tuple, optional): Spacing between kernel elements. Default: 1
        padding_mode (str, optional): only ``'zeros'``. Default: ``'zeros'``
        device: only ``None`` or ``'cpu'``. Default: ``None``
        dtype: dtype of the parameters. Default: ``None`` (float32)

    Shape:
        - Input: :math:`(N, C_{in}, L_{in})` or :math:`(C_{in}, L_{in})`
        - Output: :math:`(N, C_{out}, L_{out})` or :math:`(C_{out}, L_{out})`, where

          L_out = (L_in − 1)·stride − 2·padding + dilation·(kernel_size − 1) + output_padding + 1

        ``forward(input, output_size)`` picks output_padding so that L_out = output_size.

    Attributes:
        weight (Tensor): the learnable weights of shape (in_channels, out_channels / groups, kernel_size),
            sampled from U(−√k, √k) with k = groups / (C_out · kernel_size).
        bias (Tensor): the learnable bias of shape (out_channels), sampled from U(−√k, √k), same k.

    Examples::

        >>> m = nn.ConvTranspose1d(16, 33, 3, stride=2)
        >>> m(npconv.randn(4, 16, 50)).shape
        npconv.Size([4, 33, 101])
    """

    _ndim = 1


class ConvTranspose2d(_ConvTransposeNd):
    r"""Applies a 2D transposed convolution (the gradient of Conv2d with respect to its input).

    Args:
        in_channels (int): Number of channels in the input image.
        out_channels (int): Number of channels produced by the convolution.
        kernel_size (int or tuple): Size of the convolving kernel.
        stride (int or tuple, optional): Stride of the convolution. Default: 1
        padding (int or tuple, optional): ``dilation·(kernel_size − 1) − padding`` zero-padding is
            added to both sides of each dimension of the input. Default: 0
        output_padding (int or tuple, optional): Additional size added to one side of each dimension of
            the output shape; smaller than stride or dilation. Default: 0
        groups (int, optional): Number of blocked connections from input to output channels. Default: 1
        bias (bool, optional): If ``True``, adds a learnable bias to the output. Default: ``True``
        dilation (int or tuple, optional): Spacing between kernel elements. Default: 1
        padding_mode (str, optional): only ``'zeros'``. Default: ``'zeros'``
        device: only ``None`` or ``'cpu'``. Default: ``None``
        dtype: dtype of the parameters. Default: ``None`` (float32)

    Shape:
        - Input: :math:`(N, C_{in}, H_{in}, W_{in})` or :math:`(C_{in}, H_{in}, W_{in})`
        - Output: :math:`(N, C_{out}, H_{out}, W_{out})` or :math:`(C_{out}, H_{out}, W_{out})`, where

          H_out = (H_in − 1)·stride[0] − 2·padding[0] + dilation[0]·(kernel_size[0] − 1) + output_padding[0] + 1

          W_out = (W_in − 1)·stride[1] − 2·padding[1] + dilation[1]·(kernel_size[1] − 1) + output_padding[1] + 1

        ``forward(input, output_size)`` picks output_padding so that (H_out, W_out) = output_size.

    Attributes:
        weight (Tensor): the learnable weights of shape
            (in_channels, out_channels / groups, kernel_size[0], kernel_size[1]), sampled from U(−√k, √k)
            with k = groups / (C_out · kernel_size[0] · kernel_size[1]).
        bias (Tensor): the learnable bias of shape (out_channels), sampled from U(−√k, √k), same k.

    Examples::

        >>> downsample = nn.Conv2d(16, 16, 3, stride=2, padding=1)
        >>> upsample = nn.ConvTranspose2d(16, 16, 3, stride=2, padding=1)
        >>> x = npconv.randn(1, 16, 12, 12)
        >>> upsample(downsample(x), output_size=x.size()).shape
        npconv.Size([1, 16, 12, 12])
    """

    _ndim = 2


class ConvTranspose3d(_ConvTransposeNd):
    r"""Applies a 3D transposed convolution (the gradient of Conv3d with respect to its input).

    Args:
        in_channels (int): Number of channels in the input.
        out_channels (int): Number of channels produced by the convolution.
        kernel_size (int or tuple): Size of the convolving kernel.
        stride (int or tuple, optional): Stride of the convolution. Default: 1
        padding (int or tuple, optional): ``dilation·(kernel_size − 1) − padding`` zero-padding is
            added to both sides of each dimension of the input. Default: 0
        output_padding (int or tuple, optional): Additional size added to one side of each dimension of
            the output shape; smaller than stride or dilation. Default: 0
        groups (int, optional): Number of blocked connections from input to output channels. Default: 1
        bias (bool, optional): If ``True``, adds a learnable bias to the output. Default: ``True``
        dilation (int or tuple, optional): Spacing between kernel elements. Default: 1
        padding_mode (str, optional): only ``'zeros'``. Default: ``'zeros'``
        device: only ``None`` or ``'cpu'``. Default: ``None``
        dtype: dtype of the parameters. Default: ``None`` (float32)

    Shape:
        - Input: :math:`(N, C_{in}, D_{in}, H_{in}, W_{in})` or :math:`(C_{in}, D_{in}, H_{in}, W_{in})`
        - Output: :math:`(N, C_{out}, D_{out}, H_{out}, W_{out})` or without N, where for each of
          D, H, W (index i = 0, 1, 2)

          out_i = (in_i − 1)·stride[i] − 2·padding[i] + dilation[i]·(kernel_size[i] − 1) + output_padding[i] + 1

        ``forward(input, output_size)`` picks output_padding so that the output reaches output_size.

    Attributes:
        weight (Tensor): the learnable weights of shape
            (in_channels, out_channels / groups, kernel_size[0], kernel_size[1], kernel_size[2]), sampled
            from U(−√k, √k) with k = groups / (C_out · Π kernel_size[i]).
        bias (Tensor): the learnable bias of shape (out_channels), sampled from U(−√k, √k), same k.

    Examples::

        >>> m = nn.ConvTranspose3d(16, 33, (3, 5, 2), stride=(2, 1, 1), padding=(0, 4, 2))
        >>> m(npconv.randn(1, 16, 3, 8, 6)).shape
        npconv.Size([1, 33, 7, 4, 3])
    """

    _ndim = 3


class _LazyConvMixin:
    """A conv layer whose ``in_channels`` is taken from the first input it sees (torch's ``LazyConv*``).

    Constructed with torch's arguments minus ``in_channels``. Until the first call ``in_channels`` is 0 and
    the weight and bias are ``UninitializedParameter``s; the first call creates them with the inferred
    shape, initialises them as the layer would have been, and turns the layer into its plain class
    (``LazyConv2d`` → ``Conv2d``)."""

    cls_to_become: ClassVar[type[_ConvNd]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        plain = inspect.signature(cls.cls_to_become)
        cls.__signature__ = plain.replace(parameters=list(plain.parameters.values())[1:])  # type: ignore[attr-defined]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.cls_to_become.__init__(self, 0, *args, **kwargs)  # type: ignore[arg-type]
        layer: Any = self
        dtype = layer.weight._array.dtype
        layer.weight = UninitializedParameter(dtype=dtype)
        if layer.bias is not None:
            layer.bias = UninitializedParameter(dtype=dtype)

    def has_uninitialized_params(self) -> bool:
        layer: Any = self
        return any(isinstance(p, UninitializedParameter) for p in layer._parameters.values())

    def _initialize_from(self, input: Any) -> None:  # noqa: A002
        layer: Any = self
        ndim = layer._ndim
        shape = tuple(input.shape)
        if len(shape) not in (ndim + 1, ndim + 2):
            raise RuntimeError(
                f"Expected {ndim + 1}D (unbatched) or {ndim + 2}D (batched) input to {type(self).__name__}, "
                f"but got input of size: {list(shape)}"
            )
        in_channels = shape[1] if len(shape) == ndim + 2 else shape[0]
        if in_channels == 0 or in_channels % layer.groups:
            raise ValueError(
                f"in_channels must be divisible by groups, but the input has {in_channels} channels and "
                f"groups={layer.groups}"
            )
        layer.in_channels = in_channels
        per_group = layer.out_channels // layer.groups
        if layer._transposed:
            weight_shape = (in_channels, per_group, *layer.kernel_size)
        else:
            weight_shape = (layer.out_channels, in_channels // layer.groups, *layer.kernel_size)
        layer.weight = layer.weight.materialize(weight_shape)
        if layer.bias is not None:
            layer.bias = layer.bias.materialize((layer.out_channels,))
        layer.__class__ = self.cls_to_become
        layer.reset_parameters()

    def __call__(self, input: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: A002
        if self.has_uninitialized_params():
            self._initialize_from(input)
        return Module.__call__(self, input, *args, **kwargs)  # type: ignore[arg-type]

    def reset_parameters(self) -> None:
        """Nothing to initialise while lazy: the first call initialises, after the class has changed, so
        the random draws are those of the plain layer built with the inferred in_channels."""


class LazyConv1d(_LazyConvMixin, Conv1d):
    """``Conv1d`` whose in_channels is inferred from the first input (``input.size(1)``, or ``size(0)``
    unbatched). Arguments as ``Conv1d`` without ``in_channels``."""

    cls_to_become = Conv1d


class LazyConv2d(_LazyConvMixin, Conv2d):
    """``Conv2d`` whose in_channels is inferred from the first input. Arguments as ``Conv2d`` without
    ``in_channels``.

    Example:
        >>> m = nn.LazyConv2d(8, 3)
        >>> m(npconv.randn(2, 3, 5, 5)).shape, type(m).__name__
        (npconv.Size([2, 8, 3, 3]), 'Conv2d')
    """

    cls_to_become = Conv2d


class LazyConv3d(_LazyConvMixin, Conv3d):
    """``Conv3d`` whose in_channels is inferred from the first input. Arguments as ``Conv3d`` without
    ``in_channels``."""

    cls_to_become = Conv3d


class LazyConvTranspose1d(_LazyConvMixin, ConvTranspose1d):
    """``ConvTranspose1d`` whose in_channels is inferred from the first input. Arguments as
    ``ConvTranspose1d`` without ``in_channels``."""

    cls_to_become = ConvTranspose1d


class LazyConvTranspose2d(_LazyConvMixin, ConvTranspose2d):
    """``ConvTranspose2d`` whose in_channels is inferred from the first input. Arguments as
    ``ConvTranspose2d`` without ``in_channels``."""

    cls_to_become = ConvTranspose2d


class LazyConvTranspose3d(_LazyConvMixin, ConvTranspose3d):
    """``ConvTranspose3d`` whose in_channels is inferred from the first input. Arguments as
    ``ConvTranspose3d`` without ``in_channels``."""

    cls_to_become = ConvTranspose3d
