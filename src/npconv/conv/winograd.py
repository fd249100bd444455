"""Winograd F(2×2, 3×3) and F(2×2×2, 3×3×3): 3×3 (3×3×3), stride-1, undilated, ungrouped convolutions in
2 or 3 dimensions with 2.25× (3.375×) fewer multiplies.

Each 2×…×2 block of outputs is computed from the 4×…×4 input tile d that covers it by applying, along
every spatial axis in turn, the one-dimensional transforms of Lavin & Gray (arXiv:1509.09308):

    Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A        (in 2-d; in 3-d each matrix acts along the third axis too)

The 4ᵈ elementwise products over all tiles and channels become 4ᵈ matrix products (O × C) · (C × tiles),
which BLAS runs near its peak; the input and output transforms are a few additions over whole arrays.

Dilated kernels (stride 1) run as the same transforms over the phase planes of the padded input
(``conv_winograd_dilated``), and the weight gradient runs the transforms backwards (``grad_weight_winograd``).

Accuracy: the transforms only add and subtract (and halve, in G), so the float32 error grows by a small
constant factor over a direct sum; the tests bound it by 4× torch's own float32 error against a float64
reference.
"""

from __future__ import annotations

import functools
import itertools
import math

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
# 1.19×, (3, 256, 8, 8) 1.12×, (4, 256, 7, 7) 1.02×.
MIN_CHANNELS = {2: 64, 3: 16}
MIN_TILES = 64
MIN_TILES_ONE_SAMPLE = 36
MIN_WORK = {2: 1 << 21, 3: 1 << 18}
# A 3-d block is made channels-last in two copies when each plane has at least this many elements.
PLANE_FIRST = 256


@functools.cache
def kernel_transform(ndim: int) -> np.ndarray:
    """G ⊗ … ⊗ G for ``ndim`` axes: (4ᵈ × 3ᵈ), rows and columns in C order of the axes."""
    return functools.reduce(np.kron, [KERNEL_TRANSFORM] * ndim)


def tile_counts(spatial, padding) -> list[int]:
    """Tiles per spatial dim: ceil(out / 2) with out = lo + size + hi − 2."""
    return [math.ceil(max(lo + size + hi - 2, 0) / 2) for size, (lo, hi) in zip(spatial, padding)]


def block_bytes(x_shape, w_shape, padding, dtype) -> int:
    """Scratch bytes per sample: the padded block, the input transform's stages (one axis transformed per
    stage, the last being the transformed tiles), the products and the output transform's stages (the last
    one's scratch is a single sum or difference of two products)."""
    channels, out_channels = x_shape[1], w_shape[0]
    tiles = tile_counts(x_shape[2:], padding)
    ndim, count = len(tiles), math.prod(tiles)
    padded = math.prod(2 * t + 2 for t in tiles) * channels
    inputs = sum(
        4 ** (k + 1) * math.prod(tiles[: k + 1]) * math.prod(2 * t + 2 for t in tiles[k + 1 :]) for k in range(ndim)
    )
    products = 4**ndim * count * out_channels
    inverse = (sum(2 ** (k + 1) * 4 ** (ndim - k - 1) for k in range(ndim - 1)) + 2 ** (ndim - 1)) * count * out_channels
    return (padded + inputs * channels + products + inverse) * np.dtype(dtype).itemsize


def applies(x_shape, w_shape, stride, dilation, groups: int, padding, dtype) -> bool:
    """Whether Winograd is the algorithm of choice: a 3×3 or 3×3×3 kernel, stride 1, no dilation, one group,
    enough channels, tiles and work for the 4ᵈ products to pay (see MIN_CHANNELS), and one sample's scratch
    within the workspace (larger samples go to ``conv_im2col``, which can split a sample)."""
    ndim = len(w_shape) - 2
    if not (
        ndim in MIN_CHANNELS
        and all(k == 3 for k in w_shape[2:])
        and all(s == 1 for s in stride)
        and all(d == 1 for d in dilation)
        and groups == 1
        and min(x_shape[1], w_shape[0]) >= MIN_CHANNELS[ndim]
    ):
        return False
    tiles = x_shape[0] * math.prod(tile_counts(x_shape[2:], padding))
    return (
        tiles >= (MIN_TILES_ONE_SAMPLE if x_shape[0] == 1 else MIN_TILES)
        and tiles * x_shape[1] * w_shape[0] >= MIN_WORK[ndim]
        and block_bytes(x_shape, w_shape, padding, dtype) <= algorithms.WORKSPACE_BYTES
    )


def transform_kernel(w: np.ndarray) -> np.ndarray:
    """(O, C, 3, …, 3) → (4ᵈ, O, C): U = G g Gᵀ (per axis) for every (output, input) channel pair, ready as
    matmul operand; all axes at once as one product with G ⊗ … ⊗ G, which reads w's taps as a transposed
    operand instead of copying them into place first (256 channels: 1.78 → 0.74 ms).

    w may be a view with flipped kernel axes and its two channel axes exchanged, as the input gradient's
    kernel is (``primitive.flip_and_swap_channels``): the taps are then read in w's memory order, each flip
    becomes a reversed column order of G ⊗ … ⊗ G and the exchange a transposed view of the result, instead
    of one copy of the whole kernel (256 channels: 1.66 → 0.68 ms)."""
    ndim = w.ndim - 2
    flipped = tuple(axis for axis in range(2, w.ndim) if w.strides[axis] < 0)
    base = np.flip(w, axis=flipped) if flipped else w
    exchanged = min(base.shape[:2]) > 1 and base.strides[0] < base.strides[1]
    if exchanged:
        base = base.swapaxes(0, 1)
    transform = kernel_transform(ndim)
    if flipped:
        columns = transform.reshape(4**ndim, *(3,) * ndim)
        transform = np.flip(columns, axis=tuple(axis - 1 for axis in flipped)).reshape(4**ndim, -1)
    taps = base.reshape(base.shape[0] * base.shape[1], -1).T  # (3ᵈ, O·C), a view when base is contiguous
    u = np.matmul(transform.astype(w.dtype), taps).reshape(-1, *base.shape[:2])
    return u.swapaxes(1, 2) if exchanged else u


# Where rows 0 … 3 of Bᵀ d B (and of the products Aᵀ reads) go along each axis. G·J = Π·G for J reversing the
# three taps and Π exchanging rows 0 and 3 of G, so the kernel flipped along an axis transforms to U with
# rows 0 and 3 exchanged: Aᵀ(Π U ⊙ Bᵀ d) = Aᵀ Π (U ⊙ Π Bᵀ d), the same U with slots 0 and 3 of the input
# and output transforms exchanged.
SLOTS = (0, 1, 2, 3)
REFLECTED_SLOTS = (3, 1, 2, 0)


class KernelTransforms:
    """The transformed kernel of a convolution's forward pass, kept for its input gradient: that gradient is
    the convolution with the kernel flipped in every spatial axis and its channel axes exchanged, whose
    transform is the forward's U with its channel axes exchanged (a view) and slots 0 and 3 exchanged in the
    input and output transforms (``REFLECTED_SLOTS``), instead of one more kernel transform (256 channels:
    ~1.4 ms on one thread). Passed to the forward's ``conv_winograd``, it keeps U; ``for_input_gradient``
    gives the one to pass to the input gradient's, which reuses it."""

    def __init__(self, forward: np.ndarray | None = None, adjoint: bool = False) -> None:
        self.forward, self.adjoint = forward, adjoint

    def kernel(self, w: np.ndarray, dtype) -> tuple[np.ndarray, tuple[int, ...]]:
        """The transformed kernel for w and the slots to transform with."""
        forward = self.forward
        if not self.adjoint:
            self.forward = transform_kernel(w.astype(dtype, copy=False))
            return self.forward, SLOTS
        if forward is not None and forward.dtype == dtype and forward.shape[1:] == w.shape[1::-1]:
            return forward.swapaxes(1, 2), REFLECTED_SLOTS
        return transform_kernel(w.astype(dtype, copy=False)), SLOTS

    def for_input_gradient(self) -> KernelTransforms:
        return KernelTransforms(self.forward, adjoint=True)


def _transform_input(padded: np.ndarray, tiles, out: np.ndarray, slots=SLOTS) -> None:
    """Bᵀ d B of every 4×…×4 tile (stride 2) of a padded block into out (4, …, 4, n, *tiles, C),
    Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0], [0, 1, 0, −1]] with row k written to slot slots[k],
    one spatial axis at a time: each stage reads strided planes of the previous one and adds a leading axis
    of 4. ``padded`` is channels-last with its last spatial axis split by parity (``_padded_block``): (n,
    *(2·t + 2), 2, t_last + 1, C), so that the last stage's taps (position 2·j + k: parity k mod 2, pair
    j + k // 2) are runs of whole tile rows instead of one channel vector each."""
    current = padded
    last = len(tiles) - 1
    for axis, count in enumerate(tiles):
        position = 2 * axis + 1  # of this spatial axis in ``current``: (4,)·axis, n, tiles[:axis], …
        lead = (slice(None),) * axis
        if axis == last:
            target = out

            def taps(offset: int, _position: int = position, _count: int = count, _current=current) -> np.ndarray:
                pairs = slice(offset // 2, offset // 2 + _count)
                return _current[(slice(None),) * _position + (offset % 2, pairs)]

        else:
            shape = (4,) * (axis + 1) + current.shape[axis:position] + (count,) + current.shape[position + 1 :]
            target = np.empty(shape, dtype=padded.dtype)

            def taps(offset: int, _position: int = position, _count: int = count, _current=current) -> np.ndarray:
                return _current[(slice(None),) * _position + (slice(offset, offset + 2 * _count - 1, 2),)]

        np.subtract(taps(0), taps(2), out=target[(*lead, slots[0])])
        np.add(taps(1), taps(2), out=target[(*lead, slots[1])])
        np.subtract(taps(2), taps(1), out=target[(*lead, slots[2])])
        np.subtract(taps(1), taps(3), out=target[(*lead, slots[3])])
        current = target


def _inverse_transform(m: np.ndarray, out: np.ndarray, slots=SLOTS) -> None:
    """Aᵀ m A for m (4, …, 4, O, n, *tiles) into out (2, …, 2, O, n, *tiles), Aᵀ = [[1, 1, 1, 0],
    [0, 1, −1, −1]] with column k read from slot slots[k], one axis at a time; ``out`` is a view of y's positions, whose rows are a tile row
    long with a step of 2. The last axis therefore forms m₁ + m₂ and m₁ − m₂ in scratch first and writes each
    output with a single operation: two passes over y's short rows instead of four (64 channels at 56²,
    batch 1: 0.89 → 0.64 ms)."""
    ndim = (m.ndim - 2) // 2
    current = m
    for axis in range(ndim):
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


def _transformed_tiles(padded: np.ndarray, tiles, slots=SLOTS) -> np.ndarray:
    """V = Bᵀ d B (per axis) of every tile of a padded block (``_padded_block``'s layout): (4, …, 4, n,
    *tiles, C), computed on the pool in shares of the first axis's tiles (contiguous shares of the result)."""
    ndim = len(tiles)
    transformed = np.empty((4,) * ndim + (padded.shape[0], *tiles, padded.shape[-1]), dtype=padded.dtype)
    whole = (slice(None),) * (ndim + 1)

    def transform(i0: int, i1: int) -> None:
        _transform_input(
            padded[:, 2 * i0 : 2 * i1 + 2], (i1 - i0, *tiles[1:]), transformed[(*whole, slice(i0, i1))], slots
        )

    algorithms.parallel_channels(transform, tiles[0])
    return transformed


def _convolve_block(
    padded: np.ndarray, kernel: np.ndarray, target: np.ndarray, bias: np.ndarray | None, slots=SLOTS
) -> None:
    """Winograd of one padded block (``_padded_block``'s layout) into target (n, O, t₀, 2, t₁, 2, …).
    The input transform works channels-last (contiguous channel runs); the 4ᵈ products U (O × C) · Vᵀ
    (C × n·Πt) read V transposed in place and give channels-first planes, so the output transform writes
    y's layout without transposing channels against positions. The bias is added to the products at
    transform index (1, …, 1), the one that Aᵀ · A spreads evenly over all 2ᵈ outputs of a tile (column 1
    of Aᵀ is all ones)."""
    count, channels = padded.shape[0], padded.shape[-1]
    tiles = target.shape[2::2]
    ndim, out_channels = len(tiles), kernel.shape[1]
    transformed = _transformed_tiles(padded, tiles, slots)
    whole = (slice(None),) * (ndim + 1)
    tiles_by_channel = transformed.reshape(4**ndim, -1, channels).transpose(0, 2, 1)  # a view (4ᵈ, C, n·Πt)
    products = algorithms.parallel_matmul(kernel, tiles_by_channel)  # (4ᵈ, O, n·Πt)
    products = products.reshape((4,) * ndim + (out_channels, count, *tiles))
    # y's positions as (2, …, 2, O, n, *tiles)
    positions = target.transpose(*range(3, 3 + 2 * ndim, 2), 1, 0, *range(2, 2 + 2 * ndim, 2))

    def inverse(o0: int, o1: int) -> None:
        if bias is not None:
            products[(1,) * ndim][o0:o1] += bias[o0:o1].reshape(-1, *([1] * (ndim + 1)))
        _inverse_transform(products[(*whole[:-1], slice(o0, o1))], positions[(*whole[:-1], slice(o0, o1))], slots)

    algorithms.parallel_channels(inverse, out_channels)


def _padded_block(x: np.ndarray, start: int, stop: int, tiles, padding) -> np.ndarray:
    """Samples start … stop − 1 of x zero-padded so that every tile has its full 4×…×4 input (the surplus
    outputs are cut off, or their gradients are zero), channels-last so that the tiles have their channels
    contiguous, and with the last spatial axis split by parity: (n, *(2·t + 2), 2, t_last + 1, C), element
    [..., p, j, c] being padded position 2·j + p. The input transform's last stage then reads runs of whole
    tile rows (ResNet 3×3 at 56², 64 channels, one sample: input transform 1.08 → 0.88 ms)."""
    spatial = x.shape[2:]
    extra = [(lo, 2 * t + 2 - size - lo) for size, t, (lo, _) in zip(spatial, tiles, padding)]
    crop, interior, _ = algorithms.padding_slices(spatial, extra)
    *leading, last = tiles
    padded = np.empty((stop - start, *(2 * t + 2 for t in leading), 2, last + 1, x.shape[1]), dtype=x.dtype)
    # zeros only in the border slabs; the interior is copied on the pool (within single_threaded_blas)
    algorithms.zero_borders(padded, interior[:-1], 1)
    source = x[(slice(start, stop), slice(None), *crop)]
    if source.ndim > 4 and math.prod(source.shape[3:]) >= PLANE_FIRST:
        # whole planes first, (n, C, d, h, w) → (n, d, C, h, w): the channels-last copy after it then reads
        # channels one plane apart instead of one volume apart (Conv3d 32 channels at 16³, batch 2: 0.78 →
        # 0.31 ms; in 2-d the extra pass costs more than it saves)
        source = np.ascontiguousarray(np.moveaxis(source, 2, 1))
        source = source.transpose(0, 1, *range(3, x.ndim), 2)
    else:
        source = source.transpose(0, *range(2, x.ndim), 1)
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
) -> np.ndarray:
    """y = conv(x zero-padded by ``padding``, w) (+ bias per output channel) for a (O, C, 3, 3) or
    (O, C, 3, 3, 3) kernel, stride 1; per spatial dim out = lo + size + hi − 2. With ``transforms`` the
    kernel's transform is kept for (or, in the input gradient, taken from) the forward pass.

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
    tiles = tile_counts(spatial, padding)
    if transforms is None:
        kernel, slots = transform_kernel(w.astype(dtype, copy=False)), SLOTS
    else:
        kernel, slots = transforms.kernel(w, dtype)
    sample_bytes = block_bytes(x.shape, w.shape, padding, dtype)
    step = max(1, min(batch, algorithms.WORKSPACE_BYTES // sample_bytes))
    exact = all(o == 2 * t for o, t in zip(out, tiles))
    blocked = (out_channels, *(n for t in tiles for n in (t, 2)))  # (O, t₀, 2, t₁, 2, …)
    x = x.astype(dtype, copy=False)
    if batch > 1 and algorithms.on_the_pool():
        _convolve_by_shares(x, kernel, padding, tiles, sample_bytes, bias, y, slots)
        return y
    for start in range(0, batch, step):
        stop = min(batch, start + step)
        count = stop - start
        padded = _padded_block(x, start, stop, tiles, padding)
        if exact:
            _convolve_block(padded, kernel, y[start:stop].reshape(count, *blocked), bias, slots)
        else:
            full = np.empty((count, *blocked), dtype=dtype)
            _convolve_block(padded, kernel, full, bias, slots)
            full = full.reshape(count, out_channels, *(2 * t for t in tiles))
            y[start:stop] = full[(slice(None), slice(None), *(slice(0, o) for o in out))]
    return y


# On the pool, a share of fewer tiles than this takes several samples, so that its products stay wide
# enough for BLAS (ResNet 3×3 at 14², 256 channels, 49 tiles a sample, batch 8: one sample a share 21.5 ms,
# four 18.1 ms; stage by stage 19.0). Not many more: at 28² (196 tiles a sample, 128 channels) two samples
# a share took 25.4 against 21.5 ms, their scratch no longer in cache.
SHARE_TILES = 150


def _convolve_by_shares(
    x: np.ndarray, kernel: np.ndarray, padding, tiles, sample_bytes: int, bias, y: np.ndarray, slots=SLOTS
) -> None:
    """``conv_winograd`` on the pool, in shares that the workers take one at a time: groups of samples with
    at least SHARE_TILES tiles (at most a worker's part of the batch, as many groups as the workers share
    evenly); single samples when they have that many tiles, split into rows of tiles (of the first spatial
    dim) when the batch does not split evenly over the workers or the workers' scratch would not fit the
    workspace together. Each share pads its own rows, so shares are independent."""
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
    exact = all(o == 2 * t for o, t in zip(out, tiles))
    (lo, _), size = padding[0], x.shape[2]

    def convolve(first: int, stop: int) -> None:
        for n0, n1, i0, i1 in shares[first:stop]:
            # the x rows that tile rows i0 … i1 − 1 read (padded rows 2·i0 … 2·i1 + 1), and the zero rows above
            top = 2 * i0 - lo
            r0 = min(max(top, 0), size)
            r1 = max(r0, min(2 * i1 + 2 - lo, size))
            share_tiles = (i1 - i0, *tiles[1:])
            padded = _padded_block(x[n0:n1, :, r0:r1], 0, n1 - n0, share_tiles, [(r0 - top, 0), *padding[1:]])
            if exact:
                target = y[n0:n1].reshape(n1 - n0, out_channels, *(k for t in tiles for k in (t, 2)))[:, :, i0:i1]
                _convolve_block(padded, kernel, target, bias, slots)
                continue
            full = np.empty((n1 - n0, out_channels, *(k for t in share_tiles for k in (t, 2))), dtype=y.dtype)
            _convolve_block(padded, kernel, full, bias, slots)
            full = full.reshape(n1 - n0, out_channels, *(2 * t for t in share_tiles))
            last = min(2 * i1, out[0]) - 2 * i0
            if last > 0:
                y[n0:n1, :, 2 * i0 : 2 * i0 + last] = full[(slice(None), slice(None), slice(0, last), *(slice(0, o) for o in out[1:]))]

    algorithms.run_on_pool(convolve, len(shares))


# ------------------------------------------------------------------------------------------ weight gradient
#
# With M = U ⊙ V per transform index ξ (M[ξ] = U[ξ] (O × C) · V[ξ] (C × tiles)) and Y = Aᵀ M A per tile,
# the weight gradient runs the forward backwards: dM = A dY Aᵀ per tile, dU[ξ] = dM[ξ] (O × tiles) ·
# V[ξ]ᵀ (tiles × C), a long contraction over tiles that BLAS runs well, and dW = Gᵀ dU G. 4ᵈ products of
# tiles × C × O replace the 3ᵈ·2ᵈ of the unfolded contraction: 2.25× (3.375×) fewer multiplies.


def _transform_output_gradient(positions: np.ndarray, out: np.ndarray) -> None:
    """A dY Aᵀ (per axis) for dY given as (2, …, 2, O, n, *tiles) into out (4, …, 4, O, n, *tiles):
    A = Aᵀᵀ = [[1, 0], [1, 1], [1, −1], [0, −1]], one axis at a time."""
    ndim = (positions.ndim - 2) // 2
    current = positions
    for axis in range(ndim):
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


def _output_gradient_tiles(g: np.ndarray, tiles) -> np.ndarray:
    """dM = A dY Aᵀ (per axis) of g (n, O, *out) zero-extended to whole tiles: (4, …, 4, O, n, *tiles),
    computed on the pool in shares of the output channels. Each share first copies its positions out of
    g's interleaved rows (a step of 2, a tile row long) into a dense (2, …, 2, O, n, *tiles) array, so that
    the transform's passes run over long rows (64 channels at 56², batch 8: 9.3 → 7.2 ms)."""
    count, out_channels, ndim = g.shape[0], g.shape[1], len(tiles)
    extended = g
    if any(size != 2 * t for size, t in zip(g.shape[2:], tiles)):
        extended = np.zeros((count, out_channels, *(2 * t for t in tiles)), dtype=g.dtype)
        extended[(slice(None), slice(None), *(slice(0, size) for size in g.shape[2:]))] = g
    extended = extended.reshape(count, out_channels, *(n for t in tiles for n in (t, 2)))
    positions = extended.transpose(*range(3, 3 + 2 * ndim, 2), 1, 0, *range(2, 2 + 2 * ndim, 2))  # (2, …, O, n, …)
    gradient = np.empty((4,) * ndim + (out_channels, count, *tiles), dtype=g.dtype)
    lead = (slice(None),) * ndim

    def transform(o0: int, o1: int) -> None:
        share = positions[(*lead, slice(o0, o1))]
        dense = np.empty(share.shape, dtype=g.dtype)
        np.copyto(dense, share)
        _transform_output_gradient(dense, gradient[(*lead, slice(o0, o1))])

    algorithms.parallel_channels(transform, out_channels)
    return gradient


def grad_weight_block_bytes(x_shape, g_channels: int, padding, dtype) -> int:
    """Scratch bytes per sample of ``grad_weight_winograd``: the forward's input side, the zero-extended
    output gradient, its dense copy and its transform stages."""
    tiles = tile_counts(x_shape[2:], padding)
    ndim, count = len(tiles), math.prod(tiles)
    gradient = (2 * 2**ndim + sum(4 ** (k + 1) * 2 ** (ndim - k - 1) for k in range(ndim))) * count * g_channels
    return block_bytes(x_shape, (g_channels,), padding, dtype) + gradient * np.dtype(dtype).itemsize


def grad_weight_winograd(x: np.ndarray, g: np.ndarray, padding, bias: np.ndarray | None = None) -> np.ndarray:
    """dL/dW (O, C, 3, …, 3) of y = conv(x zero-padded by ``padding``, W) given g = dL/dy, for a 3×3 or
    3×3×3 kernel, stride 1, by the transforms of ``conv_winograd`` run backwards, summed over blocks of
    samples by ``algorithms.sum_over_samples`` (on the pool, whole samples per worker); with ``bias``, Σ g
    per channel written there too."""
    batch, channels, *spatial = x.shape
    out_channels, ndim = g.shape[1], len(spatial)
    dtype = np.result_type(x, g)
    x, g = x.astype(dtype, copy=False), g.astype(dtype, copy=False)
    tiles = tile_counts(spatial, padding)
    sample_bytes = grad_weight_block_bytes(x.shape, out_channels, padding, dtype)

    def add_block(start: int, stop: int, partial: np.ndarray) -> None:
        transformed = _transformed_tiles(_padded_block(x, start, stop, tiles, padding), tiles)
        gradient = _output_gradient_tiles(g[start:stop], tiles)
        partial += algorithms.parallel_matmul(
            gradient.reshape(4**ndim, out_channels, -1), transformed.reshape(4**ndim, -1, channels)
        )

    shape = (4**ndim, out_channels, channels)
    sums = None if bias is None else (g, bias)
    transformed_kernel_gradient = algorithms.sum_over_samples(batch, sample_bytes, shape, dtype, add_block, sums)
    # dW = Gᵀ dU G per axis: dU read as a transposed (O·C, 4ᵈ) operand times (G ⊗ … ⊗ G) (4ᵈ × 3ᵈ) gives
    # the taps in w's layout, (O·C, 3ᵈ), with no copy into place
    taps = np.matmul(transformed_kernel_gradient.reshape(4**ndim, -1).T, kernel_transform(ndim).astype(dtype))
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
) -> np.ndarray:
    """y = conv(x zero-padded by ``padding``, w dilated by ``dilation``) (+ bias), stride 1, a 3×3 or 3×3×3
    kernel: Winograd over the phase planes of the padded input. Per dim out = lo + size + hi − 2·d."""
    out = [lo + size + hi - 2 * d for size, (lo, hi), d in zip(x.shape[2:], padding, dilation)]
    phases = _to_phases(x, padding, dilation)
    y = conv_winograd(phases, w, [(0, 0)] * len(dilation), bias, transforms)
    return _from_phases(y, x.shape[0], dilation, out)


def grad_weight_winograd_dilated(
    x: np.ndarray, g: np.ndarray, padding, dilation, bias: np.ndarray | None = None
) -> np.ndarray:
    """dL/dW for ``conv_winograd_dilated``: the Winograd weight gradient over the phase planes of x and g."""
    phases = _to_phases(x, padding, dilation)
    q = [extent - 2 for extent in phases.shape[2:]]
    # g to whole phases (zeros where the surplus outputs were cut off), then split like x
    pads = [(0, a * d - size) for a, d, size in zip(q, dilation, g.shape[2:])]
    g_phases = _to_phases(g, pads, dilation)
    return grad_weight_winograd(phases, g_phases, [(0, 0)] * len(dilation), bias)
