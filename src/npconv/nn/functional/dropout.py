"""Functional dropout: zero elements with probability ``p`` and scale the survivors by 1/(1 − p)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...autograd import Context, Function
from ...random import rng
from ...tensor import Tensor
from ._common import as_input
from .activation import apply_inplace

__all__ = ["dropout"]


class MaskedScale(Function):
    """y = x · m for a fixed mask ``m`` (already holding the 1/(1 − p) scale); dy/dx = m."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, scaled_mask: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(scaled_mask)
        return x * scaled_mask

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        (scaled_mask,) = ctx.saved_tensors
        return grad * scaled_mask, None


def check_probability(p: float) -> None:
    """torch's rule for every dropout probability: a number in [0, 1]."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def dropout(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:  # noqa: A002
    """Zero each element with probability ``p`` (drawn from npconv's default generator) and scale the others
    by 1/(1 − p), so that the expected value is unchanged; the identity when not ``training``.

    Args:
        input: any shape.
        p: probability of an element to be zeroed. Default: 0.5.
        training: apply dropout; when False the input is returned as is. Default: True.
        inplace: write the result into ``input`` (when not recording a graph). Default: False.
    """
    check_probability(p)
    x = as_input(input, "dropout", "input")
    if not training or p == 0.0:
        return x
    dtype = x._array.dtype if x._array.dtype.kind in "fc" else np.dtype(np.float32)
    if p == 1.0:
        scaled_mask = np.zeros(x._array.shape, dtype=dtype)
    else:
        keep = rng().random(x._array.shape) >= p
        scaled_mask = keep.astype(dtype) * dtype.type(1 / (1 - p))
    return apply_inplace(x, MaskedScale.apply(x, scaled_mask), inplace)
