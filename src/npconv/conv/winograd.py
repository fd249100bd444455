"""Winograd F(2×2, 3×3): a 3×3, stride-1, undilated, ungrouped 2-d convolution with 2.25× fewer multiplies.

Each 2×2 block of outputs is computed from the 4×4 input tile d that covers it as

    Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A

with the transforms of Lavin & Gray (arXiv:1509.09308). The 16 elementwise products over all tiles and
channels become 16 matrix products (tiles × C) · (C × O), which BLAS runs near its peak; the input and
output transforms are a few additions over whole arrays.

Accuracy: the transforms only add and subtract (and halve, in G), so the float32 error grows by a small
constant factor over a direct sum; the tests bound it by 4× torch's own float32 error against a float64
reference.
"""

from __future__ import annotations

import math

import numpy as np

from . import algorithms

# G (4×3), the kernel transform U = G g Gᵀ; applied to both kernel axes at once as the Kronecker product.
KERNEL_TRANSFORM = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])
KERNEL_TRANSFORM_PAIR = np.kron(KERNEL_TRANSFORM, KERNEL_TRANSFORM)
# Channels below which the 16 small products cost more than the direct unfold saves.
MIN_CHANNELS = 16
# Tiles (batch × tile rows × tile columns) below which the products are too small for BLAS to run well.
MIN_TILES = 128


def block_bytes(x_shape, w_shape, padding, dtype) -> int:
    """Scratch bytes per sample: padded block, row-transformed planes, transformed tiles, their products and
    the output transform's row-transformed planes."""
    channels, height, width = x_shape[1:]
    out_channels = w_shape[0]
    (top, bottom), (left, right) = padding
    tiles_h, tiles_w = math.ceil(max(top + height + bottom - 2, 0) / 2), math.ceil(max(left + width + right - 2, 0) / 2)
    padded = (2 * tiles_h + 2) * (2 * tiles_w + 2) * channels
    rows = 4 * tiles_h * (2 * tiles_w + 2) * channels
    tiles = 16 * tiles_h * tiles_w * (channels + out_channels)
    inverse = 8 * tiles_h * tiles_w * out_channels  # the output transform's row-transformed planes
    return (padded + rows + tiles + inverse) * np.dtype(dtype).itemsize


def applies(x_shape, w_shape, stride, dilation, groups: int, padding, dtype) -> bool:
    """Whether F(2×2, 3×3) is the algorithm of choice: a 3×3 kernel, stride 1, no dilation, one group, enough
    channels and tiles for the 16 products to be efficient, and one sample's scratch within the workspace
    (larger samples go to ``conv_im2col``, which can split a sample)."""
    if not (
        len(w_shape) == 4
        and tuple(w_shape[2:]) == (3, 3)
        and all(s == 1 for s in stride)
        and all(d == 1 for d in dilation)
        and groups == 1
        and x_shape[1] >= MIN_CHANNELS
        and w_shape[0] >= MIN_CHANNELS
    ):
        return False
    (top, bottom), (left, right) = padding
    tiles = math.ceil((top + x_shape[2] + bottom - 2) / 2) * math.ceil((left + x_shape[3] + right - 2) / 2)
    return (
        x_shape[0] * tiles >= MIN_TILES and block_bytes(x_shape, w_shape, padding, dtype) <= algorithms.WORKSPACE_BYTES
    )


def transform_kernel(w: np.ndarray) -> np.ndarray:
    """(O, C, 3, 3) → (16, O, C): U = G g Gᵀ for every (output, input) channel pair, ready as matmul operand;
    both sides of the transform at once as one product with G ⊗ G (16 × 9)."""
    kernel = np.ascontiguousarray(w.transpose(2, 3, 0, 1)).reshape(9, -1)  # taps × (O·C)
    u = np.matmul(KERNEL_TRANSFORM_PAIR.astype(w.dtype, copy=False), kernel)
    return u.reshape(16, w.shape[0], w.shape[1])


def _transform_input(padded: np.ndarray, tiles_h: int, tiles_w: int, out: np.ndarray) -> None:
    """Bᵀ d B of every 4×4 tile (stride 2) of padded (n, 2·th + 2, 2·tw + 2, C) into out (4, 4, n, th, tw, C).

    Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0], [0, 1, 0, −1]]. The row transform runs on whole
    row-strided planes of the padded block (long contiguous runs), the column transform on its result."""

    def rows(offset: int) -> np.ndarray:
        return padded[:, offset : offset + 2 * tiles_h - 1 : 2]

    row_transformed = np.empty((4, *rows(0).shape), dtype=padded.dtype)
    np.subtract(rows(0), rows(2), out=row_transformed[0])
    np.add(rows(1), rows(2), out=row_transformed[1])
    np.subtract(rows(2), rows(1), out=row_transformed[2])
    np.subtract(rows(1), rows(3), out=row_transformed[3])

    def columns(offset: int) -> np.ndarray:
        return row_transformed[:, :, :, offset : offset + 2 * tiles_w - 1 : 2]

    np.subtract(columns(0), columns(2), out=out[:, 0])
    np.add(columns(1), columns(2), out=out[:, 1])
    np.subtract(columns(2), columns(1), out=out[:, 2])
    np.subtract(columns(1), columns(3), out=out[:, 3])


def _inverse_transform(m: np.ndarray, out: np.ndarray) -> None:
    """Aᵀ m A for m (4, 4, O, n, th, tw) into out (n, O, th, 2, tw, 2), Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]]."""
    rows = np.empty((2, *m.shape[1:]), dtype=m.dtype)  # (2, 4, O, n, th, tw)
    np.add(m[0], m[1], out=rows[0])
    rows[0] += m[2]
    np.subtract(m[1], m[2], out=rows[1])
    rows[1] -= m[3]
    target = out.transpose(3, 5, 1, 0, 2, 4)  # (2, 2, O, n, th, tw): a view of y's positions
    for a in range(2):
        np.add(rows[a, 0], rows[a, 1], out=target[a, 0])
        target[a, 0] += rows[a, 2]
        np.subtract(rows[a, 1], rows[a, 2], out=target[a, 1])
        target[a, 1] -= rows[a, 3]


def _convolve_block(padded: np.ndarray, kernel: np.ndarray, target: np.ndarray) -> None:
    """F(2×2, 3×3) of one padded channels-last block (n, 2·th + 2, 2·tw + 2, C) into target
    (n, O, th, 2, tw, 2). The input transform works channels-last (contiguous channel runs); the 16
    products U (O × C) · Vᵀ (C × n·th·tw) read V transposed in place and give channels-first planes, so the
    output transform writes y's layout without transposing channels against positions."""
    count, _, _, channels = padded.shape
    tiles_h, tiles_w = target.shape[2], target.shape[4]
    out_channels = kernel.shape[1]
    transformed = np.empty((4, 4, count, tiles_h, tiles_w, channels), dtype=padded.dtype)

    def transform(i0: int, i1: int) -> None:  # tile rows i0 … i1 − 1: a contiguous share of the output
        _transform_input(padded[:, 2 * i0 : 2 * i1 + 2], i1 - i0, tiles_w, transformed[:, :, :, i0:i1])

    algorithms.parallel_channels(transform, tiles_h)
    tiles_by_channel = transformed.reshape(16, -1, channels).transpose(0, 2, 1)  # a view (16, C, n·th·tw)
    products = algorithms.parallel_matmul(kernel, tiles_by_channel)  # (16, O, n·th·tw)
    products = products.reshape(4, 4, out_channels, count, tiles_h, tiles_w)

    def inverse(o0: int, o1: int) -> None:
        _inverse_transform(products[:, :, o0:o1], target[:, o0:o1])

    algorithms.parallel_channels(inverse, out_channels)


def conv_winograd(x: np.ndarray, w: np.ndarray, padding) -> np.ndarray:
    """y = conv(x zero-padded by ``padding``, w) for a (O, C, 3, 3) kernel, stride 1, by F(2×2, 3×3),
    in blocks of samples whose scratch stays within ``algorithms.WORKSPACE_BYTES``."""
    batch, channels, height, width = x.shape
    out_channels = w.shape[0]
    (top, bottom), (left, right) = padding
    out_h, out_w = top + height + bottom - 2, left + width + right - 2
    dtype = np.result_type(x, w)
    y = np.empty((batch, out_channels, max(out_h, 0), max(out_w, 0)), dtype=dtype)
    if y.size == 0:
        return y
    tiles_h, tiles_w = math.ceil(out_h / 2), math.ceil(out_w / 2)
    kernel = transform_kernel(w.astype(dtype, copy=False))
    # pads that give every tile its full 4×4 input (the surplus outputs are cut off at the end)
    extra = [(top, 2 * tiles_h + 2 - height - top), (left, 2 * tiles_w + 2 - width - left)]
    crop = tuple(slice(max(-lo, 0), size - max(-hi, 0)) for size, (lo, hi) in zip((height, width), extra))
    interior = tuple(slice(max(lo, 0), max(lo, 0) + part.stop - part.start) for part, (lo, _) in zip(crop, extra))
    step = max(1, min(batch, algorithms.WORKSPACE_BYTES // block_bytes(x.shape, w.shape, padding, dtype)))
    exact = out_h == 2 * tiles_h and out_w == 2 * tiles_w
    for start in range(0, batch, step):
        stop = min(batch, start + step)
        count = stop - start
        # the padded block in channels-last layout, so that the tiles have their channels contiguous
        padded = np.zeros((count, 2 * tiles_h + 2, 2 * tiles_w + 2, channels), dtype=dtype)
        padded[(slice(None), *interior)] = x[(slice(start, stop), slice(None), *crop)].transpose(0, 2, 3, 1)
        if exact:
            _convolve_block(padded, kernel, y[start:stop].reshape(count, out_channels, tiles_h, 2, tiles_w, 2))
        else:
            full = np.empty((count, out_channels, tiles_h, 2, tiles_w, 2), dtype=dtype)
            _convolve_block(padded, kernel, full)
            y[start:stop] = full.reshape(count, out_channels, 2 * tiles_h, 2 * tiles_w)[:, :, :out_h, :out_w]
    return y
