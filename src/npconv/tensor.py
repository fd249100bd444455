"""``Tensor``: an ndarray with reverse-mode autograd, and ``Size``, the tuple its ``shape`` returns."""

from __future__ import annotations

import builtins
import math
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np

from . import autograd, ops
from . import dtypes as _dtypes
from .random import Generator, rng, uniform_samples

DEFAULT_FLOAT = np.dtype(np.float32)


class Size(tuple):
    """A tensor's shape: a tuple of ints that prints as ``npconv.Size([...])``."""

    def __repr__(self) -> str:
        return f"npconv.Size({list(self)})"

    __str__ = __repr__

    def __getitem__(self, index: Any) -> Any:
        item = super().__getitem__(index)
        return Size(item) if isinstance(index, slice) else item

    def __add__(self, other: Any) -> Size:
        return Size(tuple(self) + tuple(other))

    def __radd__(self, other: Any) -> Size:
        return Size(tuple(other) + tuple(self))

    def __mul__(self, count: Any) -> Size:
        return Size(tuple(self) * count)

    __rmul__ = __mul__

    def numel(self) -> int:
        return math.prod(self)


class MaxResult(NamedTuple):
    values: Tensor
    indices: Tensor


def _as_shape(size: Sequence[Any]) -> tuple[int, ...]:
    """Accept ``f(2, 3)``, ``f((2, 3))`` and ``f([2, 3])`` alike."""
    if len(size) == 1 and isinstance(size[0], (tuple, list, Size)):
        size = tuple(size[0])
    for extent in size:
        if isinstance(extent, builtins.bool) or not isinstance(extent, (int, np.integer)):
            raise TypeError(f"size must be a sequence of ints, but got {tuple(size)!r}")
        if extent < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {extent}: {list(size)}")
    return tuple(int(extent) for extent in size)


def _normalize_dim(dim: int, ndim: int) -> int:
    bound = builtins.max(ndim, 1)
    if not -bound <= dim < bound:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-bound}, {bound - 1}], but got {dim})"
        )
    return dim % bound


def _normalize_dims(dim: int | Sequence[int] | None, ndim: int) -> tuple[int, ...] | None:
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    return tuple(_normalize_dim(int(d), ndim) for d in dims) if ndim else ()


def _unwrap(value: Any) -> Any:
    return value._array if isinstance(value, Tensor) else value


class Tensor:
    """A multi-dimensional array that can record the operations applied to it and differentiate them.

    ``Tensor(data)`` copies ``data`` like ``npconv.tensor``; ``npconv.from_numpy`` shares memory instead.
    """

    __array_priority__ = 1000

    def __init__(self, data: Any = (), dtype: Any = None, requires_grad: builtins.bool = False) -> None:
        self._start(_array_from_data(data, dtype), requires_grad)

    def _start(self, array: np.ndarray, requires_grad: builtins.bool = False) -> None:
        """Set every field of a new tensor around ``array`` (no copy): a leaf with no gradient yet."""
        self._array = array
        self._node: autograd.Node | None = None
        self._requires_grad = False
        self._retains_grad = False
        self.grad: Tensor | None = None
        if requires_grad:
            self.requires_grad = True

    @classmethod
    def _wrap(cls, array: np.ndarray) -> Tensor:
        """A Tensor around ``array`` without copying it (0-d results stay 0-d arrays)."""
        tensor = cls.__new__(cls)
        tensor._start(array if isinstance(array, np.ndarray) else np.asarray(array))
        return tensor

    # ----------------------------------------------------------------- attributes
    @property
    def shape(self) -> Size:
        return Size(self._array.shape)

    def size(self, dim: int | None = None) -> Size | int:
        if dim is None:
            return self.shape
        return self._array.shape[_normalize_dim(dim, self.ndim)]

    @property
    def ndim(self) -> int:
        return self._array.ndim

    def dim(self) -> int:
        return self._array.ndim

    def numel(self) -> int:
        return int(self._array.size)

    nelement = numel

    @property
    def dtype(self) -> _dtypes.dtype:
        return _dtypes.from_numpy_dtype(self._array.dtype)

    @property
    def device(self) -> str:
        return "cpu"

    @property
    def is_leaf(self) -> builtins.bool:
        return self._node is None

    @property
    def grad_fn(self) -> autograd.Node | None:
        return self._node

    def is_floating_point(self) -> builtins.bool:
        return self._array.dtype.kind == "f"

    def is_complex(self) -> builtins.bool:
        return self._array.dtype.kind == "c"

    def element_size(self) -> int:
        return self._array.itemsize

    @property
    def requires_grad(self) -> builtins.bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: builtins.bool) -> None:
        if value and self._array.dtype.kind not in "fc":
            raise RuntimeError("only Tensors of floating point and complex dtype can require gradients")
        if not value and self._node is not None:
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables. If you want to use a computed "
                "variable in a subgraph that doesn't require differentiation use var_no_grad = var.detach()."
            )
        self._requires_grad = builtins.bool(value)

    def requires_grad_(self, requires_grad: builtins.bool = True) -> Tensor:
        self.requires_grad = requires_grad
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor during backward."""
        if self._node is not None:
            self._retains_grad = True

    @property
    def data(self) -> Tensor:
        """The same values, detached from the graph; assigning replaces the values without autograd."""
        return Tensor._wrap(self._array)

    @data.setter
    def data(self, value: Any) -> None:
        self._array = value._array if isinstance(value, Tensor) else _array_from_data(value, None)

    @property
    def T(self) -> Tensor:  # noqa: N802 - torch's name
        return self.permute(*reversed(range(self.ndim)))

    # ----------------------------------------------------------------- conversion
    def numpy(self) -> np.ndarray:
        """The underlying ndarray (shares memory)."""
        if self._requires_grad:
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead."
            )
        return self._array

    def __array__(self, dtype: Any = None, copy: builtins.bool | None = None) -> np.ndarray:
        if dtype is not None and np.dtype(dtype) != self._array.dtype:
            return self._array.astype(dtype)
        return self._array.copy() if copy else self._array

    def __dlpack__(self, *args: Any, **kwargs: Any) -> Any:
        return self._array.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self) -> tuple[int, int]:
        return self._array.__dlpack_device__()

    def to_torch(self) -> Any:
        """A ``torch.Tensor`` sharing this tensor's memory (needs torch installed)."""
        from .io import to_torch

        return to_torch(self)

    def item(self) -> builtins.float | int | builtins.bool | complex:
        if self._array.size != 1:
            raise RuntimeError(
                f"a Tensor with {self._array.size} elements cannot be converted to Scalar"
            )
        return self._array.reshape(()).item()

    def tolist(self) -> Any:
        return self._array.tolist()

    def __float__(self) -> builtins.float:
        return builtins.float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> builtins.bool:
        if self._array.size != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return builtins.bool(self.item())

    def __index__(self) -> int:
        if self._array.dtype.kind not in "iub" or self._array.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._array.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self)))

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return _format_tensor(self)

    # ----------------------------------------------------------------- autograd
    def backward(self, gradient: Any = None, retain_graph: Any = None, create_graph: Any = False) -> None:
        """Accumulate d(self)/d(leaf) · gradient into every leaf's ``.grad``."""
        if not self._requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
        if gradient is None:
            if self._array.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            seed = np.ones_like(self._array)
        else:
            seed = np.asarray(_unwrap(gradient), dtype=self._array.dtype)
            if seed.shape != self._array.shape:
                raise RuntimeError(
                    f"Mismatch in shape: grad_output[0] has a shape of {Size(seed.shape)} and output[0] has "
                    f"a shape of {self.shape}."
                )
        if self._node is None:
            autograd._accumulate_into_grad(self, seed)
        else:
            autograd.run_backward(self, seed)

    def detach(self) -> Tensor:
        return Tensor._wrap(self._array)

    def detach_(self) -> Tensor:
        self._node = None
        self._requires_grad = False
        return self

    def clone(self) -> Tensor:
        return ops.Clone.apply(self, "K")

    def contiguous(self) -> Tensor:
        if self._array.flags.c_contiguous:
            return self
        return ops.Clone.apply(self, "C")

    def is_contiguous(self) -> builtins.bool:
        return builtins.bool(self._array.flags.c_contiguous)

    # ----------------------------------------------------------------- in place
    def _check_inplace(self) -> None:
        if self._requires_grad and self._node is None and autograd.is_grad_enabled():
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")

    def _assign(self, values: Any) -> Tensor:
        self._check_inplace()
        self._array[...] = values
        return self

    def zero_(self) -> Tensor:
        return self._assign(0)

    def fill_(self, value: Any) -> Tensor:
        return self._assign(_unwrap(value))

    def copy_(self, src: Any) -> Tensor:
        src_array = np.asarray(_unwrap(src))
        try:
            np.broadcast_to(src_array, self._array.shape)
        except ValueError:
            raise RuntimeError(
                f"The size of tensor a ({list(self.shape)}) must match the size of tensor b "
                f"({list(src_array.shape)}) for copy_"
            ) from None
        return self._assign(src_array)

    def uniform_(self, a: builtins.float = 0.0, b: builtins.float = 1.0, generator: Generator | None = None) -> Tensor:
        return self._assign(uniform_samples(generator, a, b, self._array.shape, self._array.dtype))

    def normal_(self, mean: builtins.float = 0.0, std: builtins.float = 1.0, generator: Generator | None = None) -> Tensor:
        return self._assign(rng(generator).normal(mean, std, self._array.shape))

    def _check_inplace_result(self, other: Any, true_division: builtins.bool = False) -> None:
        """torch refuses an in-place result it cannot store: float into an integer tensor, complex into
        a real one, numbers into a bool one."""
        operand = _as_tensor(other) if isinstance(other, (np.ndarray, list, tuple)) else other
        dtype = result_dtype(self, operand)
        if true_division and dtype.kind in "biu":
            dtype = DEFAULT_FLOAT
        if _category(dtype) > _category(self._array.dtype):
            raise RuntimeError(
                f"result type {_dtypes.scalar_type_name(dtype)} can't be cast to the desired output type "
                f"{_dtypes.scalar_type_name(self._array.dtype)}"
            )

    def add_(self, other: Any, alpha: builtins.float = 1) -> Tensor:
        self._check_inplace_result(other)
        return self._assign(self._array + alpha * np.asarray(_unwrap(other)))

    def sub_(self, other: Any, alpha: builtins.float = 1) -> Tensor:
        self._check_inplace_result(other)
        return self._assign(self._array - alpha * np.asarray(_unwrap(other)))

    def mul_(self, other: Any) -> Tensor:
        self._check_inplace_result(other)
        return self._assign(self._array * np.asarray(_unwrap(other)))

    def div_(self, other: Any) -> Tensor:
        self._check_inplace_result(other, true_division=True)
        return self._assign(self._array / np.asarray(_unwrap(other)))

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
        if min is None and max is None:
            raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
        for bound in (min, max):
            if bound is not None:
                self._check_inplace_result(bound)
        return self._assign(ops.clamp_values(self._array, _unwrap(min), _unwrap(max)))

    def __setitem__(self, index: Any, value: Any) -> None:
        """``t[index] = value``; inside a recorded graph (or with a value that requires grad) the write
        is recorded, so gradients skip the overwritten positions and reach ``value``, as in torch."""
        self._check_inplace()
        index = _unwrap_index(index)
        recorded = self._node is not None or (isinstance(value, Tensor) and value._requires_grad)
        if not (recorded and autograd.is_grad_enabled()):
            self._array[index] = _unwrap(value)
            return
        previous = Tensor._wrap(self._array)  # the old version keeps the old node (and any saved array)
        previous._node, previous._requires_grad = self._node, self._requires_grad
        if isinstance(value, Tensor) and value._array.dtype != self._array.dtype:
            value = value.to(self.dtype)
        written = ops.SetItem.apply(previous, value, index)
        self._array, self._node, self._requires_grad = written._array, written._node, written._requires_grad

    # ----------------------------------------------------------------- dtype
    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """``to(dtype)``, ``to('cpu')`` or ``to(other_tensor)``; a no-op when nothing changes."""
        target = kwargs.get("dtype")
        for arg in args:
            if isinstance(arg, Tensor):
                target = arg.dtype
            elif isinstance(arg, (_dtypes.dtype, np.dtype, type)):
                target = arg
            elif arg not in ("cpu", None):
                raise RuntimeError(f"npconv runs on the CPU only, but got device {arg!r}")
        if target is None:
            return self
        numpy_dtype = _dtypes.to_numpy_dtype(target)
        if numpy_dtype == self._array.dtype:
            return self
        return ops.Cast.apply(self, numpy_dtype)

    def type(self, dtype: Any) -> Tensor:
        return self.to(dtype)

    def type_as(self, other: Tensor) -> Tensor:
        return self.to(other.dtype)

    def float(self) -> Tensor:
        return self.to(_dtypes.float32)

    def double(self) -> Tensor:
        return self.to(_dtypes.float64)

    def half(self) -> Tensor:
        return self.to(_dtypes.float16)

    def long(self) -> Tensor:
        return self.to(_dtypes.int64)

    def int(self) -> Tensor:
        return self.to(_dtypes.int32)

    def bool(self) -> Tensor:
        return self.to(_dtypes.bool)

    def cpu(self) -> Tensor:
        return self

    # ----------------------------------------------------------------- arithmetic
    def _binary(self, function: type[autograd.Function], other: Any, reverse: builtins.bool = False) -> Tensor:
        left, right = (other, self) if reverse else (self, other)
        left, right, dtype = _promote_operands(left, right, function)
        out = function.apply(left, right)
        if dtype is not None and out._array.dtype != dtype:  # NumPy's power of bools gives int8
            out = out.to(_dtypes.from_numpy_dtype(dtype))
        return out

    def __add__(self, other: Any) -> Tensor:
        return self._binary(ops.Add, other)

    def __radd__(self, other: Any) -> Tensor:
        return self._binary(ops.Add, other, reverse=True)

    def __sub__(self, other: Any) -> Tensor:
        return self._binary(ops.Sub, other)

    def __rsub__(self, other: Any) -> Tensor:
        return self._binary(ops.Sub, other, reverse=True)

    def __mul__(self, other: Any) -> Tensor:
        return self._binary(ops.Mul, other)

    def __rmul__(self, other: Any) -> Tensor:
        return self._binary(ops.Mul, other, reverse=True)

    def __truediv__(self, other: Any) -> Tensor:
        return self._binary(ops.Div, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return self._binary(ops.Div, other, reverse=True)

    def __pow__(self, other: Any) -> Tensor:
        return self._binary(ops.Pow, other)

    def __rpow__(self, other: Any) -> Tensor:
        return self._binary(ops.Pow, other, reverse=True)

    def __matmul__(self, other: Any) -> Tensor:
        return ops.MatMul.apply(self, _as_tensor(other))

    def __rmatmul__(self, other: Any) -> Tensor:
        return ops.MatMul.apply(_as_tensor(other), self)

    def __neg__(self) -> Tensor:
        if self._array.dtype == np.bool_:
            raise RuntimeError(
                "Negation, the `-` operator, on a bool tensor is not supported. If you are trying to invert a "
                "mask, use the `~` or `logical_not()` operator instead."
            )
        return ops.Neg.apply(self)

    def __pos__(self) -> Tensor:
        return self

    # ``x += y`` works in place, as in torch: on any tensor under no_grad (``w -= lr * w.grad``), on
    # tensors outside the graph, and a leaf that requires grad raises. A tensor inside a recorded graph
    # gets a new node instead (the name is rebound to the result).
    def _in_place(self) -> builtins.bool:
        return self._node is None or not autograd.is_grad_enabled()

    def __iadd__(self, other: Any) -> Tensor:
        return self.add_(other) if self._in_place() else self + other

    def __isub__(self, other: Any) -> Tensor:
        return self.sub_(other) if self._in_place() else self - other

    def __imul__(self, other: Any) -> Tensor:
        return self.mul_(other) if self._in_place() else self * other

    def __itruediv__(self, other: Any) -> Tensor:
        return self.div_(other) if self._in_place() else self / other

    add, sub, mul, div, pow, matmul = __add__, __sub__, __mul__, __truediv__, __pow__, __matmul__
    multiply, divide, subtract = __mul__, __truediv__, __sub__

    def neg(self) -> Tensor:
        return -self

    # comparisons give boolean tensors outside the graph
    def _compare(self, function: Any, other: Any) -> Tensor:
        return Tensor._wrap(np.asarray(function(self._array, _unwrap(other))))

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._compare(np.equal, other)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._compare(np.not_equal, other)

    def __lt__(self, other: Any) -> Tensor:
        return self._compare(np.less, other)

    def __le__(self, other: Any) -> Tensor:
        return self._compare(np.less_equal, other)

    def __gt__(self, other: Any) -> Tensor:
        return self._compare(np.greater, other)

    def __ge__(self, other: Any) -> Tensor:
        return self._compare(np.greater_equal, other)

    def __invert__(self) -> Tensor:
        return Tensor._wrap(np.invert(self._array))

    def __and__(self, other: Any) -> Tensor:
        return self._compare(np.bitwise_and, other)

    def __or__(self, other: Any) -> Tensor:
        return self._compare(np.bitwise_or, other)

    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__

    def equal(self, other: Tensor) -> builtins.bool:
        return self.shape == other.shape and builtins.bool(np.array_equal(self._array, other._array))

    def allclose(self, other: Any, rtol: builtins.float = 1e-5, atol: builtins.float = 1e-8) -> builtins.bool:
        return builtins.bool(np.allclose(self._array, _unwrap(other), rtol=rtol, atol=atol))

    # ----------------------------------------------------------------- reductions
    def sum(self, dim: int | Sequence[int] | None = None, keepdim: builtins.bool = False, dtype: Any = None) -> Tensor:
        source = self if dtype is None else self.to(dtype)
        if source._array.dtype.kind in "bui" and source._array.dtype != np.int64:
            source = source.to(_dtypes.int64)
        return ops.Sum.apply(source, _normalize_dims(dim, self.ndim) or None, keepdim)  # dim=() is all dims

    def mean(self, dim: int | Sequence[int] | None = None, keepdim: builtins.bool = False, dtype: Any = None) -> Tensor:
        source = self if dtype is None else self.to(dtype)
        if source._array.dtype.kind not in "fc":
            raise RuntimeError(
                "mean(): could not infer output dtype. Input dtype must be either a floating point or "
                f"complex dtype. Got: {source.dtype.name.capitalize()}"
            )
        return ops.Mean.apply(source, _normalize_dims(dim, self.ndim) or None, keepdim)  # dim=() is all dims

    def var(self, dim: int | Sequence[int] | None = None, unbiased: builtins.bool = True, keepdim: builtins.bool = False, correction: int | None = None) -> Tensor:
        dims = _normalize_dims(dim, self.ndim)
        count = self.numel() if dims is None else math.prod(self.shape[d] for d in dims)
        ddof = correction if correction is not None else (1 if unbiased else 0)
        centered = self - self.mean(dims, keepdim=True)
        return (centered * centered).sum(dims, keepdim=keepdim) / builtins.max(count - ddof, 0)

    def std(self, dim: int | Sequence[int] | None = None, unbiased: builtins.bool = True, keepdim: builtins.bool = False, correction: int | None = None) -> Tensor:
        return self.var(dim, unbiased, keepdim, correction).sqrt()

    def _reduce_extreme(self, dim: int | None, keepdim: builtins.bool, use_min: builtins.bool) -> Tensor | MaxResult:
        if dim is None:
            if self.numel() == 0:
                raise RuntimeError(
                    "max(): Expected reduction dim to be specified for input.numel() == 0. "
                    "Specify the reduction dim with the 'dim' argument."
                )
            return ops.ReduceMax.apply(self, None, False, use_min)
        axis = _normalize_dim(dim, self.ndim)
        pick = np.argmin if use_min else np.argmax
        indices = np.expand_dims(pick(self._array, axis=axis), axis)
        values = ops.SelectAlongAxis.apply(self, indices, axis)
        if not keepdim:
            values = values.squeeze(axis)
            indices = np.squeeze(indices, axis)
        return MaxResult(values, Tensor._wrap(indices.astype(np.int64)))

    def max(self, dim: Any = None, keepdim: builtins.bool = False) -> Any:
        if isinstance(dim, Tensor):
            return ops.ElementwiseExtreme.apply(self, dim, False)
        return self._reduce_extreme(dim, keepdim, use_min=False)

    def min(self, dim: Any = None, keepdim: builtins.bool = False) -> Any:
        if isinstance(dim, Tensor):
            return ops.ElementwiseExtreme.apply(self, dim, True)
        return self._reduce_extreme(dim, keepdim, use_min=True)

    def amax(self, dim: int | Sequence[int] = (), keepdim: builtins.bool = False) -> Tensor:
        dims = _normalize_dims(dim, self.ndim) or None
        return ops.ReduceMax.apply(self, dims, keepdim, False)

    def amin(self, dim: int | Sequence[int] = (), keepdim: builtins.bool = False) -> Tensor:
        dims = _normalize_dims(dim, self.ndim) or None
        return ops.ReduceMax.apply(self, dims, keepdim, True)

    def argmax(self, dim: int | None = None, keepdim: builtins.bool = False) -> Tensor:
        if dim is None:
            return Tensor._wrap(np.asarray(np.argmax(self._array), dtype=np.int64))
        axis = _normalize_dim(dim, self.ndim)
        return Tensor._wrap(np.argmax(self._array, axis=axis, keepdims=keepdim).astype(np.int64))

    def argmin(self, dim: int | None = None, keepdim: builtins.bool = False) -> Tensor:
        if dim is None:
            return Tensor._wrap(np.asarray(np.argmin(self._array), dtype=np.int64))
        axis = _normalize_dim(dim, self.ndim)
        return Tensor._wrap(np.argmin(self._array, axis=axis, keepdims=keepdim).astype(np.int64))

    # ----------------------------------------------------------------- elementwise
    def exp(self) -> Tensor:
        return ops.Exp.apply(_floating(self))

    def log(self) -> Tensor:
        return ops.Log.apply(_floating(self))

    def sqrt(self) -> Tensor:
        return ops.Sqrt.apply(_floating(self))

    def rsqrt(self) -> Tensor:
        return 1 / self.sqrt()

    def abs(self) -> Tensor:
        return ops.Abs.apply(self)

    def tanh(self) -> Tensor:
        return ops.Tanh.apply(_floating(self))

    def sigmoid(self) -> Tensor:
        return ops.Sigmoid.apply(_floating(self))

    def relu(self) -> Tensor:
        from .nn import functional

        return functional.relu(self)

    def clamp(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
        if min is None and max is None:
            raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
        dtype = result_dtype(self, *(bound for bound in (min, max) if bound is not None))
        source = self if dtype == self._array.dtype else self.to(_dtypes.from_numpy_dtype(dtype))
        return ops.Clamp.apply(source, _unwrap(min), _unwrap(max))

    clip = clamp

    def square(self) -> Tensor:
        return self * self

    def sign(self) -> Tensor:
        return Tensor._wrap(np.sign(self._array))

    def conj(self) -> Tensor:
        return Tensor._wrap(np.conj(self._array)) if self.is_complex() else self

    # ----------------------------------------------------------------- shape
    def reshape(self, *shape: Any) -> Tensor:
        shape = _as_shape_with_inference(shape)
        numel = self.numel()
        known = math.prod(extent for extent in shape if extent != -1)
        if -1 in shape and known != 0 and numel % known == 0:
            shape = tuple(numel // known if extent == -1 else extent for extent in shape)
        if -1 in shape or math.prod(shape) != numel:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        return ops.Reshape.apply(self, shape)

    view = reshape

    def view_as(self, other: Tensor) -> Tensor:
        return self.reshape(other.shape)

    reshape_as = view_as

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        if self.ndim == 0:
            return self.reshape(1)
        start = _normalize_dim(start_dim, self.ndim)
        end = _normalize_dim(end_dim, self.ndim)
        if start > end:
            raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
        shape = self.shape
        return self.reshape(*shape[:start], math.prod(shape[start : end + 1]), *shape[end + 1 :])

    def unflatten(self, dim: int, sizes: Sequence[int]) -> Tensor:
        axis = _normalize_dim(dim, self.ndim)
        return self.reshape(*self.shape[:axis], *sizes, *self.shape[axis + 1 :])

    def permute(self, *dims: Any) -> Tensor:
        dims = _as_shape(dims) if not (len(dims) == 1 and isinstance(dims[0], (tuple, list))) else tuple(dims[0])
        axes = tuple(_normalize_dim(d, self.ndim) for d in dims)
        if sorted(axes) != list(range(self.ndim)):
            raise RuntimeError(
                f"permute(sparse_coo): number of dimensions in the tensor input does not match the length "
                f"of the desired ordering of dimensions i.e. input.dim() = {self.ndim} is not equal to "
                f"len(dims) = {len(dims)}"
                if len(axes) != self.ndim
                else f"permute(): duplicate dims are not allowed, got {list(dims)}"
            )
        return ops.Permute.apply(self, axes)

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        axes = list(range(self.ndim))
        a, b = _normalize_dim(dim0, self.ndim), _normalize_dim(dim1, self.ndim)
        axes[a], axes[b] = axes[b], axes[a]
        return ops.Permute.apply(self, tuple(axes))

    swapaxes = transpose

    def t(self) -> Tensor:
        if self.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D")
        return self.T

    def unsqueeze(self, dim: int) -> Tensor:
        axis = _normalize_dim(dim, self.ndim + 1)
        return self.reshape(*self.shape[:axis], 1, *self.shape[axis:])

    def squeeze(self, dim: int | Sequence[int] | None = None) -> Tensor:
        if dim is None:
            axes = {i for i, n in enumerate(self.shape) if n == 1}
        else:
            axes = {d for d in (_normalize_dims(dim, self.ndim) or ()) if self.shape[d] == 1}
        return self.reshape(*(n for i, n in enumerate(self.shape) if i not in axes))

    def expand(self, *sizes: Any) -> Tensor:
        sizes = _as_shape_with_inference(sizes)
        extra = len(sizes) - self.ndim
        target = tuple(
            self.shape[i - extra] if (n == -1 and i >= extra) else n for i, n in enumerate(sizes)
        )
        try:
            np.broadcast_shapes(self.shape, target)
        except ValueError:
            raise RuntimeError(
                f"The expanded size of the tensor must match the existing size at non-singleton dimensions. "
                f"Target sizes: {list(sizes)}.  Tensor sizes: {list(self.shape)}"
            ) from None
        return ops.Expand.apply(self, target)

    def expand_as(self, other: Tensor) -> Tensor:
        return self.expand(*other.shape)

    def flip(self, *dims: Any) -> Tensor:
        dims = tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
        return ops.Flip.apply(self, tuple(_normalize_dim(d, self.ndim) for d in dims))

    def __getitem__(self, index: Any) -> Tensor:
        return ops.GetItem.apply(self, _unwrap_index(index))

    def chunk(self, chunks: int, dim: int = 0) -> list[Tensor]:
        axis = _normalize_dim(dim, self.ndim)
        step = -(-self.shape[axis] // chunks)
        return self.split(step, axis)

    def split(self, split_size: int | Sequence[int], dim: int = 0) -> list[Tensor]:
        axis = _normalize_dim(dim, self.ndim)
        length = self.shape[axis]
        if isinstance(split_size, int):
            sizes = [builtins.min(split_size, length - s) for s in range(0, length, split_size)] or [0]
        else:
            sizes = list(split_size)
        pieces, start = [], 0
        for size in sizes:
            index = (slice(None),) * axis + (slice(start, start + size),)
            pieces.append(self[index])
            start += size
        return pieces

    def softmax(self, dim: int) -> Tensor:
        from .nn import functional

        return functional.softmax(self, dim)

    def log_softmax(self, dim: int) -> Tensor:
        from .nn import functional

        return functional.log_softmax(self, dim)

    def new_zeros(self, *size: Any) -> Tensor:
        return Tensor._wrap(np.zeros(_as_shape(size), dtype=self._array.dtype))

    def new_ones(self, *size: Any) -> Tensor:
        return Tensor._wrap(np.ones(_as_shape(size), dtype=self._array.dtype))

    def new_tensor(self, data: Any) -> Tensor:
        return Tensor(data, dtype=self.dtype)


# --------------------------------------------------------------------- helpers
def _as_shape_with_inference(shape: Sequence[Any]) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list, Size)):
        shape = tuple(shape[0])
    for extent in shape:
        if isinstance(extent, builtins.bool) or not isinstance(extent, (int, np.integer)):
            raise TypeError(f"shape must be a sequence of ints, but got {tuple(shape)!r}")
    if builtins.sum(1 for extent in shape if extent == -1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    return tuple(int(extent) for extent in shape)


def _unwrap_index(index: Any) -> Any:
    if isinstance(index, tuple):
        return tuple(_unwrap(item) for item in index)
    if isinstance(index, list):
        return np.asarray([_unwrap(item) for item in index])
    return _unwrap(index)


def _floating(tensor: Tensor) -> Tensor:
    """Integer and boolean tensors become float32 for the floating-point functions, as in torch."""
    return tensor if tensor._array.dtype.kind in "fc" else tensor.to(_dtypes.float32)


def _as_tensor(value: Any) -> Tensor:
    return value if isinstance(value, Tensor) else Tensor._wrap(np.asarray(value))


def _promote_types(first: np.dtype, second: np.dtype) -> np.dtype:
    """torch.promote_types: like NumPy's, except that an integer or bool meeting a floating or complex
    type takes that type as it is (int64 with float16 is float16, not float64)."""
    order = "biufc"
    if first.kind != second.kind and {first.kind, second.kind} & set("fc") and not {first.kind, second.kind} <= set("fc"):
        return first if order.index(first.kind) > order.index(second.kind) else second
    return np.promote_types(first, second)


def _combine_categories(higher: np.dtype | None, lower: np.dtype | None) -> np.dtype | None:
    """How a lower-priority group (0-d tensors, then Python numbers) may raise the dtype: only by a
    higher category (bool < integer < floating < complex), as torch's ``combine_categories``."""
    if higher is None or lower is None:
        return lower if higher is None else higher
    if higher.kind == "c":
        return higher
    if lower.kind == "c":
        return np.dtype(np.complex128 if higher == np.float64 else np.complex64) if higher.kind == "f" else lower
    if higher.kind == "f":
        return higher
    if higher.kind == "b" or lower.kind == "f":
        return _promote_types(higher, lower)
    return higher


def _scalar_dtype(value: Any) -> np.dtype:
    """The dtype torch gives a Python or NumPy number: bool, int64, the default float32, complex64."""
    if isinstance(value, (builtins.bool, np.bool_)):
        return np.dtype(np.bool_)
    if isinstance(value, (int, np.integer)):
        return np.dtype(np.int64)
    if isinstance(value, (builtins.float, np.floating)):
        return DEFAULT_FLOAT
    return np.dtype(np.complex64)


def result_dtype(*operands: Any) -> np.dtype:
    """torch's result type of a binary operation: tensors with dimensions decide within a category;
    0-d tensors and then Python numbers only raise the category (``int_tensor + 2.5`` is float32,
    ``float32_tensor + float64_scalar_tensor`` stays float32)."""
    groups: list[np.dtype | None] = [None, None, None]
    for operand in operands:
        if isinstance(operand, Tensor):
            dtype, group = operand._array.dtype, 0 if operand.ndim else 1
        else:
            dtype, group = _scalar_dtype(operand), 2
        groups[group] = dtype if groups[group] is None else _promote_types(groups[group], dtype)
    return _combine_categories(groups[0], _combine_categories(groups[1], groups[2]))


def _category(dtype: np.dtype) -> int:
    """bool < integer < floating < complex."""
    return {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}[dtype.kind]


def _is_number(value: Any) -> builtins.bool:
    return isinstance(value, (builtins.bool, int, builtins.float, complex, np.number, np.bool_))


def promote_to_result_type(*operands: Any) -> list[Any]:
    """Tensors and numbers cast to their torch result type (tensors through the differentiable cast);
    anything else passes through."""
    if not all(isinstance(v, Tensor) or _is_number(v) for v in operands):
        return list(operands)
    dtype = result_dtype(*operands)
    return [
        (v if v._array.dtype == dtype else v.to(_dtypes.from_numpy_dtype(dtype)))
        if isinstance(v, Tensor)
        else np.asarray(v, dtype=dtype)[()]
        for v in operands
    ]


def _promote_operands(left: Any, right: Any, function: Any) -> tuple[Any, Any, np.dtype | None]:
    """Both operands cast to torch's result type (true division of integers gives float32); returns
    them and the dtype the result must have (None when an operand is not a number or tensor)."""
    if isinstance(left, (np.ndarray, list, tuple)) or isinstance(right, (np.ndarray, list, tuple)):
        left, right = _as_tensor(left), _as_tensor(right)
    if not all(isinstance(v, Tensor) or _is_number(v) for v in (left, right)):
        return left, right, None
    if function is ops.Sub and any(_dtype_kind(v) == "b" for v in (left, right)):
        raise RuntimeError(
            "Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying to invert a "
            "mask, use the `~` or `logical_not()` operator instead."
        )
    dtype = result_dtype(left, right)
    if function is ops.Div and dtype.kind in "biu":
        dtype = DEFAULT_FLOAT

    def cast(value: Any) -> Any:
        if isinstance(value, Tensor):
            return value if value._array.dtype == dtype else value.to(_dtypes.from_numpy_dtype(dtype))
        return np.asarray(value, dtype=dtype)[()]

    return cast(left), cast(right), dtype


def _dtype_kind(value: Any) -> str:
    return value._array.dtype.kind if isinstance(value, Tensor) else _scalar_dtype(value).kind


def _array_from_data(data: Any, dtype: Any) -> np.ndarray:
    """A fresh array for ``tensor(data)``: Python floats become float32 and ints int64, as in torch."""
    numpy_dtype = _dtypes.to_numpy_dtype(dtype)
    if isinstance(data, Tensor):
        array = np.array(data._array, dtype=numpy_dtype, copy=True)
    elif isinstance(data, np.ndarray):
        array = np.array(data, dtype=numpy_dtype, copy=True)
    else:
        if isinstance(data, (list, tuple)) and any(isinstance(item, Tensor) for item in _flat(data)):
            data = _tensors_to_arrays(data)
        array = np.array(data, dtype=numpy_dtype)
        if numpy_dtype is None and array.dtype == np.float64 and not _contains_numpy_float64(data):
            array = array.astype(DEFAULT_FLOAT)
        elif numpy_dtype is None and array.dtype == np.complex128 and not _contains_numpy_float64(data):
            array = array.astype(np.complex64)
    if array.dtype == object:
        raise TypeError(f"can't build a tensor from {type(data).__name__} of mixed or ragged items")
    _dtypes.from_numpy_dtype(array.dtype)
    return array


def _flat(data: Any) -> Iterator[Any]:
    for item in data:
        if isinstance(item, (list, tuple)):
            yield from _flat(item)
        else:
            yield item


def _tensors_to_arrays(data: Any) -> Any:
    if isinstance(data, Tensor):
        return data._array
    if isinstance(data, (list, tuple)):
        return [_tensors_to_arrays(item) for item in data]
    return data


def _contains_numpy_float64(data: Any) -> builtins.bool:
    if isinstance(data, np.ndarray):
        return data.dtype in (np.float64, np.complex128)
    if isinstance(data, (np.floating, np.complexfloating)):
        return data.dtype in (np.float64, np.complex128)
    if isinstance(data, (list, tuple)):
        return builtins.any(_contains_numpy_float64(item) for item in data)
    return False


# --------------------------------------------------------------------- repr
# torch's print options: 4 decimals, 80 columns, summarise past 1000 elements showing 3 at each edge.
_PRECISION, _LINE_WIDTH, _THRESHOLD, _EDGE_ITEMS = 4, 80, 1000, 3
_DEFAULT_DTYPES = (np.dtype(np.float32), np.dtype(np.complex64), np.dtype(np.int64), np.dtype(np.bool_))


def _format_tensor(tensor: Tensor) -> str:
    """``tensor([...])`` laid out as torch prints it (same widths, modes, wrapping and summarising)."""
    array = tensor._array
    prefix = "tensor("
    suffixes = []
    if array.size == 0:
        body = "[]"
        if array.ndim != 1:
            suffixes.append(f"size={tuple(array.shape)}")
        if array.dtype != DEFAULT_FLOAT:
            suffixes.append(f"dtype={tensor.dtype!r}")
    else:
        body = _format_values(array, len(prefix))
        if array.dtype not in _DEFAULT_DTYPES:
            suffixes.append(f"dtype={tensor.dtype!r}")
    if tensor._node is not None:
        suffixes.append(f"grad_fn={tensor._node!r}")
    elif tensor._requires_grad:
        suffixes.append("requires_grad=True")
    text = prefix + body
    last_line = len(text) - text.rfind("\n") + 1  # torch's count, one more than the line's length
    for suffix in suffixes:
        width = len(suffix.replace("npconv.", "torch."))  # break lines where torch's own repr breaks
        if last_line + width + 2 > _LINE_WIDTH:
            text += ",\n" + " " * len(prefix) + suffix
            last_line = len(prefix) + width
        else:
            text += ", " + suffix
            last_line += width + 2
    return text + ")"


class _ElementFormat:
    """How torch formats the elements of one (real) array: integers as they are; floats in integer mode
    (``1.``), fixed (``1.2500``) or scientific (``1.2500e+03``) notation, chosen from the non-zero finite
    values, all padded to the widest of those."""

    def __init__(self, values: np.ndarray) -> None:
        self.floating = values.dtype.kind == "f"
        self.integral, self.scientific, self.width = True, False, 1
        if not self.floating:
            self.width = builtins.max((len(str(v)) for v in values.ravel().tolist()), default=1)
            return
        flat = values.ravel().astype(np.float64)
        nonzero = flat[np.isfinite(flat) & (flat != 0)]
        if nonzero.size == 0:
            return
        magnitudes = np.abs(nonzero)
        smallest, largest = magnitudes.min(), magnitudes.max()
        self.integral = builtins.bool(np.all(nonzero == np.ceil(nonzero)))
        self.scientific = builtins.bool(largest / smallest > 1000.0 or largest > 1.0e8 or smallest < 1.0e-4)
        if self.scientific:
            lengths = [len(f"{v:.{_PRECISION}e}") for v in nonzero.tolist()]
        elif self.integral:
            lengths = [len(f"{v:.0f}") + 1 for v in nonzero.tolist()]
        else:
            lengths = [len(f"{v:.{_PRECISION}f}") for v in nonzero.tolist()]
        self.width = builtins.max(self.width, *lengths)

    def __call__(self, value: Any) -> str:
        if not self.floating:
            text = str(value)
        elif self.scientific:
            text = f"{value:{self.width}.{_PRECISION}e}"
        elif self.integral:
            text = f"{value:.0f}" + ("" if math.isinf(value) or math.isnan(value) else ".")
        else:
            text = f"{value:.{_PRECISION}f}"
        return text.rjust(self.width)


def _summarized(array: np.ndarray) -> np.ndarray:
    """The elements torch shows when it summarises: the first and last few along every axis."""
    for axis in range(array.ndim):
        if array.shape[axis] > 2 * _EDGE_ITEMS:
            keep = np.r_[0:_EDGE_ITEMS, array.shape[axis] - _EDGE_ITEMS : array.shape[axis]]
            array = np.take(array, keep, axis=axis)
    return array


def _format_values(array: np.ndarray, indent: int) -> str:
    summarize = array.size > _THRESHOLD
    shown = _summarized(array) if summarize else array
    if array.dtype.kind == "c":
        real_format, imag_format = _ElementFormat(shown.real), _ElementFormat(shown.imag)

        def element(value: complex) -> str:
            real, imag = real_format(value.real), (imag_format(value.imag) + "j").lstrip()
            return real + imag if imag[0] in "+-" else real + "+" + imag

        width = real_format.width + imag_format.width + 3
    else:
        element = _ElementFormat(shown)
        width = element.width + 2
    return _format_nested(array, indent, summarize, element, width)


def _format_nested(array: np.ndarray, indent: int, summarize: builtins.bool, element: Any, width: int) -> str:
    if array.ndim == 0:
        return element(array.item())
    if array.ndim == 1:
        values = array.tolist()
        if summarize and len(values) > 2 * _EDGE_ITEMS:
            texts = [element(v) for v in values[:_EDGE_ITEMS]] + [" ..."] + [element(v) for v in values[-_EDGE_ITEMS:]]
        else:
            texts = [element(v) for v in values]
        per_line = builtins.max(1, (_LINE_WIDTH - indent) // width)
        lines = [", ".join(texts[i : i + per_line]) for i in range(0, len(texts), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
    rows = range(array.shape[0])
    if summarize and array.shape[0] > 2 * _EDGE_ITEMS:
        rows = [*range(_EDGE_ITEMS), None, *range(array.shape[0] - _EDGE_ITEMS, array.shape[0])]
    slices = ["..." if row is None else _format_nested(array[row], indent + 1, summarize, element, width) for row in rows]
    return "[" + ("," + "\n" * (array.ndim - 1) + " " * (indent + 1)).join(slices) + "]"
