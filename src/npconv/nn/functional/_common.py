"""Input coercion shared by the functional API: Tensors pass through, NumPy arrays are wrapped."""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import dtypes
from ...tensor import Tensor


def as_input(value: Any, op: str, name: str, optional: bool = False) -> Tensor | None:
    """``value`` as a Tensor (an ndarray is wrapped without copying); TypeError names the argument."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, np.ndarray):
        try:
            dtypes.from_numpy_dtype(value.dtype)
        except TypeError as error:
            raise TypeError(f"{op}(): argument '{name}': {error}") from None
        return Tensor._wrap(value)
    if value is None and optional:
        return None
    raise TypeError(f"{op}(): argument '{name}' must be Tensor, not {type(value).__name__}")
