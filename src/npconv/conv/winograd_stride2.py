"""Winograd F(2×2, 2×2) for 4×4 kernels at stride 2, by phases: the transposed convolution (an input stuffed
with one zero between elements, lhs dilation 2: DCGAN's k4 s2 p1 upsampling, and the input gradient of a
stride-2 convolution) and the stride-2 convolution itself (a GAN discriminator's k4 s2 p1 downsampling).

Upsampling (``conv_winograd_upsampling``). Along each axis an output of parity p (its phase) meets real
input at two taps only, t ≡ lo − p (mod 2):

    y[2j + p] = w[t₀] · x[j + s_p] + w[t₀ + 2] · x[j + s_p + 1],   s₀ = −lo / 2,  s₁ = s₀ + 1  (lo even)

so each phase is a 2-tap correlation of the unstuffed input, which F(2, 2) computes for two outputs from a
window of three inputs with three multiplies (Lavin & Gray, arXiv:1509.09308; interpolation points 0, −1 and
∞, every transform coefficient ±1). Phase 0's outputs 2m, 2m + 1 read x[2m + s₀ …], phase 1's the window
one further on; along an axis the two windows make one tile of four inputs d₀ … d₃, transformed into five
slots (UPSAMPLING_INPUT_TRANSFORM), which meet six kernel rows (UPSAMPLING_KERNEL_TRANSFORM: phase 0's
three, and phase 1's three with its first negated so that it shares the slot d₂ − d₁ of phase 0's last).
In 2-d the 5 × 5 slots of a tile are 25 matrix products (k·O × C) · (C × tiles), k the 1, 2 or 4 kernel
rows (pairs) of a slot, 36 in all per 16 outputs where the direct sum has 64; the output transform adds
pairs of the 6 × 6 rows into the tile's 4 × 4 outputs (UPSAMPLING_OUTPUT_ROWS).

Downsampling (``conv_winograd_downsampling``). With x padded by lo and t = 2a + p, each input phase
x_p[k] = x_pad[2k + p] meets taps p and p + 2 along an axis:

    y[i] = Σ_p (w[p] · x_p[i] + w[p + 2] · x_p[i + 1])

two 2-tap correlations summed. F(2, 2) per phase computes outputs 2m, 2m + 1 from x_p[2m … 2m + 2] =
x_pad[4m + p + (0, 2, 4)], three slots per phase (DOWNSAMPLING_INPUT_TRANSFORM over a tile's six inputs
x_pad[4m … 4m + 5]) meeting the phase's three kernel rows (DOWNSAMPLING_KERNEL_TRANSFORM), and the sum over
the phases is a longer contraction: in 2-d one product (O × 4C) · (4C × tiles) per slot pair, 9 in all,
36·C multiplies per 4 outputs where the direct sum has 64·C.

Accuracy: every coefficient is ±1, so the float32 error stays near a direct sum's (the tests bound it, as
for the other Winograd paths, by 4× torch's own error against a float64 reference).
"""

from __future__ import annotations

import math

import numpy as np

from . import algorithms, winograd

# Bᵀ (5 × 4): slots a = d₀ − d₁, b = d₁, c = d₂ − d₁, d = d₂, e = d₃ − d₂ of a tile's four inputs.
UPSAMPLING_INPUT_TRANSFORM = np.array(
    [[1, -1, 0, 0], [0, 1, 0, 0], [0, -1, 1, 0], [0, 0, 1, 0], [0, 0, -1, 1]], dtype=np.float64
)
# G (6 × 4) on the four taps of an axis: phase 0 (taps 0, 2) g₀, g₀ + g₂, g₂ for slots a, b, c; phase 1
# (taps 1, 3) −g₁, g₁ + g₃, g₃ for slots c (sign: its slot is d₂ − d₁ = −(d₁ − d₂)), d, e.
UPSAMPLING_KERNEL_TRANSFORM = np.array(
    [[1, 0, 0, 0], [1, 0, 1, 0], [0, 0, 1, 0], [0, -1, 0, 0], [0, 1, 0, 1], [0, 0, 0, 1]], dtype=np.float64
)
# The kernel rows (a range) that meet each input slot: a → 0, b → 1, c → 2 and 3, d → 4, e → 5.
UPSAMPLING_ROWS = ((0, 1), (1, 2), (2, 4), (4, 5), (5, 6))
# Aᵀ: output 4m + q of a tile is the sum of rows (a, b): phase 0 at q = 0, 2, phase 1 at q = 1, 3.
UPSAMPLING_OUTPUT_ROWS = ((0, 1), (3, 4), (1, 2), (4, 5))
# Every pair of UPSAMPLING_OUTPUT_ROWS holds exactly one of these rows: the bias added to the products at
# each of their (row, row) pairs reaches every output once.
UPSAMPLING_BIAS_ROWS = (1, 4)
# When it beats conv_col2im (transposed k4 s2 p1, forward, interleaved medians on this project's benchmark
# machine): at least UPSAMPLING_MIN_CHANNELS input and output channels, UPSAMPLING_MIN_TILES tiles (of 4 × 4
# outputs) in the batch and UPSAMPLING_MIN_SAMPLE_TILES a sample. (16, 128, 16²) → 64 channels 0.87×, (16,
# 256, 8²) → 128 0.91×, (64, 256, 8²) → 128 0.80×, (2, 128, 32²) → 64 0.79×, (16, 32, 32²) → 32 0.96×; with
# 4 tiles a sample (4² inputs, 512 → 256 channels) batch 16 took 1.52×, batch 64 1.00×, and a single sample
# of 64 tiles ((1, 128, 16²) → 64) 1.01×. With 32 output channels it lost on the Zen 3 machine ((16, 64,
# 16²) → 32 1.10× col2im's time, (8, 64, 32²) → 32 1.16×, where ``algorithms.conv_stacked_phases`` took
# 0.95× and 0.82×): at least UPSAMPLING_MIN_OUT_CHANNELS of them.
UPSAMPLING_MIN_CHANNELS = 32
UPSAMPLING_MIN_OUT_CHANNELS = 64
UPSAMPLING_MIN_TILES = 128
UPSAMPLING_MIN_SAMPLE_TILES = 16
# On the pool, shares of whole samples with at least this many tiles, so that the products stay wide
# (single-threaded, (64 … 256 × 128) · (128 × P): 25–28 GFLOP/s at P = 256, 33–36 from P = 384 on).
SHARE_TILES = 512


def upsampling_output(spatial, padding) -> list[int]:
    """Output extents of a 4-tap convolution of the input stuffed by 2: (2·size − 1) + lo + hi − 3."""
    return [2 * size - 1 + lo + hi - 3 for size, (lo, hi) in zip(spatial, padding)]


def applies_upsampling(x_shape, w_shape, stride, padding, lhs_dilation, rhs_dilation, groups: int, dtype) -> bool:
    """Whether F(2×2, 2×2) by phases takes a convolution: 2-d, lhs dilation 2, a 4×4 kernel, stride 1, no
    dilation, one group, even low padding (each phase then reads whole tiles), a real floating dtype, enough
    channels and tiles (UPSAMPLING_MIN_CHANNELS, UPSAMPLING_MIN_OUT_CHANNELS, UPSAMPLING_MIN_TILES,
    UPSAMPLING_MIN_SAMPLE_TILES), and one sample's scratch within the workspace."""
    if len(w_shape) != 4 or np.dtype(dtype).kind != "f":
        return False
    if not (
        tuple(w_shape[2:]) == (4, 4)
        and all(d == 2 for d in lhs_dilation)
        and all(s == 1 for s in stride)
        and all(d == 1 for d in rhs_dilation)
        and groups == 1
        and all(lo % 2 == 0 for lo, _ in padding)
        and min(x_shape[1], w_shape[0]) >= UPSAMPLING_MIN_CHANNELS
        and w_shape[0] >= UPSAMPLING_MIN_OUT_CHANNELS
    ):
        return False
    out = upsampling_output(x_shape[2:], padding)
    sizes = (UPSAMPLING_MIN_SAMPLE_TILES, UPSAMPLING_MIN_TILES, _upsampling_sample_bytes)
    return _enough_tiles(x_shape, w_shape, out, 4, dtype, *sizes)


def _enough_tiles(x_shape, w_shape, out, outputs: int, dtype, sample_tiles: int, tiles: int, sample_bytes) -> bool:  # noqa: ANN001
    """Whether ``out`` in tiles of ``outputs`` per axis makes at least ``sample_tiles`` tiles a sample and
    ``tiles`` in the batch, with one sample's scratch (``sample_bytes``) within the workspace."""
    if min(out) <= 0:
        return False
    counts = [-(-o // outputs) for o in out]
    return (
        math.prod(counts) >= sample_tiles
        and x_shape[0] * math.prod(counts) >= tiles
        and sample_bytes(x_shape[1], w_shape[0], counts, np.dtype(dtype).itemsize) <= algorithms.WORKSPACE_BYTES
    )


def _upsampling_sample_bytes(channels: int, out_channels: int, tiles, itemsize: int) -> int:
    """Scratch of one sample: the padded tile rows, the first axis's three difference slots, one first-axis
    slot's five second-axis matrices at a time, the 36 products and the second axis's outputs."""
    rows, columns = tiles
    padded = (2 * rows + 2) * (2 * columns + 2) * channels
    first = 3 * rows * (2 * columns + 2) * channels
    slots = 5 * rows * columns * channels
    products = 36 * rows * columns * out_channels
    outputs = 24 * rows * columns * out_channels
    return (padded + first + slots + products + outputs) * itemsize


def _transformed_taps(w: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """G g Gᵀ for every (output, input) channel pair of an (O, C, 4, 4) kernel, G = ``transform`` (r × 4) per
    axis, as one product with G ⊗ G: (r², O·C)."""
    taps = w.reshape(w.shape[0] * w.shape[1], 16).T
    return np.matmul(np.kron(transform, transform).astype(w.dtype), taps)


def transform_upsampling_kernel(w: np.ndarray) -> np.ndarray:
    """(O, C, 4, 4) → (6, 6, O, C): U = G g Gᵀ per (output, input) channel pair, as one product with G ⊗ G."""
    return _transformed_taps(w, UPSAMPLING_KERNEL_TRANSFORM).reshape(6, 6, *w.shape[:2])


def _tile_slots(source: np.ndarray, axis: int, count: int, differences) -> tuple[np.ndarray, ...]:
    """The five slots a, b, c, d, e (UPSAMPLING_INPUT_TRANSFORM) of ``count`` tiles along ``axis`` of
    ``source`` (2·count + 2 positions there; tile m's inputs d₀ … d₃ are positions 2m … 2m + 3): the
    differences a, c, e written into the three arrays of ``differences``, b and d views of ``source``."""

    def inputs(first: int) -> np.ndarray:
        index = [slice(None)] * source.ndim
        index[axis] = slice(first, first + 2 * count, 2)
        return source[tuple(index)]

    d0, d1, d2, d3 = (inputs(first) for first in range(4))
    first, third, fifth = differences
    np.subtract(d0, d1, out=first)
    np.subtract(d2, d1, out=third)
    np.subtract(d3, d2, out=fifth)
    return first, d1, third, d2, fifth


def _transform_outputs(
    products: np.ndarray, pairs, bias_rows, bias: np.ndarray | None, y: np.ndarray, n0: int
) -> None:
    """Aᵀ M A into y[n0 …]: products (k, k, O, n, rows, columns) per tile, output q of an axis the sum of its
    rows ``pairs[q]`` (m = len(pairs) outputs per tile and axis). The bias goes into the products at the
    ``bias_rows`` of both axes (every pair holds exactly one of them, so each output receives it once: a few
    passes over O · tiles instead of one over y). The second axis first, each sum one long flat pass (q
    innermost), then the first axis's straight into y's rows (cropped when y is not whole tiles), one call
    per output row of a tile for all the samples."""
    k, _, out_channels, count, rows, columns = products.shape
    m = len(pairs)
    dtype = y.dtype
    if bias is not None:
        biases = bias.astype(dtype, copy=False).reshape(out_channels, 1, 1, 1)
        for a in bias_rows:
            for b in bias_rows:
                products[a, b] += biases
    second = np.empty((k, out_channels, count, rows, columns, m), dtype=dtype)
    for q, (a, b) in enumerate(pairs):
        np.add(products[:, a], products[:, b], out=second[..., q])
    second = second.reshape(k, out_channels, count, rows, m * columns).transpose(0, 2, 1, 3, 4)  # (k, n, O, …)
    out_h, out_w = y.shape[2:]
    exact = out_h == m * rows and out_w == m * columns
    full = y[n0 : n0 + count] if exact else np.empty((count, out_channels, m * rows, m * columns), dtype=dtype)
    blocked = full.reshape(count, out_channels, rows, m, m * columns)
    for q, (a, b) in enumerate(pairs):
        np.add(second[a], second[b], out=blocked[:, :, :, q])
    if not exact:
        y[n0 : n0 + count] = full[:, :, :out_h, :out_w]


def _upsample_samples(
    x: np.ndarray, kernel: np.ndarray, padding, tiles, bias: np.ndarray | None, y: np.ndarray, n0: int, n1: int
) -> None:
    """Samples n0 … n1 − 1 through the whole pipeline: the tiles' inputs channels-last (zero where they fall
    outside x), the slots, the 25 products and the output transform, written into y."""
    batch, channels, height, width = x.shape
    out_channels = kernel.shape[2]
    rows, columns = tiles
    count = n1 - n0
    dtype = y.dtype
    # padded[u, v] = x[u + s₀, v + s₀'] (s₀ = −lo/2 per axis), channels last
    padded = np.zeros((count, 2 * rows + 2, 2 * columns + 2, channels), dtype=dtype)
    shifts = [-lo // 2 for lo, _ in padding]
    inside = []
    for size, extent, shift in zip((height, width), padded.shape[1:3], shifts):
        first, last = max(0, -shift), min(extent, size - shift)
        inside.append((first, max(first, last), shift))
    (u0, u1, sh), (v0, v1, sw) = inside
    if u1 > u0 and v1 > v0:
        source = algorithms.without_channel_aliasing(x[n0:n1, :, u0 + sh : u1 + sh, v0 + sw : v1 + sw])
        padded[:, u0:u1, v0:v1] = source.transpose(0, 2, 3, 1)
    # the first axis's slots: b and d are every other row of the padded tiles, a, c and e differences of them
    first_axis = np.empty((3, count, rows, 2 * columns + 2, channels), dtype=dtype)
    first_slots = _tile_slots(padded, 1, rows, first_axis)
    positions = count * rows * columns
    slots = np.empty((5, count, rows, columns, channels), dtype=dtype)
    matrices = slots.reshape(5, positions, channels)
    products = np.empty((6, 6, out_channels, positions), dtype=dtype)
    for i, (r0, r1) in enumerate(UPSAMPLING_ROWS):
        # the second axis's five slots of first-axis slot i, then their products while they are in cache
        # (contiguous: b and d copied, as the products' operands)
        second_slots = _tile_slots(first_slots[i], 2, columns, (slots[0], slots[2], slots[4]))
        np.copyto(slots[1], second_slots[1])
        np.copyto(slots[3], second_slots[3])
        for j, (c0, c1) in enumerate(UPSAMPLING_ROWS):
            stacked = kernel[r0:r1, c0:c1].reshape(r1 - r0, (c1 - c0) * out_channels, channels)
            target = products[r0:r1, c0:c1].reshape(r1 - r0, (c1 - c0) * out_channels, positions)
            np.matmul(stacked, matrices[j].T, out=target)
    products = products.reshape(6, 6, out_channels, count, rows, columns)
    _transform_outputs(products, UPSAMPLING_OUTPUT_ROWS, UPSAMPLING_BIAS_ROWS, bias, y, n0)


def conv_winograd_upsampling(
    x: np.ndarray, w: np.ndarray, padding, bias: np.ndarray | None = None, remember: bool = False
) -> np.ndarray:
    """y = conv(x stuffed by 2 and zero-padded by ``padding``, w) (+ bias per output channel) for a (O, C, 4, 4)
    kernel, stride 1; per spatial dim out = 2·size − 1 + lo + hi − 3; the low paddings even
    (``applies_upsampling``). With ``remember`` (a kernel that needs no gradient) the kernel's transform is
    kept for the next call (``winograd.REMEMBERED``).

    A batch goes in shares of whole samples (``_in_shares``)."""
    out = upsampling_output(x.shape[2:], padding)
    transform = transform_upsampling_kernel
    return _convolve(x, w, padding, bias, out, 4, transform, _upsampling_sample_bytes, _upsample_samples, remember)


def _convolve(x, w, padding, bias, out, outputs, transform, sample_bytes, convolve_samples, remember) -> np.ndarray:  # noqa: ANN001
    """The driver of both directions: y of ``out`` extents, tiles of ``outputs`` per axis, the kernel's
    ``transform`` (kept for the next call with ``remember``: 0.27 ms for DCGAN's 128 → 64 channels, 0.75 ms
    for a discriminator's 128 → 256), and ``convolve_samples`` over the shares of the batch
    (``_in_shares``)."""
    batch, channels = x.shape[:2]
    out_channels = w.shape[0]
    dtype = np.result_type(x, w)
    y = np.empty((batch, out_channels, *out), dtype=dtype)
    if y.size == 0:
        return y
    tiles = [-(-o // outputs) for o in out]
    w = w.astype(dtype, copy=False)
    kernel = winograd.REMEMBERED.transform(w, (), transform) if remember else transform(w)
    x = x.astype(dtype, copy=False)

    def convolve(n0: int, n1: int) -> None:
        convolve_samples(x, kernel, padding, tiles, bias, y, n0, n1)

    bytes_per_sample = sample_bytes(channels, out_channels, tiles, np.dtype(dtype).itemsize)
    _in_shares(batch, math.prod(tiles), bytes_per_sample, convolve)
    return y


def _in_shares(batch: int, sample_tiles: int, sample_bytes: int, convolve) -> None:  # noqa: ANN001
    """``convolve(n0, n1)`` over the batch: on the thread pool in shares of whole samples (at least
    SHARE_TILES tiles each, as many shares as the workers split evenly), each worker running its share
    through the whole pipeline with single-threaded BLAS; otherwise in blocks of samples within the
    workspace, products on BLAS's threads."""
    if batch > 1 and algorithms.on_the_pool():
        workers = algorithms.THREADS
        samples = min(
            math.ceil(batch / workers),
            max(1, algorithms.WORKSPACE_BYTES // (workers * sample_bytes)),
            max(1, math.ceil(SHARE_TILES / sample_tiles)),
        )
        groups = math.ceil(batch / samples)
        groups = min(batch, groups + (-groups) % workers)
        bounds = [batch * k // groups for k in range(groups + 1)]

        def shares(first: int, stop: int) -> None:
            for share in range(first, stop):
                convolve(bounds[share], bounds[share + 1])

        algorithms.run_on_pool(shares, groups)
        return
    step = max(1, min(batch, algorithms.WORKSPACE_BYTES // sample_bytes))
    for start in range(0, batch, step):
        convolve(start, min(batch, start + step))


# ------------------------------------------------------------------------------------------- downsampling

# Bᵀ per phase p over a tile's six inputs x_pad[4m … 4m + 5]: slots x_pad[4m + p] − x_pad[4m + p + 2],
# x_pad[4m + p + 2], x_pad[4m + p + 4] − x_pad[4m + p + 2], rows in (phase, slot) order.
DOWNSAMPLING_INPUT_TRANSFORM = np.array(
    [
        [1, 0, -1, 0, 0, 0],
        [0, 0, 1, 0, 0, 0],
        [0, 0, -1, 0, 1, 0],
        [0, 1, 0, -1, 0, 0],
        [0, 0, 0, 1, 0, 0],
        [0, 0, 0, -1, 0, 1],
    ],
    dtype=np.float64,
)
# G (6 × 4) on the four taps of an axis, rows in (phase, slot) order: phase p meets taps p and p + 2.
DOWNSAMPLING_KERNEL_TRANSFORM = np.array(
    [[1, 0, 0, 0], [1, 0, 1, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 1, 0, 1], [0, 0, 0, 1]], dtype=np.float64
)
# Aᵀ: output 2m + q of a tile is the sum of slots (a, b), the phases already summed by the products.
DOWNSAMPLING_OUTPUT_SLOTS = ((0, 1), (1, 2))
DOWNSAMPLING_BIAS_SLOTS = (1,)  # in both pairs of DOWNSAMPLING_OUTPUT_SLOTS (see UPSAMPLING_BIAS_ROWS)
# When it beats the unfold (k4 s2 p1, forward, interleaved medians on this project's benchmark machine): at
# least DOWNSAMPLING_MIN_CHANNELS input and DOWNSAMPLING_MIN_OUT_CHANNELS output channels, DOWNSAMPLING_MIN_TILES
# tiles (of 2 × 2 outputs) in the batch and DOWNSAMPLING_MIN_SAMPLE_TILES a sample, and a batch: (16, 64, 32²) →
# 128 channels 0.90–0.93×, (16, 128, 16²) → 256 0.84–0.88×, (4, 64, 64²) → 128 0.87×; with 64 output channels
# (8, 64, 32²) 1.10× and (16, 32, 64²) 1.01–1.13×, a single sample (1, 64, 128²) → 128 1.14×.
DOWNSAMPLING_MIN_CHANNELS = 64
DOWNSAMPLING_MIN_OUT_CHANNELS = 128
DOWNSAMPLING_MIN_TILES = 128
DOWNSAMPLING_MIN_SAMPLE_TILES = 16


def downsampling_output(spatial, padding) -> list[int]:
    """Output extents of a stride-2 convolution with 4 taps: (lo + size + hi − 4) // 2 + 1."""
    return [(lo + size + hi - 4) // 2 + 1 for size, (lo, hi) in zip(spatial, padding)]


def applies_downsampling(x_shape, w_shape, stride, padding, dilation, groups: int, dtype) -> bool:
    """Whether F(2×2, 2×2) by input phases takes a convolution: 2-d, a 4×4 kernel, stride 2, no dilation,
    one group, a real floating dtype, enough channels and tiles (DOWNSAMPLING_MIN_CHANNELS,
    DOWNSAMPLING_MIN_TILES, DOWNSAMPLING_MIN_SAMPLE_TILES), and one sample's scratch within the workspace."""
    if len(w_shape) != 4 or np.dtype(dtype).kind != "f":
        return False
    if not (
        tuple(w_shape[2:]) == (4, 4)
        and all(s == 2 for s in stride)
        and all(d == 1 for d in dilation)
        and groups == 1
        and x_shape[0] > 1
        and x_shape[1] >= DOWNSAMPLING_MIN_CHANNELS
        and w_shape[0] >= DOWNSAMPLING_MIN_OUT_CHANNELS
    ):
        return False
    out = downsampling_output(x_shape[2:], padding)
    sizes = (DOWNSAMPLING_MIN_SAMPLE_TILES, DOWNSAMPLING_MIN_TILES, _downsampling_sample_bytes)
    return _enough_tiles(x_shape, w_shape, out, 2, dtype, *sizes)


def _downsampling_sample_bytes(channels: int, out_channels: int, tiles, itemsize: int) -> int:
    """Scratch of one sample: the padded input's phases, the first axis's slots, the 9 slots' matrices, the
    9 products and the second axis's outputs."""
    rows, columns = tiles
    padded = (4 * rows + 2) * (4 * columns + 2) * channels
    first = 4 * rows * (4 * columns + 2) * channels
    slots = 36 * rows * columns * channels
    products = 9 * rows * columns * out_channels
    outputs = 6 * rows * columns * out_channels
    return (padded + first + slots + products + outputs) * itemsize


def transform_downsampling_kernel(w: np.ndarray) -> np.ndarray:
    """(O, C, 4, 4) → (3, 3, O, 2, 2, C): U per (slot, slot) as an (O × 4C) matrix whose columns run over
    (phase, phase, input channel), as one product with G ⊗ G."""
    u = _transformed_taps(w, DOWNSAMPLING_KERNEL_TRANSFORM).reshape(2, 3, 2, 3, *w.shape[:2])  # (p, σ, p', σ', O, C)
    return np.ascontiguousarray(u.transpose(1, 3, 4, 0, 2, 5))


def _downsampling_slots(x: np.ndarray, padding, tiles, n0: int, n1: int, dtype) -> np.ndarray:
    """The 3 × 3 slots of samples n0 … n1 − 1's tiles, (3, 3, n, rows, columns, 2, 2, C): the padded input
    split into its 2 × 2 phases with (phase, phase, channel) innermost, so that each axis's slots are
    differences of whole rows of phase elements (x_p[2m] − x_p[2m + 1], x_p[2m + 1], x_p[2m + 2] − x_p[2m + 1]
    for every phase at once)."""
    channels, height, width = x.shape[1:]
    rows, columns = tiles
    count = n1 - n0
    # phases[n, k, l, p, p', c] = x_pad[n, c, 2k + p, 2l + p'] = x[n, c, 2k + p − top, 2l + p' − left]
    phases = np.zeros((count, 2 * rows + 1, 2 * columns + 1, 2, 2, channels), dtype=dtype)
    (top, _), (left, _) = padding
    source = algorithms.without_channel_aliasing(x[n0:n1])
    for p in range(2):
        # the phase rows k whose input row 2k + p − top lies in x
        k0, k1 = max(0, -((p - top) // 2)), min(2 * rows + 1, (height - 1 - p + top) // 2 + 1)
        for q in range(2):
            l0, l1 = max(0, -((q - left) // 2)), min(2 * columns + 1, (width - 1 - q + left) // 2 + 1)
            if k1 > k0 and l1 > l0:
                rows_read = slice(2 * k0 + p - top, 2 * (k1 - 1) + p - top + 1, 2)
                columns_read = slice(2 * l0 + q - left, 2 * (l1 - 1) + q - left + 1, 2)
                phases[:, k0:k1, l0:l1, p, q] = source[:, :, rows_read, columns_read].transpose(0, 2, 3, 1)
    first_axis = np.empty((2, count, rows, 2 * columns + 1, 2, 2, channels), dtype=dtype)
    middle = phases[:, 1 : 2 * rows : 2]
    np.subtract(phases[:, 0 : 2 * rows : 2], middle, out=first_axis[0])
    np.subtract(phases[:, 2 : 2 * rows + 1 : 2], middle, out=first_axis[1])
    first_slots = (first_axis[0], middle, first_axis[1])
    slots = np.empty((3, 3, count, rows, columns, 2, 2, channels), dtype=dtype)
    for slot, rows_slot in enumerate(first_slots):
        middle = rows_slot[:, :, 1 : 2 * columns : 2]
        np.subtract(rows_slot[:, :, 0 : 2 * columns : 2], middle, out=slots[slot, 0])
        np.copyto(slots[slot, 1], middle)
        np.subtract(rows_slot[:, :, 2 : 2 * columns + 1 : 2], middle, out=slots[slot, 2])
    return slots


def _downsample_samples(
    x: np.ndarray, kernel: np.ndarray, padding, tiles, bias: np.ndarray | None, y: np.ndarray, n0: int, n1: int
) -> None:
    """Samples n0 … n1 − 1 through the whole pipeline: the slots (``_downsampling_slots``), the 9 products
    over (phase, phase, channel) and the output transform into y."""
    channels = x.shape[1]
    out_channels = kernel.shape[2]
    rows, columns = tiles
    count = n1 - n0
    dtype = y.dtype
    slots = _downsampling_slots(x, padding, tiles, n0, n1, dtype)
    positions = count * rows * columns
    matrices = slots.reshape(3, 3, positions, 4 * channels)
    products = np.empty((3, 3, out_channels, positions), dtype=dtype)
    for first in range(3):
        for second in range(3):
            weights = kernel[first, second].reshape(out_channels, 4 * channels)
            np.matmul(weights, matrices[first, second].T, out=products[first, second])
    products = products.reshape(3, 3, out_channels, count, rows, columns)
    _transform_outputs(products, DOWNSAMPLING_OUTPUT_SLOTS, DOWNSAMPLING_BIAS_SLOTS, bias, y, n0)


def conv_winograd_downsampling(
    x: np.ndarray, w: np.ndarray, padding, bias: np.ndarray | None = None, remember: bool = False
) -> np.ndarray:
    """y = conv(x zero-padded by ``padding``, w, stride 2) (+ bias per output channel) for a (O, C, 4, 4)
    kernel; per spatial dim out = (lo + size + hi − 4) // 2 + 1 (``applies_downsampling``); ``remember`` as
    for ``conv_winograd_upsampling``. A batch goes in shares of whole samples (``_in_shares``)."""
    out = downsampling_output(x.shape[2:], padding)
    transform = transform_downsampling_kernel
    return _convolve(x, w, padding, bias, out, 2, transform, _downsampling_sample_bytes, _downsample_samples, remember)



def grad_weight_winograd_downsampling(
    x: np.ndarray, g: np.ndarray, padding, bias: np.ndarray | None = None
) -> np.ndarray:
    """dL/dW of ``conv_winograd_downsampling``'s convolution given g = dL/dy: the transforms backwards. Per
    tile dM = A dY Aᵀ (per axis slots d₀, d₀ + d₁, d₁ of its two outputs), dU[σ, σ'] = Σ dM[σ, σ'] (O ×
    tiles) · V[σ, σ'] (tiles × 4C), a long contraction over the tiles, and dW = Gᵀ dU G. Each pool worker
    sums whole samples into its own partial dU (``algorithms.sum_over_samples``), with ``bias`` ((O,),
    written) also Σ g."""
    batch, channels, *spatial = x.shape
    out_channels = g.shape[1]
    dtype = np.result_type(x, g)
    x, g = x.astype(dtype, copy=False), g.astype(dtype, copy=False)
    out = g.shape[2:]
    tiles = [-(-o // 2) for o in out]
    rows, columns = tiles

    def add_block(n0: int, n1: int, partial: np.ndarray) -> None:
        count = n1 - n0
        slots = _downsampling_slots(x, padding, tiles, n0, n1, dtype)
        positions = count * rows * columns
        matrices = slots.reshape(3, 3, positions, 4 * channels)
        # g's tiles (zero beyond its edges), the columns' slots first as flat passes over the block
        extended = g[n0:n1]
        if tuple(out) != (2 * rows, 2 * columns):
            extended = np.zeros((count, out_channels, 2 * rows, 2 * columns), dtype=dtype)
            extended[:, :, : out[0], : out[1]] = g[n0:n1]
        extended = extended.reshape(count, out_channels, rows, 2, columns, 2)
        along_columns = np.empty((3, count, out_channels, rows, 2, columns), dtype=dtype)
        np.copyto(along_columns[0], extended[..., 0])
        np.add(extended[..., 0], extended[..., 1], out=along_columns[1])
        np.copyto(along_columns[2], extended[..., 1])
        gradient = np.empty((3, 3, out_channels, count, rows, columns), dtype=dtype)  # dM, (O, tiles) per slot pair
        for second in range(3):
            first_rows, second_rows = along_columns[second, :, :, :, 0], along_columns[second, :, :, :, 1]
            targets = [gradient[first, second].transpose(1, 0, 2, 3) for first in range(3)]
            np.copyto(targets[0], first_rows)
            np.add(first_rows, second_rows, out=targets[1])
            np.copyto(targets[2], second_rows)
        gradient = gradient.reshape(3, 3, out_channels, positions)
        for first in range(3):
            for second in range(3):
                partial[first, second] += np.matmul(gradient[first, second], matrices[first, second])

    sample_bytes = _downsampling_sample_bytes(channels, out_channels, tiles, np.dtype(dtype).itemsize)
    sums = None if bias is None else (g, bias)
    shape = (3, 3, out_channels, 4 * channels)
    total = algorithms.sum_over_samples(batch, sample_bytes, shape, dtype, add_block, sums)
    # dW = Gᵀ dU G: dU's rows in (phase, slot, phase, slot) order against G ⊗ G's
    gradient = total.reshape(3, 3, out_channels, 2, 2, channels).transpose(3, 0, 4, 1, 2, 5)
    gradient = gradient.reshape(36, out_channels * channels)
    transform = np.kron(DOWNSAMPLING_KERNEL_TRANSFORM, DOWNSAMPLING_KERNEL_TRANSFORM).astype(dtype)
    taps = np.matmul(transform.T, gradient)  # (16, O·C)
    return np.ascontiguousarray(taps.reshape(4, 4, out_channels, channels).transpose(2, 3, 0, 1))
