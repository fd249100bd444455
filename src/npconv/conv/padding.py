"""Padding of N-d arrays by mode, and its adjoint (the backward of padding).

``pads`` here is one (lo, hi) pair per padded axis, for the *last* len(pads) axes, in axis order.
Negative values crop. Modes: 'constant', 'reflect' (mirror without repeating the edge), 'replicate'
(repeat the edge), 'circular' (wrap around).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

Pairs = Sequence[tuple[int, int]]
MODES = ("constant", "reflect", "replicate", "circular")


def source_index(length: int, lo: int, hi: int, mode: str) -> np.ndarray:
    """For each position of the padded axis, the index along the original axis it copies."""
    positions = np.arange(-lo, length + hi)
    if mode == "reflect":
        period = 2 * (length - 1)
        folded = np.abs(positions) % period if period else np.zeros_like(positions)
        return np.where(folded >= length, period - folded, folded)
    if mode == "replicate":
        return np.clip(positions, 0, length - 1)
    if mode == "circular":
        return positions % length
    raise ValueError(f"no index map for padding mode {mode!r}")


def _constant_slices(shape: Sequence[int], pads: Pairs) -> tuple[tuple, tuple, tuple[int, ...]]:
    """Slices (into the source, into the padded result) of the kept region, and the padded shape."""
    leading = len(shape) - len(pads)
    source, target, out_shape = [slice(None)] * leading, [slice(None)] * leading, list(shape[:leading])
    for size, (lo, hi) in zip(shape[leading:], pads):
        out_shape.append(max(size + lo + hi, 0))
        start, stop = max(-lo, 0), size - max(-hi, 0)
        source.append(slice(start, max(stop, start)))
        target.append(slice(max(lo, 0), max(lo, 0) + max(stop - start, 0)))
    return tuple(source), tuple(target), tuple(out_shape)


def pad_array(x: np.ndarray, pads: Pairs, mode: str = "constant", value: Any = 0) -> np.ndarray:
    """Pad the last len(pads) axes of ``x``."""
    if mode == "constant":
        source, target, out_shape = _constant_slices(x.shape, pads)
        out = np.full(out_shape, value, dtype=x.dtype)
        out[target] = x[source]
        return out
    leading = x.ndim - len(pads)
    for axis, (lo, hi) in enumerate(pads, start=leading):
        if lo or hi:
            x = np.take(x, source_index(x.shape[axis], lo, hi, mode), axis=axis)
    return x


def pad_adjoint(grad: np.ndarray, input_shape: Sequence[int], pads: Pairs, mode: str = "constant") -> np.ndarray:
    """The adjoint of ``pad_array`` (its backward): every padded position sends its value back to the
    input position it was copied from."""
    if mode == "constant":
        source, target, _ = _constant_slices(input_shape, pads)
        out = np.zeros(tuple(input_shape), dtype=grad.dtype)
        out[source] = grad[target]
        return out
    leading = len(input_shape) - len(pads)
    for axis in reversed(range(leading, len(input_shape))):
        lo, hi = pads[axis - leading]
        if lo or hi:
            index = source_index(input_shape[axis], lo, hi, mode)
            grad = _scatter_add_along_axis(grad, index, input_shape[axis], lo, axis)
    return grad


def _scatter_add_along_axis(grad: np.ndarray, index: np.ndarray, length: int, lo: int, axis: int) -> np.ndarray:
    """out[..., index[j], ...] += grad[..., j, ...] along ``axis``. The copied middle (padded positions
    lo .. lo + length − 1) is one slice addition; only the border positions are added one at a time,
    as many as the padding is wide."""
    moved = np.moveaxis(grad, axis, -1)
    out = np.zeros((*moved.shape[:-1], length), dtype=grad.dtype)
    start, stop = max(lo, 0), min(lo + length, len(index))
    if stop > start:
        out[..., start - lo : stop - lo] += moved[..., start:stop]
    else:
        start = stop = len(index)
    for j in (*range(start), *range(stop, len(index))):
        out[..., index[j]] += moved[..., j]
    return np.moveaxis(out, -1, axis)
