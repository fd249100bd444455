"""Weight initialisers with torch's names, signatures, errors and distributions (``npconv.nn.init``).

Each function fills ``tensor``'s array in place, outside autograd, and returns ``tensor``. Random ones
draw from ``generator`` when given, else from npconv's default generator, so ``npconv.manual_seed``
makes every initialisation reproducible.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from ..random import Generator, rng
from ..tensor import Tensor

__all__ = [
    "calculate_gain",
    "constant_",
    "dirac_",
    "eye_",
    "kaiming_normal_",
    "kaiming_uniform_",
    "normal_",
    "ones_",
    "orthogonal_",
    "trunc_normal_",
    "uniform_",
    "xavier_normal_",
    "xavier_uniform_",
    "zeros_",
]

LINEAR_FUNCTIONS = (
    "linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
)


def _fill(tensor: Tensor, values: Any) -> Tensor:
    """Write ``values`` into ``tensor``'s array (no autograd, no leaf check) and return ``tensor``."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"expected an npconv.Tensor, but got {type(tensor).__name__}")
    tensor._array[...] = values
    return tensor


def _standard_draws(tensor: Tensor, draw: Any) -> np.ndarray:
    """Standard uniform or normal draws of the tensor's shape, drawn directly in float32 for float32 and
    float16 tensors (no float64 temporary: a 100-million-weight layer initialises in a second)."""
    dtype = np.float64 if tensor._array.dtype == np.float64 else np.float32
    return draw(tensor._array.shape, dtype=dtype)


def _check_floating(tensor: Tensor, kernel: str) -> None:
    """Random fills are defined for floating-point tensors only (torch names its kernel and the dtype)."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"expected an npconv.Tensor, but got {type(tensor).__name__}")
    if tensor._array.dtype.kind != "f":
        raise NotImplementedError(f'"{kernel}" not implemented for {tensor.dtype!r}; random initialisers need a floating-point tensor')


def _check_uniform_bounds(a: float, b: float) -> None:
    if a > b:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found from={a:g} > to={b:g}")


def calculate_gain(nonlinearity: str, param: int | float | None = None) -> float:
    """Return the recommended gain for the nonlinearity (an ``nn.functional`` name).

    ============================ =========================================
    nonlinearity                 gain
    ============================ =========================================
    linear / conv*d / sigmoid    1
    tanh                         5 / 3
    relu                         √2
    leaky_relu                   √(2 / (1 + negative_slope²)), slope 0.01 by default
    selu                         3 / 4
    ============================ =========================================

    Args:
        nonlinearity (str): the non-linear function's name.
        param (float, optional): the negative slope for ``'leaky_relu'``. Default: None

    Examples::

        >>> nn.init.calculate_gain('leaky_relu', 0.2)
        1.3867504905630728
    """
    if nonlinearity in LINEAR_FUNCTIONS or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope: float = 0.01
        elif (isinstance(param, int) and not isinstance(param, bool)) or isinstance(param, float):
            negative_slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + negative_slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: Generator | None = None) -> Tensor:
    """Fill ``tensor`` with values drawn from U(a, b).

    Args:
        tensor (Tensor): an n-dimensional tensor.
        a (float): the lower bound. Default: 0.0
        b (float): the upper bound. Default: 1.0
        generator (Generator, optional): the generator to draw from. Default: None (the default one)

    Examples::

        >>> nn.init.uniform_(npconv.empty(3, 5), -0.1, 0.1).shape
        npconv.Size([3, 5])
    """
    _check_floating(tensor, "check_uniform_bounds")
    _check_uniform_bounds(a, b)
    values = _standard_draws(tensor, rng(generator).random)
    values *= b - a
    values += a
    return _fill(tensor, values)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator: Generator | None = None) -> Tensor:
    """Fill ``tensor`` with values drawn from N(mean, std²).

    Args:
        tensor (Tensor): an n-dimensional tensor.
        mean (float): the mean. Default: 0.0
        std (float): the standard deviation. Default: 1.0
        generator (Generator, optional): the generator to draw from. Default: None
    """
    _check_floating(tensor, "normal_kernel_cpu")
    if std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std:g}")
    values = _standard_draws(tensor, rng(generator).standard_normal)
    values *= std
    values += mean
    return _fill(tensor, values)


def trunc_normal_(
    tensor: Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    generator: Generator | None = None,
) -> Tensor:
    """Fill ``tensor`` with values from N(mean, std²) truncated to [a, b] (values outside are redrawn).

    When the interval holds more than 30% of the normal's mass, out-of-range normal draws are redrawn;
    otherwise uniform proposals on [a, b] are accepted with probability pdf(x) / pdf(mode), as torch does.

    Args:
        tensor (Tensor): an n-dimensional tensor.
        mean (float): the mean of the normal distribution. Default: 0.0
        std (float): the standard deviation of the normal distribution. Default: 1.0
        a (float): the minimum cutoff value. Default: -2.0
        b (float): the maximum cutoff value. Default: 2.0
        generator (Generator, optional): the generator to draw from. Default: None
    """
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn(
            "mean is more than 2 std from [a, b] in nn.init.trunc_normal_. "
            "The distribution of values may be incorrect.",
            stacklevel=2,
        )
    _check_floating(tensor, "normal_kernel_cpu")
    _check_uniform_bounds(a, b)
    source = rng(generator)
    shape = tensor.shape

    def normal_cdf(x: float) -> float:
        return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0

    mass = normal_cdf((b - mean) / std) - normal_cdf((a - mean) / std)
    if mass > 0.3:
        values = source.normal(mean, std, shape)
        pending = (values < a) | (values > b)
        while pending.any():
            values[pending] = source.normal(mean, std, int(pending.sum()))
            pending = (values < a) | (values > b)
    else:
        mode = max(a, min(mean, b))
        log_peak = -0.5 * ((mode - mean) / std) ** 2
        values = np.empty(shape)
        pending = np.ones(shape, dtype=bool)
        while pending.any():
            count = int(pending.sum())
            candidates = source.uniform(a, b, count)
            log_ratio = -0.5 * ((candidates - mean) / std) ** 2 - log_peak
            accepted = np.log(source.uniform(0.0, 1.0, count)) <= log_ratio
            positions = np.flatnonzero(pending)[accepted]
            values.flat[positions] = candidates[accepted]
            pending.flat[positions] = False
    return _fill(tensor, values)


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill ``tensor`` with the value ``val``.

    Args:
        tensor (Tensor): an n-dimensional tensor.
        val (float): the value to fill the tensor with.
    """
    return _fill(tensor, val)


def ones_(tensor: Tensor) -> Tensor:
    """Fill ``tensor`` with the scalar value 1."""
    return _fill(tensor, 1.0)


def zeros_(tensor: Tensor) -> Tensor:
    """Fill ``tensor`` with the scalar value 0."""
    return _fill(tensor, 0.0)


def eye_(tensor: Tensor) -> Tensor:
    """Fill the 2-dimensional ``tensor`` with the identity matrix (as many inputs preserved as possible
    in a Linear layer).

    Args:
        tensor (Tensor): a 2-dimensional tensor.
    """
    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    return _fill(tensor, np.eye(*tensor.shape))


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """Fill the {3, 4, 5}-dimensional ``tensor`` with the Dirac delta: a convolution with it preserves
    as many input channels as possible; with ``groups`` > 1 each group of channels is preserved.

    Args:
        tensor (Tensor): a {3, 4, 5}-dimensional tensor (out_channels, in_channels / groups, *kernel).
        groups (int, optional): number of groups in the conv layer. Default: 1

    Examples::

        >>> w = nn.init.dirac_(npconv.empty(6, 3, 3, 3), groups=2)
        >>> (w.sum().item(), w[4, 1, 1, 1].item())
        (6.0, 1.0)
    """
    if tensor.ndim not in (3, 4, 5):
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    sizes = tensor.shape
    if sizes[0] % groups != 0:
        raise ValueError("dim 0 must be divisible by groups")
    out_channels_per_group = sizes[0] // groups
    kept = min(out_channels_per_group, sizes[1])
    group_index, channel = np.meshgrid(np.arange(groups), np.arange(kept), indexing="ij")
    centre = tuple(size // 2 for size in sizes[2:])
    values = np.zeros(sizes)
    rows = (group_index * out_channels_per_group + channel).ravel()
    values[(rows, channel.ravel(), *centre)] = 1
    return _fill(tensor, values)


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) = (shape[1]·Πshape[2:], shape[0]·Πshape[2:]), as torch computes them (for a
    transposed conv weight (in, out/groups, *k) fan_in is therefore out/groups·Πk)."""
    if tensor.ndim < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    receptive_field_size = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive_field_size, tensor.shape[0] * receptive_field_size


def _calculate_correct_fan(tensor: Tensor, mode: str) -> int:
    mode = mode.lower()
    valid_modes = ["fan_in", "fan_out"]
    if mode not in valid_modes:
        raise ValueError(f"Mode {mode} not supported, please use one of {valid_modes}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: Generator | None = None) -> Tensor:
    """Fill ``tensor`` from U(−a, a) with a = gain·√(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010).

    Args:
        tensor (Tensor): an n-dimensional tensor (n ≥ 2).
        gain (float): an optional scaling factor. Default: 1.0
        generator (Generator, optional): the generator to draw from. Default: None
    """
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: Generator | None = None) -> Tensor:
    """Fill ``tensor`` from N(0, std²) with std = gain·√(2 / (fan_in + fan_out)) (Glorot & Bengio, 2010).

    Args:
        tensor (Tensor): an n-dimensional tensor (n ≥ 2).
        gain (float): an optional scaling factor. Default: 1.0
        generator (Generator, optional): the generator to draw from. Default: None
    """
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def _kaiming_std(tensor: Tensor, a: float, mode: str, nonlinearity: str) -> float | None:
    """gain / √fan for the Kaiming initialisers; None (after torch's warning) for an empty tensor."""
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return None
    fan = _calculate_correct_fan(tensor, mode)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(
    tensor: Tensor,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: Generator | None = None,
) -> Tensor:
    """Fill ``tensor`` from U(−bound, bound) with bound = gain·√(3 / fan_mode) (He et al., 2015).

    Args:
        tensor (Tensor): an n-dimensional tensor (n ≥ 2).
        a (float): the negative slope of the rectifier after this layer (``'leaky_relu'`` only). Default: 0
        mode (str): ``'fan_in'`` (preserves the forward variance) or ``'fan_out'`` (the backward one).
            Default: ``'fan_in'``
        nonlinearity (str): the non-linear function's name. Default: ``'leaky_relu'``
        generator (Generator, optional): the generator to draw from. Default: None

    Examples::

        >>> w = nn.init.kaiming_uniform_(npconv.empty(64, 3, 3, 3), mode='fan_in', nonlinearity='relu')
        >>> bool(w.abs().max() <= (6 / 27) ** 0.5)
        True
    """
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(
    tensor: Tensor,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: Generator | None = None,
) -> Tensor:
    """Fill ``tensor`` from N(0, std²) with std = gain / √fan_mode (He et al., 2015).

    Args:
        tensor (Tensor): an n-dimensional tensor (n ≥ 2).
        a (float): the negative slope of the rectifier after this layer (``'leaky_relu'`` only). Default: 0
        mode (str): ``'fan_in'`` or ``'fan_out'``. Default: ``'fan_in'``
        nonlinearity (str): the non-linear function's name. Default: ``'leaky_relu'``
        generator (Generator, optional): the generator to draw from. Default: None

    Examples::

        >>> w = nn.init.kaiming_normal_(nn.Conv2d(3, 64, 3).weight, mode='fan_out', nonlinearity='relu')
    """
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    return normal_(tensor, 0.0, std, generator)


def orthogonal_(tensor: Tensor, gain: float = 1, generator: Generator | None = None) -> Tensor:
    """Fill ``tensor`` with a (semi-)orthogonal matrix times ``gain`` (Saxe et al., 2013); dimensions
    after the first are flattened. The QR factor's signs are fixed so the result is Haar-distributed.

    Args:
        tensor (Tensor): an n-dimensional tensor, n ≥ 2.
        gain (float): optional scaling factor. Default: 1
        generator (Generator, optional): the generator to draw from. Default: None
    """
    if tensor.ndim < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if tensor.numel() == 0:
        return tensor
    _check_floating(tensor, "normal_kernel_cpu")
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flattened = rng(generator).normal(0.0, 1.0, (rows, cols))
    if rows < cols:
        flattened = flattened.T
    q, r = np.linalg.qr(flattened)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _fill(tensor, gain * q.reshape(tensor.shape))
