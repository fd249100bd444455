"""Functional activations: relu, leaky_relu, prelu, elu, gelu, silu, sigmoid, tanh, softmax, log_softmax.

The derivative rules that ``npconv.ops`` does not already hold are the ``Function`` subclasses below; sigmoid
and tanh reuse ``ops.Sigmoid`` and ``ops.Tanh``. ``inplace=True`` writes the result into the input's storage
when no graph is being recorded (a leaf that requires grad is refused, as in torch); while recording, the
result is returned as a new tensor so that values saved for backward stay intact.
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Any

import numpy as np

from ... import ops
from ...autograd import Context, Function, is_grad_enabled
from ...ops import unbroadcast
from ...tensor import Tensor, _floating, _normalize_dim
from ._common import as_input

__all__ = ["elu", "gelu", "leaky_relu", "log_softmax", "prelu", "relu", "sigmoid", "silu", "softmax", "tanh"]

_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


# NumPy's maximum of an array and a scalar has no SIMD loop: 1.2 ns per float32 element in cache, against
# 0.23 ns for the maximum of two arrays. ``rectify`` therefore takes max(x, 0) block by block against a block
# of zeros ((8, 64, 56, 56) float32: 2.09 → 1.09 ms); same values, NaN and signed zeros included.
RECTIFY_BLOCK = 1 << 17


@functools.lru_cache(maxsize=8)
def _zeros_block(dtype: np.dtype) -> np.ndarray:
    zeros = np.zeros(RECTIFY_BLOCK, dtype=dtype)
    zeros.flags.writeable = False
    return zeros


def rectify(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """max(x, 0) elementwise (into ``out`` when given, which may be x itself); a new result keeps x's
    memory layout, as np.maximum's does. Zero is np.maximum's first operand: of two equal values it
    returns the second, so −0.0 stays −0.0, as torch's relu leaves it."""
    contiguous = x.flags.c_contiguous and (out is None or out.flags.c_contiguous)
    if x.dtype.kind != "f" or x.size <= RECTIFY_BLOCK // 8 or not contiguous:
        zero = np.zeros((), dtype=x.dtype)
        return np.maximum(zero, x) if out is None else np.maximum(zero, x, out=out)
    if out is None:
        out = np.empty(x.shape, dtype=x.dtype)
    source, target, zeros = x.reshape(-1), out.reshape(-1), _zeros_block(x.dtype)
    for start in range(0, source.size, RECTIFY_BLOCK):
        stop = min(source.size, start + RECTIFY_BLOCK)
        np.maximum(zeros[: stop - start], source[start:stop], out=target[start:stop])
    return out


# --------------------------------------------------------------------- derivative rules
class ReLU(Function):
    """max(x, 0); the gradient is 1 where the output is positive (0 at x = 0, as in torch)."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        out = rectify(x)
        ctx.save_for_backward(out > 0 if ctx.needs_input_grad[0] else None)
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        (positive,) = ctx.saved_tensors
        return (grad * positive,)


class LeakyReLU(Function):
    """x if x > 0 else slope·x, without np.where: its loop branches on every element, and on random signs
    it ran at 3.5 ns per float32 element ((8, 64, 56, 56): forward 11.1 → 2.3 ms, backward 11.1 → 2.8 ms).
    For a slope s ≤ 1 the result is max(x, s·x), for s > 1 min(x, s·x) (the same values, infinities
    included); a zero or NaN slope, for which 0·inf or NaN·x would differ from x, keeps np.where. The
    gradient is grad times a factor that is exactly 1 or s: 1·[x > 0] + s·[x ≤ 0], one term always 0
    (np.where again for a slope of ±inf or NaN)."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, negative_slope: float) -> np.ndarray:
        ctx.negative_slope = negative_slope
        slope = np.asarray(negative_slope, dtype=x.dtype)
        by_where = x.dtype.kind != "f" or not slope or slope != slope
        positive = x > 0 if by_where or ctx.needs_input_grad[0] else None
        ctx.save_for_backward(positive)
        if by_where:
            return np.where(positive, x, x * slope)
        scaled = np.multiply(x, slope, out=np.empty_like(x))
        return (np.maximum if slope <= 1 else np.minimum)(x, scaled, out=scaled)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        (positive,) = ctx.saved_tensors
        slope = np.asarray(ctx.negative_slope, dtype=grad.dtype)
        if grad.dtype.kind != "f" or not np.isfinite(slope):  # 0·inf would not be 0
            return np.where(positive, grad, grad * slope), None
        factor = np.multiply(~positive, slope, dtype=grad.dtype)
        factor += positive
        factor *= grad
        return factor, None


class PReLU(Function):
    """x if x > 0 else w·x, with ``weight`` broadcast against ``x``."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, weight: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x, weight)
        return np.where(x > 0, x, weight * x)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        x, weight = ctx.saved_tensors
        positive = x > 0
        grad_x = np.where(positive, grad, grad * weight) if ctx.needs_input_grad[0] else None
        grad_w = unbroadcast(np.where(positive, 0, grad * x), weight.shape) if ctx.needs_input_grad[1] else None
        return grad_x, grad_w


class ELU(Function):
    @staticmethod
    def forward(ctx: Context, x: np.ndarray, alpha: float) -> np.ndarray:
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        negative = alpha * np.expm1(np.minimum(x, 0))
        return np.where(x > 0, x, negative).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        (x,) = ctx.saved_tensors
        slope = ctx.alpha * np.exp(np.minimum(x, 0))
        return np.where(x > 0, grad, grad * slope).astype(grad.dtype, copy=False), None


class GELU(Function):
    """x·Φ(x) with the exact normal CDF, or torch's tanh approximation."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, approximate: str) -> np.ndarray:
        ctx.save_for_backward(x)
        ctx.approximate = approximate
        if approximate == "tanh":
            inner = _SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)
            return (0.5 * x * (1 + np.tanh(inner))).astype(x.dtype, copy=False)
        return (x * 0.5 * (1 + erf(x * math.sqrt(0.5)))).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        (x,) = ctx.saved_tensors
        if ctx.approximate == "tanh":
            inner = _SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)
            tanh_inner = np.tanh(inner)
            inner_derivative = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
            derivative = 0.5 * (1 + tanh_inner) + 0.5 * x * (1 - tanh_inner * tanh_inner) * inner_derivative
        else:
            cdf = 0.5 * (1 + erf(x * math.sqrt(0.5)))
            derivative = cdf + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        return (grad * derivative).astype(grad.dtype, copy=False), None


class SiLU(Function):
    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        sigmoid_x = _sigmoid(x)
        ctx.save_for_backward(x, sigmoid_x)
        return x * sigmoid_x

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        x, sigmoid_x = ctx.saved_tensors
        return (grad * sigmoid_x * (1 + x * (1 - sigmoid_x)),)


class Softmax(Function):
    @staticmethod
    def forward(ctx: Context, x: np.ndarray, axis: int) -> np.ndarray:
        if x.ndim == 0:
            out = np.ones_like(x)
        else:
            exponentials = np.exp(x - np.max(x, axis=axis, keepdims=True))
            out = exponentials / exponentials.sum(axis=axis, keepdims=True)
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        (out,) = ctx.saved_tensors
        if out.ndim == 0:
            return np.zeros_like(grad), None
        return out * (grad - (grad * out).sum(axis=ctx.axis, keepdims=True)), None


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx: Context, x: np.ndarray, axis: int) -> np.ndarray:
        if x.ndim == 0:
            out = np.zeros_like(x)
        else:
            shifted = x - np.max(x, axis=axis, keepdims=True)
            out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        (out,) = ctx.saved_tensors
        if out.ndim == 0:
            return np.zeros_like(grad), None
        return grad - np.exp(out) * grad.sum(axis=ctx.axis, keepdims=True), None


# --------------------------------------------------------------------- array helpers
def _sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^−x) without overflow warnings for large |x|."""
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


def erf(x: np.ndarray) -> np.ndarray:
    """The error function, vectorised, to a few ulps in float64.

    For |x| ≤ 2: erf(x) = 2/√π · e^(−x²) · Σₙ (2x²)ⁿ x / (1·3·…·(2n+1)) (positive terms, no cancellation).
    Beyond: erfc(x) = e^(−x²)/√π · 1/(x + ½/(x + 1/(x + 3/2/(x + …)))), evaluated bottom-up.
    """
    values = np.asarray(x, dtype=np.float64)
    magnitude = np.abs(values)
    result = np.empty_like(magnitude)
    near = magnitude <= 2.0
    small = magnitude[near]
    term, total, ratio = small.copy(), small.copy(), 2 * small * small
    for n in range(1, 80):
        term = term * ratio / (2 * n + 1)
        total += term
        if not np.any(term > 1e-17 * total):
            break
    result[near] = 2 / math.sqrt(math.pi) * np.exp(-small * small) * total
    far = magnitude[~near]
    fraction = far.copy()
    for k in range(60, 0, -1):
        fraction = far + (k / 2) / fraction
    result[~near] = 1 - np.exp(-far * far) / (math.sqrt(math.pi) * fraction)
    nan = np.isnan(values)
    result[nan] = np.nan
    return np.copysign(result, values).astype(np.result_type(x, np.float32), copy=False)


def apply_inplace(input: Tensor, result: Tensor, inplace: bool) -> Tensor:  # noqa: A002
    """Honour ``inplace``: write into ``input`` when nothing is being recorded, else return ``result``."""
    if not inplace:
        return result
    input._check_inplace()
    if result._node is None:
        input._array[...] = result._array
        return input
    return result


def _floating_input(input: Any, op: str) -> Tensor:  # noqa: A002
    x = as_input(input, op, "input")
    if x._array.dtype.kind not in "fc":
        raise NotImplementedError(f'"{op}" not implemented for {x.dtype!r}: use a floating-point tensor')
    return x


# --------------------------------------------------------------------- functional API
def relu(input: Any, inplace: bool = False) -> Tensor:  # noqa: A002
    """Rectified linear unit, :math:`\\max(0, x)` elementwise.

    Args:
        input: any shape.
        inplace: overwrite ``input`` (when not recording a graph). Default: False.
    """
    x = as_input(input, "relu", "input")
    if x._array.dtype == np.bool_:
        raise RuntimeError("Boolean inputs not supported for relu")
    if is_grad_enabled() and x.requires_grad:
        return apply_inplace(x, ReLU.apply(x), inplace)
    # nothing recorded: one pass, into the input's storage for inplace (no mask kept for a backward)
    if not inplace:
        return Tensor._wrap(rectify(x._array))
    x._check_inplace()
    rectify(x._array, out=x._array)
    return x


def leaky_relu(input: Any, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:  # noqa: A002
    """:math:`x` if :math:`x > 0` else ``negative_slope`` · :math:`x`, elementwise.

    Args:
        input: any shape.
        negative_slope: slope for negative inputs. Default: 0.01.
        inplace: overwrite ``input``. Default: False.
    """
    x = as_input(input, "leaky_relu", "input")
    return apply_inplace(x, LeakyReLU.apply(x, float(negative_slope)), inplace)


def prelu(input: Any, weight: Any) -> Tensor:  # noqa: A002
    """Parametric ReLU: :math:`x` if :math:`x > 0` else :math:`a \\cdot x`, ``a`` learnable.

    Args:
        input: (N, C, *) or any shape when ``weight`` has one element.
        weight: one element, or C elements (one per channel, dimension 1 of ``input``).
    """
    x, w = as_input(input, "prelu", "input"), as_input(weight, "prelu", "weight")
    channels = x.shape[1] if x.ndim >= 2 else 1
    if w.numel() != 1 and w.numel() != channels:
        raise RuntimeError(
            "Mismatch of parameter numbers and input channel size. Found parameter numbers = "
            f"{w.numel()} and channel size = {channels}."
        )
    if w.numel() == 1:
        w = w.reshape(())
    else:
        w = w.reshape(channels, *([1] * (x.ndim - 2)))
    return PReLU.apply(x, w)


def elu(input: Any, alpha: float = 1.0, inplace: bool = False) -> Tensor:  # noqa: A002
    """Exponential linear unit: :math:`x` if :math:`x > 0` else :math:`\\alpha (e^x - 1)`.

    Args:
        input: any shape, floating point.
        alpha: the saturation value for negative inputs. Default: 1.0.
        inplace: overwrite ``input``. Default: False.
    """
    x = _floating_input(input, "elu")
    return apply_inplace(x, ELU.apply(x, float(alpha)), inplace)


def gelu(input: Any, approximate: str = "none") -> Tensor:  # noqa: A002
    """Gaussian error linear unit :math:`x \\Phi(x)`.

    Args:
        input: any shape, floating point.
        approximate: 'none' (exact, with erf) or 'tanh'
            (:math:`0.5x(1 + \\tanh(\\sqrt{2/\\pi}(x + 0.044715x^3)))`). Default: 'none'.
    """
    if approximate not in ("none", "tanh"):
        raise RuntimeError(f"approximate argument must be either none or tanh, but got {approximate!r}.")
    x = _floating_input(input, "gelu")
    return GELU.apply(x, approximate)


def silu(input: Any, inplace: bool = False) -> Tensor:  # noqa: A002
    """Sigmoid linear unit (swish): :math:`x \\cdot \\sigma(x)`.

    Args:
        input: any shape, floating point.
        inplace: overwrite ``input``. Default: False.
    """
    x = _floating_input(input, "silu")
    return apply_inplace(x, SiLU.apply(x), inplace)


def sigmoid(input: Any) -> Tensor:  # noqa: A002
    """Logistic sigmoid :math:`1 / (1 + e^{-x})`; integer inputs give float32."""
    return ops.Sigmoid.apply(_floating(as_input(input, "sigmoid", "input")))


def tanh(input: Any) -> Tensor:  # noqa: A002
    """Hyperbolic tangent; integer inputs give float32."""
    return ops.Tanh.apply(_floating(as_input(input, "tanh", "input")))


def _softmax_axis(x: Tensor, dim: int | None, op: str) -> int:
    if dim is None:
        warnings.warn(
            f"Implicit dimension choice for {op} has been deprecated. Change the call to include dim=X as an "
            "argument.",
            UserWarning,
            stacklevel=3,
        )
        dim = 0 if x.ndim in (0, 1, 3) else 1
    return _normalize_dim(dim, x.ndim)


def _softmax_input(input: Any, dtype: Any, op: str) -> Tensor:  # noqa: A002
    x = as_input(input, op, "input")
    if dtype is not None:
        x = x.to(dtype)
    if x._array.dtype.kind not in "fc":
        raise RuntimeError(f'"{op}_lastdim_kernel_impl" not implemented for {x.dtype!r}: use a floating-point tensor')
    return x


def softmax(input: Any, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:  # noqa: A002
    """:math:`e^{x_i} / \\sum_j e^{x_j}` along ``dim``, computed with the maximum subtracted first.

    Args:
        input: any shape.
        dim: the dimension that sums to 1. None picks torch's legacy choice (0 for 0-, 1- and 3-d input,
            else 1) and warns. Default: None.
        dtype: cast the input to this dtype first. Default: None.
    """
    x = _softmax_input(input, dtype, "softmax")
    return Softmax.apply(x, _softmax_axis(x, dim, "softmax"))


def log_softmax(input: Any, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:  # noqa: A002
    """:math:`x_i - \\log \\sum_j e^{x_j}` along ``dim``, numerically stable (log-sum-exp with the maximum
    subtracted). Arguments as in ``softmax``."""
    x = _softmax_input(input, dtype, "log_softmax")
    return LogSoftmax.apply(x, _softmax_axis(x, dim, "log_softmax"))
