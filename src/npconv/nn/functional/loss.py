"""Loss functions with torch's signatures, defaults, reductions, derivative rules and error messages.

``cross_entropy`` is ``nll_loss`` of a numerically stable ``log_softmax``; ``mse_loss`` and ``l1_loss``
compose differentiable Tensor operations; the two binary cross-entropies are ``Function`` subclasses that
carry torch's own backward formulas (the clamp of the logarithm at -100 in ``binary_cross_entropy``, the
stable log-sigmoid in ``binary_cross_entropy_with_logits``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from ... import dtypes, ops
from ...autograd import Context, Function, is_grad_enabled
from ...tensor import Tensor
from ._common import as_input
from .activation import LogSoftmax

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "l1_loss",
    "mse_loss",
    "nll_loss",
]

_REDUCTIONS = ("none", "mean", "sum")


def _type_name(tensor: Tensor) -> str:
    """torch's scalar type name of ``tensor``'s dtype (Float, Double, Long, ...), used in its messages."""
    return dtypes.scalar_type_name(tensor._array.dtype)


# --------------------------------------------------------------------- reduction
def legacy_reduction(size_average: bool | None, reduce: bool | None) -> str:
    """The ``reduction`` named by the deprecated ``size_average`` / ``reduce`` pair (with torch's warning)."""
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    name = "mean" if size_average and reduce else "sum" if reduce else "none"
    warnings.warn(
        f"size_average and reduce args will be deprecated, please use reduction='{name}' instead.", stacklevel=3
    )
    return name


def _reduction(size_average: bool | None, reduce: bool | None, reduction: str) -> str:
    if size_average is not None or reduce is not None:
        return legacy_reduction(size_average, reduce)
    if reduction == "elementwise_mean":
        warnings.warn("reduction='elementwise_mean' is deprecated. Please use reduction='mean' instead.", stacklevel=3)
        return "mean"
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _broadcast_shape(shape_a: tuple[int, ...], shape_b: tuple[int, ...]) -> tuple[int, ...]:
    """``np.broadcast_shapes`` with torch's message naming the first mismatching dimension."""
    try:
        return np.broadcast_shapes(shape_a, shape_b)
    except ValueError:
        ndim = max(len(shape_a), len(shape_b))
        padded_a = (1,) * (ndim - len(shape_a)) + tuple(shape_a)
        padded_b = (1,) * (ndim - len(shape_b)) + tuple(shape_b)
        for dim in reversed(range(ndim)):
            size_a, size_b = padded_a[dim], padded_b[dim]
            if size_a != size_b and 1 not in (size_a, size_b):
                raise RuntimeError(
                    f"The size of tensor a ({size_a}) must match the size of tensor b ({size_b}) "
                    f"at non-singleton dimension {dim}"
                ) from None
        raise


def _float_target(input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
    """Integer and boolean targets take the input's floating dtype (torch promotes them so)."""
    if target._array.dtype.kind in "biu" and input._array.dtype.kind == "f":
        return target.to(input.dtype)
    return target


# --------------------------------------------------------------------- derivative rules
class BinaryCrossEntropy(Function):
    """Elementwise −(y·max(log x, −100) + (1 − y)·max(log(1 − x), −100)) with torch's backward
    (x − y) / max(x(1 − x), 1e-12) for the input and −logit(x) for the target."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x, y)
        with np.errstate(divide="ignore"):
            log_x = np.maximum(np.log(x), -100)
            log_one_minus_x = np.maximum(np.log1p(-x), -100)
        return (y - 1) * log_one_minus_x - y * log_x

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        x, y = ctx.saved_tensors
        grad_x = grad_y = None
        if ctx.needs_input_grad[0]:
            # torch's EPSILON is the float32 constant 1e-12, also in double precision
            grad_x = grad * (x - y) / np.maximum((1 - x) * x, x.dtype.type(np.float32(1e-12)))
        if ctx.needs_input_grad[1]:
            with np.errstate(divide="ignore"):
                grad_y = -np.log(x / (1 - x)) * grad
        return grad_x, grad_y


class BinaryCrossEntropyWithLogits(Function):
    """Elementwise (1 − y)·x − (1 + (p − 1)·y)·log σ(x), log σ(x) = min(x, 0) − log1p(exp(−|x|));
    ``p`` is ``pos_weight`` (None for 1)."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, y: np.ndarray, pos_weight: np.ndarray | None) -> np.ndarray:
        log_sigmoid = np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))
        ctx.save_for_backward(x, y, pos_weight, log_sigmoid)
        if pos_weight is not None:
            log_sigmoid = log_sigmoid * ((pos_weight - 1) * y + 1)
        return (1 - y) * x - log_sigmoid

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        x, y, pos_weight, log_sigmoid = ctx.saved_tensors
        sigmoid = np.exp(log_sigmoid)
        grad_x = grad_y = None
        if ctx.needs_input_grad[0]:
            if pos_weight is None:
                grad_x = (sigmoid - y) * grad
            else:
                weighted_target = pos_weight * y
                grad_x = ((weighted_target + 1 - y) * sigmoid - weighted_target) * grad
        if ctx.needs_input_grad[1]:
            grad_y = -x if pos_weight is None else -x - (pos_weight - 1) * log_sigmoid
            grad_y = ops.unbroadcast(grad_y * grad, y.shape)
        return grad_x, grad_y, None


# --------------------------------------------------------------------- negative log-likelihood
def _class_dim(input: Tensor) -> int:  # noqa: A002
    return 0 if input.ndim == 1 else 1


def _check_class_targets(input: Tensor, target: Tensor, weight: Tensor | None) -> None:  # noqa: A002
    """torch's checks of ``nll_loss_nd`` on class-index targets, in torch's order."""
    if input.ndim < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {input.ndim})")
    if input.ndim != 1 and input.shape[0] != (target.shape[0] if target.ndim else None):
        batch = target.shape[0] if target.ndim else "()"
        raise ValueError(f"Expected input batch_size ({input.shape[0]}) to match target batch_size ({batch}).")
    if target._array.dtype not in (np.int64, np.uint8):
        raise RuntimeError(f"expected target dtype to be Long or Byte, but got {_type_name(target)}")
    if input.ndim <= 2:
        if target.ndim > 1:
            raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
        if not (input.ndim == 1 and target.ndim == 0) and input.shape[0] != target.shape[0]:
            raise RuntimeError(f"size mismatch (got input: {list(input.shape)}, target: {list(target.shape)})")
    elif input.ndim == 4:
        if target.ndim != 3:
            raise RuntimeError(
                "only batches of spatial targets supported (3D tensors) but got targets of dimension: "
                f"{target.ndim}"
            )
        if target.shape[1:] != input.shape[2:]:
            raise RuntimeError(f"size mismatch (got input: {list(input.shape)} , target: {list(target.shape)}")
    elif tuple(target.shape[1:]) != tuple(input.shape[2:]):
        expected = [input.shape[0], *input.shape[2:]]
        raise RuntimeError(f"Expected target size {expected}, got {list(target.shape)}")
    classes = input.shape[_class_dim(input)]
    if weight is not None and (weight.ndim != 1 or weight.numel() != classes):
        raise RuntimeError(
            f"weight tensor should be defined either for all {classes} classes or no classes but got "
            f"weight tensor of shape: {list(weight.shape)}"
        )


def _masked(values: Tensor, kept: np.ndarray) -> Tensor:
    """``values`` with zeros where ``kept`` is False; no gradient flows there (even an infinite one)."""
    return ops.Where.apply(kept, values, np.zeros((), dtype=values._array.dtype))


def _weighted_mean(total: Tensor, denominator: Any) -> Tensor:
    """``total / denominator``; NaN (as torch's 0/0) when every target was ignored or weighs 0."""
    if denominator == 0:
        return total * float("nan")
    return total / Tensor._wrap(np.asarray(denominator, dtype=total._array.dtype))


def _nll(log_probs: Tensor, target: np.ndarray, weight: Tensor | None, ignore_index: int, reduction: str) -> Tensor:
    """−weight[t]·log_probs[t] per element (0 where t == ignore_index); 'mean' divides by Σ weight[t]."""
    class_dim = _class_dim(log_probs)
    classes = log_probs.shape[class_dim]
    kept = target != ignore_index
    out_of_bounds = kept & ((target < 0) | (target >= classes))
    if out_of_bounds.any():
        raise IndexError(f"Target {int(target[out_of_bounds].flat[0])} is out of bounds.")
    safe_target = np.where(kept, target, 0).astype(np.int64)
    picked = ops.SelectAlongAxis.apply(log_probs, np.expand_dims(safe_target, class_dim), class_dim)
    picked = picked.reshape(target.shape)
    dtype = log_probs._array.dtype
    class_weight = np.ones(classes, dtype) if weight is None else weight._array.astype(dtype, copy=False)
    element_weight = np.where(kept, class_weight[safe_target], 0).astype(dtype)
    losses = _masked(-picked * Tensor._wrap(element_weight), kept)
    if reduction == "none":
        return losses
    total = losses.sum()
    if reduction == "sum":
        return total
    return _weighted_mean(total, element_weight.sum())


def nll_loss(
    input: Any,  # noqa: A002
    target: Any,
    weight: Any = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """The negative log likelihood loss: ``−weight[t]·input[n, t]`` for each target class ``t``.

    Args:
        input: log-probabilities (C), (N, C) or (N, C, d1, d2, ..., dK).
        target: class indices (int64 or uint8) in [0, C): (), (N) or (N, d1, ..., dK).
        weight: a rescaling weight per class, shape (C); default None.
        size_average, reduce: deprecated, use ``reduction``; default None.
        ignore_index: a target value that contributes nothing (nor to the mean's denominator); default -100.
        reduction: 'none' | 'mean' | 'sum'; 'mean' divides by the sum of the targets' weights. Default 'mean'.

    Shape:
        Output: scalar, or the target's shape for reduction='none'.
    """
    reduction = _reduction(size_average, reduce, reduction)
    input = as_input(input, "nll_loss", "input")  # noqa: A001
    target = as_input(target, "nll_loss", "target")
    weight = as_input(weight, "nll_loss", "weight", optional=True)
    _check_class_targets(input, target, weight)
    return _nll(input, target._array, weight, ignore_index, reduction)


def cross_entropy(
    input: Any,  # noqa: A002
    target: Any,
    weight: Any = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """The cross entropy between the softmax of ``input`` (unnormalised logits) and ``target``.

    Args:
        input: logits (C), (N, C) or (N, C, d1, d2, ..., dK).
        target: class indices (int64) with the input's shape minus the class dimension, or class
            probabilities (floating) with the input's shape.
        weight: a rescaling weight per class, shape (C); default None.
        size_average, reduce: deprecated, use ``reduction``; default None.
        ignore_index: a class-index target that contributes nothing (class indices only); default -100.
        reduction: 'none' | 'mean' | 'sum'; default 'mean'. With class indices 'mean' divides by the
            sum of the targets' weights, with probabilities by the number of elements N·d1···dK.
        label_smoothing: ε in [0, 1]; the target becomes (1 − ε)·target + ε / C. Default 0.0.

    Shape:
        Output: scalar, or (N, d1, ..., dK) (() for an unbatched input) for reduction='none'.

    Example:
        >>> cross_entropy(npconv.randn(3, 5, requires_grad=True), npconv.tensor([1, 0, 4])).backward()
    """
    reduction = _reduction(size_average, reduce, reduction)
    input = as_input(input, "cross_entropy", "input")  # noqa: A001
    target = as_input(target, "cross_entropy", "target")
    weight = as_input(weight, "cross_entropy", "weight", optional=True)
    class_dim = _class_dim(input)
    if input.shape == target.shape:
        if target._array.dtype.kind == "f" and ignore_index >= 0:
            raise RuntimeError("ignore_index is not supported for floating point target")
        return _cross_entropy_probabilities(input, target, weight, reduction, label_smoothing)
    _check_class_targets(input, target, weight)
    if label_smoothing > 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    log_probs = LogSoftmax.apply(input, class_dim)
    loss = _nll(log_probs, target._array, weight, ignore_index, reduction)
    if label_smoothing <= 0.0:
        return loss
    classes = input.shape[class_dim]
    summed = log_probs if weight is None else log_probs * _class_weight_view(weight, input)
    kept = target._array != ignore_index
    smooth = _masked(-summed.sum(class_dim), kept)
    if reduction == "mean":
        if weight is None:
            denominator = kept.sum()
        else:
            denominator = weight._array[target._array[kept].astype(np.int64)].sum()
        smooth = _weighted_mean(smooth.sum(), denominator)
    elif reduction == "sum":
        smooth = smooth.sum()
    return (1 - label_smoothing) * loss + smooth * (label_smoothing / classes)


def _class_weight_view(weight: Tensor, input: Tensor) -> Tensor:  # noqa: A002
    """``weight`` (C,) shaped to broadcast along the class dimension of ``input``."""
    if input.ndim == 1:
        return weight
    return weight.reshape(1, -1, *([1] * (input.ndim - 2)))


def _cross_entropy_probabilities(
    input: Tensor,  # noqa: A002
    target: Tensor,
    weight: Tensor | None,
    reduction: str,
    label_smoothing: float,
) -> Tensor:
    if target._array.dtype.kind != "f":
        raise RuntimeError(
            f"Expected floating point type for target with class probabilities, got {_type_name(target)}"
        )
    if input.ndim == 0:
        raise ValueError(f"Expected 1 or more dimensions (got {input.ndim})")
    class_dim = _class_dim(input)
    classes = input.shape[class_dim]
    if weight is not None and (weight.ndim != 1 or weight.numel() != classes):
        raise RuntimeError(
            f"cross_entropy: weight tensor should be defined either for all {classes} classes or no classes but "
            f"got weight tensor of shape: {list(weight.shape)}"
        )
    log_probs = LogSoftmax.apply(input, class_dim)
    if label_smoothing > 0.0:
        if label_smoothing > 1.0:
            raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
        target = target * (1 - label_smoothing) + label_smoothing / classes
    products = log_probs * target
    if weight is not None:
        products = products * _class_weight_view(weight, input)
    if reduction == "none":
        return -products.sum(class_dim)
    total = -products.sum()
    if reduction == "sum":
        return total
    count = input.numel() // classes if classes else 0
    if count == 0:
        return total * float("nan")
    return total / count


# --------------------------------------------------------------------- regression losses
def _pointwise_loss(
    op: str, input: Any, target: Any, reduction: str, weight: Any, error: Callable[[Tensor], Tensor]  # noqa: A002
) -> Tensor:
    """``error(input − target)`` per element (broadcast, with torch's warning, if the shapes differ),
    optionally weighted, reduced; a weighted 'mean' divides by the sum of the weights."""
    input = as_input(input, op, "input")  # noqa: A001
    target = as_input(target, op, "target")
    if target.shape != input.shape:
        warnings.warn(
            f"Using a target size ({target.shape}) that is different to the input size ({input.shape}). "
            "This will likely lead to incorrect results due to broadcasting. "
            "Please ensure they have the same size.",
            stacklevel=3,
        )
    _broadcast_shape(input.shape, target.shape)
    errors = error(input - _float_target(input, target))
    if weight is None:
        return _reduce(errors, reduction)
    weight = as_input(weight, op, "weight")
    if weight.shape != input.shape:
        raise ValueError("Weights and input must have the same size.")
    weighted = errors * weight
    if reduction == "none":
        return weighted
    if reduction == "sum":
        return weighted.sum()
    return weighted.sum() / weight.sum()


def mse_loss(
    input: Any,  # noqa: A002
    target: Any,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    weight: Any = None,
) -> Tensor:
    """The squared error (input − target)², reduced.

    Args:
        input, target: tensors of the same shape (broadcast, with torch's warning, if not).
        size_average, reduce: deprecated, use ``reduction``; default None.
        reduction: 'none' | 'mean' | 'sum'; default 'mean'.
        weight: per-element weights of the input's shape; 'mean' then divides by their sum. Default None.

    Shape:
        Output: scalar, or the broadcast shape for reduction='none'.
    """
    reduction = _reduction(size_average, reduce, reduction)
    return _pointwise_loss("mse_loss", input, target, reduction, weight, lambda difference: difference * difference)


def l1_loss(
    input: Any,  # noqa: A002
    target: Any,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    weight: Any = None,
) -> Tensor:
    """The absolute error |input − target|, reduced (the gradient at 0 is 0, as in torch).

    Args:
        input, target: tensors of the same shape (broadcast, with torch's warning, if not).
        size_average, reduce: deprecated, use ``reduction``; default None.
        reduction: 'none' | 'mean' | 'sum'; default 'mean'.
        weight: per-element weights of the input's shape; 'mean' then divides by their sum. Default None.

    Shape:
        Output: scalar, or the broadcast shape for reduction='none'.
    """
    reduction = _reduction(size_average, reduce, reduction)
    return _pointwise_loss("l1_loss", input, target, reduction, weight, Tensor.abs)


# --------------------------------------------------------------------- binary cross entropy
def _check_not_differentiable(op: str, **weights: Tensor | None) -> None:
    """torch has no derivative for these losses' weights: a weight that requires grad is an error."""
    for name, weight in weights.items():
        if weight is not None and weight.requires_grad and is_grad_enabled():
            raise RuntimeError(
                f"The function '{op}' is not differentiable with respect to argument '{name}'. "
                "This input cannot have requires_grad True."
            )


def _check_weight_expands(weight_shape: tuple[int, ...], target_shape: tuple[int, ...]) -> None:
    """``weight.expand(broadcast_shapes(target, weight))`` must keep the target's shape, as in torch."""
    for dim in range(-1, -min(len(weight_shape), len(target_shape)) - 1, -1):
        if weight_shape[dim] not in (1, target_shape[dim]) and target_shape[dim] != 1:
            raise RuntimeError(
                f"Attempting to broadcast a dimension of length {weight_shape[dim]} at {dim}! Mismatching "
                f"argument at index 1 had {weight_shape}; but expected shape should be broadcastable to "
                f"{list(target_shape)}"
            )
    expanded = np.broadcast_shapes(weight_shape, target_shape)
    if expanded != tuple(target_shape):
        raise RuntimeError(f"output with shape {list(target_shape)} doesn't match the broadcast shape {list(expanded)}")


def binary_cross_entropy(
    input: Any,  # noqa: A002
    target: Any,
    weight: Any = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """The binary cross entropy −w·(y·log x + (1 − y)·log(1 − x)) of probabilities ``input``.

    Each logarithm is clamped at −100 (as torch does), so the loss stays finite at x = 0 or 1.

    Args:
        input: probabilities in [0, 1], any shape.  target: the same shape, values in [0, 1].
        weight: a rescaling weight broadcastable to the target's shape; default None.
        size_average, reduce: deprecated, use ``reduction``; default None.
        reduction: 'none' | 'mean' | 'sum'; default 'mean'.

    Shape:
        Output: scalar, or the input's shape for reduction='none'.
    """
    reduction = _reduction(size_average, reduce, reduction)
    input = as_input(input, "binary_cross_entropy", "input")  # noqa: A001
    target = as_input(target, "binary_cross_entropy", "target")
    if target.shape != input.shape:
        raise ValueError(
            f"Using a target size ({target.shape}) that is different to the input size ({input.shape}) is "
            "deprecated. Please ensure they have the same size."
        )
    if weight is not None:
        weight = as_input(weight, "binary_cross_entropy", "weight")
        _check_weight_expands(weight.shape, target.shape)
    for tensor in (target, weight):
        if tensor is not None and tensor._array.dtype != input._array.dtype:
            raise RuntimeError(
                f"Found dtype {_type_name(tensor)} but expected {_type_name(input)}"
            )
    x, y = input._array, target._array
    if not np.all((x >= 0) & (x <= 1)):
        raise RuntimeError("all elements of input should be between 0 and 1")
    if not np.all((y >= 0) & (y <= 1)):
        raise RuntimeError("all elements of target should be between 0 and 1")
    _check_not_differentiable("binary_cross_entropy", weight=weight)
    loss = BinaryCrossEntropy.apply(input, target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(
    input: Any,  # noqa: A002
    target: Any,
    weight: Any = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    pos_weight: Any = None,
) -> Tensor:
    """The binary cross entropy of σ(input), computed stably from the logits.

    ℓ = −w·(p·y·log σ(x) + (1 − y)·log(1 − σ(x))), with log σ(x) = min(x, 0) − log(1 + exp(−|x|)).

    Args:
        input: logits, any shape.  target: the same shape, values usually in [0, 1].
        weight: a rescaling weight broadcastable to the input's shape; default None.
        size_average, reduce: deprecated, use ``reduction``; default None.
        reduction: 'none' | 'mean' | 'sum'; default 'mean'.
        pos_weight: the weight p of positive examples, broadcast along the last dimension (one per
            class); default None.

    Shape:
        Output: scalar, or the input's shape for reduction='none'.
    """
    reduction = _reduction(size_average, reduce, reduction)
    op = "binary_cross_entropy_with_logits"
    input = as_input(input, op, "input")  # noqa: A001
    target = as_input(target, op, "target")
    weight = as_input(weight, op, "weight", optional=True)
    pos_weight = as_input(pos_weight, op, "pos_weight", optional=True)
    if target.shape != input.shape:
        raise ValueError(f"Target size ({target.shape}) must be the same as input size ({input.shape})")
    for extra in (pos_weight, weight):
        if extra is not None and _broadcast_shape(extra.shape, target.shape) != tuple(target.shape):
            raise RuntimeError(
                f"output with shape {list(target.shape)} doesn't match the broadcast shape "
                f"{list(np.broadcast_shapes(extra.shape, target.shape))}"
            )
    _check_not_differentiable(op, weight=weight, pos_weight=pos_weight)
    target = _float_target(input, target)
    loss = BinaryCrossEntropyWithLogits.apply(input, target, pos_weight)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)
