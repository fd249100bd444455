"""Functional linear layer: ``linear(input, weight, bias)`` = input · weightᵀ + bias."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...autograd import Context, Function
from ...conv import algorithms
from ...ops import unbroadcast
from ...tensor import Tensor
from ._common import as_input

__all__ = ["linear"]


# From this many multiply-adds OpenBLAS runs a product on its own threads (its GEMM threading threshold,
# 65536 · 4), which then spin for about 0.1 s.
BLAS_THREADED_WORK = 1 << 18


def matrix_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a · b for a 2-d ``a`` and ``b``, never leaving BLAS's own threads spinning: they spin for about 0.1 s
    after a call and then compete with the thread pool for the cores, so that a network's classifier slowed
    the convolutions after it (the whole backward pass of ResNet-18's at batch 32; its next inference at
    batch 4 on 112², 133 against 85 ms). From PARALLEL_WORK multiply-adds on the pool as single-threaded BLAS
    calls (``algorithms.parallel_matmul``), like the convolutions of a batch; from BLAS_THREADED_WORK on one
    BLAS thread in the calling thread ((64, 256)·(256, 128): 77 against 70 µs on BLAS's threads, 198 split
    over the pool; (8, 512)·(512, 1000): 448 against 184 µs)."""
    work = a.shape[0] * a.shape[1] * b.shape[1]
    if work >= algorithms.PARALLEL_WORK:
        with algorithms.single_threaded_blas(work):
            return algorithms.parallel_matmul(a, b)
    if work >= BLAS_THREADED_WORK:
        with algorithms.one_blas_thread():
            return np.matmul(a, b)
    return np.matmul(a, b)


class Linear(Function):
    """y = x·Wᵀ + b over the last axis of ``x``; W may be 1-d (a dot product per row)."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
        ctx.save_for_backward(x, weight)
        ctx.bias_shape = None if bias is None else bias.shape
        rows = x.reshape(math.prod(x.shape[:-1]), x.shape[-1])
        columns = weight.T if weight.ndim == 2 else weight[:, None]
        out = matrix_product(rows, columns).reshape(*x.shape[:-1], *weight.shape[:-1])
        return out + bias if bias is not None else out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        x, weight = ctx.saved_tensors
        grad_x = grad_w = grad_b = None
        # x (…, in), W (out, in), g (…, out):  dx = g·W,  dW = gᵀ·x summed over every leading axis.
        matrix_w = weight if weight.ndim == 2 else weight.reshape(1, weight.shape[0])
        grad_rows = grad.reshape(math.prod(x.shape[:-1]), matrix_w.shape[0])
        if ctx.needs_input_grad[0]:
            grad_x = matrix_product(grad_rows, matrix_w).reshape(x.shape)
        if ctx.needs_input_grad[1]:
            grad_w = matrix_product(grad_rows.T, x.reshape(grad_rows.shape[0], x.shape[-1])).reshape(weight.shape)
        if ctx.needs_input_grad[2]:
            grad_b = unbroadcast(grad, ctx.bias_shape)
        return grad_x, grad_w, grad_b


def linear(input: Any, weight: Any, bias: Any = None) -> Tensor:  # noqa: A002
    """Apply an affine map to the last dimension: :math:`y = x W^T + b`.

    Args:
        input: (*, in_features).
        weight: (out_features, in_features), or (in_features,) for a single output.
        bias: (out_features,), or None (default).

    Shape:
        Output: (*, out_features); the last dimension is dropped when ``weight`` is 1-d.
    """
    x, w = as_input(input, "linear", "input"), as_input(weight, "linear", "weight")
    b = as_input(bias, "linear", "bias", optional=True)
    if x.ndim == 0 or w.ndim == 0:
        raise RuntimeError(f"both arguments to linear need to be at least 1D, but they are {x.ndim}D and {w.ndim}D")
    if w.ndim > 2:
        raise RuntimeError(f"linear(): weight must be 1D or 2D, but got {w.ndim}D with shape {list(w.shape)}")
    if x.shape[-1] != w.shape[-1]:
        rows = x.numel() // x.shape[-1] if x.shape[-1] else 0
        columns = 1 if w.ndim == 1 else w.shape[0]
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({rows}x{x.shape[-1]} and {w.shape[-1]}x{columns})"
        )
    if x._array.dtype != w._array.dtype or (b is not None and b._array.dtype != x._array.dtype):
        types = [x.dtype, w.dtype] + ([] if b is None else [b.dtype])
        raise RuntimeError(f"linear(): expected input, weight and bias of the same dtype, but got {types}")
    out_shape = (*x.shape[:-1], *w.shape[:-1])
    if b is not None and _broadcast_shape(out_shape, b.shape) != out_shape:
        raise RuntimeError(
            f"linear(): bias of shape {list(b.shape)} cannot be broadcast to the output shape {list(out_shape)}"
        )
    return Linear.apply(x, w, b)


def _broadcast_shape(*shapes: tuple[int, ...]) -> tuple[int, ...] | None:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        return None
