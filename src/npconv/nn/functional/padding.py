"""``pad``: torch's ``F.pad`` — constant, reflect, replicate and circular padding, differentiable."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ... import ops
from ...conv.padding import MODES
from ...tensor import Tensor
from ._common import as_input


def torch_pad_to_pairs(pad: Sequence[int]) -> list[tuple[int, int]]:
    """torch's flat pad tuple (last dim first: left, right, top, bottom, ...) → (lo, hi) pairs in
    axis order for the trailing axes."""
    pairs = [(int(pad[i]), int(pad[i + 1])) for i in range(0, len(pad), 2)]
    return pairs[::-1]


def pairs_to_torch_pad(pairs: Sequence[tuple[int, int]]) -> tuple[int, ...]:
    """(lo, hi) pairs in axis order → torch's flat pad tuple (last dim first)."""
    return tuple(v for lo, hi in reversed(pairs) for v in (lo, hi))


def pad(input: Any, pad: Sequence[int], mode: str = "constant", value: float | None = None) -> Tensor:  # noqa: A002
    """Pad ``input``: ``pad`` = (left, right) for the last dim, then (top, bottom) for the one before, ...

    Shape: each padded dim grows to ``size + lo + hi`` (negative values crop). 'reflect', 'replicate'
    and 'circular' pad the last 1, 2 or 3 dims of a batched or unbatched input; 'constant' any dims.
    """
    x = as_input(input, "pad", "input")
    if not isinstance(pad, (tuple, list)) or not all(isinstance(p, int) and not isinstance(p, bool) for p in pad):
        raise TypeError(f"pad(): argument 'pad' must be a tuple of ints, but got {pad!r}")
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) // 2 > x.ndim:
        raise RuntimeError(
            f"Padding length should be less than or equal to two times the input dimension but got "
            f"padding length {len(pad)} and input of dimension {x.ndim}"
        )
    if mode not in MODES:
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    pairs = torch_pad_to_pairs(pad)
    if mode == "constant":
        return ops.Pad.apply(x, pairs, mode, 0 if value is None else value)
    if value not in (None, 0):
        raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument')
    _check_mode_padding(x, pairs, mode, pad)
    if mode == "circular" and any(lo < 0 or hi < 0 for lo, hi in pairs):
        # torch crops by the negative pads first, then wraps around what is left
        x = ops.Pad.apply(x, [(min(lo, 0), min(hi, 0)) for lo, hi in pairs], "constant", 0)
        pairs = [(max(lo, 0), max(hi, 0)) for lo, hi in pairs]
    return ops.Pad.apply(x, pairs, mode, 0)


def _check_mode_padding(x: Tensor, pairs: list[tuple[int, int]], mode: str, pad: Sequence[int]) -> None:
    dims = len(pairs)
    if dims > 3 or x.ndim not in (dims + 1, dims + 2):
        raise NotImplementedError(f"Padding size {len(pad)} is not supported for {x.ndim}D input tensor.")
    shape = x.shape
    if mode != "constant" and any(n == 0 for n in shape[x.ndim - dims :]):
        raise RuntimeError(
            f"Expected {x.ndim}D tensor with possibly 0 batch size and other non-zero dimensions for "
            f"input, but got: {list(shape)}"
        )
    for axis, (lo, hi) in enumerate(pairs, start=x.ndim - dims):
        size = shape[axis]
        if mode == "reflect" and (lo >= size or hi >= size):
            raise RuntimeError(
                f"Argument #4: Padding size should be less than the corresponding input dimension, but "
                f"got: padding ({lo}, {hi}) at dimension {axis} of input {list(shape)}"
            )
        kept = size - max(-lo, 0) - max(-hi, 0)  # circular wraps around what the negative pads leave
        if mode == "circular" and (lo > kept or hi > kept):
            raise RuntimeError(
                f"Padding value causes wrapping around more than once: padding ({lo}, {hi}) at "
                f"dimension {axis} of input {list(shape)}"
            )
