"""Normalisation layers: ``BatchNorm1d/2d/3d`` (one dimension-generic base) and ``GroupNorm``."""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import dtypes as _dtypes
from ...tensor import DEFAULT_FLOAT, Tensor
from .. import functional as F
from ..parameter import Parameter
from .module import Module

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "GroupNorm"]


def _float_dtype(dtype: Any) -> np.dtype:
    return _dtypes.to_numpy_dtype(dtype) or DEFAULT_FLOAT


def _affine_parameters(module: Module, size: int, affine: bool, bias: bool, dtype: np.dtype) -> None:
    """Register ``weight`` (ones) and ``bias`` (zeros), or None for each that is not learned."""
    module.register_parameter("weight", Parameter(np.ones(size, dtype=dtype)) if affine else None)
    module.register_parameter("bias", Parameter(np.zeros(size, dtype=dtype)) if affine and bias else None)


def _reset_affine_parameters(module: Module) -> None:
    """Set ``weight`` back to ones and ``bias`` back to zeros, each where it is learned."""
    if module.weight is not None:
        module.weight._array[...] = 1
    if module.bias is not None:
        module.bias._array[...] = 0


class _BatchNorm(Module):
    """Batch normalisation over the batch and every spatial position of each channel:
    :math:`y = \\frac{x - \\mathrm{E}[x]}{\\sqrt{\\mathrm{Var}[x] + \\epsilon}} \\cdot \\gamma + \\beta`.

    In training mode the batch statistics (biased variance) normalise, and running estimates are updated as
    running = (1 − momentum)·running + momentum·batch with the unbiased batch variance; with momentum=None
    the running estimates are the cumulative average of all batches (factor 1/num_batches_tracked). In eval
    mode the running estimates normalise (or the batch statistics, without ``track_running_stats``).

    Args:
        num_features: the number of channels C.
        eps: added to the variance. Default: 1e-5.
        momentum: running-average factor, or None for a cumulative average. Default: 0.1.
        affine: learn γ (weight, ones) and β (bias, zeros). Default: True.
        track_running_stats: keep running_mean (zeros), running_var (ones) and num_batches_tracked (int64)
            buffers. Default: True.
        device: only 'cpu' or None.  dtype: of parameters and running statistics. Default: None (float32).
        bias: (keyword) learn β when ``affine``. Default: True.

    Shape:
        - Input: see the subclass.  - Output: the same shape.
    """

    expected_dims: tuple[int, ...]

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if device not in (None, "cpu"):
            raise RuntimeError(f"npconv runs on the CPU only, but got device {device!r}")
        numpy_dtype = _float_dtype(dtype)
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        _affine_parameters(self, num_features, affine, bias, numpy_dtype)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor._wrap(np.zeros(num_features, dtype=numpy_dtype)))
            self.register_buffer("running_var", Tensor._wrap(np.ones(num_features, dtype=numpy_dtype)))
            self.register_buffer("num_batches_tracked", Tensor._wrap(np.array(0, dtype=np.int64)))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean._array[...] = 0
            self.running_var._array[...] = 1
            self.num_batches_tracked._array[...] = 0

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        _reset_affine_parameters(self)

    def _check_input_dim(self, input: Tensor) -> None:  # noqa: A002
        if input.ndim not in self.expected_dims:
            expected = " or ".join(f"{n}D" for n in self.expected_dims)
            raise ValueError(f"expected {expected} input (got {input.ndim}D input)")

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked._array[...] += 1
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked._array)
        use_batch_stats = self.training or (self.running_mean is None and self.running_var is None)
        keep_buffers = not self.training or self.track_running_stats
        return F.batch_norm(
            input,
            self.running_mean if keep_buffers else None,
            self.running_var if keep_buffers else None,
            self.weight,
            self.bias,
            use_batch_stats,
            factor,
            self.eps,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    __doc__ = "Batch normalisation of (N, C) or (N, C, L) input. " + _BatchNorm.__doc__
    expected_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    __doc__ = "Batch normalisation of (N, C, H, W) input. " + _BatchNorm.__doc__ + """
    Example:
        >>> nn.BatchNorm2d(16)(npconv.randn(8, 16, 12, 12)).shape
        npconv.Size([8, 16, 12, 12])
    """
    expected_dims = (4,)


class BatchNorm3d(_BatchNorm):
    __doc__ = "Batch normalisation of (N, C, D, H, W) input. " + _BatchNorm.__doc__
    expected_dims = (5,)


class GroupNorm(Module):
    """Group normalisation: the channels are split into ``num_groups`` groups and each group of each sample
    is standardised over its channels and positions, then scaled by γ and shifted by β per channel.

    Args:
        num_groups: the number of groups; must divide num_channels.
        num_channels: the number of channels C.
        eps: added to the variance. Default: 1e-5.
        affine: learn per-channel γ (weight, ones) and β (bias, zeros). Default: True.
        device: only 'cpu' or None.  dtype: parameter dtype. Default: None (float32).
        bias: (keyword) learn β when ``affine``. Default: True.

    Shape:
        - Input: (N, C, *).  - Output: (N, C, *), the same shape.
    """

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if num_channels % num_groups != 0:
            raise ValueError(f"num_channels ({num_channels}) must be divisible by num_groups ({num_groups})")
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        _affine_parameters(self, num_channels, affine, bias, _float_dtype(dtype))

    def reset_parameters(self) -> None:
        _reset_affine_parameters(self)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
            f"bias={self.bias is not None}"
        )
