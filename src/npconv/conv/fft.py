"""Convolution by the fast Fourier transform, for kernels large enough that it pays.

A correlation y[i] = Σ_t x[i + t]·w[t] is, per frequency, Y = X · conj(W): with the input and the (dilated)
kernel transformed by real FFTs of size S ≥ the input's extent, the inverse transform's first
S − e + 1 values (e the kernel's extent) are the correlation's, untouched by the transform's wrap-around.
Channels then contract per frequency, (rows × C/G)·(C/G × O/G) for every frequency and group: one batched
complex matrix product, where the direct sum's cost grows with the kernel's taps and this one does not.

Along the first spatial axis the padded input is cut into overlapping blocks (overlap-save): each block of
S₀ inputs gives S₀ − e₀ + 1 outputs, so that a long signal with a long kernel (audio, S₀ a few times e₀)
needs short transforms, and every block joins the rows of the product. The other axes are transformed
whole. A stride takes every s-th output of the stride-1 correlation (blocks start on the stride's
phase); dilation spreads the kernel's taps with zeros before its transform.

The weight gradient is the same correlation between x and dL/dy: per frequency and group
dU = Σ_rows conj(G)ᵀ·X, (O/G × rows)·(rows × C/G), and its inverse transform's first e values per axis are
dW's taps (every d-th one, for dilation d).

``applies`` compares estimated times (the plan's cost and ``direct_cost``, from rates measured on this
project's benchmark machine) and keeps the scratch within ``algorithms.WORKSPACE_BYTES``.

Accuracy: the transforms' rounding errors spread over all outputs, relative to the largest values rather
than to each output. Against a float64 reference the float32 error measured 0.13–0.99× torch's own (the
output, input and weight gradients of 255- and 64-tap Conv1d layers, a 31×31 blur and an 11×11 Conv2d);
the tests hold it within 4×.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import algorithms

Pairs = Sequence[tuple[int, int]]

# Kernels of fewer taps than this never go by FFT: the estimate is not even computed for them (3×3, 5×5).
MIN_TAPS = 25
# Rates in GFLOP/s on this project's benchmark machine (2 cores, float32) that turn counts of work into time:
# the direct sum's products (an unfolded convolution runs at 60–105; depthwise kernels, which have no
# matrix product to run on BLAS, at about 25 in 2-d by rows and 9 as the 1-d and 3-d elementwise taps);
# the real FFTs, counted as 2.5·n·log₂(n) flops per transform of n points (NumPy's pocketfft in chunks on
# the pool: 6–11 for 1-d transforms, 3–5 for 2-d ones, whose first axis is a complex transform of strided
# rows; 3 keeps out (4, 64, 56²) ⋆ 11×11, which took 0.96× the direct sum's time); and the per-frequency
# complex products, 8 flops per multiply-add (small matrices). Measured against these estimates, forward:
# (4, 32, 16000) ⋆ (32, 32, k) took 1.12–1.34× the direct sum's time at k = 16 (not taken), 0.52–0.60× at
# 32, 0.23–0.27× at 64, 0.06–0.08× at 256, 0.02× at 1024; (8, 64, 56²) ⋆ 7×7 1.10–1.25× (not taken), 11×11
# 0.68–0.74×; a 31×31 blur of (4, 3, 256²) 0.38–0.43×; depthwise 31×31 on (8, 128, 28²) 1.33× (not taken).
DIRECT_RATE = 80.0
DEPTHWISE_RATE = {1: 9.0, 2: 25.0, 3: 9.0}
TRANSFORM_RATE = {1: 7.0, 2: 3.0, 3: 3.0}
PRODUCT_RATE = 30.0
# The FFT is taken only when its estimated cost is below the direct sum's by this factor.
MARGIN = 1.5
# Signals per chunk of a forward or inverse transform: a chunk's input and result stay in cache (768
# signals of 4096 points: 30.5 ms at once, 11.5 ms in chunks of 48, 6.4 ms on two threads).
CHUNK_BYTES = 1 << 20


@functools.cache
def fast_size(n: int) -> int:
    """The smallest 2ᵃ·3ᵇ·5ᶜ ≥ n: a size pocketfft transforms quickly."""
    best = 1 << max(0, n - 1).bit_length()
    five = 1
    while five < best:
        three = five
        while three < best:
            size = three
            while size < n:
                size *= 2
            best = min(best, size)
            three *= 3
        five *= 5
    return best


@functools.cache
def _fast_sizes_between(low: int, high: int) -> tuple[int, ...]:
    """The distinct fast sizes from ``fast_size(low)`` up to ``fast_size(high)``."""
    sizes, n = [], max(1, low)
    while True:
        size = fast_size(n)
        sizes.append(size)
        if size >= high:
            return tuple(sizes)
        n = size + 1


@dataclass(frozen=True)
class Plan:
    """How one FFT convolution is cut up. Per spatial axis: ``sizes`` S (transform lengths), ``extents`` e
    (the dilated kernel's), ``out`` (y's extent). Along the first axis the padded input is read in
    ``blocks`` blocks of ``sizes[0]`` values, ``step`` apart (stride-1 outputs per block, a multiple of the
    stride); ``rows`` = N·blocks rows take part in the products, ``row_chunk`` of them at a time, for
    ``out_chunk`` output channels of every group at a time (the kernel's spectra of one such chunk, and a
    chunk of rows' spectra, each within half the workspace). ``cost`` is its estimated time in seconds."""

    sizes: tuple[int, ...]
    extents: tuple[int, ...]
    out: tuple[int, ...]
    step: int
    blocks: int
    rows: int
    row_chunk: int
    out_chunk: int
    cost: float

    @property
    def frequencies(self) -> int:
        return math.prod(self.sizes[:-1]) * (self.sizes[-1] // 2 + 1)


def _plan_for(x_shape, w_shape, stride, padding: Pairs, dilation, groups: int, itemsize: int, first: int) -> Plan | None:
    """The plan with transforms of length ``first`` along the first axis, or None when not even one output
    channel's kernel spectra and one row's fit their halves of the workspace."""
    batch, channels, *spatial = x_shape
    out_channels, per_group, *kernel = w_shape
    per_out = out_channels // groups
    extents = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    padded = [lo + size + hi for size, (lo, hi) in zip(spatial, padding)]
    out = tuple((p - e) // s + 1 for p, e, s in zip(padded, extents, stride))
    # stride-1 outputs needed along each axis, and the inputs they read
    needed = [(o - 1) * s + 1 for o, s in zip(out, stride)]
    sizes = (first, *(fast_size(n + e - 1) for n, e in zip(needed[1:], extents[1:])))
    step = first - extents[0] + 1
    step -= step % stride[0]
    if step < 1:
        return None
    blocks = -(-needed[0] // step)
    complex_bytes = 2 * itemsize
    frequencies = math.prod(sizes[:-1]) * (sizes[-1] // 2 + 1)
    half = algorithms.WORKSPACE_BYTES // 2
    out_chunk = min(per_out, half // (frequencies * groups * per_group * complex_bytes))
    if out_chunk < 1:
        return None
    out_chunks = -(-per_out // out_chunk)
    out_chunk = -(-per_out // out_chunks)  # the output channels split evenly
    row_bytes = frequencies * (channels + groups * out_chunk) * complex_bytes  # a row's input and output spectra
    rows = batch * blocks
    row_chunk = min(rows, half // row_bytes)
    if row_chunk < 1:
        return None
    points = math.prod(sizes)
    per_transform = 2.5 * points * math.log2(max(points, 2))
    transforms = per_transform * (rows * (channels * out_chunks + out_channels) + out_channels * per_group)
    products = 8 * frequencies * rows * per_group * out_channels
    cost = (transforms / TRANSFORM_RATE[min(len(sizes), 3)] + products / PRODUCT_RATE) * 1e-9
    return Plan(sizes, extents, out, step, blocks, rows, row_chunk, out_chunk, cost)


def _pairs(padding: Pairs) -> tuple[tuple[int, int], ...]:
    return tuple((int(lo), int(hi)) for lo, hi in padding)


def direct_cost(x_shape, w_shape, stride, padding: Pairs, dilation, groups: int) -> float:
    """Estimated seconds of the direct sum: 2 flops per multiply-add at DIRECT_RATE (DEPTHWISE_RATE for one
    input channel a group)."""
    batch, channels, *spatial = x_shape
    out_channels, per_group, *kernel = w_shape
    out = [
        max(0, (lo + size + hi - d * (k - 1) - 1) // s + 1)
        for size, (lo, hi), k, s, d in zip(spatial, padding, kernel, stride, dilation)
    ]
    depthwise = groups == channels and per_group == 1
    rate = DEPTHWISE_RATE[min(len(kernel), 3)] if depthwise else DIRECT_RATE
    return 2 * batch * out_channels * per_group * math.prod(kernel) * math.prod(out) / rate * 1e-9


def plan(x_shape, w_shape, stride, padding: Pairs, dilation, groups: int, itemsize: int) -> Plan | None:
    """The cheapest plan over the fast transform lengths along the first axis (from twice its kernel extent
    to the whole padded input), or None when no plan fits the workspace. All arguments are tuples; plans
    are computed once per call signature and workspace size."""
    return _cheapest_plan(x_shape, w_shape, stride, padding, dilation, groups, itemsize, algorithms.WORKSPACE_BYTES)


@functools.lru_cache(maxsize=256)
def _cheapest_plan(x_shape, w_shape, stride, padding: Pairs, dilation, groups: int, itemsize: int, _workspace: int) -> Plan | None:
    spatial, kernel = x_shape[2:], w_shape[2:]
    (lo, hi), size = padding[0], spatial[0]
    extent = dilation[0] * (kernel[0] - 1) + 1
    whole = lo + size + hi
    best = None
    for first in _fast_sizes_between(min(2 * extent, whole), whole):
        candidate = _plan_for(x_shape, w_shape, stride, padding, dilation, groups, itemsize, first)
        if candidate is not None and (best is None or candidate.cost < best.cost):
            best = candidate
    return best


def applies(x_shape, w_shape, stride, padding: Pairs, dilation, groups: int, dtype) -> bool:
    """Whether the FFT is the algorithm of choice: a real floating dtype, a kernel of at least MIN_TAPS taps,
    outputs to compute, and a plan whose estimated cost is MARGIN times below the direct sum's."""
    kernel = w_shape[2:]
    if math.prod(kernel) < MIN_TAPS or np.dtype(dtype).kind != "f" or min(x_shape[0], w_shape[0], w_shape[1]) == 0:
        return False
    padded = [lo + size + hi for size, (lo, hi) in zip(x_shape[2:], padding)]
    if any(p < d * (k - 1) + 1 for p, k, d in zip(padded, kernel, dilation)):
        return False
    found = plan(tuple(x_shape), tuple(w_shape), tuple(stride), _pairs(padding), tuple(dilation), groups, np.dtype(dtype).itemsize)
    return found is not None and found.cost * MARGIN < direct_cost(x_shape, w_shape, stride, padding, dilation, groups)


def _input_blocks(x: np.ndarray, padding: Pairs, found: Plan) -> np.ndarray:
    """x zero-padded, with zeros after it along the first axis up to the last block's end, as overlapping
    blocks (N, blocks, C, S₀, *rest): a view."""
    (lo, hi), *others = padding
    end = (found.blocks - 1) * found.step + found.sizes[0]
    extra = max(0, end - (lo + x.shape[2] + hi))
    padded = algorithms.pad_zeros(x, [(lo, hi + extra), *others])
    if not padded.flags.c_contiguous:
        padded = np.ascontiguousarray(padded)
    steps = padded.strides
    shape = (padded.shape[0], found.blocks, padded.shape[1], found.sizes[0], *padded.shape[3:])
    return algorithms.strided_view(padded, shape, (steps[0], found.step * steps[2], *steps[1:]), writeable=False)


def _row_spectra(blocks: np.ndarray, found: Plan, target: np.ndarray, r0: int, r1: int) -> None:
    """The real FFTs of rows r0 … r1 − 1 (row = sample · blocks + block) of ``blocks`` (N, B, C, S₀, *rest),
    zero-extended to ``found.sizes``, into target (frequencies, r1 − r0, C) — the products' layout — in
    chunks of signals on the pool."""
    channels = blocks.shape[2]
    spatial = tuple(range(2, 2 + len(found.sizes)))
    per_signal = found.frequencies * target.itemsize
    signals = max(1, CHUNK_BYTES // per_signal)
    rows_per_task = max(1, signals // channels)
    by_frequency = target.reshape(found.frequencies, r1 - r0, channels)
    blocks_of = blocks.shape[1]

    def work(start: int, stop: int) -> None:
        for r in range(start, stop, rows_per_task):
            end = min(stop, r + rows_per_task)
            rows = [blocks[(r0 + i) // blocks_of, (r0 + i) % blocks_of] for i in range(r, end)]
            spectra = np.fft.rfftn(np.stack(rows), s=found.sizes, axes=spatial)
            spectra = spectra.reshape(end - r, channels, found.frequencies)
            np.copyto(by_frequency[:, r:end], spectra.transpose(2, 0, 1), casting="same_kind")

    algorithms._run_blocks(work, r1 - r0, max(rows_per_task, -(-(r1 - r0) // (4 * algorithms.THREADS))))


def _transform_kernel(w: np.ndarray, dilation, found: Plan, groups: int, o0: int, o1: int) -> np.ndarray:
    """conj(FFT) of output channels o0 … o1 − 1 of every group of the kernel, dilated, as (frequencies, G,
    C/G, o1 − o0)."""
    out_channels, per_group, *kernel = w.shape
    part = w.reshape(groups, out_channels // groups, per_group, *kernel)[:, o0:o1]
    if any(d > 1 for d in dilation):
        spread = np.zeros((*part.shape[:3], *found.extents), dtype=w.dtype)
        spread[(slice(None),) * 3 + tuple(slice(None, None, d) for d in dilation)] = part
        part = spread
    spectra = np.fft.rfftn(part, s=found.sizes, axes=tuple(range(3, part.ndim)))
    spectra = spectra.reshape(groups, o1 - o0, per_group, -1).transpose(3, 0, 2, 1)
    result = np.empty(spectra.shape, dtype=_complex(w.dtype))
    np.conjugate(spectra, out=result, casting="same_kind")
    return result


def _complex(dtype) -> np.dtype:
    return np.result_type(np.dtype(dtype), np.complex64)


def _products(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """np.matmul(a, b) for stacks of matrices led by the frequency axis, split over the pool by frequency."""
    out = np.empty((*np.broadcast_shapes(a.shape[:-2], b.shape[:-2]), a.shape[-2], b.shape[-1]), dtype=a.dtype)
    total = out.shape[0]

    def work(start: int, stop: int) -> None:
        np.matmul(a[start:stop], b[start:stop], out=out[start:stop])

    algorithms._run_blocks(work, total, max(1, -(-total // (4 * algorithms.THREADS))))
    return out


def _chunks(total: int, size: int) -> list[tuple[int, int]]:
    return [(start, min(total, start + size)) for start in range(0, total, size)]


def conv_fft(
    x: np.ndarray,
    w: np.ndarray,
    stride: Sequence[int],
    padding: Pairs,
    dilation: Sequence[int],
    groups: int,
    bias: np.ndarray | None = None,
) -> np.ndarray:
    """y = conv(x zero-padded by ``padding``, w dilated by ``dilation``, stride) (+ bias), by FFT in
    overlap-save blocks; per spatial dim out = (lo + size + hi − d·(k − 1) − 1) // s + 1."""
    dtype = np.result_type(x, w)
    x, w = x.astype(dtype, copy=False), w.astype(dtype, copy=False)
    found = plan(x.shape, w.shape, tuple(stride), _pairs(padding), tuple(dilation), groups, dtype.itemsize)
    if found is None:
        raise ValueError("conv_fft: no FFT plan fits the workspace for these shapes")
    batch, channels = x.shape[:2]
    out_channels, per_group = w.shape[:2]
    per_out = out_channels // groups
    y = np.empty((batch, out_channels, *found.out), dtype=dtype)
    by_group = y.reshape(batch, groups, per_out, *found.out)
    blocks = _input_blocks(x, padding, found)
    spatial = tuple(range(2, 2 + len(found.sizes)))
    shape = found.sizes[:-1] + (found.sizes[-1] // 2 + 1,)
    # per block: its stride-1 outputs step·b … (every s-th), and on the other axes every s-th of the first ones
    keep = tuple(slice(0, (o - 1) * s + 1, s) for o, s in zip(found.out[1:], stride[1:]))
    per_block = found.step // stride[0]
    biases = None if bias is None else bias.reshape(groups, per_out, *([1] * len(found.sizes)))
    with algorithms.single_threaded_blas(algorithms.PARALLEL_WORK):
        for o0, o1 in _chunks(per_out, found.out_chunk):
            kernel = _transform_kernel(w, dilation, found, groups, o0, o1)
            for r0, r1 in _chunks(found.rows, found.row_chunk):
                spectra = np.empty((found.frequencies, r1 - r0, channels), dtype=kernel.dtype)
                _row_spectra(blocks, found, spectra, r0, r1)
                grouped = spectra.reshape(found.frequencies, r1 - r0, groups, per_group).transpose(0, 2, 1, 3)
                by_row = _products(grouped, kernel).transpose(2, 1, 3, 0)  # (rows, G, o1 − o0, frequencies)

                def inverse(start: int, stop: int, by_row=by_row, r0=r0, o0=o0, o1=o1) -> None:
                    chunk = np.ascontiguousarray(by_row[start:stop]).reshape(stop - start, groups, o1 - o0, *shape)
                    signals = np.fft.irfftn(chunk, s=found.sizes, axes=tuple(axis + 1 for axis in spatial))
                    for i in range(start, stop):
                        n, b = divmod(r0 + i, found.blocks)
                        first = b * per_block
                        count = min(per_block, found.out[0] - first)
                        if count <= 0:
                            continue
                        rows = slice(0, (count - 1) * stride[0] + 1, stride[0])
                        target = by_group[n, :, o0:o1, first : first + count]
                        np.copyto(target, signals[i - start][(slice(None), slice(None), rows, *keep)], casting="same_kind")
                        if biases is not None:
                            target += biases[:, o0:o1]

                per_task = max(1, CHUNK_BYTES // max(1, groups * (o1 - o0) * found.frequencies * kernel.itemsize))
                algorithms._run_blocks(inverse, r1 - r0, max(per_task, -(-(r1 - r0) // (4 * algorithms.THREADS))))
    return y


def grad_weight_fft(
    x: np.ndarray,
    g: np.ndarray,
    kernel: Sequence[int],
    stride: Sequence[int],
    padding: Pairs,
    dilation: Sequence[int],
    groups: int,
    bias: np.ndarray | None = None,
) -> np.ndarray:
    """dL/dW (O, C/G, *kernel) of y = ``conv_fft``(x, W, ...) given g = dL/dy, by the same blocks and
    transforms; with ``bias`` ((O,), written) also dL/db = Σ g over samples and positions. A stride puts g's
    values on the stride-1 positions they came from, zeros between."""
    dtype = np.result_type(x, g)
    x, g = x.astype(dtype, copy=False), g.astype(dtype, copy=False)
    batch, channels = x.shape[:2]
    out_channels = g.shape[1]
    per_group, per_out = channels // groups, out_channels // groups
    found = plan(x.shape, (out_channels, per_group, *kernel), tuple(stride), _pairs(padding), tuple(dilation), groups, dtype.itemsize)
    if found is None:
        raise ValueError("grad_weight_fft: no FFT plan fits the workspace for these shapes")
    if bias is not None:
        bias[...] = g.sum(axis=(0, *range(2, g.ndim)))
    if any(s > 1 for s in stride):
        stuffed = np.zeros((batch, out_channels, *((o - 1) * s + 1 for o, s in zip(found.out, stride))), dtype=dtype)
        stuffed[(slice(None), slice(None), *(slice(None, None, s) for s in stride))] = g
        g = stuffed
    # g's blocks: the step outputs of each block, zero-extended to the transform size
    g_padded = algorithms.pad_zeros(g, [(0, found.blocks * found.step - g.shape[2]), *((0, 0) for _ in g.shape[3:])])
    g_padded = np.ascontiguousarray(g_padded)
    blocks = _input_blocks(x, padding, found)
    spatial = tuple(range(2, 2 + len(found.sizes)))
    complex_dtype = _complex(dtype)
    shape = found.sizes[:-1] + (found.sizes[-1] // 2 + 1,)
    result = np.empty((out_channels, per_group, *kernel), dtype=dtype)
    by_group = result.reshape(groups, per_out, per_group, *kernel)
    taps = tuple(slice(0, (k - 1) * d + 1, d) for k, d in zip(kernel, dilation))
    with algorithms.single_threaded_blas(algorithms.PARALLEL_WORK):
        for o0, o1 in _chunks(per_out, found.out_chunk):
            part = g_padded.reshape(batch, groups, per_out, *g_padded.shape[2:])[:, :, o0:o1]
            part = part.reshape(batch, groups * (o1 - o0), *g_padded.shape[2:])
            steps = part.strides
            g_blocks = algorithms.strided_view(
                part,
                (batch, found.blocks, part.shape[1], found.step, *part.shape[3:]),
                (steps[0], found.step * steps[2], *steps[1:]),
                writeable=False,
            )
            total = np.zeros((found.frequencies, groups, o1 - o0, per_group), dtype=complex_dtype)
            for r0, r1 in _chunks(found.rows, found.row_chunk):
                inputs = np.empty((found.frequencies, r1 - r0, channels), dtype=complex_dtype)
                _row_spectra(blocks, found, inputs, r0, r1)
                grads = np.empty((found.frequencies, r1 - r0, groups * (o1 - o0)), dtype=complex_dtype)
                _row_spectra(g_blocks, found, grads, r0, r1)
                np.conjugate(grads, out=grads)
                by_group_g = grads.reshape(found.frequencies, r1 - r0, groups, o1 - o0).transpose(0, 2, 3, 1)
                by_group_x = inputs.reshape(found.frequencies, r1 - r0, groups, per_group).transpose(0, 2, 1, 3)
                total += _products(by_group_g, by_group_x)  # (frequencies, G, o1 − o0, C/G)
            spectra = total.transpose(1, 2, 3, 0).reshape(groups, o1 - o0, per_group, *shape)
            lags = np.fft.irfftn(spectra, s=found.sizes, axes=tuple(axis + 1 for axis in spatial))
            np.copyto(by_group[:, o0:o1], lags[(slice(None),) * 3 + taps], casting="same_kind")
    return result
