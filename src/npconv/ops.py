"""Derivative rules of the Tensor operations, all in one place.

Each class is a ``Function``: ``forward`` computes on NumPy arrays, ``backward`` returns one gradient per
forward argument (None where none is needed). Broadcasting binary operations reduce their gradients back to
each operand's shape with ``unbroadcast``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .autograd import Context, Function
from .conv import primitive, winograd


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` over the axes along which an operand of ``shape`` was broadcast."""
    if grad.shape == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(axis for axis, size in enumerate(shape) if size == 1 and grad.shape[axis] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad.reshape(shape)


def _shape(value: Any) -> tuple[int, ...]:
    return np.shape(value)


class Add(Function):
    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> np.ndarray:
        ctx.shapes = (_shape(a), _shape(b))
        return np.add(a, b)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        return unbroadcast(grad, ctx.shapes[0]), unbroadcast(grad, ctx.shapes[1])


class Sub(Function):
    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> np.ndarray:
        ctx.shapes = (_shape(a), _shape(b))
        return np.subtract(a, b)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        return unbroadcast(grad, ctx.shapes[0]), unbroadcast(-grad, ctx.shapes[1])


class Mul(Function):
    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> np.ndarray:
        ctx.save_for_backward(a, b)
        return np.multiply(a, b)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        a, b = ctx.saved_tensors
        grad_a = unbroadcast(grad * np.conj(b), _shape(a)) if ctx.needs_input_grad[0] else None
        grad_b = unbroadcast(grad * np.conj(a), _shape(b)) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


class Div(Function):
    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> np.ndarray:
        ctx.save_for_backward(a, b)
        return np.true_divide(a, b)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        a, b = ctx.saved_tensors
        grad_a = unbroadcast(grad / np.conj(b), _shape(a)) if ctx.needs_input_grad[0] else None
        grad_b = None
        if ctx.needs_input_grad[1]:
            grad_b = unbroadcast(-grad * np.conj(a / (b * b)), _shape(b))
        return grad_a, grad_b


class Pow(Function):
    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> np.ndarray:
        out = np.power(a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        a, b, out = ctx.saved_tensors
        grad_a = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_a = unbroadcast(grad * b * np.power(a, np.subtract(b, 1)), _shape(a))
        if ctx.needs_input_grad[1]:
            with np.errstate(divide="ignore", invalid="ignore"):
                log_a = np.where(np.asarray(a) > 0, np.log(np.where(np.asarray(a) > 0, a, 1)), 0)
            grad_b = unbroadcast(grad * out * log_a, _shape(b))
        return grad_a, grad_b


class Neg(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray) -> np.ndarray:
        return np.negative(a)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        return (-grad,)


class MatMul(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a, b)
        return np.matmul(a, b)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        a, b = ctx.saved_tensors
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        # the gradient with the size-1 axes that 1-d operands dropped put back (a vector·vector grad is 0-d)
        batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
        g2 = np.reshape(grad, (*batch, a2.shape[-2], b2.shape[-1]))
        grad_a = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_a = unbroadcast(np.matmul(g2, np.swapaxes(b2, -1, -2).conj()), a2.shape).reshape(a.shape)
        if ctx.needs_input_grad[1]:
            grad_b = unbroadcast(np.matmul(np.swapaxes(a2, -1, -2).conj(), g2), b2.shape).reshape(b.shape)
        return grad_a, grad_b


class Sum(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray, axis: tuple[int, ...] | None, keepdims: bool) -> np.ndarray:
        ctx.shape, ctx.axis, ctx.keepdims = a.shape, axis, keepdims
        return np.asarray(np.sum(a, axis=axis, keepdims=keepdims))

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        if not ctx.keepdims and ctx.axis is not None:
            grad = np.expand_dims(grad, ctx.axis)
        return np.broadcast_to(grad, ctx.shape), None, None


class Mean(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray, axis: tuple[int, ...] | None, keepdims: bool) -> np.ndarray:
        ctx.shape, ctx.axis, ctx.keepdims = a.shape, axis, keepdims
        ctx.count = a.size if axis is None else int(np.prod([a.shape[i] for i in axis]))
        return np.asarray(np.mean(a, axis=axis, keepdims=keepdims))

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        if not ctx.keepdims and ctx.axis is not None:
            grad = np.expand_dims(grad, ctx.axis)
        return np.broadcast_to(grad / ctx.count, ctx.shape), None, None


class Reshape(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        ctx.shape = a.shape
        return a.reshape(shape)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        return grad.reshape(ctx.shape), None


class Permute(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        ctx.axes = axes
        return a.transpose(axes)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        return grad.transpose(np.argsort(ctx.axes)), None


class Expand(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        ctx.shape = a.shape
        return np.broadcast_to(a, shape)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        return unbroadcast(grad, ctx.shape), None


class Flip(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        ctx.axes = axes
        return np.flip(a, axes)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        return np.flip(grad, ctx.axes), None


def _is_basic_index(index: Any) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(
        item is None or item is Ellipsis or isinstance(item, (slice, int, np.integer)) for item in items
    )


class GetItem(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray, index: Any) -> np.ndarray:
        ctx.shape, ctx.dtype, ctx.index = a.shape, a.dtype, index
        return np.asarray(a[index])

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        full = np.zeros(ctx.shape, dtype=np.result_type(ctx.dtype, grad.dtype))
        if _is_basic_index(ctx.index):
            full[ctx.index] = grad
        else:
            np.add.at(full, ctx.index, grad)
        return full, None


class SetItem(Function):
    """``a[index] = value`` as a new array: the gradient of ``a`` is zero where it was overwritten, that
    of ``value`` is what reached the written positions (summed over broadcasting)."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, value: Any, index: Any) -> np.ndarray:
        ctx.index, ctx.value_shape = index, np.shape(value)
        out = np.array(a, copy=True)
        out[index] = value
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        grad_a = grad_value = None
        if ctx.needs_input_grad[0]:
            grad_a = np.array(grad, copy=True)
            grad_a[ctx.index] = 0
        if ctx.needs_input_grad[1]:
            reached = np.asarray(grad[ctx.index])
            missing = len(ctx.value_shape) - reached.ndim  # a value may carry leading size-1 axes
            if missing > 0:
                reached = reached.reshape((1,) * missing + reached.shape)
            grad_value = unbroadcast(reached, ctx.value_shape)
        return grad_a, grad_value, None


class Cat(Function):
    @staticmethod
    def forward(ctx: Context, axis: int, *arrays: np.ndarray) -> np.ndarray:
        ctx.axis = axis
        ctx.splits = np.cumsum([a.shape[axis] for a in arrays])[:-1]
        return np.concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        return (None, *np.split(grad, ctx.splits, axis=ctx.axis))


class Stack(Function):
    @staticmethod
    def forward(ctx: Context, axis: int, *arrays: np.ndarray) -> np.ndarray:
        ctx.axis = axis
        return np.stack(arrays, axis=axis)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        return (None, *(np.take(grad, i, axis=ctx.axis) for i in range(grad.shape[ctx.axis])))


class Exp(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray) -> np.ndarray:
        out = np.exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        (out,) = ctx.saved_tensors
        return (grad * np.conj(out),)


class Log(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(a)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        (a,) = ctx.saved_tensors
        with np.errstate(divide="ignore", invalid="ignore"):
            return (grad / np.conj(a),)


class Sqrt(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            out = np.sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        (out,) = ctx.saved_tensors
        with np.errstate(divide="ignore", invalid="ignore"):
            return (grad / (2 * np.conj(out)),)


class Abs(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a)
        return np.abs(a)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        (a,) = ctx.saved_tensors
        return (grad * np.sign(a),)


class Tanh(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray) -> np.ndarray:
        out = np.tanh(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        (out,) = ctx.saved_tensors
        return (grad * (1 - out * out),)


class Sigmoid(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray) -> np.ndarray:
        out = np.empty_like(a)
        positive = a >= 0
        out[positive] = 1 / (1 + np.exp(-a[positive]))
        exp_a = np.exp(a[~positive])
        out[~positive] = exp_a / (1 + exp_a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        (out,) = ctx.saved_tensors
        return (grad * out * (1 - out),)


def clamp_values(a: np.ndarray, low: Any, high: Any) -> np.ndarray:
    """min(max(a, low), high) elementwise, either bound None for none, as torch.clamp computes it. Floats go
    through np.clip with both bounds (±inf for a missing one): that keeps torch's signed zeros, where
    np.maximum(−0.0, 0.0) gives −0.0 and torch 0.0, and its two-bound loop is SIMD (0.44 ns per float32
    element against 1.26 for np.maximum with a scalar). The result has a's dtype for floats, the promoted
    dtype otherwise."""
    if a.dtype.kind == "f":
        out = np.clip(a, -np.inf if low is None else low, np.inf if high is None else high)
        return np.asarray(out, dtype=a.dtype)
    out = a
    if low is not None:
        out = np.maximum(out, low)
    if high is not None:
        out = np.minimum(out, high)
    return np.asarray(out, dtype=np.result_type(a.dtype, out.dtype))


class Clamp(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray, low: Any, high: Any) -> np.ndarray:
        out = clamp_values(a, low, high)
        inside = None
        if ctx.needs_input_grad[0]:  # the gradient passes where low ≤ a ≤ high (not at NaN)
            inside = np.ones(a.shape, dtype=bool)
            if low is not None:
                inside &= a >= low
            if high is not None:
                inside &= a <= high
        ctx.save_for_backward(inside)
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        (inside,) = ctx.saved_tensors
        return grad * inside, None, None


class Where(Function):
    @staticmethod
    def forward(ctx: Context, condition: np.ndarray, a: Any, b: Any) -> np.ndarray:
        ctx.save_for_backward(condition)
        ctx.shapes = (_shape(a), _shape(b))
        return np.where(condition, a, b)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        (condition,) = ctx.saved_tensors
        zero = np.zeros((), dtype=grad.dtype)
        return (
            None,
            unbroadcast(np.where(condition, grad, zero), ctx.shapes[0]),
            unbroadcast(np.where(condition, zero, grad), ctx.shapes[1]),
        )


class ElementwiseExtreme(Function):
    """Elementwise max (or min, with ``take_min``) of two tensors; ties split the gradient equally, as
    torch does."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any, take_min: bool) -> np.ndarray:
        ctx.save_for_backward(a, b)
        ctx.take_min = take_min
        return np.minimum(a, b) if take_min else np.maximum(a, b)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        a, b = ctx.saved_tensors
        a_wins = np.less(a, b) if ctx.take_min else np.greater(a, b)
        weight_a = (a_wins + 0.5 * np.equal(a, b)).astype(grad.dtype)
        return unbroadcast(grad * weight_a, _shape(a)), unbroadcast(grad * (1 - weight_a), _shape(b)), None


class ReduceMax(Function):
    """max/min (or amax/amin) over axes; the gradient is shared evenly among tied extremes."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, axis: tuple[int, ...] | None, keepdims: bool, use_min: bool) -> np.ndarray:
        reduce = np.min if use_min else np.max
        out = np.asarray(reduce(a, axis=axis, keepdims=True))
        ctx.save_for_backward(a, out)
        ctx.axis = axis
        return out if keepdims else np.asarray(reduce(a, axis=axis, keepdims=False))

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        a, out = ctx.saved_tensors
        grad = grad.reshape(out.shape)
        mask = a == out
        count = mask.sum(axis=ctx.axis, keepdims=True)
        return grad * mask / count, None, None, None


class SelectAlongAxis(Function):
    """``take_along_axis``: gather values at indices (used by max(dim) and the losses)."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, indices: np.ndarray, axis: int) -> np.ndarray:
        ctx.shape, ctx.dtype = a.shape, a.dtype
        ctx.save_for_backward(indices)
        ctx.axis = axis
        return np.take_along_axis(a, indices, axis=axis)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        (indices,) = ctx.saved_tensors
        full = np.zeros(ctx.shape, dtype=grad.dtype)
        np.put_along_axis(full, indices, 0, axis=ctx.axis)
        _add_along_axis(full, indices, grad, ctx.axis)
        return full, None, None


def _add_along_axis(target: np.ndarray, indices: np.ndarray, values: np.ndarray, axis: int) -> None:
    """``target[..., indices, ...] += values`` along ``axis``, with repeated indices accumulating."""
    axis = axis % target.ndim
    grids = np.indices(indices.shape, sparse=True)
    full_index = tuple(indices if dim == axis else grids[dim] for dim in range(target.ndim))
    np.add.at(target, full_index, values)


class Cast(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray, dtype: np.dtype) -> np.ndarray:
        ctx.dtype = a.dtype
        return a.astype(dtype, copy=False)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        if ctx.dtype.kind != "c" and grad.dtype.kind == "c":
            grad = grad.real
        return grad.astype(ctx.dtype, copy=False), None


class Clone(Function):
    """A copy; ``order`` 'K' keeps the memory layout (``clone``), 'C' makes it C-contiguous (``contiguous``)."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, order: str) -> np.ndarray:
        return np.array(a, copy=True, order=order)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        return grad, None


class Convolution(Function):
    """y = conv_general(x, w) + b for a validated ``ConvCall``; both gradients by the same primitive.

    For a transposed call the primitive runs with the flipped, channel-swapped kernel (an involution,
    so the weight gradient maps back through the same transform). Its gradients are new arrays
    (``fresh_gradients``): the primitive writes every result into a buffer of its own, and ``backward``
    copies any that would share memory with its inputs."""

    fresh_gradients = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, call: Any) -> np.ndarray:
        if not call.batched:
            x = x[None]
        kernel = primitive.flip_and_swap_channels(w, call.groups) if call.transposed else w
        args = (call.stride, call.padding, call.lhs_dilation, call.dilation, call.groups)
        nonfinite = ~np.isfinite(kernel) if _nonfinite_weights_skip_padding(call, kernel.dtype) else None
        ctx.transforms = ctx.tiles = None
        if nonfinite is not None and nonfinite.any():
            y = _conv_with_nonfinite_kernel(x, kernel, nonfinite, args)
            if b is not None:
                y += b.reshape(1, -1, *([1] * (y.ndim - 2)))
        else:
            # a Winograd forward keeps its kernel transform for the input gradient, which reuses it, and,
            # when the kernel needs no gradient (inference, a frozen layer), for the next call as well
            keep, remember = ctx.needs_input_grad[0], not ctx.needs_input_grad[1]
            ctx.transforms = winograd.KernelTransforms(remember=remember) if keep or remember else None
            # and its transformed input for the weight gradient
            ctx.tiles = winograd.InputTiles() if ctx.needs_input_grad[1] else None
            y = primitive.conv_general(x, kernel, *args, bias=b, transforms=ctx.transforms, kept_tiles=ctx.tiles)
        ctx.save_for_backward(x, kernel)
        ctx.call = call
        return y if call.batched else y[0]

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        x, kernel = ctx.saved_tensors
        call = ctx.call
        if not call.batched:
            grad = grad[None]
        if x.dtype.kind == "c":
            x, kernel = np.conj(x), np.conj(kernel)
        args = (call.stride, call.padding, call.lhs_dilation, call.dilation, call.groups)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            # the forward's Winograd kernel transform serves the input gradient, unless the kernel was conjugated
            transforms = None if kernel.dtype.kind == "c" else ctx.transforms
            grad_x = primitive.conv_general_grad_input(grad, kernel, x.shape[2:], *args, transforms=transforms)
            grad_x = grad_x if call.batched else grad_x[0]
        if ctx.needs_input_grad[2]:
            grad_b = np.empty(grad.shape[1], dtype=grad.dtype)
        if ctx.needs_input_grad[1]:
            # the bias gradient is summed by the weight gradient's pass over grad, where it can
            tiles = None if x.dtype.kind == "c" else ctx.tiles  # (of x, not of its conjugate)
            grad_w = primitive.conv_general_grad_weight(x, grad, kernel.shape[2:], *args, bias=grad_b, kept_tiles=tiles)
            ctx.tiles = None  # used: freed now, not with the graph
            if call.transposed:
                grad_w = primitive.flip_and_swap_channels(grad_w, call.groups)
        elif grad_b is not None:
            grad_b[...] = grad.sum(axis=(0, *range(2, grad.ndim)))
        return tuple(_not_sharing(result, grad, x, kernel) for result in (grad_x, grad_w, grad_b)) + (None,)


def _not_sharing(result: np.ndarray | None, *arrays: np.ndarray) -> np.ndarray | None:
    """``result``, or a copy of it if it may share memory with any of ``arrays``."""
    if result is None or not any(np.may_share_memory(result, array) for array in arrays):
        return result
    return result.copy()


def _nonfinite_weights_skip_padding(call: Any, dtype: np.dtype) -> bool:
    """Whether torch lets a NaN/inf weight touch only real input elements (not zero padding): its
    transposed convolutions scatter products (col2im), and its float32/float16 convolutions (oneDNN) pad
    implicitly; only its float64 direct convolution multiplies explicit zero padding."""
    return dtype.kind == "f" and call.transposed


def _conv_with_nonfinite_kernel(x: np.ndarray, kernel: np.ndarray, nonfinite: np.ndarray, args: tuple) -> np.ndarray:
    """A convolution whose kernel holds NaN or ±inf, with torch's propagation where it skips padding.

    A non-finite weight then reaches only the outputs that a real input element reaches through it, never
    the zeros the primitive pads and stuffs around the input (which would turn 0·inf into NaN everywhere). Compute with the finite part of the kernel, then
    add the IEEE outcome of the non-finite products where they land: ±inf by the signs, NaN for 0·inf,
    NaN weights, and opposite infinities meeting."""
    def reached(input_mask: np.ndarray, kernel_mask: np.ndarray) -> np.ndarray:
        return primitive.conv_general(input_mask.astype(np.float64), kernel_mask.astype(np.float64), *args) > 0

    y = primitive.conv_general(x, np.where(nonfinite, 0, kernel), *args)
    positive, negative = x > 0, x < 0
    plus_inf, minus_inf = kernel == np.inf, kernel == -np.inf
    to_plus = reached(positive, plus_inf) | reached(negative, minus_inf)
    to_minus = reached(positive, minus_inf) | reached(negative, plus_inf)
    to_nan = reached(~(positive | negative), nonfinite) | reached(np.ones(x.shape, bool), np.isnan(kernel))
    y = np.where(to_plus, y + np.inf, y)
    y = np.where(to_minus, y - np.inf, y)
    return np.where(to_nan, np.nan, y).astype(y.dtype)


class Pad(Function):
    """Padding of the last axes by mode; its backward is the adjoint in ``conv.padding``."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, pads: Any, mode: str, value: Any) -> np.ndarray:
        from .conv.padding import pad_array

        ctx.shape, ctx.pads, ctx.mode = x.shape, pads, mode
        return pad_array(x, pads, mode, value)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        from .conv.padding import pad_adjoint

        return pad_adjoint(grad, ctx.shape, ctx.pads, ctx.mode), None, None, None
