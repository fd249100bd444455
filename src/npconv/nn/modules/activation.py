"""Activation layers; each ``forward`` is one call into ``npconv.nn.functional``."""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import dtypes as _dtypes
from ...tensor import DEFAULT_FLOAT, Tensor
from .. import functional as F
from ..parameter import Parameter
from .module import Module

__all__ = ["ELU", "GELU", "LeakyReLU", "LogSoftmax", "PReLU", "ReLU", "SiLU", "Sigmoid", "Softmax", "Tanh"]


class _InplaceActivation(Module):
    """An elementwise activation with an ``inplace`` flag, printed only when set."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class ReLU(_InplaceActivation):
    """:math:`\\text{ReLU}(x) = \\max(0, x)` elementwise.

    Args:
        inplace: overwrite the input. Default: False.

    Shape:
        - Input: (*), any shape.  - Output: (*), the same shape.
    """

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.relu(input, inplace=self.inplace)


class SiLU(_InplaceActivation):
    """:math:`\\text{SiLU}(x) = x \\cdot \\sigma(x)` elementwise.

    Args:
        inplace: overwrite the input. Default: False.

    Shape:
        - Input: (*).  - Output: (*), the same shape.
    """

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.silu(input, inplace=self.inplace)


class LeakyReLU(Module):
    """:math:`x` if :math:`x \\ge 0` else ``negative_slope`` · :math:`x`.

    Args:
        negative_slope: slope for negative inputs. Default: 0.01.
        inplace: overwrite the input. Default: False.

    Shape:
        - Input: (*).  - Output: (*), the same shape.
    """

    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class ELU(Module):
    """:math:`x` if :math:`x > 0` else :math:`\\alpha (e^x - 1)`.

    Args:
        alpha: the saturation value for negative inputs. Default: 1.0.
        inplace: overwrite the input. Default: False.

    Shape:
        - Input: (*).  - Output: (*), the same shape.
    """

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.elu(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class PReLU(Module):
    """:math:`x` if :math:`x \\ge 0` else :math:`a x` with learnable ``a``.

    Args:
        num_parameters: 1 (one ``a`` shared by all channels) or the number of channels. Default: 1.
        init: the initial value of ``a``. Default: 0.25.
        device: only 'cpu' or None.  dtype: parameter dtype. Default: None (float32).

    Shape:
        - Input: (*) with channels at dimension 1 when there are 2 or more dimensions.
        - Output: (*), the same shape.

    Attributes:
        weight: (num_parameters,), filled with ``init``.
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.num_parameters = num_parameters
        self.init = init
        numpy_dtype = _dtypes.to_numpy_dtype(dtype) or DEFAULT_FLOAT
        self.weight = Parameter(np.empty(num_parameters, dtype=numpy_dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.weight._array[...] = self.init

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class GELU(Module):
    """:math:`x \\Phi(x)`, :math:`\\Phi` the standard normal CDF.

    Args:
        approximate: 'none' (exact) or 'tanh' (torch's tanh approximation). Default: 'none'.

    Shape:
        - Input: (*).  - Output: (*), the same shape.
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Sigmoid(Module):
    """:math:`\\sigma(x) = 1 / (1 + e^{-x})` elementwise.

    Shape:
        - Input: (*).  - Output: (*), the same shape.
    """

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.sigmoid(input)


class Tanh(Module):
    """:math:`\\tanh(x)` elementwise.

    Shape:
        - Input: (*).  - Output: (*), the same shape.
    """

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.tanh(input)


class _AlongDim(Module):
    """A normalisation along one dimension, ``dim``."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax(_AlongDim):
    """Rescale along ``dim`` so that the values lie in [0, 1] and sum to 1.

    Args:
        dim: the dimension to normalise. Default: None (torch's legacy implicit choice, with a warning).

    Shape:
        - Input: (*).  - Output: (*), the same shape.
    """

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.softmax(input, self.dim, _stacklevel=5)


class LogSoftmax(_AlongDim):
    """:math:`\\log(\\text{Softmax}(x))` along ``dim``, computed stably.

    Args:
        dim: the dimension to normalise. Default: None.

    Shape:
        - Input: (*).  - Output: (*), the same shape.
    """

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.log_softmax(input, self.dim, _stacklevel=5)
