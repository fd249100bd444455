"""Dropout layer."""

from __future__ import annotations

from ...tensor import Tensor
from .. import functional as F
from ..functional.dropout import check_probability
from .module import Module

__all__ = ["Dropout"]


class Dropout(Module):
    """During training, zero each element with probability ``p`` and scale the rest by 1/(1 − p); in eval
    mode the identity. Draws from npconv's default generator (``npconv.manual_seed``).

    Args:
        p: probability of an element to be zeroed. Default: 0.5.
        inplace: overwrite the input. Default: False.

    Shape:
        - Input: (*).  - Output: (*), the same shape.
    """

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        check_probability(p)
        self.p = p
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.dropout(input, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
