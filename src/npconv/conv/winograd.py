"""Winograd F(2×2, 3×3), F(4×2, 3×3), F(2×2×2, 3×3×3) and F(4×2×2, 3×3×3): 3×3 (3×3×3), stride-1,
undilated, ungrouped convolutions in 2 or 3 dimensions with 2.25× and 3× (3.375× and 4.5×) fewer multiplies.

Each block of m₀×…×m_d outputs (m = 2 per axis, or m = 4 along the first axis of a forward) is computed
from the (m₀ + 2)×…×(m_d + 2) input tile d that covers it by applying, along every spatial axis in turn,
that axis's one-dimensional transforms F(m, 3) (Lavin & Gray, arXiv:1509.09308):

    Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A        (in 2-d; in 3-d each matrix acts along the third axis too)

The Π(m + 2) elementwise products over all tiles and channels become as many matrix products
(O × C) · (C × tiles), which BLAS runs near its peak; the transforms of F(2, 3) are a few additions over
whole arrays, those of F(4, 3) one small matrix product per tile row.

Dilated kernels (stride 1) run as the same transforms over the phase planes of the padded input
(``conv_winograd_dilated``), and the weight gradient runs the transforms backwards (``grad_weight_winograd``).

Accuracy: F(2, 3)'s transforms only add and subtract (and halve, in G), so the float32 error grows by a
small constant factor over a direct sum. F(4, 3) interpolates at 0, ±1, 1/2 and −2 (and ∞): their
coefficients stay within 8 and its error within a few times a direct sum's. The tests bound both by 4×
torch's own float32 error against a float64 reference.
"""

from __future__ import annotations

import functools
import itertools
import math
import threading
import weakref
from collections.abc import Callable

import numpy as np

from . import algorithms

# G (4×3), the kernel transform of one axis; U = G g Gᵀ (and its 3-d analogue) is applied to all kernel
# axes at once as the Kronecker product G ⊗ … ⊗ G (4ᵈ × 3ᵈ).
KERNEL_TRANSFORM = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])
# When the 4ᵈ small products and the transforms beat the unfold (interleaved medians on this project's
# benchmark machine, 2 cores): at least MIN_CHANNELS input and output channels, MIN_TILES tiles in the batch
# (the kernel transform costs as much as the products of 16 tiles) and MIN_WORK tiles × C × O. In 2-d, 32
# channels ran level with the unfold at best and 16 channels up to 2× slower; (8, 64, 16, 16) took 0.71× the
# unfold's time, (1, 64, 28, 28) 1.18×, (2, 256, 14, 14) 0.72× and (1, 512, 7, 7) 2.9×. In 3-d the unfold's
# matrix is 27 rows per channel and Winograd wins earlier: (2, 16, 16, 16, 16) 0.83×, (2, 32, 16, 16, 16) 0.85×.
# A single sample (products on BLAS's own threads) wins from MIN_TILES_ONE_SAMPLE tiles: (1, 256, 12, 12),
# 36 tiles, 0.80×, (1, 256, 14, 14) 0.83×, (1, 512, 12, 12) 0.77×; a batch of 48 tiles does not: (3, 512, 7, 7)
# 1.19×, (3, 256, 8, 8) 1.12×. A 2-d batch takes MIN_TILES[2]: the unfold against Winograd from 64 tiles,
# public conv2d, interleaved medians, forward / forward+backward: (4, 256, 7, 7) 0.80× / 0.69×, (5, 256, 7, 7)
# 0.81× / 0.75×, (4, 512, 7, 7) 0.68× / 0.68×, (6, 512, 7, 7) 0.95× / 0.79×, (4, 256, 8, 8) 0.97× / 0.92×;
# from 128 tiles Winograd's forward wins again ((8, 512, 7, 7) 16.2 against 17.4–18.3 ms).
MIN_CHANNELS = {2: 64, 3: 16}
# A batch in 2-d with planes of at least FEW_CHANNELS_MIN_TILES tiles (2×2) a sample goes by Winograd from
# 32 channels on (F(4×2) forward, F(2×2) input gradient, F(4×2) weight gradient; against the unfold,
# interleaved medians, forward / forward+backward: (8, 64, 56, 56) → 32 channels 0.63× / 0.74×, 32 → 64
# channels 0.97× / 0.78×, (4, 64, 112, 112) → 32 0.50× / 0.70×, (4, 32, 112, 112) → 32 0.65–0.78× /
# 0.71–0.82×, (8, 32, 56, 56) → 32 0.87–1.09× / 0.83–0.97×; the unfold's products with 32 rows run far below
# BLAS's peak). Smaller planes lost or gained little ((16, 32, 32, 32) → 32 1.16× / 1.12×, the phases of a
# dilation 2 at 56² 1.42× / 1.40×, (8, 64, 28, 28) → 32 0.88× / 1.00×), a single sample of 32 channels lost
# ((1, 32, 112, 112) → 32 1.09× / 1.19×, (1, 32, 56, 56) 1.06–1.40×), and so did 16 channels ((8, 16, 56,
# 56) 1.44× / 1.39×).
BATCH_MIN_CHANNELS = {2: 32, 3: 16}
FEW_CHANNELS_MIN_TILES = 400
MIN_TILES = {2: 100, 3: 64}
# The weight gradient of a 2-d batch goes by Winograd from this many tiles (2×2) in the batch: its Π(m + 2)
# products contract over the tiles, and few tiles make them too short. Against the unfold's weight gradient,
# interleaved medians: (8, 512, 7, 7), 128 tiles, 40.2 against 22.3 ms; (2, 256, 14, 14), 98 tiles, 8.4
# against 5.8; (8, 256, 10, 10), 200 tiles, 11.6 against 12.1; (8, 256, 14, 14) 16.6 against 21.8; (8, 128,
# 28, 28) 14.5 against 21.1.
WEIGHT_GRADIENT_MIN_TILES = 200
MIN_TILES_ONE_SAMPLE = 36
MIN_WORK = {2: 1 << 21, 3: 1 << 18}
# A single sample goes by F(4×2, 3×3) from this many of its tiles (products on BLAS's own threads, one tile
# per column: narrower than F(2×2)'s by half). Forward, interleaved medians of F(4×2) against F(2×2) on
# this project's benchmark machine: (1, 256, 14, 14), 28 tiles, 1.23×; (1, 256, 16, 16), 32 tiles,
# 1.08–1.15×; (1, 128, 18, 18), 45 tiles, 0.94×; (1, 128, 22, 22) 0.95×; (1, 128, 28, 28) 0.93–0.96×;
# (1, 64, 56, 56) 0.88–0.95×. Batches on the pool (shares of several samples) gain from 14² on: (8, 256, 14,
# 14) 0.99–1.08×, (8, 256, 16, 16) 0.84–0.88×, (8, 128, 18, 18) 0.90×, (8, 128, 28, 28) 0.89–0.91×, (8, 64,
# 56, 56) 0.89–0.90×. In 3-d F(4×2×2, 3×3×3) on batches: (2, 32, 16, 16, 16) 0.85×, (2, 64, 16, 16, 16) 0.88×;
# a single sample, level ((1, 32, 32, 32, 32) 1.00×), stays F(2×2×2).
MIXED_MIN_TILES_ONE_SAMPLE = 40
# Fewer output rows than this (one row of 4×2 tiles) stay F(2×…×2): (32, 128, 4, 4), ResNet-18's second
# stage on 32² images, forward 1.08×, forward+backward 1.10× in F(4×2); at (32, 64, 8, 8) 0.84× and 0.95×.
MIXED_MIN_ROWS = 5
# Kernels of at least this many (output, input) channel pairs are transformed in column shares on the pool
# when the convolution runs there (F(4×2), single-threaded BLAS, interleaved medians: 256 × 256 channels
# 3.47 → 2.49 ms; at 128 × 128, 0.42 against 0.65, and 64 × 64, 0.10 against 0.26, the hand-off costs more).
PARALLEL_TRANSFORM = 1 << 16
# A 3-d block is made channels-last in two copies when each plane has at least this many elements.
PLANE_FIRST = 256
# A forward whose kernel needs no gradient (inference, a frozen layer) keeps the transforms of kernels of at
# least REMEMBERED_MIN_PAIRS channel pairs (per number of spatial dims) for the next call with the same
# kernel (``RememberedTransforms``), up to REMEMBERED_BYTES of transforms and kernel copies in all. Forward,
# interleaved medians: (8, 256, 14²) 11.65 → 10.84 ms, (1, 256, 14²) 3.38 → 3.22, (8, 512, 7²) 18.30 →
# 15.81, (1, 512, 14²) 9.85 → 8.48 (the transform's (24 × 9)·(9 × O·C) product writes 6.3 MB at 256
# channels); kept from 64 × 64 pairs on, the smaller 2-d kernels moved within the noise ((8, 128, 28²)
# 0.98–1.12×, (1, 64, 56²) 0.94×). A 3-d transform is a (96 × 27)·(27 × O·C) product, 12 times the work per
# pair, and pays from 32 × 32 pairs on: (2, 32, 16³) 4.25 → 4.14 and 4.58 → 4.36 ms, (2, 64, 8³) 2.40 → 2.02
# and 2.57 → 2.30, (2, 128, 8³) 6.22 → 4.99 ((8, 32, 8³) level, 3.20 against 3.16).
REMEMBERED_MIN_PAIRS = {2: 1 << 16, 3: 1 << 10}
REMEMBERED_BYTES = 128 << 20
# A forward whose kernel needs a gradient keeps its transformed input tiles for the weight gradient
# (``InputTiles``) while all the tiles kept at once take at most KEPT_TILES_BYTES.
KEPT_TILES_BYTES = 64 << 20


# F(4, 3) along one axis, from its values at the points 0, 1, −1, 1/2, −2 and ∞ (Cook–Toom): four outputs
# from six inputs with six multiplies. Points with reciprocals in the set (±2 with ±1/2) would need a
# seventh; 1/2 and −2 keep the largest coefficient at 8 where 0, ±1, ±2 reach it too, and the float32
# error of F(4×2, 3×3) measured 0.74–0.93× torch's own against float64 (F(4×4, 3×3) at these points:
# 2.3–2.6×, too close to the tests' 4× bound; a first version of F(4×4) was no faster either).
ROWS_OUTPUT_TRANSFORM = np.array(  # Aᵀ (4 × 6)
    [[1, 1, 1, 1, 1, 0], [0, 1, -1, 1 / 2, -2, 0], [0, 1, 1, 1 / 4, 4, 0], [0, 1, -1, 1 / 8, -8, 1]]
)
ROWS_KERNEL_TRANSFORM = np.array(  # G (6 × 3)
    [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3], [-1 / 3, 1 / 3, -1 / 3], [-16 / 15, -8 / 15, -4 / 15], [1 / 15, -2 / 15, 4 / 15], [0, 0, 1]]
)
ROWS_INPUT_TRANSFORM = np.array(  # Bᵀ (6 × 6)
    [
        [1, -3 / 2, -2, 3 / 2, 1, 0],
        [0, -1, 1 / 2, 5 / 2, 1, 0],
        [0, 1, -5 / 2, 1 / 2, 1, 0],
        [0, -2, -1, 2, 1, 0],
        [0, 1 / 2, -1, -1 / 2, 1, 0],
        [0, 1, -3 / 2, -2, 3 / 2, 1],
    ]
)
# Outputs per tile along the first spatial axis ("rows") in F(4×2, 3×3) and F(4×2×2, 3×3×3).
ROWS_OUTPUTS = 4


def outputs_per_tile(batch: int, out) -> tuple[int, ...]:
    """Outputs per tile and axis of a forward pass with ``out`` outputs per spatial dim: 4 along the first
    axis and 2 along the others, F(4×2, 3×3) or F(4×2×2, 3×3×3), for at least MIXED_MIN_ROWS output rows
    and a batch of several samples or a 2-d sample of at least MIXED_MIN_TILES_ONE_SAMPLE tiles; (2, …, 2)
    otherwise."""
    mixed = (ROWS_OUTPUTS,) + (2,) * (len(out) - 1)
    if out[0] < MIXED_MIN_ROWS:
        return (2,) * len(out)
    if batch > 1:
        return mixed
    if len(out) == 2 and math.ceil(out[0] / ROWS_OUTPUTS) * math.ceil(out[1] / 2) >= MIXED_MIN_TILES_ONE_SAMPLE:
        return mixed
    return (2,) * len(out)


def transform_sizes(outputs) -> tuple[int, ...]:
    """Transform indices per axis: m + 2 for m outputs per tile."""
    return tuple(m + 2 for m in outputs)


@functools.cache
def kernel_transform(outputs: tuple[int, ...]) -> np.ndarray:
    """G₀ ⊗ … ⊗ G_d for the axes' F(m, 3): (Π(m + 2) × 3ᵈ), rows and columns in C order of the axes."""
    return functools.reduce(np.kron, [ROWS_KERNEL_TRANSFORM if m == ROWS_OUTPUTS else KERNEL_TRANSFORM for m in outputs])


def tile_counts(spatial, padding, outputs=None) -> list[int]:
    """Tiles per spatial dim: ceil(out / m) with out = lo + size + hi − 2 (m = 2 unless ``outputs`` says)."""
    outputs = outputs or (2,) * len(spatial)
    return [math.ceil(max(lo + size + hi - 2, 0) / m) for size, (lo, hi), m in zip(spatial, padding, outputs)]


def block_bytes(x_shape, w_shape, padding, dtype, outputs=None) -> int:
    """Scratch bytes per sample: the padded block, the input transform's stages (one axis transformed per
    stage, the last being the transformed tiles), the products and the output transform's stages (the last
    one's scratch is a single sum or difference of two products)."""
    channels, out_channels = x_shape[1], w_shape[0]
    outputs = outputs or (2,) * (len(x_shape) - 2)
    tiles = tile_counts(x_shape[2:], padding, outputs)
    sizes = transform_sizes(outputs)
    ndim, count = len(tiles), math.prod(tiles)
    extents = [m * t + 2 for m, t in zip(outputs, tiles)]
    padded = math.prod(extents) * channels
    inputs = sum(math.prod(sizes[: k + 1]) * math.prod(tiles[: k + 1]) * math.prod(extents[k + 1 :]) for k in range(ndim))
    products = math.prod(sizes) * count * out_channels
    stages = sum(math.prod(outputs[: k + 1]) * math.prod(sizes[k + 1 :]) for k in range(ndim - 1))
    inverse = (stages + math.prod(outputs[:-1])) * count * out_channels
    return (padded + inputs * channels + products + inverse) * np.dtype(dtype).itemsize


def applies(x_shape, w_shape, stride, dilation, groups: int, padding, dtype) -> bool:
    """Whether Winograd is the algorithm of choice: a 3×3 or 3×3×3 kernel, stride 1, no dilation, one group,
    enough channels (MIN_CHANNELS; for a batch of large planes BATCH_MIN_CHANNELS), tiles and work for the
    products to pay, and one sample's scratch within the workspace (larger samples go to ``conv_im2col``, which can
    split a sample)."""
    ndim = len(w_shape) - 2
    if ndim not in MIN_CHANNELS:
        return False
    per_sample = math.prod(tile_counts(x_shape[2:], padding))
    channels = MIN_CHANNELS[ndim]
    if x_shape[0] > 1 and per_sample >= FEW_CHANNELS_MIN_TILES:
        channels = min(channels, BATCH_MIN_CHANNELS[ndim])
    if not (
        all(k == 3 for k in w_shape[2:])
        and all(s == 1 for s in stride)
        and all(d == 1 for d in dilation)
        and groups == 1
        and min(x_shape[1], w_shape[0]) >= channels
    ):
        return False
    tiles = x_shape[0] * per_sample
    return (
        tiles >= (MIN_TILES_ONE_SAMPLE if x_shape[0] == 1 else MIN_TILES[ndim])
        and tiles * x_shape[1] * w_shape[0] >= MIN_WORK[ndim]
        and block_bytes(x_shape, w_shape, padding, dtype) <= algorithms.WORKSPACE_BYTES
    )


def applies_to_weight_gradient(x_shape, w_shape, stride, dilation, groups: int, padding, dtype) -> bool:
    """Whether ``grad_weight_winograd`` is the algorithm of choice for the weight gradient: where
    ``applies`` holds, and for a 2-d batch from WEIGHT_GRADIENT_MIN_TILES tiles (2×2) in the batch on."""
    if not applies(x_shape, w_shape, stride, dilation, groups, padding, dtype):
        return False
    return weight_gradient_by_winograd(x_shape, padding)


def weight_gradient_by_winograd(x_shape, padding) -> bool:
    """Whether the weight gradient of a convolution that Winograd computes goes by Winograd too: in 3-d, for
    a single sample, and for a 2-d batch of at least WEIGHT_GRADIENT_MIN_TILES tiles (2×2)."""
    if len(x_shape) != 4 or x_shape[0] == 1:
        return True
    return x_shape[0] * math.prod(tile_counts(x_shape[2:], padding)) >= WEIGHT_GRADIENT_MIN_TILES


def transform_kernel(w: np.ndarray, outputs=None) -> np.ndarray:
    """(O, C, 3, …, 3) → (Π(m + 2), O, C): U = G g Gᵀ (per axis, each axis's G for its m outputs per tile;
    m = 2 unless ``outputs`` says) for every (output, input) channel pair, ready as matmul operand; all axes
    at once as one product with G₀ ⊗ … ⊗ G_d, which reads w's taps as a transposed operand instead of
    copying them into place first (256 channels: 1.78 → 0.74 ms).

    w may be a view with flipped kernel axes and its two channel axes exchanged, as the input gradient's
    kernel is (``primitive.flip_and_swap_channels``): the taps are then read in w's memory order, each flip
    becomes a reversed column order of G ⊗ … ⊗ G and the exchange a transposed view of the result, instead
    of one copy of the whole kernel (256 channels: 1.66 → 0.68 ms)."""
    ndim = w.ndim - 2
    base, flipped, exchanged = algorithms.in_memory_order(w)
    if exchanged:
        base = base.swapaxes(0, 1)
    transform = kernel_transform(tuple(outputs or (2,) * ndim))
    if flipped:
        columns = transform.reshape(-1, *(3,) * ndim)
        transform = np.flip(columns, axis=tuple(axis - 1 for axis in flipped)).reshape(len(transform), -1)
    taps = base.reshape(base.shape[0] * base.shape[1], -1).T  # (3ᵈ, O·C), a view when base is contiguous
    # on the pool (within ``algorithms.single_threaded_blas``) from PARALLEL_TRANSFORM channel pairs on
    matmul = algorithms.parallel_matmul if taps.shape[1] >= PARALLEL_TRANSFORM else np.matmul
    u = matmul(transform.astype(w.dtype), taps).reshape(-1, *base.shape[:2])
    return u.swapaxes(1, 2) if exchanged else u


class RememberedTransforms:
    """Kernel transforms kept from one call to the next: keyed by where the kernel lies in memory (address,
    shape, strides, dtype) and the outputs per tile, and used again only while that memory holds the same
    bits as the copy of the kernel kept beside the transform, so a kernel changed in place (an optimizer
    step, ``weight.data[...] = ...``) is transformed again. An entry is dropped when its kernel's array is
    freed or its kernel is transformed anew; a transform that would take the kept bytes beyond
    REMEMBERED_BYTES is not kept, and the kept ones stay. A network calls its layers in a cycle: dropping the
    least recently used entry to make room would drop each layer's just before its next call, so that none
    is ever used again once they exceed the limit together (six 512 × 512 kernels at 7², batch 8, one
    forward each in turn: 81.4 ms with the kernels kept that way against 73.8 keeping none)."""

    def __init__(self) -> None:
        self.entries: dict[tuple, tuple[weakref.ref, np.ndarray, np.ndarray]] = {}
        self.bytes = 0
        self.lock = threading.RLock()  # reentrant: a weakref callback may run inside a locked section

    def transform(
        self, w: np.ndarray, outputs: tuple[int, ...], compute: Callable[[np.ndarray], np.ndarray] | None = None
    ) -> np.ndarray:
        """``transform_kernel(w, outputs)`` (or ``compute(w)``, another algorithm's kernel transform), kept or
        reused (read-only)."""
        make = compute or functools.partial(transform_kernel, outputs=outputs)
        owner = w
        while isinstance(owner.base, np.ndarray):
            owner = owner.base
        bits = np.dtype(f"u{w.itemsize}") if w.itemsize in (2, 4, 8) else None
        if owner.base is not None or bits is None:  # memory that is not an array's own: nothing to watch
            return make(w)
        key = (w.__array_interface__["data"][0], w.shape, w.strides, w.dtype.str, tuple(outputs), compute)
        with self.lock:
            entry = self.entries.get(key)
        if entry is not None and entry[0]() is owner and np.array_equal(entry[1].view(bits), w.view(bits)):
            return entry[2]
        u = make(w)
        with self.lock:
            self._drop(key)
            if self.bytes + u.nbytes + w.nbytes > REMEMBERED_BYTES:
                return u
            u.flags.writeable = False
            kept = np.array(w)
            self.entries[key] = (weakref.ref(owner, self._forget), kept, u)
            self.bytes += u.nbytes + kept.nbytes
        return u

    def _drop(self, key: tuple) -> None:
        entry = self.entries.pop(key, None)
        if entry is not None:
            self.bytes -= entry[1].nbytes + entry[2].nbytes

    def _forget(self, ref: weakref.ref) -> None:
        """A kernel's array was freed: drop the entries that watched it."""
        with self.lock:
            for key in [key for key, entry in self.entries.items() if entry[0] is ref]:
                self._drop(key)

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
            self.bytes = 0


REMEMBERED = RememberedTransforms()


class KeptBytes:
    """The bytes of input tiles kept at once by all ``InputTiles``, within KEPT_TILES_BYTES."""

    def __init__(self) -> None:
        self.bytes = 0
        self.lock = threading.Lock()

    def claim(self, nbytes: int) -> bool:
        with self.lock:
            if self.bytes + nbytes > KEPT_TILES_BYTES:
                return False
            self.bytes += nbytes
            return True

    def release(self, nbytes: int) -> None:
        with self.lock:
            self.bytes -= nbytes


KEPT = KeptBytes()


class InputTiles:
    """The transformed input tiles V = Bᵀ d B of a forward, (m₀ + 2, …, m_d + 2, n, *tiles, C), kept for its
    weight gradient: that gradient contracts the output gradient's transform with the same V (dU[ξ] =
    dM[ξ] · V[ξ]ᵀ), so it skips padding and transforming x again. Passed to ``conv_winograd``, which fills
    it while the tiles kept at once stay within KEPT_TILES_BYTES (``KEPT``; released when V is freed);
    ``grad_weight_winograd`` takes V from it for an x of the same shape, padding and dtype, and then works
    with the forward's outputs per tile (F(4×2) for a single 2-d sample too; not a 3-d F(4×2×2), whose
    weight gradient's error is too large)."""

    def __init__(self) -> None:
        self.tiles: np.ndarray | None = None
        self.key: tuple | None = None
        self.outputs: tuple[int, ...] = ()

    def store(self, x_shape, padding, outputs, tiles, dtype) -> np.ndarray | None:
        """A new array for V of an x of ``x_shape``, or None when it would exceed KEPT_TILES_BYTES or the
        weight gradient would not take it (3-d F(4×2×2))."""
        shape = (*transform_sizes(outputs), x_shape[0], *tiles, x_shape[1])
        nbytes = math.prod(shape) * np.dtype(dtype).itemsize
        if (len(outputs) == 3 and tuple(outputs) != (2, 2, 2)) or not KEPT.claim(nbytes):
            return None
        self.tiles = np.empty(shape, dtype=dtype)
        weakref.finalize(self.tiles, KEPT.release, nbytes)
        self.key = (tuple(x_shape), tuple(tuple(pair) for pair in padding), np.dtype(dtype))
        self.outputs = tuple(outputs)
        return self.tiles

    def matching(self, x_shape, padding, dtype) -> np.ndarray | None:
        """The kept V if it was computed for an x of this shape, padding and dtype, else None."""
        if self.tiles is None or self.key != (tuple(x_shape), tuple(tuple(pair) for pair in padding), np.dtype(dtype)):
            return None
        return self.tiles


def sample_slice(ndim: int, start: int, stop: int) -> tuple[slice, ...]:
    """The index of samples start … stop − 1 in an array of transformed tiles (Π(m + 2) leading axes)."""
    return (*(slice(None),) * ndim, slice(start, stop))


# Where rows 0 … 3 of Bᵀ d B (and of the products Aᵀ reads) go along each axis. G·J = Π·G for J reversing the
# three taps and Π exchanging rows 0 and 3 of G, so the kernel flipped along an axis transforms to U with
# rows 0 and 3 exchanged: Aᵀ(Π U ⊙ Bᵀ d) = Aᵀ Π (U ⊙ Π Bᵀ d), the same U with slots 0 and 3 of the input
# and output transforms exchanged.
SLOTS = (0, 1, 2, 3)
REFLECTED_SLOTS = (3, 1, 2, 0)


class KernelTransforms:
    """The transformed kernel of a convolution's forward pass, kept for its input gradient: that gradient is
    the convolution with the kernel flipped in every spatial axis and its channel axes exchanged, whose
    F(2×…×2) transform is the forward's U with its channel axes exchanged (a view) and slots 0 and 3
    exchanged in the input and output transforms (``REFLECTED_SLOTS``), instead of one more kernel transform
    (256 channels: ~1.4 ms on one thread). The input gradient always goes by F(2×…×2): torch's own float32
    error is often lower in its input gradient than in its forward (2.6e-7 against 1.2e-6 for (2, 128, 17,
    16) with 136 output channels), and F(4×2)'s came to 4.3× it there. After a forward in F(4×2) the
    F(2×…×2) U comes from the forward's (``_rows_to_pairs``: F(2, 3)'s G is four of F(4, 3)'s rows, scaled),
    then reflected likewise (256 channels: 2.2–3.0 → 0.3 ms). Passed to the forward's ``conv_winograd``, it
    keeps U; ``for_input_gradient`` gives the one to pass to the input gradient's. With ``remember`` (a
    kernel that needs no gradient) the forward's U comes from, or goes to, ``REMEMBERED``."""

    def __init__(
        self, forward: np.ndarray | None = None, adjoint: bool = False, outputs=None, remember: bool = False
    ) -> None:
        self.forward, self.adjoint, self.outputs, self.remember = forward, adjoint, outputs, remember

    def kernel(self, w: np.ndarray, dtype, outputs) -> tuple[np.ndarray, tuple[int, ...]]:
        """The transformed kernel for w with ``outputs`` per tile and axis, and the slots to transform with."""
        forward = self.forward
        if not self.adjoint:
            w = w.astype(dtype, copy=False)
            remembered = self.remember and w.shape[0] * w.shape[1] >= REMEMBERED_MIN_PAIRS[w.ndim - 2]
            self.forward = REMEMBERED.transform(w, outputs) if remembered else transform_kernel(w, outputs)
            self.outputs = outputs
            return self.forward, SLOTS
        if (
            forward is not None
            and outputs == (2,) * len(outputs)
            and forward.dtype == dtype
            and forward.shape[1:] == w.shape[1::-1]
        ):
            if self.outputs == outputs:
                return forward.swapaxes(1, 2), REFLECTED_SLOTS
            if self.outputs == (ROWS_OUTPUTS, *outputs[1:]):
                return _rows_to_pairs(forward).swapaxes(1, 2), REFLECTED_SLOTS
        return transform_kernel(w.astype(dtype, copy=False), outputs), SLOTS

    def for_input_gradient(self) -> KernelTransforms:
        return KernelTransforms(self.forward, adjoint=True, outputs=self.outputs)


# F(2, 3)'s G from F(4, 3)'s: its rows [1, 0, 0], [½, ½, ½], [½, −½, ½], [0, 0, 1] are rows 0, 1, 2 and 5 of
# ROWS_KERNEL_TRANSFORM times 1, 3/2, −3/2 and 1.
PAIR_ROWS = (0, 1, 2, 5)
PAIR_SCALES = (1.0, 1.5, -1.5, 1.0)


def _rows_to_pairs(kernel: np.ndarray) -> np.ndarray:
    """The F(2×…×2) transform of a kernel from its F(4×2…) transform ``kernel`` ((6·4ᵈ⁻¹, O, C)):
    (4ᵈ, O, C), the first axis's rows picked and scaled (one pass over two thirds of ``kernel``)."""
    split = kernel.reshape(ROWS_OUTPUTS + 2, -1, *kernel.shape[1:])
    pairs = np.empty((4, *split.shape[1:]), dtype=kernel.dtype)
    for index, (row, scale) in enumerate(zip(PAIR_ROWS, PAIR_SCALES)):
        if scale == 1:
            np.copyto(pairs[index], split[row])
        else:
            np.multiply(split[row], scale, out=pairs[index])
    return pairs.reshape(-1, *kernel.shape[1:])


def _transform_rows(padded: np.ndarray, count: int) -> np.ndarray:
    """F(4, 3)'s Bᵀ along the first spatial axis of a padded block (n, 4·t + 2, …): the 6 rows of every
    tile row i (rows 4·i … 4·i + 5) times ROWS_INPUT_TRANSFORM, one (6 × 6) · (6 × row) product per tile
    row, its 4–5 non-unit coefficients per output row in one BLAS pass instead of as many NumPy passes.
    Returns (6, n, t, …), a view of the products' (n, t, 6, …)."""
    samples, rest = padded.shape[0], padded.shape[2:]
    rows = padded.reshape(samples, padded.shape[1], -1)  # a view: the axes after the first are contiguous
    step = rows.strides
    shape = (samples, count, 6, rows.shape[2])
    windows = algorithms.strided_view(rows, shape, (step[0], 4 * step[1], step[1], step[2]), writeable=False)
    products = np.matmul(ROWS_INPUT_TRANSFORM.astype(padded.dtype), windows)
    return np.moveaxis(products.reshape(samples, count, 6, *rest), 2, 0)


def _transform_input(padded: np.ndarray, tiles, out: np.ndarray, slots=SLOTS, outputs=None) -> None:
    """Bᵀ d B of every tile of a padded block into out (m₀ + 2, …, m_d + 2, n, *tiles, C), one spatial axis
    at a time: each stage reads strided planes of the previous one and adds a leading axis of transform
    indices. Along an axis of F(2, 3) (4×…×4 tiles at a stride of 2), Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0],
    [0, −1, 1, 0], [0, 1, 0, −1]] with row k written to slot slots[k]; along the first axis with F(4, 3)
    (``outputs[0]`` = 4), ``_transform_rows``. ``padded`` is channels-last with its last spatial axis split
    by parity (``_padded_block``): (n, *(m·t + 2), 2, t_last + 1, C), so that the last stage's taps
    (position 2·j + k: parity k mod 2, pair j + k // 2) are runs of whole tile rows instead of one channel
    vector each."""
    current = padded
    last = len(tiles) - 1
    first = 0
    if outputs is not None and outputs[0] == ROWS_OUTPUTS:
        current, first = _transform_rows(padded, tiles[0]), 1
    for axis in range(first, len(tiles)):
        count = tiles[axis]
        position = 2 * axis + 1  # of this spatial axis in ``current``: transform axes, n, tiles[:axis], …
        lead = (slice(None),) * axis
        if axis == last:
            target = out

            def taps(offset: int, _position: int = position, _count: int = count, _current=current) -> np.ndarray:
                pairs = slice(offset // 2, offset // 2 + _count)
                return _current[(slice(None),) * _position + (offset % 2, pairs)]

        else:
            shape = current.shape[:axis] + (4,) + current.shape[axis:position] + (count,) + current.shape[position + 1 :]
            target = np.empty(shape, dtype=padded.dtype)

            def taps(offset: int, _position: int = position, _count: int = count, _current=current) -> np.ndarray:
                return _current[(slice(None),) * _position + (slice(offset, offset + 2 * _count - 1, 2),)]

        np.subtract(taps(0), taps(2), out=target[(*lead, slots[0])])
        np.add(taps(1), taps(2), out=target[(*lead, slots[1])])
        np.subtract(taps(2), taps(1), out=target[(*lead, slots[2])])
        np.subtract(taps(1), taps(3), out=target[(*lead, slots[3])])
        current = target


def _inverse_transform(m: np.ndarray, out: np.ndarray, slots=SLOTS) -> None:
    """Aᵀ m A for m (m₀ + 2, …, m_d + 2, O, n, *tiles) into out (m₀, …, m_d, O, n, *tiles), one axis at a
    time. Along an axis of F(2, 3), Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]] with column k read from slot
    slots[k]; a first axis of F(4, 3) (6 transform indices) goes first, as (4 × 6) · (6 × O·n·Πt)
    products with ROWS_OUTPUT_TRANSFORM, one per index of the other axis. ``out`` is a view of y's
    positions, whose rows are a tile row long with a step of 2. The last axis therefore forms m₁ + m₂ and
    m₁ − m₂ in scratch first and writes each output with a single operation: two passes over y's short rows
    instead of four (64 channels at 56², batch 1: 0.89 → 0.64 ms)."""
    ndim = (m.ndim - 2) // 2
    current = m
    first = 0
    if m.shape[0] == ROWS_OUTPUTS + 2:
        current = np.empty((ROWS_OUTPUTS, *m.shape[1:]), dtype=m.dtype)
        transform = ROWS_OUTPUT_TRANSFORM.astype(m.dtype)
        for index in range(m.shape[1]):
            np.matmul(transform, m[:, index].reshape(m.shape[0], -1), out=current[:, index].reshape(ROWS_OUTPUTS, -1))
        first = 1
    for axis in range(first, ndim):
        lead = (slice(None),) * axis
        m0, m1, m2, m3 = (current[(*lead, k)] for k in slots)
        if axis == ndim - 1:
            np.add(m0, np.add(m1, m2), out=out[(*lead, 0)])
            np.subtract(np.subtract(m1, m2), m3, out=out[(*lead, 1)])
            return
        target = np.empty((*current.shape[:axis], 2, *current.shape[axis + 1 :]), m.dtype)
        first, second = target[(*lead, 0)], target[(*lead, 1)]
        np.add(m0, m1, out=first)
        np.add(first, m2, out=first)
        np.subtract(m1, m2, out=second)
        np.subtract(second, m3, out=second)
        current = target


def _transformed_tiles(
    padded: np.ndarray, tiles, slots=SLOTS, outputs=None, out: np.ndarray | None = None
) -> np.ndarray:
    """V = Bᵀ d B (per axis) of every tile of a padded block (``_padded_block``'s layout): (m₀ + 2, …,
    m_d + 2, n, *tiles, C), computed on the pool in shares of the first axis's tiles (contiguous shares of
    the result), into ``out`` when given. m = 2 per axis unless ``outputs`` says."""
    ndim = len(tiles)
    outputs = outputs or (2,) * ndim
    shape = transform_sizes(outputs) + (padded.shape[0], *tiles, padded.shape[-1])
    transformed = np.empty(shape, dtype=padded.dtype) if out is None else out
    whole = (slice(None),) * (ndim + 1)
    rows = outputs[0]

    def transform(i0: int, i1: int) -> None:
        _transform_input(
            padded[:, rows * i0 : rows * i1 + 2],
            (i1 - i0, *tiles[1:]),
            transformed[(*whole, slice(i0, i1))],
            slots,
            outputs,
        )

    algorithms.parallel_channels(transform, tiles[0])
    return transformed


def _convolve_block(
    padded: np.ndarray,
    kernel: np.ndarray,
    target: np.ndarray,
    bias: np.ndarray | None,
    slots=SLOTS,
    kept: np.ndarray | None = None,
) -> None:
    """Winograd of one padded block (``_padded_block``'s layout) into target (n, O, t₀, m₀, t₁, m₁, …), m
    outputs per tile along each axis. The input transform works channels-last (contiguous channel runs); the
    Π(m + 2) products U (O × C) · Vᵀ (C × n·Πt) read V transposed in place and give channels-first planes, so
    the output transform writes y's layout without transposing channels against positions. The bias is
    added to the products at transform index (1, …, 1), the one that Aᵀ · A spreads evenly over all Πm
    outputs of a tile (column 1 of every axis's Aᵀ, the point 1, is all ones). With ``kept`` (the block's
    part of an ``InputTiles`` array) V is written there."""
    count, channels = padded.shape[0], padded.shape[-1]
    tiles, outputs = target.shape[2::2], target.shape[3::2]
    ndim, out_channels = len(tiles), kernel.shape[1]
    transformed = _transformed_tiles(padded, tiles, slots, outputs, kept)
    whole = (slice(None),) * (ndim + 1)
    tiles_by_channel = transformed.reshape(len(kernel), -1, channels).transpose(0, 2, 1)  # a view (Π(m + 2), C, n·Πt)
    products = algorithms.parallel_matmul(kernel, tiles_by_channel)  # (Π(m + 2), O, n·Πt)
    products = products.reshape(transform_sizes(outputs) + (out_channels, count, *tiles))
    # y's positions as (m₀, …, m_d, O, n, *tiles)
    positions = target.transpose(*range(3, 3 + 2 * ndim, 2), 1, 0, *range(2, 2 + 2 * ndim, 2))

    def inverse(o0: int, o1: int) -> None:
        if bias is not None:
            products[(1,) * ndim][o0:o1] += bias[o0:o1].reshape(-1, *([1] * (ndim + 1)))
        _inverse_transform(products[(*whole[:-1], slice(o0, o1))], positions[(*whole[:-1], slice(o0, o1))], slots)

    algorithms.parallel_channels(inverse, out_channels)


def _padded_block(x: np.ndarray, start: int, stop: int, tiles, padding, outputs=None) -> np.ndarray:
    """Samples start … stop − 1 of x zero-padded so that every tile has its full (m + 2)×… input (m outputs
    per tile and axis: 2 unless ``outputs`` says; the surplus outputs are cut off, or their gradients are
    zero), channels-last so that the tiles have their channels contiguous, and with the last spatial axis
    (m = 2) split by parity: (n, *(m·t + 2), 2, t_last + 1, C), element [..., p, j, c] being padded position
    2·j + p. The input transform's last stage then reads runs of whole tile rows (ResNet 3×3 at 56², 64
    channels, one sample: input transform 1.08 → 0.88 ms)."""
    spatial = x.shape[2:]
    outputs = outputs or (2,) * len(spatial)
    extra = [(lo, m * t + 2 - size - lo) for size, t, m, (lo, _) in zip(spatial, tiles, outputs, padding)]
    crop, interior, _ = algorithms.padding_slices(spatial, extra)
    *leading, last = tiles
    rows = (m * t + 2 for m, t in zip(outputs, leading))
    padded = np.empty((stop - start, *rows, 2, last + 1, x.shape[1]), dtype=x.dtype)
    # zeros only in the border slabs; the interior is copied on the pool (within single_threaded_blas)
    algorithms.zero_borders(padded, interior[:-1], 1)
    source = x[(slice(start, stop), slice(None), *crop)]
    if source.ndim > 4 and math.prod(source.shape[3:]) >= PLANE_FIRST:
        # whole planes first, (n, C, d, h, w) → (n, d, C, h, w): the channels-last copy after it then reads
        # channels one plane apart instead of one volume apart (Conv3d 32 channels at 16³, batch 2: 0.78 →
        # 0.31 ms; in 2-d the extra pass costs more than it saves), and volumes a multiple of 4 KiB apart
        # need no copy of their own against L1 aliasing first
        moved = np.moveaxis(source, 2, 1)
        plane = math.prod(moved.shape[3:])
        aliased = plane * x.itemsize % algorithms.ALIASING_STRIDE == 0
        pitch = plane + (max(1, algorithms.ALIASING_PAD // x.itemsize) if aliased else 0)
        planes = np.empty((*moved.shape[:3], pitch), dtype=x.dtype)[..., :plane].reshape(moved.shape)
        np.copyto(planes, moved)
        source = planes.transpose(0, 1, *range(3, x.ndim), 2)
    else:
        source = algorithms.without_channel_aliasing(source).transpose(0, *range(2, x.ndim), 1)
    columns, rows = interior[-1], (slice(None), *interior[:-1])
    for parity in (0, 1):
        first = columns.start + (parity - columns.start) % 2  # the first interior position of this parity
        count = len(range(first, columns.stop, 2))
        pairs = padded[(*rows, parity)]  # (n, *interior rows, t_last + 1, C)
        pairs[..., : first // 2, :] = 0
        pairs[..., first // 2 + count :, :] = 0
        if count:
            interior_pairs = pairs[..., first // 2 : first // 2 + count, :]
            algorithms.parallel_copy(interior_pairs, source[..., first - columns.start :: 2, :])
    return padded


def conv_winograd(
    x: np.ndarray,
    w: np.ndarray,
    padding,
    bias: np.ndarray | None = None,
    transforms: KernelTransforms | None = None,
    kept_tiles: InputTiles | None = None,
) -> np.ndarray:
    """y = conv(x zero-padded by ``padding``, w) (+ bias per output channel) for a (O, C, 3, 3) or
    (O, C, 3, 3, 3) kernel, stride 1; per spatial dim out = lo + size + hi − 2. With ``transforms`` the
    kernel's transform is kept for (or, in the input gradient, taken from) the forward pass; with
    ``kept_tiles`` the input's transformed tiles are kept for the weight gradient (``InputTiles``).

    On the thread pool a batch is split into shares (``_convolve_by_shares``), each run by one worker
    through the whole pipeline (padding, input transform, products on single-threaded BLAS, output
    transform) while its scratch is still in cache, with no wait for the other worker between stages
    (against each stage split over both workers: ResNet 3×3 at 56², batch 8, 34.7 → 32.0 ms; 28², batch 8,
    24.1 → 23.0 ms; Conv3d at 16³, batch 2, 10.5 → 9.3 ms). Otherwise (a single sample, on BLAS's own
    threads) it works stage by stage in blocks of samples. The scratch in use stays within
    ``algorithms.WORKSPACE_BYTES`` either way."""
    batch, channels, *spatial = x.shape
    out_channels = w.shape[0]
    out = [lo + size + hi - 2 for size, (lo, hi) in zip(spatial, padding)]
    dtype = np.result_type(x, w)
    y = np.empty((batch, out_channels, *(max(o, 0) for o in out)), dtype=dtype)
    if y.size == 0:
        return y
    if transforms is not None and transforms.adjoint:
        outputs = (2,) * len(spatial)  # an input gradient: see KernelTransforms
    else:
        outputs = outputs_per_tile(batch, out)
    tiles = tile_counts(spatial, padding, outputs)
    if transforms is None:
        kernel, slots = transform_kernel(w.astype(dtype, copy=False), outputs), SLOTS
    else:
        kernel, slots = transforms.kernel(w, dtype, outputs)
    sample_bytes = block_bytes(x.shape, w.shape, padding, dtype, outputs)
    step = max(1, min(batch, algorithms.WORKSPACE_BYTES // sample_bytes))
    exact = all(o == m * t for o, m, t in zip(out, outputs, tiles))
    blocked = (out_channels, *(n for t, m in zip(tiles, outputs) for n in (t, m)))  # (O, t₀, m₀, t₁, m₁, …)
    x = x.astype(dtype, copy=False)
    kept = None
    if kept_tiles is not None and weight_gradient_by_winograd(x.shape, padding):
        kept = kept_tiles.store(x.shape, padding, outputs, tiles, dtype)
    if batch > 1 and algorithms.on_the_pool():
        _convolve_by_shares(x, kernel, padding, tiles, outputs, sample_bytes, bias, y, slots, kept)
        return y
    for start in range(0, batch, step):
        stop = min(batch, start + step)
        count = stop - start
        padded = _padded_block(x, start, stop, tiles, padding, outputs)
        part = None if kept is None else kept[sample_slice(len(tiles), start, stop)]
        if exact:
            _convolve_block(padded, kernel, y[start:stop].reshape(count, *blocked), bias, slots, part)
        else:
            full = np.empty((count, *blocked), dtype=dtype)
            _convolve_block(padded, kernel, full, bias, slots, part)
            full = full.reshape(count, out_channels, *(m * t for t, m in zip(tiles, outputs)))
            y[start:stop] = full[(slice(None), slice(None), *(slice(0, o) for o in out))]
    return y


# On the pool, a share of fewer tiles than this takes several samples, so that its products stay wide
# enough for BLAS (ResNet 3×3 at 14², 256 channels, 49 tiles a sample, batch 8: one sample a share 21.5 ms,
# four 18.1 ms; stage by stage 19.0). Not many more: at 28² (196 tiles a sample, 128 channels) two samples
# a share took 25.4 against 21.5 ms, their scratch no longer in cache.
SHARE_TILES = 150


def _convolve_by_shares(
    x: np.ndarray,
    kernel: np.ndarray,
    padding,
    tiles,
    outputs,
    sample_bytes: int,
    bias,
    y: np.ndarray,
    slots=SLOTS,
    kept: np.ndarray | None = None,
) -> None:
    """``conv_winograd`` on the pool, in shares that the workers take one at a time: groups of samples with
    at least SHARE_TILES tiles (at most a worker's part of the batch, as many groups as the workers share
    evenly); single samples when they have that many tiles, split into rows of tiles (of the first spatial
    dim) when the batch does not split evenly over the workers or the workers' scratch would not fit the
    workspace together. Each share pads its own rows, so shares are independent; with ``kept`` (an
    ``InputTiles`` array) each writes its tiles' V there."""
    batch, workers = x.shape[0], algorithms.THREADS
    # samples with few tiles go several to a share, so that the products stay wide enough for BLAS
    samples = min(
        math.ceil(batch / workers),
        max(1, algorithms.WORKSPACE_BYTES // (workers * sample_bytes)),
        max(1, math.ceil(SHARE_TILES / math.prod(tiles))),
    )
    per_sample = max(1, math.ceil(workers * sample_bytes / algorithms.WORKSPACE_BYTES))
    if samples == 1 and batch % workers:
        per_sample = max(per_sample, workers)
    rows = max(1, math.ceil(tiles[0] / per_sample)) if samples == 1 else tiles[0]
    # groups of samples as even as they come, as many as the workers can share evenly
    groups = math.ceil(batch / samples)
    groups = min(batch, groups + (-groups) % workers)
    bounds = [batch * k // groups for k in range(groups + 1)]
    shares = [(n0, n1, i0, min(tiles[0], i0 + rows)) for n0, n1 in zip(bounds, bounds[1:]) for i0 in range(0, tiles[0], rows)]
    out_channels, out = y.shape[1], y.shape[2:]
    exact = all(o == m * t for o, m, t in zip(out, outputs, tiles))
    (lo, _), size, rows = padding[0], x.shape[2], outputs[0]

    def convolve(first: int, stop: int) -> None:
        for n0, n1, i0, i1 in shares[first:stop]:
            # the x rows that tile rows i0 … i1 − 1 read (padded rows m₀·i0 … m₀·i1 + 1), and the zero rows above
            top = rows * i0 - lo
            r0 = min(max(top, 0), size)
            r1 = max(r0, min(rows * i1 + 2 - lo, size))
            share_tiles = (i1 - i0, *tiles[1:])
            share_padding = [(r0 - top, 0), *padding[1:]]
            padded = _padded_block(x[n0:n1, :, r0:r1], 0, n1 - n0, share_tiles, share_padding, outputs)
            blocked = [(t, m) for t, m in zip(share_tiles, outputs)]
            part = None if kept is None else kept[(*sample_slice(len(tiles), n0, n1), slice(i0, i1))]
            if exact:
                whole = (k for t, m in zip(tiles, outputs) for k in (t, m))
                target = y[n0:n1].reshape(n1 - n0, out_channels, *whole)[:, :, i0:i1]
                _convolve_block(padded, kernel, target, bias, slots, part)
                continue
            full = np.empty((n1 - n0, out_channels, *(k for pair in blocked for k in pair)), dtype=y.dtype)
            _convolve_block(padded, kernel, full, bias, slots, part)
            full = full.reshape(n1 - n0, out_channels, *(t * m for t, m in blocked))
            last = min(rows * i1, out[0]) - rows * i0
            if last > 0:
                inside = (slice(None), slice(None), slice(0, last), *(slice(0, o) for o in out[1:]))
                y[n0:n1, :, rows * i0 : rows * i0 + last] = full[inside]

    algorithms.run_on_pool(convolve, len(shares))


# ------------------------------------------------------------------------------------------ weight gradient
#
# With M = U ⊙ V per transform index ξ (M[ξ] = U[ξ] (O × C) · V[ξ] (C × tiles)) and Y = Aᵀ M A per tile,
# the weight gradient runs the forward backwards: dM = A dY Aᵀ per tile, dU[ξ] = dM[ξ] (O × tiles) ·
# V[ξ]ᵀ (tiles × C), a long contraction over tiles that BLAS runs well, and dW = Gᵀ dU G. 4ᵈ products of
# tiles × C × O replace the 3ᵈ·2ᵈ of the unfolded contraction: 2.25× (3.375×) fewer multiplies.


def _transform_output_gradient(positions: np.ndarray, out: np.ndarray) -> None:
    """A dY Aᵀ (per axis) for dY given as (m₀, …, m_d, O, n, *tiles), contiguous, into out (m₀ + 2, …,
    m_d + 2, O, n, *tiles), one axis at a time: along an axis of F(2, 3), A = Aᵀᵀ = [[1, 0], [1, 1],
    [1, −1], [0, −1]]; a first axis of F(4, 3) goes first, as one (6 × 4) · (4 × rest) product with
    ROWS_OUTPUT_TRANSFORM transposed."""
    ndim = (positions.ndim - 2) // 2
    current = positions
    first = 0
    if positions.shape[0] == ROWS_OUTPUTS:
        transform = ROWS_OUTPUT_TRANSFORM.T.astype(positions.dtype)
        current = np.matmul(transform, positions.reshape(ROWS_OUTPUTS, -1))
        current = current.reshape(ROWS_OUTPUTS + 2, *positions.shape[1:])
        first = 1
    for axis in range(first, ndim):
        target = (
            out if axis == ndim - 1 else np.empty((*current.shape[:axis], 4, *current.shape[axis + 1 :]), out.dtype)
        )
        lead = (slice(None),) * axis
        first, second = current[(*lead, 0)], current[(*lead, 1)]
        np.copyto(target[(*lead, 0)], first)
        np.add(first, second, out=target[(*lead, 1)])
        np.subtract(first, second, out=target[(*lead, 2)])
        np.negative(second, out=target[(*lead, 3)])
        current = target


def _output_gradient_tiles(g: np.ndarray, tiles, outputs) -> np.ndarray:
    """dM = A dY Aᵀ (per axis) of g (n, O, *out) zero-extended to whole tiles of ``outputs`` per axis:
    (m₀ + 2, …, m_d + 2, O, n, *tiles), computed on the pool in shares of the output channels. Each share
    first copies its positions out of g's interleaved rows (a step of m, a tile row long) into a dense
    (m₀, …, m_d, O, n, *tiles) array, so that the transform's passes run over long rows (64 channels at
    56², batch 8: 9.3 → 7.2 ms)."""
    count, out_channels, ndim = g.shape[0], g.shape[1], len(tiles)
    extended = g
    if any(size != m * t for size, m, t in zip(g.shape[2:], outputs, tiles)):
        extended = np.zeros((count, out_channels, *(m * t for m, t in zip(outputs, tiles))), dtype=g.dtype)
        extended[(slice(None), slice(None), *(slice(0, size) for size in g.shape[2:]))] = g
    extended = extended.reshape(count, out_channels, *(n for t, m in zip(tiles, outputs) for n in (t, m)))
    positions = extended.transpose(*range(3, 3 + 2 * ndim, 2), 1, 0, *range(2, 2 + 2 * ndim, 2))  # (m…, O, n, …)
    gradient = np.empty(transform_sizes(outputs) + (out_channels, count, *tiles), dtype=g.dtype)
    lead = (slice(None),) * ndim

    def transform(o0: int, o1: int) -> None:
        share = positions[(*lead, slice(o0, o1))]
        dense = np.empty(share.shape, dtype=g.dtype)
        np.copyto(dense, share)
        _transform_output_gradient(dense, gradient[(*lead, slice(o0, o1))])

    algorithms.parallel_channels(transform, out_channels)
    return gradient


def grad_weight_block_bytes(x_shape, g_channels: int, padding, dtype, outputs=None) -> int:
    """Scratch bytes per sample of ``grad_weight_winograd`` with ``outputs`` per tile and axis (2 unless
    given): the forward's input side, the zero-extended output gradient, its dense copy and its transform
    stages."""
    outputs = outputs or (2,) * (len(x_shape) - 2)
    tiles = tile_counts(x_shape[2:], padding, outputs)
    sizes, count = transform_sizes(outputs), math.prod(tiles)
    stages = sum(math.prod(sizes[: k + 1]) * math.prod(outputs[k + 1 :]) for k in range(len(tiles)))
    gradient = (2 * math.prod(outputs) + stages) * count * g_channels
    return block_bytes(x_shape, (g_channels,), padding, dtype, outputs) + gradient * np.dtype(dtype).itemsize


def weight_gradient_outputs(batch: int, out) -> tuple[int, ...]:
    """Outputs per tile and axis of the weight gradient with ``out`` outputs per spatial dim: F(4×2) for a
    2-d batch of at least MIXED_MIN_ROWS output rows, F(2×…×2) otherwise. F(4×2)
    against F(2×2), single-threaded BLAS, interleaved medians: (8, 64, 56, 56) 0.94×, (8, 128, 28, 28)
    0.73×, (8, 256, 14, 14) 0.95×; a single sample's contraction over half as many tiles gains little or
    loses ((1, 64, 56, 56) 0.96×, (1, 128, 28, 28) 1.04×). F(4×2×2)'s float32 error came to 5.1–5.2×
    torch's own."""
    if len(out) == 2 and batch > 1 and out[0] >= MIXED_MIN_ROWS:
        return (ROWS_OUTPUTS, 2)
    return (2,) * len(out)


def grad_weight_winograd(
    x: np.ndarray, g: np.ndarray, padding, bias: np.ndarray | None = None, kept_tiles: InputTiles | None = None
) -> np.ndarray:
    """dL/dW (O, C, 3, …, 3) of y = conv(x zero-padded by ``padding``, W) given g = dL/dy, for a 3×3 or
    3×3×3 kernel, stride 1, by the transforms of ``conv_winograd`` run backwards, in F(4×2) for a 2-d batch
    and F(2×…×2) otherwise, summed over blocks of samples by ``algorithms.sum_over_samples`` (on the pool,
    whole samples per worker); with ``bias``, Σ g per channel written there too. In F(4×2) the float32
    error measured 0.26–1.36× torch's own against float64 (F(2×2) 0.12–1.12×), with 3/4 of the
    multiplies. With ``kept_tiles`` holding the forward's V for this x, V is read from there, in the
    forward's outputs per tile, instead of padding and transforming x again (interleaved medians, 64
    channels at 56², batch 8: 18.8 → 13.1 ms; 128 at 28², batch 8: 13.2 → 10.1; one sample of 64 channels
    at 56², in F(4×2) where it would have run F(2×2): 4.5 → 2.5)."""
    batch, channels, *spatial = x.shape
    out_channels, ndim = g.shape[1], len(spatial)
    dtype = np.result_type(x, g)
    x, g = x.astype(dtype, copy=False), g.astype(dtype, copy=False)
    kept = None if kept_tiles is None else kept_tiles.matching(x.shape, padding, dtype)
    outputs = weight_gradient_outputs(batch, g.shape[2:]) if kept is None else kept_tiles.outputs
    tiles = tile_counts(spatial, padding, outputs)
    sample_bytes = grad_weight_block_bytes(x.shape, out_channels, padding, dtype, outputs)
    count = math.prod(transform_sizes(outputs))

    def add_block(start: int, stop: int, partial: np.ndarray) -> None:
        if kept is None:
            padded = _padded_block(x, start, stop, tiles, padding, outputs)
            transformed = _transformed_tiles(padded, tiles, outputs=outputs)
        else:
            transformed = kept[sample_slice(ndim, start, stop)]
        gradient = _output_gradient_tiles(g[start:stop], tiles, outputs)
        partial += algorithms.parallel_matmul(
            gradient.reshape(count, out_channels, -1), transformed.reshape(count, -1, channels)
        )

    shape = (count, out_channels, channels)
    sums = None if bias is None else (g, bias)
    transformed_kernel_gradient = algorithms.sum_over_samples(batch, sample_bytes, shape, dtype, add_block, sums)
    # dW = Gᵀ dU G per axis: dU read as a transposed (O·C, Π(m + 2)) operand times (G₀ ⊗ … ⊗ G_d)
    # (Π(m + 2) × 3ᵈ) gives the taps in w's layout, (O·C, 3ᵈ), with no copy into place
    taps = np.matmul(transformed_kernel_gradient.reshape(count, -1).T, kernel_transform(outputs).astype(dtype))
    return taps.reshape(out_channels, channels, *([3] * ndim))


# ------------------------------------------------------------------------------------------ dilated kernels
#
# A stride-1 convolution with kernel dilation d reads, for output o = r + d·j, the inputs r + d·(j + t): its
# outputs of phase r (mod d, per dim) are an undilated convolution of the input's phase plane r. With the
# padded input split into its Πd phase planes as extra samples, a dilated 3×3 becomes one undilated 3×3 over
# a batch Πd times larger, and Winograd applies.


def phase_shape(x_shape, padding, dilation) -> tuple[int, ...]:
    """Shape of the phase planes of x padded by ``padding`` for kernel dilation ``dilation``: (N·Πd, C,
    *ceil(padded / d)), the padded extent rounded up to a multiple of d with zeros."""
    padded = [lo + size + hi for size, (lo, hi) in zip(x_shape[2:], padding)]
    return (x_shape[0] * math.prod(dilation), x_shape[1], *(-(-p // d) for p, d in zip(padded, dilation)))


def applies_by_phases(x_shape, w_shape, stride, dilation, groups: int, padding, dtype) -> bool:
    """Whether a dilated 3×3 (3×3×3), stride 1, one group, is best computed as Winograd over its phase planes:
    some dilation above 1 and Winograd's conditions met by the phase problem."""
    if not (any(d > 1 for d in dilation) and all(s == 1 for s in stride) and len(w_shape) - 2 == len(dilation)):
        return False
    shape = phase_shape(x_shape, padding, dilation)
    ndim = len(dilation)
    return applies(shape, w_shape, (1,) * ndim, (1,) * ndim, groups, [(0, 0)] * ndim, dtype)


def _to_phases(x: np.ndarray, padding, dilation) -> np.ndarray:
    """x zero-padded (and up to a multiple of d per dim), as its phase planes (N·Πd, C, *ceil(padded / d))."""
    batch, channels, *spatial = x.shape
    ndim = len(spatial)
    shape = phase_shape(x.shape, padding, dilation)
    grown = [(lo, hi + q * d - (lo + size + hi)) for size, (lo, hi), q, d in zip(spatial, padding, shape[2:], dilation)]
    padded = algorithms.pad_zeros(x, grown)
    split = padded.reshape(batch, channels, *(n for q, d in zip(shape[2:], dilation) for n in (q, d)))
    order = (0, *(3 + 2 * i for i in range(ndim)), 1, *(2 + 2 * i for i in range(ndim)))
    phases = split.transpose(order)
    result = np.empty(phases.shape, dtype=x.dtype)
    algorithms.parallel_copy(result, phases)
    return result.reshape(shape)


def _from_phases(phases: np.ndarray, batch: int, dilation, out) -> np.ndarray:
    """The inverse of ``_to_phases`` for outputs: (N·Πd, O, *q) → (N, O, *out), position r + d·j of each
    dim taken from phase r's j-th output (the surplus cut off); one copy per phase, on the pool."""
    split = phases.reshape(batch, *dilation, phases.shape[1], *phases.shape[2:])
    result = np.empty((batch, phases.shape[1], *out), dtype=phases.dtype)
    for phase in itertools.product(*(range(d) for d in dilation)):
        target = result[(slice(None), slice(None), *(slice(r, None, d) for r, d in zip(phase, dilation)))]
        source = split[(slice(None), *phase, slice(None), *(slice(0, n) for n in target.shape[2:]))]
        algorithms.parallel_copy(target, source)
    return result


def conv_winograd_dilated(
    x: np.ndarray,
    w: np.ndarray,
    padding,
    dilation,
    bias: np.ndarray | None = None,
    transforms: KernelTransforms | None = None,
    kept_tiles: InputTiles | None = None,
) -> np.ndarray:
    """y = conv(x zero-padded by ``padding``, w dilated by ``dilation``) (+ bias), stride 1, a 3×3 or 3×3×3
    kernel: Winograd over the phase planes of the padded input. Per dim out = lo + size + hi − 2·d."""
    out = [lo + size + hi - 2 * d for size, (lo, hi), d in zip(x.shape[2:], padding, dilation)]
    phases = _to_phases(x, padding, dilation)
    y = conv_winograd(phases, w, [(0, 0)] * len(dilation), bias, transforms, kept_tiles)
    return _from_phases(y, x.shape[0], dilation, out)


def grad_weight_winograd_dilated(
    x: np.ndarray,
    g: np.ndarray,
    padding,
    dilation,
    bias: np.ndarray | None = None,
    kept_tiles: InputTiles | None = None,
) -> np.ndarray:
    """dL/dW for ``conv_winograd_dilated``: the Winograd weight gradient over the phase planes of x and g
    (with ``kept_tiles``, those the forward kept of x's phase planes)."""
    phases = _to_phases(x, padding, dilation)
    q = [extent - 2 for extent in phases.shape[2:]]
    # g to whole phases (zeros where the surplus outputs were cut off), then split like x
    pads = [(0, a * d - size) for a, d, size in zip(q, dilation, g.shape[2:])]
    g_phases = _to_phases(g, pads, dilation)
    return grad_weight_winograd(phases, g_phases, [(0, 0)] * len(dilation), bias, kept_tiles)
