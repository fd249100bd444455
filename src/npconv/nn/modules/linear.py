"""Linear layers: ``Identity`` and ``Linear``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ... import dtypes as _dtypes
from ...tensor import DEFAULT_FLOAT, Tensor
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module

__all__ = ["Identity", "Linear"]


class Identity(Module):
    """A placeholder that returns its input unchanged; any constructor arguments are ignored.

    Shape:
        - Input: (*), any number of dimensions.
        - Output: (*), the same shape.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return input


class Linear(Module):
    """Apply an affine map to the last dimension: :math:`y = x A^T + b`.

    Args:
        in_features: size of each input sample.
        out_features: size of each output sample.
        bias: learn an additive bias. Default: True.
        device: only 'cpu' or None. Default: None.
        dtype: parameter dtype. Default: None (float32).

    Shape:
        - Input: (*, H_in) with H_in = in_features.
        - Output: (*, H_out) with H_out = out_features.

    Attributes:
        weight: (out_features, in_features), initialised from U(−√k, √k) with k = 1/in_features.
        bias: (out_features,), initialised from U(−√k, √k).

    Example:
        >>> m = nn.Linear(20, 30)
        >>> m(npconv.randn(128, 20)).shape
        npconv.Size([128, 30])
    """

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, device: Any = None, dtype: Any = None
    ) -> None:
        super().__init__()
        if device not in (None, "cpu"):
            raise RuntimeError(f"npconv runs on the CPU only, but got device {device!r}")
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
                raise ValueError(f"Linear(): {name} must be a non-negative int, but got {value!r}")
        numpy_dtype = _dtypes.to_numpy_dtype(dtype) or DEFAULT_FLOAT
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype=numpy_dtype))
        if bias:
            self.bias = Parameter(np.empty(self.out_features, dtype=numpy_dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's default init: weight ~ kaiming_uniform_(a=√5), i.e. U(−1/√in_features, 1/√in_features), then
        bias ~ U(−1/√in_features, 1/√in_features), both from the default generator."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
