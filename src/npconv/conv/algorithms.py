"""Algorithms for a VALID convolution of an already padded (and dilated) input.

Every function here has the signature ``(x, w, stride, dilation, groups) -> y`` with
x (N, C, *spatial), w (O, C // groups, *kernel) and y (N, O, *out), where per dimension
out = (spatial − dilation·(kernel − 1) − 1) // stride + 1. ``valid_conv`` picks one per call.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

# Largest unfolded (im2col) buffer one step may build; larger problems are chunked.
WORKSPACE_BYTES = 64 * 2**20


def output_extent(size: int, kernel: int, stride: int, dilation: int) -> int:
    return (size - dilation * (kernel - 1) - 1) // stride + 1


def window_view(x: np.ndarray, kernel: tuple[int, ...], stride: tuple[int, ...], dilation: tuple[int, ...], groups: int) -> np.ndarray:
    """A read-only view of shape (N, G, C/G, *out, *kernel): element [n, g, c, *o, *k] is
    x[n, g·C/G + c, *(o·stride + k·dilation)]."""
    batch, channels, *spatial = x.shape
    out = tuple(output_extent(s, k, st, d) for s, k, st, d in zip(spatial, kernel, stride, dilation))
    batch_stride, channel_stride, *spatial_strides = x.strides
    per_group = channels // groups
    shape = (batch, groups, per_group, *out, *kernel)
    strides = (
        batch_stride,
        channel_stride * per_group,
        channel_stride,
        *(s * st for s, st in zip(spatial_strides, stride)),
        *(s * d for s, d in zip(spatial_strides, dilation)),
    )
    return as_strided(x, shape=shape, strides=strides, writeable=False)


def valid_conv_im2col(x: np.ndarray, w: np.ndarray, stride: tuple[int, ...], dilation: tuple[int, ...], groups: int) -> np.ndarray:
    """Unfold input windows into a (G, C/G·Πk, n·Πout) matrix and multiply by the (G, O/G, C/G·Πk)
    weight matrix, chunked along the batch and the first output dimension so that the unfolded
    buffer stays within ``WORKSPACE_BYTES``."""
    batch = x.shape[0]
    out_channels, per_group, *kernel = w.shape
    ndim = len(kernel)
    windows = window_view(x, tuple(kernel), stride, dilation, groups)
    out_spatial = windows.shape[3 : 3 + ndim]
    weight_matrix = w.reshape(groups, out_channels // groups, per_group * math.prod(kernel))
    y = np.empty((batch, out_channels, *out_spatial), dtype=np.result_type(x, w))
    if y.size == 0:
        return y
    rows = out_spatial[0]
    row_bytes = per_group * groups * math.prod(kernel) * math.prod(out_spatial[1:]) * x.itemsize
    sample_bytes = row_bytes * rows
    samples_per_step = max(1, WORKSPACE_BYTES // max(sample_bytes, 1))
    rows_per_step = rows if samples_per_step > 1 else max(1, min(rows, WORKSPACE_BYTES // max(row_bytes, 1)))
    # windows axes: n, g, c, *out, *k  ->  g, c, *k, n, *out
    to_columns = (1, 2, *range(3 + ndim, 3 + 2 * ndim), 0, *range(3, 3 + ndim))
    for n0 in range(0, batch, samples_per_step):
        n1 = min(batch, n0 + samples_per_step)
        for r0 in range(0, rows, rows_per_step):
            r1 = min(rows, r0 + rows_per_step)
            block = windows[n0:n1, :, :, r0:r1].transpose(to_columns)
            columns = block.reshape(groups, weight_matrix.shape[2], -1)
            product = np.matmul(weight_matrix, columns)  # (G, O/G, n·rows·rest)
            target = y[n0:n1, :, r0:r1]
            product = product.reshape(groups, out_channels // groups, n1 - n0, *target.shape[2:])
            target[...] = np.moveaxis(product, 2, 0).reshape(target.shape)
    return y


def valid_conv(x: np.ndarray, w: np.ndarray, stride: tuple[int, ...], dilation: tuple[int, ...], groups: int) -> np.ndarray:
    """The VALID convolution of x with w, by the algorithm suited to the shapes."""
    return valid_conv_im2col(x, w, stride, dilation, groups)
