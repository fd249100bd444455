"""Resampling: ``interpolate`` (nearest, nearest-exact, linear/bilinear/trilinear with align_corners, area).

Every mode is separable: along each spatial axis an output position reads one (nearest) or two (linear) input
positions with weights. ``Resample`` gathers those taps axis by axis; its backward applies, per axis, the
transposed (out, in) matrix of the same taps. Source positions follow torch's arithmetic, including its
float32 scale for nearest and the input dtype's precision for linear.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...autograd import Context, Function
from ...conv.arguments import _is_int
from ...tensor import Tensor
from ._common import as_input
from .pooling import adaptive_avg_pool_nd, along_axis

__all__ = ["interpolate", "upsample"]

# (indices, weights), each (taps, out), and the input length, for one axis
AxisTaps = tuple[np.ndarray, np.ndarray, int]

_LINEAR_MODES = {"linear": 1, "bilinear": 2, "trilinear": 3}
_ALL_MODES = "nearest | linear | bilinear | bicubic | trilinear | area | nearest-exact"


class Resample(Function):
    """y = Σ_taps w · x[index] along each spatial axis in turn.

    Each axis's taps form an (out, in) matrix M, so the forward is x ×_axis M (one BLAS matmul per axis) and
    the backward applies Mᵀ. Inputs with infinities or NaNs gather the taps instead, so that a non-finite value
    reaches only the outputs that read it (0 · inf would spread NaN along the whole line)."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, taps: tuple[AxisTaps, ...]) -> np.ndarray:
        ctx.matrices = [_tap_matrix(indices, weights, size, x.dtype) for indices, weights, size in taps]
        finite = x.dtype.kind != "f" or bool(np.isfinite(x).all())
        for axis, (indices, weights, _) in enumerate(taps, start=2):
            if finite:
                x = along_axis(x, ctx.matrices[axis - 2].T, axis)
                continue
            layout = (-1,) + (1,) * (x.ndim - 1 - axis)
            result = np.take(x, indices[0], axis=axis) * weights[0].reshape(layout)
            for index, weight in zip(indices[1:], weights[1:]):
                result += np.take(x, index, axis=axis) * weight.reshape(layout)
            x = result
        return np.ascontiguousarray(x)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        for axis, matrix in reversed(list(enumerate(ctx.matrices, start=2))):
            grad = along_axis(grad, matrix.astype(grad.dtype, copy=False), axis)
        return np.ascontiguousarray(grad), None


def _tap_matrix(indices: np.ndarray, weights: np.ndarray, size: int, dtype: np.dtype) -> np.ndarray:
    """The (out, in) matrix whose row o holds output o's tap weights at its tap positions."""
    matrix = np.zeros((indices.shape[1], size), dtype=np.result_type(dtype, weights.dtype))
    rows = np.broadcast_to(np.arange(indices.shape[1]), indices.shape)
    np.add.at(matrix, (rows, indices), weights)
    return matrix


def _nearest_taps(size: int, out: int, scale: float | None, exact: bool) -> AxisTaps:
    """torch's nearest source index: floor(dst · s) (or floor((dst + ½) · s) for nearest-exact) in float32,
    s = 1/scale_factor or in/out, clamped to the input."""
    destination = np.arange(out)
    if not exact and out == size:
        source = destination
    elif not exact and out == 2 * size:
        source = destination >> 1
    else:
        step = np.float32(1.0 / scale) if scale is not None and scale > 0 else np.float32(size) / np.float32(out)
        position = (destination.astype(np.float32) + np.float32(0.5 if exact else 0.0)) * step
        source = np.minimum(np.floor(position).astype(np.int64), size - 1)
    return source[None], np.ones((1, out)), size


def _linear_taps(size: int, out: int, scale: float | None, align_corners: bool, dtype: np.dtype) -> AxisTaps:
    """torch's linear source position (``area_pixel_compute_source_index``) and its two taps, in ``dtype``."""
    real = dtype.type
    if align_corners:
        step = real(size - 1) / real(out - 1) if out > 1 else real(0)
        position = step * np.arange(out, dtype=dtype)
    else:
        step = real(1.0 / scale) if scale is not None and scale > 0 else real(size) / real(out)
        position = np.maximum(step * (np.arange(out, dtype=dtype) + real(0.5)) - real(0.5), real(0))
    low = np.minimum(np.floor(position).astype(np.int64), size - 1)
    fraction = np.clip(position - low.astype(dtype), 0, 1).astype(dtype)
    high = np.where(low < size - 1, low + 1, low)
    return np.stack([low, high]), np.stack([1 - fraction, fraction]), size


def _output_size_and_scales(
    x: Tensor, size: Any, scale_factor: Any, recompute_scale_factor: bool | None
) -> tuple[list[int], list[float | None]]:
    """torch's rules for ``size`` / ``scale_factor``: exactly one of them, one value or one per spatial dim."""
    dims = x.ndim - 2
    spatial = list(x.shape[2:])
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is None and scale_factor is None:
        raise ValueError("either size or scale_factor should be defined")
    if recompute_scale_factor and size is not None:
        raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
    if size is not None:
        if isinstance(size, (list, tuple)):
            if len(size) != dims:
                raise ValueError(
                    "Input and output must have the same number of spatial dimensions, but got input with spatial "
                    f"dimensions of {spatial} and output size of {size}. Please provide input tensor in (N, C, d1, "
                    "d2, ...,dK) format and output size in (o1, o2, ...,oK) format."
                )
            if not all(_is_int(s) for s in size):
                raise TypeError(
                    "expected size to be one of int or Tuple[int] or Tuple[int, int] or Tuple[int, int, int], but "
                    f"got size with types {[type(s) for s in size]}"
                )
            return [int(s) for s in size], [None] * dims
        return [int(size)] * dims, [None] * dims
    if isinstance(scale_factor, (list, tuple)):
        if len(scale_factor) != dims:
            raise ValueError(
                "Input and scale_factor must have the same number of spatial dimensions, but got input with spatial "
                f"dimensions of {spatial} and scale_factor of shape {scale_factor}. Please provide input tensor in "
                "(N, C, d1, d2, ...,dK) format and scale_factor in (s1, s2, ...,sK) format."
            )
        factors = [float(f) for f in scale_factor]
    else:
        factors = [float(scale_factor)] * dims
    output = [math.floor(n * f) for n, f in zip(spatial, factors)]
    return output, ([None] * dims if recompute_scale_factor else factors)


def _check_mode(mode: str, ndim: int, align_corners: bool | None) -> None:
    if mode in ("nearest", "area", "nearest-exact") and align_corners is not None:
        raise ValueError(
            "align_corners option can only be set with the interpolating modes: linear | bilinear | bicubic | "
            "trilinear"
        )
    if mode in ("bicubic", "lanczos"):
        raise NotImplementedError(f"npconv's interpolate does not implement mode={mode!r}")
    wanted = _LINEAR_MODES.get(mode)
    if wanted is not None and ndim - 2 != wanted and ndim in (3, 4, 5):
        raise NotImplementedError(f"Got {ndim}D input, but {mode} mode needs {wanted + 2}D input")
    if ndim not in (3, 4, 5) or (wanted is None and mode not in ("nearest", "nearest-exact", "area")):
        raise NotImplementedError(
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {ndim}D) for the modes: {_ALL_MODES} "
            f"(got {mode})"
        )


def interpolate(
    input: Any,  # noqa: A002
    size: int | Sequence[int] | None = None,
    scale_factor: float | Sequence[float] | None = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
    antialias: bool = False,
) -> Tensor:
    """Resize the spatial dims of (N, C, *spatial) input to ``size`` or by ``scale_factor``.

    Args:
        input: (N, C, L), (N, C, H, W) or (N, C, D, H, W).
        size: the output spatial size, int or one per spatial dim. Default: None.
        scale_factor: multiplier(s) for the spatial size, the output being floor(in · scale_factor).
            Default: None. Exactly one of ``size`` and ``scale_factor`` must be given.
        mode: 'nearest', 'nearest-exact', 'linear' (3-d), 'bilinear' (4-d), 'trilinear' (5-d) or 'area'.
            Default: 'nearest'.
        align_corners: for the linear modes, map the corner pixels' centres onto each other (source position
            dst · (in − 1)/(out − 1)) rather than the corners of the pixel grid (source position
            (dst + ½) · in/out − ½, clamped at 0). Default: None (False).
        recompute_scale_factor: derive the source positions from the computed output size instead of the given
            scale_factor. Default: None.
        antialias: not supported (must be False).

    Shape:
        Output: (N, C, *size), or (N, C, floor(in_i · scale_factor_i) …).
    """
    x = as_input(input, "interpolate", "input")
    _check_mode(mode, x.ndim, align_corners)
    if antialias:
        raise ValueError("npconv's interpolate does not support antialias=True")
    output, scales = _output_size_and_scales(x, size, scale_factor, recompute_scale_factor)
    spatial = list(x.shape[2:])
    if any(n <= 0 for n in output):
        raise RuntimeError(
            f"Input and output sizes should be greater than 0, but got input {tuple(spatial)} output {tuple(output)}"
        )
    if mode == "area":
        return adaptive_avg_pool_nd(x.ndim - 2, x, output)
    if x._array.dtype.kind != "f" and mode != "nearest":
        raise NotImplementedError(f'"{mode}" interpolation is not implemented for {x.dtype!r}')
    if mode in ("nearest", "nearest-exact"):
        taps = tuple(
            _nearest_taps(n, out, scale, mode == "nearest-exact") for n, out, scale in zip(spatial, output, scales)
        )
        taps = tuple((indices, weights.astype(x._array.dtype), n) for indices, weights, n in taps)
    else:
        taps = tuple(
            _linear_taps(n, out, scale, bool(align_corners), x._array.dtype)
            for n, out, scale in zip(spatial, output, scales)
        )
    return Resample.apply(x, taps)


def upsample(
    input: Any,  # noqa: A002
    size: int | Sequence[int] | None = None,
    scale_factor: float | Sequence[float] | None = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
) -> Tensor:
    """Deprecated alias of ``interpolate`` (kept for torch compatibility)."""
    return interpolate(input, size, scale_factor, mode, align_corners)
