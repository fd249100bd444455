"""Shape layers: ``Flatten`` and ``Unflatten``."""

from __future__ import annotations

import math
from collections.abc import Sequence

from ...tensor import Tensor, _normalize_dim
from .module import Module

__all__ = ["Flatten", "Unflatten"]


class Flatten(Module):
    """Flatten the dimensions ``start_dim`` … ``end_dim`` into one.

    Args:
        start_dim: first dimension to flatten. Default: 1 (keep the batch dimension).
        end_dim: last dimension to flatten. Default: -1.

    Shape:
        - Input: (*, S_start, …, S_end, *).
        - Output: (*, S_start · … · S_end, *).

    Example:
        >>> nn.Flatten()(npconv.randn(32, 1, 5, 5)).shape
        npconv.Size([32, 25])
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Expand dimension ``dim`` into the shape ``unflattened_size`` (one entry may be -1).

    Args:
        dim: the dimension to expand.
        unflattened_size: the new shape of that dimension, a tuple or list of ints.

    Shape:
        - Input: (*, S_dim, *).
        - Output: (*, U_1, …, U_n, *) with U_1 · … · U_n = S_dim.

    Example:
        >>> nn.Unflatten(1, (2, 5, 5))(npconv.randn(2, 50)).shape
        npconv.Size([2, 2, 5, 5])
    """

    def __init__(self, dim: int, unflattened_size: Sequence[int]) -> None:
        super().__init__()
        if not isinstance(unflattened_size, (tuple, list)):
            raise TypeError(
                f"unflattened_size must be a tuple of ints, but found type {type(unflattened_size).__name__}"
            )
        for index, size in enumerate(unflattened_size):
            if not isinstance(size, int) or isinstance(size, bool):
                raise TypeError(
                    f"unflattened_size must be tuple of ints, but found element of type {type(size).__name__} "
                    f"at pos {index}"
                )
        self.dim = dim
        self.unflattened_size = unflattened_size

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        axis = _normalize_dim(self.dim, input.ndim)
        sizes = list(self.unflattened_size)
        length = input.shape[axis]
        known = math.prod(size for size in sizes if size != -1)
        fits = length % known == 0 if -1 in sizes and known else known == length
        if not fits or sizes.count(-1) > 1:
            raise RuntimeError(
                f"unflatten: Provided sizes {sizes} don't multiply up to the size of dim {self.dim} ({length}) in "
                "the input tensor"
            )
        return input.unflatten(axis, sizes)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
