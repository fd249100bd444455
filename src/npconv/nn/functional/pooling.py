"""Pooling: max, average and adaptive pooling over 1, 2 or 3 spatial dimensions.

One dimension-generic implementation serves every N, as the convolution does:

* ``check_pool`` normalises kernel_size/stride/padding/dilation, validates them and computes the output size
  (torch's formula, including the ceil-mode rule that the last window must start inside the input or the left
  padding);
* the window view: pad (with −inf for max, 0 for average), then an ``as_strided`` view of shape
  (N, C, *out, *kernel), reduced over the kernel axes;
* max pooling finds the per-plane flat index of every window's maximum (torch's ``return_indices``) and
  gathers it with ``GatherPlanes``, whose backward scatters the gradient back to those positions — adaptive
  max pooling reuses it with variable-size bins;
* average pooling's backward is the adjoint of the window sum: the scaled gradient added back once per kernel
  offset (a loop over the kernel, never over pixels); adaptive average pooling is one averaging matrix per
  axis, and its backward the transposed matrices.

Output size per spatial dim:

    out = floor((in + 2·padding − dilation·(kernel − 1) − 1 + (stride − 1 if ceil_mode else 0)) / stride) + 1,
    minus 1 in ceil mode when (out − 1)·stride ≥ in + padding.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...autograd import Context, Function, is_grad_enabled
from ...conv import algorithms
from ...conv.arguments import _is_int, expand_arg
from ...tensor import Tensor
from ._common import as_input

__all__ = [
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "adaptive_max_pool3d",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
]

IntOrTuple = int | Sequence[int]


# --------------------------------------------------------------------- arguments and shapes
@dataclass(frozen=True)
class PoolCall:
    """A validated pooling call: per-dimension hyper-parameters (spatial order) and sizes."""

    op: str
    batched: bool
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    input_size: tuple[int, ...]
    output_size: tuple[int, ...]

    def high_padding(self) -> tuple[int, ...]:
        """Padding needed after each spatial dim so that the last window fits (more than ``padding`` in
        ceil mode; never negative)."""
        return tuple(
            max((out - 1) * s + d * (k - 1) + 1 - size - p, 0)
            for out, s, d, k, size, p in zip(
                self.output_size, self.stride, self.dilation, self.kernel, self.input_size, self.padding
            )
        )


def expand_pool_arg(value: Any, ndim: int, name: str, op: str) -> tuple[int, ...]:
    """An int, or a sequence of 1 or ``ndim`` ints, as ``ndim`` ints: the convolution's rule
    (``expand_arg``), with torch's pooling messages."""
    try:
        return expand_arg(value, ndim, name, op)
    except RuntimeError:
        raise RuntimeError(
            f"{op}: {name} must either be a single int, or a tuple of {ndim} ints, but got {name}={list(value)}"
        ) from None
    except TypeError:
        raise TypeError(
            f"{op}(): argument '{name}' must be an int or a tuple of ints, not {type(value).__name__}"
        ) from None


def pool_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool) -> int:
    """torch's pooling output size for one dim (see the module docstring)."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)
    out = span // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def _check_rank(op: str, ndim: int, shape: Sequence[int]) -> bool:
    """Whether the input is batched; RuntimeError unless it is (C, *spatial) or (N, C, *spatial) with
    non-empty channel and spatial dims."""
    if len(shape) not in (ndim + 1, ndim + 2) or 0 in shape[len(shape) - ndim - 1 :]:
        raise RuntimeError(
            f"{op}: Expected {ndim + 1}D or {ndim + 2}D (batch mode) tensor with optional 0 dim batch size for "
            f"input, but got: {list(shape)}"
        )
    return len(shape) == ndim + 2


def check_pool(
    op: str,
    ndim: int,
    input_shape: Sequence[int],
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None,
    padding: IntOrTuple,
    dilation: IntOrTuple,
    ceil_mode: bool,
) -> PoolCall:
    """Every check of a max/avg pooling call, before any arithmetic; returns the normalised call."""
    kernel = expand_pool_arg(kernel_size, ndim, "kernel_size", op)
    strides = kernel if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) else (
        expand_pool_arg(stride, ndim, "stride", op)
    )
    pads = expand_pool_arg(padding, ndim, "padding", op)
    dilations = expand_pool_arg(dilation, ndim, "dilation", op)
    if any(k <= 0 for k in kernel):
        raise RuntimeError(f"{op}: kernel_size should be greater than zero, but got kernel_size={kernel}")
    if any(s <= 0 for s in strides):
        raise RuntimeError(f"{op}: stride should be greater than zero (stride should not be zero), but got stride={strides}")
    if any(d <= 0 for d in dilations):
        raise RuntimeError(f"{op}: dilation should be greater than zero, but got dilation={dilations}")
    if any(p < 0 for p in pads):
        raise RuntimeError(f"{op}: pad must be non-negative, but got pad: {pads}")
    if any(p > k // 2 for p, k in zip(pads, kernel)):
        raise RuntimeError(
            f"{op}: pad should be at most half of effective kernel size, but got pad={pads}, "
            f"kernel_size={kernel} and dilation={dilations}"
        )
    batched = _check_rank(op, ndim, input_shape)
    spatial = tuple(input_shape[-ndim:])
    output = tuple(
        pool_output_size(size, k, s, p, d, ceil_mode)
        for size, k, s, p, d in zip(spatial, kernel, strides, pads, dilations)
    )
    if any(out < 1 for out in output):
        channels = input_shape[-ndim - 1]
        raise RuntimeError(
            f"{op}: Given input size: ({'x'.join(map(str, (channels, *spatial)))}). Calculated output size: "
            f"({'x'.join(map(str, (channels, *output)))}). Output size is too small"
        )
    return PoolCall(op, batched, kernel, strides, pads, dilations, spatial, output)


def _window_view(array: np.ndarray, call: PoolCall, fill: Any) -> np.ndarray:
    """Pad ``array`` (N, C, *spatial) with ``fill`` and view it as windows (N, C, *out, *kernel)."""
    pads = [(0, 0), (0, 0), *zip(call.padding, call.high_padding())]
    padded = np.pad(array, pads, constant_values=fill) if any(any(pair) for pair in pads) else array
    spatial_strides = padded.strides[2:]
    shape = (*padded.shape[:2], *call.output_size, *call.kernel)
    strides = (
        *padded.strides[:2],
        *(step * s for step, s in zip(spatial_strides, call.stride)),
        *(step * d for step, d in zip(spatial_strides, call.dilation)),
    )
    return algorithms.strided_view(padded, shape, strides, writeable=False)


# Output positions per chunk of max pooling's passes: the chunk's maxima, index offsets and the runs it
# reads stay in a core's L2 cache over all kernel offsets. The chunks run in the calling thread: the passes
# are bound by memory, and on the thread pool they were slower (max_pool2d(3, 2, 1) on (8, 64, 112, 112):
# forward 28.5 against 25.2 ms, forward+backward 76.6 against 65.4).
POOL_CHUNK = 1 << 15


class TapRuns:
    """The values every window reads, one flat contiguous run per kernel offset (in window order).

    The padded input (``fill`` outside ``array``) is split into its stride phases (padded position
    j·stride + r of each dim → phase r, index j; one phase when the stride is 1), each phase a contiguous
    (N, C, *extents) array. A window's output position, laid out at the phase's pitch, reads offset
    j·dilation of each dim from phase (j·dilation mod stride) at a fixed flat shift, so an offset's values
    for all windows of all planes are one run of that phase: whole-array operations on long contiguous runs
    instead of strided reads (NumPy's strided reads cost several times its contiguous ones, and with short
    rows its per-row cost dominates). Positions past the output's extent in each dim are computed too and
    dropped by ``crop``."""

    def __init__(self, array: np.ndarray, call: PoolCall, fill: Any) -> None:
        high = call.high_padding()
        extents = [
            -(-(lo + size + hi) // s) for size, lo, hi, s in zip(call.input_size, call.padding, high, call.stride)
        ]
        phases = np.full((*call.stride, *array.shape[:2], *extents), fill, dtype=array.dtype)
        for phase in itertools.product(*(range(s) for s in call.stride)):
            parts = [
                algorithms.phase_slices(size, lo, s, r, extent)
                for size, lo, s, r, extent in zip(call.input_size, call.padding, call.stride, phase, extents)
            ]
            if all(part is not None for part in parts):
                target = phases[(*phase, slice(None), slice(None), *(part[0] for part in parts))]
                np.copyto(target, array[(slice(None), slice(None), *(part[1] for part in parts))])
        pitches = [math.prod(extents[d + 1 :]) for d in range(len(extents))]
        reads = [[j * d for j, d in zip(offset, call.dilation)] for offset in _kernel_offsets(call)]
        shifts = [sum(r // s * pitch for r, s, pitch in zip(read, call.stride, pitches)) for read in reads]
        self.shape = (*array.shape[:2], *extents)
        self.size = math.prod(self.shape)
        self.length = self.size - max(shifts)  # every output position inside the extents
        self.output_size = call.output_size
        self.runs = [
            phases[tuple(r % s for r, s in zip(read, call.stride))].reshape(-1)[shift : shift + self.length]
            for read, shift in zip(reads, shifts)
        ]

    def empty(self, dtype: Any) -> np.ndarray:
        """A flat array for per-position results (``length`` of ``size`` elements used)."""
        return np.empty(self.size, dtype=dtype)

    def crop(self, flat: np.ndarray) -> np.ndarray:
        """The output positions (N, C, *out) of a flat per-position result."""
        return flat.reshape(self.shape)[(slice(None), slice(None), *(slice(0, n) for n in self.output_size))]


def _kernel_offsets(call: PoolCall) -> itertools.product:
    """Every position within the kernel, in row-major order (the order torch scans a window)."""
    return itertools.product(*(range(k) for k in call.kernel))


def _lowest(dtype: np.dtype) -> Any:
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min if dtype.kind in "iu" else False


# --------------------------------------------------------------------- derivative rules
class GatherPlanes(Function):
    """y[n, c, o] = x[n, c].flat[index[n, c, o]]: max pooling's values, which the caller found together with
    ``index`` and passes in as ``values``. The backward sends each gradient back to its index: by assignment
    when no two outputs share an input position (``unique``), else summed (overlapping windows), into a new
    array that a leaf input keeps as its ``.grad`` (max_pool2d(3, 2, 1) on (8, 64, 112, 112), forward+backward
    of a leaf, interleaved medians: 45.0 → 38.7 ms without the copy of its 26 MB gradient; torch 39.2)."""

    fresh_gradients = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, index: np.ndarray, values: np.ndarray, unique: bool) -> np.ndarray:
        ctx.shape, ctx.unique = x.shape, unique
        ctx.save_for_backward(index)
        return values

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        (index,) = ctx.saved_tensors
        plane_count = ctx.shape[0] * ctx.shape[1]
        plane_size = math.prod(ctx.shape[2:])
        offsets = np.arange(plane_count).reshape(ctx.shape[:2] + (1,) * (index.ndim - 2)) * plane_size
        flat = np.zeros(plane_count * plane_size, dtype=grad.dtype)
        if ctx.unique:
            flat[(index + offsets).ravel()] = grad.ravel()
        else:  # summed in the gradient's dtype, in the outputs' order, as torch adds them
            np.add.at(flat, (index + offsets).ravel(), grad.ravel())
        return flat.reshape(ctx.shape), None, None, None


class AvgPool(Function):
    """Window sums divided by ``divisor`` (per output position, or one number)."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, call: PoolCall, divisor: np.ndarray) -> np.ndarray:
        ctx.call, ctx.divisor, ctx.shape = call, divisor, x.shape
        windows = _window_view(x, call, 0)
        accumulator = x.dtype if x.dtype.kind in "fc" else np.dtype(np.int64)
        sums = np.zeros(windows.shape[: 2 + len(call.kernel)], dtype=accumulator)
        for offset in _kernel_offsets(call):
            sums += windows[(..., *offset)]
        if x.dtype.kind in "iub":
            return (np.sign(sums) * (np.abs(sums) // divisor)).astype(x.dtype)
        return (sums / divisor).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        call = ctx.call
        scaled = grad / ctx.divisor
        high = call.high_padding()
        padded_shape = (*ctx.shape[:2], *(n + lo + hi for n, lo, hi in zip(ctx.shape[2:], call.padding, high)))
        grad_padded = np.zeros(padded_shape, dtype=grad.dtype)
        # adjoint of the window sum: every kernel offset sends the scaled gradient back to the pixels it read
        for offset in _kernel_offsets(call):
            region = tuple(
                slice(j * d, j * d + (out - 1) * s + 1, s)
                for j, d, s, out in zip(offset, call.dilation, call.stride, call.output_size)
            )
            grad_padded[(slice(None), slice(None), *region)] += scaled
        crop = tuple(slice(lo, lo + n) for lo, n in zip(call.padding, ctx.shape[2:]))
        return grad_padded[(slice(None), slice(None), *crop)], None, None


# Up to this many entries adaptive average pooling multiplies the flattened spatial axes by one (Πin × Πout)
# matrix, the Kronecker product of the per-axis ones, instead of one product per axis: (32, 256, 2, 2) to
# 1×1, 638 → 35 µs; (8, 512, 7, 7) to 1×1, 526 → 42 µs (torch: 72 and ~60 µs).
COMBINED_MATRIX_MAX = 1 << 16


class PerAxisMatrix(Function):
    """y = x ×₂ M₁ ×₃ M₂ …: one (out, in) matrix applied along each spatial axis (adaptive average pooling's
    averaging matrices), as a single product with ``combined``, their (Πin × Πout) Kronecker product, when
    it is given; the backward applies the transposes."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, matrices: tuple[np.ndarray, ...], combined: np.ndarray | None) -> np.ndarray:
        ctx.matrices, ctx.combined = matrices, combined
        if combined is not None:
            flat = np.ascontiguousarray(x).reshape(*x.shape[:2], ctx.combined.shape[0])
            return (flat @ ctx.combined).reshape(*x.shape[:2], *(m.shape[0] for m in matrices))
        for axis, matrix in enumerate(matrices, start=2):
            x = along_axis(x, matrix.T, axis)
        return np.ascontiguousarray(x)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        if ctx.combined is not None:
            flat = np.ascontiguousarray(grad).reshape(*grad.shape[:2], ctx.combined.shape[1])
            result = flat @ ctx.combined.T.astype(grad.dtype, copy=False)
            return result.reshape(*grad.shape[:2], *(m.shape[1] for m in ctx.matrices)), None, None
        for axis, matrix in enumerate(ctx.matrices, start=2):
            grad = along_axis(grad, matrix.astype(grad.dtype, copy=False), axis)
        return np.ascontiguousarray(grad), None, None


# ``along_axis`` contracts the next-to-last axis as a stack of (new_len × len) · (len × last) products when the
# last axis has at least this many elements; shorter rows make those products too small.
ALONG_ROWS_MIN = 32


def along_axis(x: np.ndarray, matrix: np.ndarray, axis: int) -> np.ndarray:
    """Contract ``x``'s ``axis`` with the first axis of ``matrix`` (shape (len, new_len)), in place of it: one
    2-d product over every other axis (a batch of small products, one per line, costs ~10× more), or for the
    next-to-last axis of long rows one product per plane, without moving the axis first (against a batch of
    products per line, interleaved: bilinear resizing of (8, 64, 56, 56) by 2, 41.9 → 37.8 ms; of (32, 512,
    7, 7) to 14², 14.4 → 8.9 ms; area resizing of (8, 64, 56, 56) to 28², 6.9 → 5.9 ms)."""
    if axis == x.ndim - 2 and x.shape[-1] >= ALONG_ROWS_MIN:
        return np.matmul(matrix.T, x)
    moved = np.moveaxis(x, axis, -1)
    product = np.ascontiguousarray(moved).reshape(-1, matrix.shape[0]) @ matrix
    return np.moveaxis(product.reshape(*moved.shape[:-1], matrix.shape[1]), -1, axis)


# --------------------------------------------------------------------- max and average pooling
def _flat_indices(coordinates: Sequence[np.ndarray], sizes: Sequence[int]) -> np.ndarray:
    """Row-major flat index into a plane of ``sizes`` from per-dim coordinate arrays."""
    flat = np.zeros((), dtype=np.int64)
    for coordinate, size in zip(coordinates, sizes):
        flat = flat * size + coordinate
    return flat


def _batched(x: Tensor, batched: bool) -> Tensor:
    return x if batched else x.unsqueeze(0)


def _unbatched(y: Tensor, batched: bool) -> Tensor:
    return y if batched else y.squeeze(0)


def max_pool_nd(
    ndim: int,
    input: Any,  # noqa: A002
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """``ndim``-d max pooling; see ``max_pool2d``."""
    op = f"max_pool{ndim}d"
    x = as_input(input, op, "input")
    call = check_pool(op, ndim, x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    x = _batched(x, call.batched)
    if not return_indices and not (is_grad_enabled() and x.requires_grad):
        return _unbatched(Tensor._wrap(_window_maxima(x._array, call, indices=False)[0]), call.batched)
    values, indices = _window_maxima(x._array, call)
    unique = all(s >= d * (k - 1) + 1 for s, d, k in zip(call.stride, call.dilation, call.kernel))
    result = _unbatched(GatherPlanes.apply(x, indices, values, unique), call.batched)
    if not return_indices:
        return result
    return result, Tensor._wrap(indices if call.batched else indices[0])


def _window_maxima(array: np.ndarray, call: PoolCall, indices: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Every window's maximum and its flat per-plane index, as torch finds them: the first maximum in window
    order (the last NaN, when there is one), never a padding position.

    One pass over the kernel offsets (``TapRuns``, in cache-sized chunks) takes the running maximum and,
    alongside, the number (in window order) of the first offset that holds it: where an offset's value is
    strictly greater than the maximum so far, the number becomes that offset's, which is the larger of the
    two (arithmetic: masked assignment is slow for random masks); the numbers then become flat indices
    through a table. Without ``indices`` only the maxima (and None). Windows whose
    maximum is NaN, or the padding's fill (−inf), which a padding position may then hold first, go through
    ``_window_maxima_exactly`` instead."""
    taps = TapRuns(array, call, _lowest(array.dtype))
    offsets = list(_kernel_offsets(call))
    plane_strides = [math.prod(call.input_size[axis + 1 :]) for axis in range(len(call.kernel))]
    padded = any(call.padding) or any(call.high_padding())
    length = taps.length
    # one byte per position for the offset numbers when the kernel has at most 256 offsets, so that their
    # passes are byte loops without a cast (max_pool2d(3, 2, 1) on (8, 64, 112, 112) with indices: 48.9 →
    # 42.4 ms against int32 flat shifts)
    dtype = np.uint8 if len(offsets) <= 256 else np.int32
    maxima_flat, number_flat = taps.empty(array.dtype), taps.empty(dtype)
    maxima, number = maxima_flat[:length], number_flat[:length]
    offset_shifts = np.array(
        [sum(j * d * step for j, d, step in zip(offset, call.dilation, plane_strides)) for offset in offsets], np.int64
    )

    def chunk(start: int, stop: int) -> None:  # all offsets over one cache-sized chunk of the positions
        block_maxima, block_number = maxima[start:stop], number[start:stop]
        block_maxima[...] = taps.runs[0][start:stop]
        if not indices:
            for run in taps.runs[1:]:
                np.maximum(block_maxima, run[start:stop], out=block_maxima)
            return
        block_number[...] = 0
        greater = np.empty(stop - start, dtype=bool)
        hits = np.empty(stop - start, dtype=dtype)
        flags = greater.view(np.uint8) if dtype == np.uint8 else greater
        for k, run in enumerate(taps.runs[1:], start=1):
            candidate = run[start:stop]
            np.greater(candidate, block_maxima, out=greater)
            np.maximum(block_maxima, candidate, out=block_maxima)
            np.multiply(flags, dtype(k), out=hits)
            np.maximum(block_number, hits, out=block_number)

    for start in range(0, length, POOL_CHUNK):
        chunk(start, min(length, start + POOL_CHUNK))
    if not indices:  # the maximum is the same whichever position holds it (NaN propagates through np.maximum)
        return np.ascontiguousarray(taps.crop(maxima_flat)), None
    maxima = taps.crop(maxima_flat)
    exceptional = (array.dtype.kind == "f" and np.isnan(maxima).any()) or (
        padded and (maxima == _lowest(array.dtype)).any()
    )
    if exceptional:
        return _window_maxima_exactly(array, call)
    starts = [
        np.arange(out).reshape((-1,) + (1,) * (len(call.kernel) - 1 - axis)) * s - p
        for axis, (out, s, p) in enumerate(zip(call.output_size, call.stride, call.padding))
    ]
    origin = sum(start * step for start, step in zip(starts, plane_strides))
    shift = offset_shifts.take(taps.crop(number_flat))  # each offset number's flat shift within the plane
    return np.ascontiguousarray(maxima), np.add(shift, origin, out=shift)


def _window_maxima_exactly(array: np.ndarray, call: PoolCall) -> tuple[np.ndarray, np.ndarray]:
    """``_window_maxima`` for any values: one pass over the kernel offsets takes the running maximum; a
    second pass, from the last offset back to the first, records the offset of each hit, skipping padding
    positions and keeping the last NaN."""
    windows = _window_view(array, call, _lowest(array.dtype))
    offsets = list(_kernel_offsets(call))
    plane_strides = [math.prod(call.input_size[axis + 1 :]) for axis in range(len(call.kernel))]
    starts = [
        np.arange(out).reshape((-1,) + (1,) * (len(call.kernel) - 1 - axis)) * s - p
        for axis, (out, s, p) in enumerate(zip(call.output_size, call.stride, call.padding))
    ]
    padded = any(call.padding) or any(call.high_padding())
    maxima = windows[(..., *offsets[0])].copy()
    for offset in offsets[1:]:
        np.maximum(maxima, windows[(..., *offset)], out=maxima)
    nan_windows = np.isnan(maxima) if array.dtype.kind == "f" else None
    if nan_windows is not None and not nan_windows.any():
        nan_windows = None
    dtype = np.int32 if array.size < 2**31 else np.int64
    shift = np.zeros(maxima.shape, dtype=dtype)
    for offset in reversed(offsets):
        candidate = windows[(..., *offset)]
        hit = candidate == maxima
        if padded:
            for axis, (start, j, d) in enumerate(zip(starts, offset, call.dilation)):
                coordinate = start + j * d
                hit &= (coordinate >= 0) & (coordinate < call.input_size[axis])
        if nan_windows is not None:
            # torch keeps the last NaN: a NaN hit counts only where no later NaN was found
            hit = np.where(nan_windows, np.isnan(candidate), hit)
            nan_windows = nan_windows & ~hit
        offset_shift = sum(j * d * step for j, d, step in zip(offset, call.dilation, plane_strides))
        shift -= hit * (shift - dtype(offset_shift))
    origin = sum(start * step for start, step in zip(starts, plane_strides))
    return maxima, (shift + origin).astype(np.int64)


def _avg_divisor(call: PoolCall, count_include_pad: bool, divisor_override: int | None) -> np.ndarray:
    """torch's divisor per output position: the window clipped to the padded input (count_include_pad) or
    to the input, as a product of per-dim counts; or ``divisor_override``."""
    if divisor_override is not None:
        return np.asarray(divisor_override)
    divisor = np.ones((), dtype=np.int64)
    for axis, (out, s, k, p, size) in enumerate(
        zip(call.output_size, call.stride, call.kernel, call.padding, call.input_size)
    ):
        start = np.arange(out) * s - p
        end = np.minimum(start + k, size + p)
        counts = end - start if count_include_pad else np.minimum(end, size) - np.maximum(start, 0)
        divisor = divisor * counts.reshape((-1,) + (1,) * (len(call.kernel) - 1 - axis))
    return divisor


def avg_pool_nd(
    ndim: int,
    input: Any,  # noqa: A002
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """``ndim``-d average pooling; see ``avg_pool2d``."""
    op = f"avg_pool{ndim}d"
    x = as_input(input, op, "input")
    call = check_pool(op, ndim, x.shape, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError(f"{op}: divisor must be not zero, but got divisor_override={divisor_override}")
    divisor = _avg_divisor(call, count_include_pad, divisor_override)
    return _unbatched(AvgPool.apply(_batched(x, call.batched), call, divisor), call.batched)


def max_pool1d(input: Any, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, padding: IntOrTuple = 0, dilation: IntOrTuple = 1, ceil_mode: bool = False, return_indices: bool = False) -> Any:  # noqa: A002
    """1-d max pooling over input (N, C, L) or (C, L); arguments as in ``max_pool2d``.

    Shape: L_out = floor((L + 2·padding − dilation·(kernel_size − 1) − 1) / stride + 1) (ceil in ceil_mode).
    """
    return max_pool_nd(1, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool2d(input: Any, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, padding: IntOrTuple = 0, dilation: IntOrTuple = 1, ceil_mode: bool = False, return_indices: bool = False) -> Any:  # noqa: A002
    """2-d max pooling over input (N, C, H, W) or (C, H, W).

    Args:
        kernel_size: window size, int or (kH, kW).
        stride: window step; default None (= kernel_size).
        padding: implicit −inf padding on both sides, at most half the kernel size; default 0.
        dilation: spacing between window elements; default 1.
        ceil_mode: round the output size up (the last window must still start inside the input or the left
            padding); default False.
        return_indices: also return the flat index (h·W + w) of each maximum within its plane; default False.

    Shape: H_out = floor((H + 2·padding[0] − dilation[0]·(kH − 1) − 1) / stride[0] + 1), likewise W_out.

    Example:
        >>> max_pool2d(npconv.randn(1, 16, 28, 28), 2).shape
        npconv.Size([1, 16, 14, 14])
    """
    return max_pool_nd(2, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool3d(input: Any, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, padding: IntOrTuple = 0, dilation: IntOrTuple = 1, ceil_mode: bool = False, return_indices: bool = False) -> Any:  # noqa: A002
    """3-d max pooling over input (N, C, D, H, W) or (C, D, H, W); arguments as in ``max_pool2d`` with
    three values per tuple (indices are d·H·W + h·W + w)."""
    return max_pool_nd(3, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def avg_pool1d(input: Any, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, padding: IntOrTuple = 0, ceil_mode: bool = False, count_include_pad: bool = True) -> Tensor:  # noqa: A002
    """1-d average pooling over input (N, C, L) or (C, L); arguments as in ``avg_pool2d`` (no divisor_override).

    Shape: L_out = floor((L + 2·padding − kernel_size) / stride + 1) (ceil in ceil_mode).
    """
    return avg_pool_nd(1, input, kernel_size, stride, padding, ceil_mode, count_include_pad)


def avg_pool2d(input: Any, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, padding: IntOrTuple = 0, ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:  # noqa: A002
    """2-d average pooling over input (N, C, H, W) or (C, H, W).

    Args:
        kernel_size: window size, int or (kH, kW).
        stride: window step; default None (= kernel_size).
        padding: implicit zero padding on both sides, at most half the kernel size; default 0.
        ceil_mode: round the output size up; default False.
        count_include_pad: count the zero padding in the divisor; default True.
        divisor_override: divide every window sum by this number instead; default None.

    Shape: H_out = floor((H + 2·padding[0] − kH) / stride[0] + 1), likewise W_out.
    """
    return avg_pool_nd(2, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


def avg_pool3d(input: Any, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, padding: IntOrTuple = 0, ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:  # noqa: A002
    """3-d average pooling over input (N, C, D, H, W) or (C, D, H, W); arguments as in ``avg_pool2d``."""
    return avg_pool_nd(3, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


# --------------------------------------------------------------------- adaptive pooling
def adaptive_bins(size: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    """torch's adaptive bins: start = floor(i·size/out), end = ceil((i + 1)·size/out)."""
    index = np.arange(out)
    return index * size // out, -(-(index + 1) * size // out)


def _check_adaptive(op: str, ndim: int, shape: Sequence[int], output_size: Any) -> tuple[bool, tuple[int, ...]]:
    """Whether the input is batched, and the output size with None entries replaced by the input's."""
    if len(shape) not in (ndim + 1, ndim + 2):
        raise RuntimeError(f"{op}(): Expected {ndim + 1}D or {ndim + 2}D tensor, but got {list(shape)}")
    if 0 in shape[len(shape) - ndim - 1 :]:
        raise RuntimeError(
            f"{op}(): Expected input to have non-zero size for non-batch dimensions, but input has sizes {list(shape)}"
        )
    sizes = (output_size,) * ndim if output_size is None or _is_int(output_size) else tuple(output_size)
    if len(sizes) == 1:
        sizes = sizes * ndim
    if len(sizes) != ndim or not all(s is None or _is_int(s) for s in sizes):
        raise RuntimeError(f"{op}: output_size must be {ndim}, but got output_size={output_size!r}")
    spatial = shape[-ndim:]
    resolved = tuple(int(size) if s is None else int(s) for s, size in zip(sizes, spatial))
    if any(s < 0 for s in resolved):
        raise RuntimeError(
            f"{op}: elements of output_size must be greater than or equal to 0 but received {resolved}"
        )
    return len(shape) == ndim + 2, resolved


def adaptive_avg_pool_nd(ndim: int, input: Any, output_size: Any) -> Tensor:  # noqa: A002
    """``ndim``-d adaptive average pooling; see ``adaptive_avg_pool2d``."""
    op = f"adaptive_avg_pool{ndim}d"
    x = as_input(input, op, "input")
    batched, output = _check_adaptive(op, ndim, x.shape, output_size)
    dtype = x._array.dtype if x._array.dtype.kind in "fc" else np.dtype(np.float64)
    matrices, combined = averaging_matrices(tuple(x.shape[-ndim:]), output, dtype)
    return _unbatched(PerAxisMatrix.apply(_batched(x, batched), matrices, combined), batched)


@functools.lru_cache(maxsize=256)
def averaging_matrices(
    spatial: tuple[int, ...], output: tuple[int, ...], dtype: np.dtype
) -> tuple[tuple[np.ndarray, ...], np.ndarray | None]:
    """Adaptive average pooling's (out, in) averaging matrix per axis (``adaptive_bins``) and, when it has at
    most COMBINED_MATRIX_MAX entries, their combined (Πin × Πout) Kronecker product (else None); read-only
    and remembered, since a network asks for the same ones on every call."""
    matrices = []
    for size, out in zip(spatial, output):
        start, end = adaptive_bins(size, out)
        positions = np.arange(size)
        inside = (positions >= start[:, None]) & (positions < end[:, None])
        matrix = (inside / (end - start)[:, None]).astype(dtype)
        matrix.flags.writeable = False
        matrices.append(matrix)
    combined = None
    if math.prod(spatial) * math.prod(output) <= COMBINED_MATRIX_MAX:
        combined = functools.reduce(np.kron, [m.T for m in matrices])
        combined.flags.writeable = False
    return tuple(matrices), combined


def adaptive_max_pool_nd(ndim: int, input: Any, output_size: Any, return_indices: bool = False) -> Any:  # noqa: A002
    """``ndim``-d adaptive max pooling; see ``adaptive_max_pool2d``."""
    op = f"adaptive_max_pool{ndim}d"
    x = as_input(input, op, "input")
    batched, output = _check_adaptive(op, ndim, x.shape, output_size)
    x = _batched(x, batched)
    # per axis an (out, longest bin) table of positions; short bins repeat their last position, which changes
    # neither the maximum nor which position is found first
    tables, window = [], 1
    for axis, (size, out) in enumerate(zip(x.shape[2:], output)):
        start, end = adaptive_bins(size, out)
        longest = int((end - start).max(initial=1))
        window *= longest
        table = np.minimum(start[:, None] + np.arange(longest), end[:, None] - 1)
        layout = [1] * (2 * ndim)
        layout[2 * axis], layout[2 * axis + 1] = table.shape
        tables.append(table.reshape(layout))
    flat = _flat_indices(tables, x.shape[2:])  # (o1, j1, o2, j2, …)
    flat = flat.transpose(*range(0, 2 * ndim, 2), *range(1, 2 * ndim, 2)).reshape(*output, window)
    planes = x._array.reshape(x.shape[0], x.shape[1], math.prod(x.shape[2:]))
    candidates = planes[:, :, flat]  # (N, C, *out, window)
    best = candidates.argmax(axis=-1) if candidates.shape[-1] else np.zeros(candidates.shape[:-1], dtype=np.int64)
    indices = np.take_along_axis(np.broadcast_to(flat, candidates.shape), best[..., None], axis=-1)[..., 0]
    indices = indices.astype(np.int64)
    maxima = np.take_along_axis(candidates, best[..., None], axis=-1)[..., 0]
    unique = all(size % out == 0 for size, out in zip(x.shape[2:], output) if out)
    values = _unbatched(GatherPlanes.apply(x, indices, maxima, unique), batched)
    if not return_indices:
        return values
    return values, Tensor._wrap(indices if batched else indices[0])


def adaptive_avg_pool1d(input: Any, output_size: int | Sequence[int]) -> Tensor:  # noqa: A002
    """1-d adaptive average pooling of (N, C, L) or (C, L) to length ``output_size``."""
    return adaptive_avg_pool_nd(1, input, output_size)


def adaptive_avg_pool2d(input: Any, output_size: Any) -> Tensor:  # noqa: A002
    """2-d adaptive average pooling of (N, C, H, W) or (C, H, W) to ``output_size``.

    Args:
        output_size: int or (H_out, W_out); a None entry keeps the input's size.

    Output row i averages input rows floor(i·H/H_out) … ceil((i + 1)·H/H_out) − 1, likewise columns.
    """
    return adaptive_avg_pool_nd(2, input, output_size)


def adaptive_avg_pool3d(input: Any, output_size: Any) -> Tensor:  # noqa: A002
    """3-d adaptive average pooling of (N, C, D, H, W) or (C, D, H, W)."""
    return adaptive_avg_pool_nd(3, input, output_size)


def adaptive_max_pool1d(input: Any, output_size: Any, return_indices: bool = False) -> Any:  # noqa: A002
    """1-d adaptive max pooling of (N, C, L) or (C, L)."""
    return adaptive_max_pool_nd(1, input, output_size, return_indices)


def adaptive_max_pool2d(input: Any, output_size: Any, return_indices: bool = False) -> Any:  # noqa: A002
    """2-d adaptive max pooling of (N, C, H, W) or (C, H, W), bins as in ``adaptive_avg_pool2d``.

    Args:
        output_size: int or (H_out, W_out); a None entry keeps the input's size.
        return_indices: also return each maximum's flat index h·W + w within its plane; default False.
    """
    return adaptive_max_pool_nd(2, input, output_size, return_indices)


def adaptive_max_pool3d(input: Any, output_size: Any, return_indices: bool = False) -> Any:  # noqa: A002
    """3-d adaptive max pooling of (N, C, D, H, W) or (C, D, H, W)."""
    return adaptive_max_pool_nd(3, input, output_size, return_indices)
