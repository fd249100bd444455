"""Functional normalisation: ``batch_norm`` and ``group_norm``.

Both standardise over some axes with ``Standardize`` (whose backward is the closed form of the mean/variance
chain rule) and then apply the per-channel affine map with ordinary Tensor operations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...autograd import Context, Function
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
    axes = (0, *range(2, x.ndim))
    shape = _channel_shape(x.ndim, channels)
    if training:
        mean, variance = moments(x._array, axes)
        normalized = Standardize.apply(x, axes, eps, mean, variance)
        _update_running_stats(mean.reshape(channels), variance.reshape(channels), x.numel() // channels,
                              mean_buffer, var_buffer, momentum)
    else:
        if mean_buffer is None or var_buffer is None:
            raise RuntimeError("running_mean must be defined in evaluation mode")
        inverse_std = 1 / np.sqrt(var_buffer._array.reshape(shape) + eps)
        centered = x - Tensor._wrap(mean_buffer._array.reshape(shape).astype(x._array.dtype, copy=False))
        normalized = centered * Tensor._wrap(inverse_std.astype(x._array.dtype, copy=False))
    return _affine(normalized, w, b)


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
