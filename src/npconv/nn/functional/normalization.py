"""Functional normalisation: ``batch_norm`` and ``group_norm``.

``batch_norm`` is one operation (``BatchNorm``): statistics, normalisation and the affine map in one pass
over each block of channels, and all three gradients in one more. ``group_norm`` standardises with
``Standardize`` (whose backward is the closed form of the mean/variance chain rule) and then applies the
per-channel affine map with ordinary Tensor operations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ... import dtypes
from ...autograd import Context, Function
from ...conv import algorithms
from ...tensor import Size, Tensor
from ._common import as_input

__all__ = ["batch_norm", "group_norm"]


class Standardize(Function):
    """x̂ = (x − mean) / √(var + eps) over ``axes``, given the batch ``mean`` and biased ``variance`` (kept
    dims; see ``moments``).

    Backward, the means taken over the same axes: dx = (g − mean(g) − x̂ · mean(g · x̂)) / √(var + eps).
    """

    @staticmethod
    def forward(
        ctx: Context, x: np.ndarray, axes: tuple[int, ...], eps: float, mean: np.ndarray, variance: np.ndarray
    ) -> np.ndarray:
        inverse_std = 1 / np.sqrt(variance + eps)
        normalized = (x - mean) * inverse_std
        ctx.save_for_backward(normalized, inverse_std)
        ctx.axes = axes
        return normalized

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        normalized, inverse_std = ctx.saved_tensors
        axes = ctx.axes
        grad_mean = grad.mean(axis=axes, keepdims=True)
        projection = (grad * normalized).mean(axis=axes, keepdims=True)
        return (grad - grad_mean - normalized * projection) * inverse_std, None, None, None, None


def moments(x: np.ndarray, axes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The mean and the biased variance of ``x`` over ``axes``, with the reduced dims kept."""
    mean = x.mean(axis=axes, keepdims=True)
    centered = x - mean
    return mean, (centered * centered).mean(axis=axes, keepdims=True)


def _channel_shape(ndim: int, channels: int) -> tuple[int, ...]:
    """The shape that broadcasts a per-channel vector against (N, C, *)."""
    return (1, channels) + (1,) * (ndim - 2)


def _affine(x: Tensor, weight: Tensor | None, bias: Tensor | None) -> Tensor:
    shape = _channel_shape(x.ndim, x.shape[1])
    if weight is not None:
        x = x * weight.reshape(shape)
    if bias is not None:
        x = x + bias.reshape(shape)
    return x


def _verify_batch_size(size: Sequence[int]) -> None:
    if size[0] * math.prod(size[2:]) == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size {Size(size)}")


def _check_channel_vector(name: str, value: Tensor | None, channels: int) -> None:
    if value is not None and value.numel() != channels:
        raise RuntimeError(f"{name} should contain {channels} elements not {value.numel()}")


# Elements per block of channels in ``BatchNorm``'s passes: the block's input, its scratch and its output
# stay in a core's L2 cache from one pass to the next, so x (and g) are read from memory once.
BATCH_NORM_BLOCK = 1 << 17


def _blocks_of_channels(shape: tuple[int, int, int]) -> list[tuple[int, int]]:
    """Channel ranges of about BATCH_NORM_BLOCK elements each for an (N, C, M) array (whole channels)."""
    batch, channels, positions = shape
    per_block = max(1, BATCH_NORM_BLOCK // max(1, batch * positions))
    return [(c0, min(channels, c0 + per_block)) for c0 in range(0, channels, per_block)]


# Below this many positions per channel ``channel_sums`` sums by a product instead of NumPy's reduction.
SMALL_PLANE = 64


def channel_sums(block: np.ndarray) -> np.ndarray:
    """Σ over samples and positions per channel of an (N, C, M) block, accumulated in float64 across the
    lines of M positions. From SMALL_PLANE positions on, each line is summed in its own dtype by NumPy's
    pairwise (SIMD) summation and only the N·C line sums in float64: a float64 reduction converts every
    element first and took twice as long ((8, 64, 12544): 4.7 → 2.3 ms). A line's pairwise sum has an error
    of a few float32 roundings, and the gradients and statistics built on it measured as close to a float64
    reference as before, closer than torch's own float32 ones. NumPy's reduction over axes 0 and 2 pays ~25
    ns per line, which dominates small planes: from 2 to SMALL_PLANE positions a float64 copy, one matrix–
    vector product over the samples and a sum over each channel's positions instead ((32, 256, 4): 227 →
    38 µs)."""
    batch, channels, positions = block.shape
    if positions == 1:  # one reduction over the samples
        return block.sum(axis=(0, 2), dtype=np.float64)
    if positions >= SMALL_PLANE:
        return block.sum(axis=2).sum(axis=0, dtype=np.float64)
    flat = block.reshape(batch, channels * positions).astype(np.float64, copy=False)
    return (np.ones(batch) @ flat).reshape(channels, positions).sum(axis=1)


def channel_dots(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Σ over samples and positions per channel of first · second, two (N, C, M) blocks, accumulated in
    float64 across the lines of M positions. From SMALL_PLANE positions on, each line's sum of products is
    one BLAS dot product (a batch of (1 × M) · (M × 1) products), which reads both lines once and writes
    nothing: against the product into scratch and ``channel_sums`` of it, (8, 1, 12544) 42.9 → 11.7 µs,
    (8, 64, 196) 52.4 → 19.1 µs. Below, ``channel_sums`` of the product."""
    batch, channels, positions = first.shape
    if positions < SMALL_PLANE:
        return channel_sums(first * second)
    lines = np.matmul(first[..., None, :], second[..., :, None])  # (N, C, 1, 1)
    return lines.reshape(batch, channels).sum(axis=0, dtype=np.float64)


def channel_rows(vector: np.ndarray, block: np.ndarray) -> np.ndarray:
    """A per-channel vector shaped to broadcast against an (N, C, M) block: as (C, M) rows of repeated
    values when there are several samples, so that an elementwise operation runs NumPy's loop over two
    arrays along whole rows of C·M elements instead of its far slower loop against a scalar on every line
    of M positions ((32, 16, 256): 88 → 30 µs per subtraction); as (C, 1) for a single sample, whose rows
    would cost as much as the operation, and for single positions, whose lines are already whole rows."""
    batch, _, positions = block.shape
    if batch == 1 or positions == 1:
        return vector[:, None]
    return vector.repeat(positions).reshape(-1, positions)


# From this many elements (and SMALL_PLANE positions a channel) ``_by_blocks`` hands the blocks to the thread
# pool; smaller calls stay in the calling thread, where the hand-offs would cost what the second core saves.
BATCH_NORM_POOL_MIN = 1 << 19


def _by_blocks(function: Any, shape: tuple[int, int, int]) -> None:
    """``function(c0, c1)`` for every block of channels: on the thread pool for a call of at least
    BATCH_NORM_POOL_MIN elements, each worker taking the next block (the blocks write disjoint channels),
    else in the calling thread. Forward+backward in training, interleaved medians against the calling thread
    alone: (8, 64, 112, 112) 31.5 → 25.0 ms, (8, 64, 56, 56) 9.1 → 7.3, (16, 64, 32, 32) 7.0 → 4.9, (8, 128,
    28, 28) 5.4 → 4.4, (32, 64, 16, 16) 3.7 → 3.2; (8, 256, 14, 14), 401 K elements, 2.9 against 3.1 ms and left
    to the calling thread. (On the earlier reference machine, a Zen 1, the pool measured no faster: (8, 64,
    56, 56) 14.1 against 13.4 ms.)"""
    blocks = _blocks_of_channels(shape)
    if len(blocks) > 1 and math.prod(shape) >= BATCH_NORM_POOL_MIN and shape[2] >= SMALL_PLANE:

        def work(start: int, stop: int) -> None:
            for c0, c1 in blocks[start:stop]:
                function(c0, c1)

        algorithms.run_on_pool(work, len(blocks))
        return
    for c0, c1 in blocks:
        function(c0, c1)


# A single sample in eval mode of at most this many elements is normalised in two whole passes in the calling
# thread: blocks (and the pool from BATCH_NORM_POOL_MIN elements) only add calls to two passes over memory.
# With that and the scale and shift computed once for all channels instead of per block, eval forward,
# interleaved medians: (1, 64, 112²) 415 → 227 µs, (1, 64, 56²) 144 → 125, (1, 512, 7²) 61 → 57; in blocks,
# (1, 64, 224²) 1307 → 952, (8, 64, 56²) 649 → 501.
EVAL_WHOLE_MAX = 1 << 21


class BatchNorm(Function):
    """y = (x − mean) / √(var + eps) · weight + bias per channel (dim 1) of x (N, C, *), in x's dtype
    (float16 computed in float32).

    ``statistics`` is a (2, C) array of the mean and the biased variance: in ``training`` the forward writes
    the batch's there, otherwise it normalises with the ones given (the running estimates). Each block of
    channels is read once from memory and its statistics, normalisation and affine map computed while it is
    in cache; the backward likewise computes Σ g and Σ g·x̂ per channel (the bias and weight gradients) and
    the input gradient from one read of g and x. The per-channel sums accumulate in float64, as torch's
    do on the CPU (float32 sums doubled the weight gradient's error against a float64 reference, and
    float32 training under Adam then drifted from torch's):

        training: dx = weight/σ · (g − Σg/m − x̂ · Σ(g·x̂)/m)   (m values per channel, x̂ = (x − mean)/σ)
        otherwise: dx = weight/σ · g
    """

    fresh_gradients = True

    @staticmethod
    def forward(
        ctx: Context,
        x: np.ndarray,
        weight: np.ndarray | None,
        bias: np.ndarray | None,
        statistics: np.ndarray,
        training: bool,
        eps: float,
    ) -> np.ndarray:
        compute = statistics.dtype
        shaped = x.reshape(*x.shape[:2], math.prod(x.shape[2:]))
        y = np.empty(x.shape, dtype=x.dtype)
        out = y.reshape(shaped.shape)
        inverse_std = np.empty(x.shape[1], dtype=compute)
        if not training:
            # y = x·scale + shift: scale = weight/σ, shift = bias − mean·scale (torch's form in eval mode), for
            # all channels at once
            inverse_std[:] = 1 / np.sqrt(statistics[1] + eps)
            scale = inverse_std if weight is None else inverse_std * weight
            shift = -statistics[0] * scale
            if bias is not None:
                shift += bias

        def normalize(c0: int, c1: int) -> None:
            block = shaped[:, c0:c1].astype(compute, copy=False)
            target = out[:, c0:c1] if x.dtype == compute else np.empty(block.shape, compute)  # float16: rounded once
            if training:
                mean = (channel_sums(block) / (block.shape[0] * block.shape[2])).astype(compute)
                centered = np.subtract(block, channel_rows(mean, block))
                statistics[0, c0:c1] = mean
                statistics[1, c0:c1] = channel_dots(centered, centered) / (block.shape[0] * block.shape[2])
                inverse_std[c0:c1] = 1 / np.sqrt(statistics[1, c0:c1] + eps)
                block_scale = inverse_std[c0:c1] if weight is None else inverse_std[c0:c1] * weight[c0:c1]
                # y = (x − mean)·scale + bias, from the centred values: no cancellation between x·scale and
                # mean·scale when the mean is large against σ (mean 10, σ 0.5: largest error against a
                # float64 reference 6.1e-6 → 2.1e-6; torch 1.0e-6)
                np.multiply(centered, channel_rows(block_scale, block), out=target)
                if bias is not None:
                    target += channel_rows(bias[c0:c1], block)
            else:
                np.multiply(block, channel_rows(scale[c0:c1], block), out=target)
                target += channel_rows(shift[c0:c1], block)
            if x.dtype != compute:
                out[:, c0:c1] = target

        if x.size and not training and x.shape[0] == 1 and x.dtype == compute and x.size <= EVAL_WHOLE_MAX:
            normalize(0, x.shape[1])  # a single sample in eval mode: two passes over it, no blocks
        elif x.size:
            _by_blocks(normalize, shaped.shape)
        ctx.save_for_backward(x, weight)
        ctx.mean, ctx.inverse_std, ctx.training = statistics[0].copy(), inverse_std, training
        ctx.bias_dtype = None if bias is None else bias.dtype
        return y

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        x, weight = ctx.saved_tensors
        mean, inverse_std = ctx.mean, ctx.inverse_std
        compute = inverse_std.dtype
        channels = x.shape[1]
        shaped = x.reshape(*x.shape[:2], math.prod(x.shape[2:]))
        grads = grad.reshape(shaped.shape)
        count = shaped.shape[0] * shaped.shape[2]
        grad_x = np.empty(x.shape, dtype=x.dtype) if ctx.needs_input_grad[0] else None
        out = None if grad_x is None else grad_x.reshape(shaped.shape)
        sums = np.zeros((2, channels), dtype=compute)  # Σ g and Σ g·x̂ per channel
        weight_grad = weight is not None and ctx.needs_input_grad[1]

        def gradients(c0: int, c1: int) -> None:
            block_g = grads[:, c0:c1].astype(compute, copy=False)
            sums[0, c0:c1] = channel_sums(block_g)
            scale = inverse_std[c0:c1] if weight is None else inverse_std[c0:c1] * weight[c0:c1]
            if ctx.training or weight_grad:  # Σ g·x̂: the weight gradient, and a term of dx in training
                centered = np.subtract(shaped[:, c0:c1], channel_rows(mean[c0:c1], block_g))
                sums[1, c0:c1] = channel_dots(block_g, centered) * inverse_std[c0:c1]
            if out is None:
                return
            if not ctx.training:  # dx = weight/σ · g
                np.multiply(block_g, channel_rows(scale, block_g), out=out[:, c0:c1], casting="unsafe")
                return
            # dx = (g − Σg/m − (x − mean) · Σ(g·x̂)/(σ·m)) · weight/σ, in torch's order of operations
            k = sums[1, c0:c1] * inverse_std[c0:c1] / count
            target = out[:, c0:c1] if x.dtype == compute else np.empty_like(centered)
            np.subtract(block_g, channel_rows(sums[0, c0:c1] / count, block_g), out=target)
            centered *= channel_rows(k, centered)  # no longer needed as it was
            target -= centered
            target *= channel_rows(scale, target)
            if x.dtype != compute:
                out[:, c0:c1] = target

        if x.size:
            _by_blocks(gradients, shaped.shape)
        grad_w = sums[1].astype(weight.dtype) if weight_grad else None
        grad_b = sums[0].astype(ctx.bias_dtype) if ctx.needs_input_grad[2] else None
        return grad_x, grad_w, grad_b, None, None, None


def _check_batch_norm_dtypes(x: Tensor, *parameters: Tensor | None) -> None:
    """torch's dtype rules for batch_norm on the CPU: a floating-point input; weight, bias and the running
    statistics of the input's dtype, or all float32 with a float16 input (mixed precision)."""
    if not x.is_floating_point():
        raise NotImplementedError(f'"batch_norm" not implemented for {x.dtype!r}: use a floating-point tensor')
    present = [p._array.dtype for p in parameters if p is not None]
    if not present:
        return
    if present[0] != x._array.dtype:  # mixed precision, decided by the first one given, as torch does
        if any(dtype != np.float32 for dtype in present):
            raise RuntimeError("mixed dtype (CPU): expect parameter to have scalar type of Float")
        if x._array.dtype != np.float16:
            raise RuntimeError("mixed dtype (CPU): all inputs must share same datatype.")
        return
    for dtype in present:
        if dtype != x._array.dtype:
            raise RuntimeError(
                f"expected scalar type {dtypes.scalar_type_name(x._array.dtype)} but found {dtypes.scalar_type_name(dtype)}"
            )


def batch_norm(
    input: Any,  # noqa: A002
    running_mean: Any,
    running_var: Any,
    weight: Any = None,
    bias: Any = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalisation over every dim except the channels (dim 1).

    In training, each channel is standardised with the batch mean and biased variance, and the running
    statistics (when given) are updated in place: running = (1 − momentum)·running + momentum·batch, with the
    unbiased batch variance (m/(m − 1)·var, m the number of values per channel). Otherwise the running
    statistics are used.

    Args:
        input: (N, C, *).
        running_mean, running_var: (C,) buffers or None (None requires ``training``).
        weight, bias: (C,) affine parameters or None. Default: None.
        training: use (and update) batch statistics. Default: False.
        momentum: the running-average factor. Default: 0.1.
        eps: added to the variance. Default: 1e-5.
    """
    x = as_input(input, "batch_norm", "input")
    mean_buffer = as_input(running_mean, "batch_norm", "running_mean", optional=True)
    var_buffer = as_input(running_var, "batch_norm", "running_var", optional=True)
    w = as_input(weight, "batch_norm", "weight", optional=True)
    b = as_input(bias, "batch_norm", "bias", optional=True)
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected an input of at least 2 dims (N, C, *), got {x.ndim}D input")
    channels = x.shape[1]
    for name, value in (("running_mean", mean_buffer), ("running_var", var_buffer), ("weight", w), ("bias", b)):
        _check_channel_vector(name, value, channels)
    if training:
        _verify_batch_size(x.shape)
        if eps <= 0.0:
            raise ValueError(f"batch_norm eps must be positive during training, but got {eps}")
    elif eps < 0.0:
        raise ValueError(f"batch_norm eps must be non-negative, but got {eps}")
    if not training and (mean_buffer is None or var_buffer is None):
        raise RuntimeError("running_mean must be defined in evaluation mode")
    _check_batch_norm_dtypes(x, w, b, mean_buffer, var_buffer)
    compute = np.float32 if x._array.dtype == np.float16 else x._array.dtype
    statistics = np.empty((2, channels), dtype=compute)
    if not training:
        statistics[0], statistics[1] = mean_buffer._array.reshape(-1), var_buffer._array.reshape(-1)
    y = BatchNorm.apply(x, w, b, statistics, training, eps)
    if training and x.numel():  # an empty batch leaves the running estimates as they are (torch's rule)
        _update_running_stats(statistics[0], statistics[1], x.numel() // channels, mean_buffer, var_buffer, momentum)
    return y


def _update_running_stats(
    mean: np.ndarray,
    variance: np.ndarray,
    count: int,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    momentum: float,
) -> None:
    """running ← (1 − momentum)·running + momentum·batch, in place, with the unbiased batch variance."""
    if running_mean is not None:
        running_mean._array[...] = (1 - momentum) * running_mean._array + momentum * mean
    if running_var is not None:
        unbiased = variance * (count / max(count - 1, 1))
        running_var._array[...] = (1 - momentum) * running_var._array + momentum * unbiased


def group_norm(
    input: Any,  # noqa: A002
    num_groups: int,
    weight: Any = None,
    bias: Any = None,
    eps: float = 1e-5,
) -> Tensor:
    """Group normalisation: split the channels into ``num_groups`` groups and standardise each group of each
    sample over its channels and spatial positions, then apply the per-channel affine map.

    Args:
        input: (N, C, *).
        num_groups: number of groups; must divide C.
        weight, bias: (C,) or None. Default: None.
        eps: added to the variance. Default: 1e-5.
    """
    x = as_input(input, "group_norm", "input")
    w = as_input(weight, "group_norm", "weight", optional=True)
    b = as_input(bias, "group_norm", "bias", optional=True)
    if x.ndim < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received {x.ndim}")
    batch, channels = x.shape[0], x.shape[1]
    if num_groups <= 0 or channels % num_groups != 0:
        raise RuntimeError(
            "Expected number of channels in input to be divisible by num_groups, but got input of shape "
            f"{list(x.shape)} and num_groups={num_groups}"
        )
    _verify_batch_size([batch * channels // num_groups, num_groups])
    for name, value in (("weight", w), ("bias", b)):
        if value is not None and (value.ndim != 1 or value.numel() != channels):
            raise RuntimeError(
                f"Expected {name} to be a vector of size equal to the number of channels in input, but got "
                f"{name} of shape {list(value.shape)} and input of shape {list(x.shape)}"
            )
    grouped = x.reshape(batch, num_groups, -1) if x.numel() else x.reshape(batch, num_groups, 0)
    normalized = Standardize.apply(grouped, (2,), eps, *moments(grouped._array, (2,))).reshape(x.shape)
    return _affine(normalized, w, b)
