"""Reverse-mode automatic differentiation: ``Function``, the graph it records, and the backward pass.

A differentiable operation is a ``Function`` subclass with two static methods working on NumPy arrays:

    forward(ctx, *args) -> ndarray          # Tensor arguments arrive as their arrays
    backward(ctx, grad_output) -> tuple     # one gradient (ndarray or None) per forward argument

``Function.apply`` unwraps Tensors, runs ``forward`` and, when gradients are wanted, records a ``Node`` on
the result. ``backward`` walks the recorded graph in reverse topological order (sorted iteratively, so deep
graphs do not hit Python's recursion limit) and accumulates with ``+``: a tensor used twice receives both
contributions, and a leaf's ``.grad`` accumulates across calls as in torch.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .tensor import Tensor

_grad_enabled = True


def is_grad_enabled() -> bool:
    """Whether operations are being recorded for backward."""
    return _grad_enabled


class set_grad_enabled:  # noqa: N801 - torch's name
    """Context manager and decorator that turns graph recording on or off."""

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self.previous = _grad_enabled
        _set(self.mode)

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        _set(self.previous)

    def __call__(self, function: Callable) -> Callable:
        _set(self.previous)

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with set_grad_enabled(self.mode):
                return function(*args, **kwargs)

        return wrapper


class no_grad:  # noqa: N801 - torch's name
    """Disable graph recording, as a context manager (``with no_grad():``) or a decorator (``@no_grad()``
    or ``@no_grad``)."""

    mode = False

    def __new__(cls, function: Callable | None = None) -> Any:
        instance = super().__new__(cls)
        return instance if function is None else instance(function)

    def __init__(self, function: Callable | None = None) -> None:
        pass

    def __enter__(self) -> None:
        self.previous = _grad_enabled
        _set(self.mode)

    def __exit__(self, *exc: object) -> None:
        _set(self.previous)

    def __call__(self, function: Callable) -> Callable:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self.__class__():
                return function(*args, **kwargs)

        return wrapper


class enable_grad(no_grad):  # noqa: N801 - torch's name
    """Re-enable graph recording inside a ``no_grad`` block."""

    mode = True


def _set(mode: bool) -> None:
    global _grad_enabled
    _grad_enabled = mode


class Context:
    """What ``forward`` leaves for ``backward``: saved arrays plus any attributes it sets."""

    def __init__(self, needs_input_grad: tuple[bool, ...]) -> None:
        self.needs_input_grad = needs_input_grad
        self.saved_tensors: tuple = ()

    def save_for_backward(self, *arrays: Any) -> None:
        self.saved_tensors = arrays


class Node:
    """A recorded operation: the function, its context and the Tensors it was applied to."""

    __slots__ = ("function", "ctx", "inputs")

    def __init__(self, function: type[Function], ctx: Context, inputs: tuple[Tensor | None, ...]) -> None:
        self.function = function
        self.ctx = ctx
        self.inputs = inputs

    def name(self) -> str:
        return f"{self.function.__name__}Backward0"  # torch numbers its overloads; most reprs show 0

    def __repr__(self) -> str:
        return f"<{self.name()}>"


class Function:
    """Base class of differentiable operations; subclasses define ``forward`` and ``backward``."""

    # True when every array ``backward`` returns is newly allocated and referenced nowhere else: a leaf
    # whose ``.grad`` is None then keeps that array as its gradient instead of a copy (as torch keeps a
    # gradient buffer that nothing else holds). Otherwise the leaf gets a copy, since a gradient may be the
    # upstream gradient itself or a view of it.
    fresh_gradients = False

    @staticmethod
    def forward(ctx: Context, *args: Any) -> np.ndarray:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, grad_output: np.ndarray) -> tuple[np.ndarray | None, ...]:
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any) -> Tensor:
        tensor_type = _tensor_type()
        tensors, arrays, needs = [], [], []
        for a in args:
            if isinstance(a, tensor_type):
                tensors.append(a)
                arrays.append(a._array)
                needs.append(a._requires_grad)
            else:
                tensors.append(None)
                arrays.append(a)
                needs.append(False)
        # with gradients off nothing will run backward: forwards skip what only the backward would use
        ctx = Context(tuple(needs) if _grad_enabled else (False,) * len(needs))
        out = tensor_type._wrap(cls.forward(ctx, *arrays))
        if _grad_enabled and True in needs:
            out.requires_grad = True
            out._node = Node(cls, ctx, tuple(tensors))
        return out


_tensor_class: type | None = None


def _tensor_type() -> type[Tensor]:
    """npconv.Tensor, imported on first use (tensor.py imports this module)."""
    global _tensor_class
    if _tensor_class is None:
        from .tensor import Tensor

        _tensor_class = Tensor
    return _tensor_class


def run_backward(root: Tensor, grad: np.ndarray) -> None:
    """Propagate ``grad`` (d loss / d root) to every leaf that requires grad."""
    order = _reverse_topological_order(root)
    pending: dict[int, np.ndarray] = {id(root): grad}
    for tensor in order:
        grad_output = pending.pop(id(tensor), None)
        if grad_output is None:
            continue
        if tensor._retains_grad:
            _accumulate_into_grad(tensor, grad_output)
        node = tensor._node
        input_grads = node.function.backward(node.ctx, grad_output)
        if len(input_grads) != len(node.inputs):
            raise RuntimeError(
                f"{node.name()} returned {len(input_grads)} gradients for {len(node.inputs)} inputs"
            )
        for parent, parent_grad in zip(node.inputs, input_grads):
            if parent is None or parent_grad is None or not parent.requires_grad:
                continue
            if parent_grad.shape != parent.shape:
                raise RuntimeError(
                    f"{node.name()} returned a gradient of shape {list(parent_grad.shape)} "
                    f"for an input of shape {list(parent.shape)}"
                )
            if parent._node is None:
                _accumulate_into_grad(parent, parent_grad, fresh=node.function.fresh_gradients)
            elif id(parent) in pending:
                pending[id(parent)] = pending[id(parent)] + parent_grad
            else:
                pending[id(parent)] = parent_grad


def _reverse_topological_order(root: Tensor) -> list[Tensor]:
    """Non-leaf tensors reachable from ``root``, each after every tensor that consumes it."""
    order: list[Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        tensor, children_done = stack.pop()
        if children_done:
            order.append(tensor)
            continue
        if id(tensor) in visited:
            continue
        visited.add(id(tensor))
        stack.append((tensor, True))
        for parent in tensor._node.inputs:
            if parent is not None and parent._node is not None and id(parent) not in visited:
                stack.append((parent, False))
    order.reverse()
    return order


def _accumulate_into_grad(tensor: Tensor, grad: np.ndarray, fresh: bool = False) -> None:
    """Add ``grad`` to ``tensor.grad`` (a new array each time, so that a ``.grad`` someone holds is never
    changed behind their back). ``fresh``: ``grad`` is referenced nowhere else and may become ``.grad``."""
    from .tensor import Tensor

    grad = np.asarray(grad, dtype=tensor._array.dtype)
    if tensor.grad is None:
        fresh = fresh and grad.flags.c_contiguous and grad.flags.writeable
        tensor.grad = Tensor._wrap(grad if fresh else np.array(grad, copy=True))
    else:
        tensor.grad._array = tensor.grad._array + grad
