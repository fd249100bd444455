"""Tensor creation and the module-level tensor functions (``npconv.zeros``, ``npconv.cat``, ...)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import dtypes as _dtypes
from . import ops
from .random import Generator, rng, uniform_samples
from .tensor import DEFAULT_FLOAT, Tensor, _as_shape, _normalize_dim, promote_to_result_type


def _finish(array: np.ndarray, requires_grad: bool) -> Tensor:
    tensor = Tensor._wrap(array)
    if requires_grad:
        tensor.requires_grad = True
    return tensor


def _float_dtype(dtype: Any) -> np.dtype:
    numpy_dtype = _dtypes.to_numpy_dtype(dtype)
    return DEFAULT_FLOAT if numpy_dtype is None else numpy_dtype


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    """A new tensor holding a copy of ``data`` (Python floats → float32, ints → int64, as in torch)."""
    return Tensor(data, dtype=dtype, requires_grad=requires_grad)


def as_tensor(data: Any, dtype: Any = None) -> Tensor:
    """``data`` as a tensor, sharing memory with an ndarray or Tensor of the requested dtype."""
    if isinstance(data, Tensor) and (dtype is None or data.dtype == dtype):
        return data
    if isinstance(data, np.ndarray) and (dtype is None or data.dtype == _dtypes.to_numpy_dtype(dtype)):
        return from_numpy(data)
    return Tensor(data, dtype=dtype)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing ``array``'s memory: writes to one are seen through the other."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    _dtypes.from_numpy_dtype(array.dtype)
    return Tensor._wrap(array)


def is_tensor(obj: Any) -> bool:
    return isinstance(obj, Tensor)


def numel(input: Tensor) -> int:  # noqa: A002
    return input.numel()


def zeros(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _finish(np.zeros(_as_shape(size), dtype=_float_dtype(dtype)), requires_grad)


def ones(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _finish(np.ones(_as_shape(size), dtype=_float_dtype(dtype)), requires_grad)


def empty(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _finish(np.empty(_as_shape(size), dtype=_float_dtype(dtype)), requires_grad)


def full(size: Sequence[int], fill_value: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ``size`` filled with ``fill_value``; the dtype follows the value as in torch."""
    numpy_dtype = _dtypes.to_numpy_dtype(dtype)
    if numpy_dtype is None:
        if isinstance(fill_value, bool):
            numpy_dtype = np.dtype(np.bool_)
        elif isinstance(fill_value, int):
            numpy_dtype = np.dtype(np.int64)
        elif isinstance(fill_value, complex):
            numpy_dtype = np.dtype(np.complex64)
        else:
            numpy_dtype = DEFAULT_FLOAT
    return _finish(np.full(_as_shape((size,)), fill_value, dtype=numpy_dtype), requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _finish(np.eye(n, m, dtype=_float_dtype(dtype)), requires_grad)


def rand(*size: Any, generator: Generator | None = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform samples on [0, 1)."""
    numpy_dtype = _float_dtype(dtype)
    return _finish(uniform_samples(generator, 0.0, 1.0, _as_shape(size), numpy_dtype), requires_grad)


def randn(*size: Any, generator: Generator | None = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples."""
    numpy_dtype = _float_dtype(dtype)
    shape = _as_shape(size)
    if numpy_dtype.kind == "c":
        parts = rng(generator).standard_normal((2, *shape)) / np.sqrt(2)
        return _finish((parts[0] + 1j * parts[1]).astype(numpy_dtype), requires_grad)
    return _finish(rng(generator).standard_normal(shape).astype(numpy_dtype), requires_grad)


def randint(low: int, high: int | None = None, size: Sequence[int] = (), generator: Generator | None = None, dtype: Any = None) -> Tensor:
    """Integers uniformly drawn from [low, high); ``randint(high, size)`` starts at 0."""
    if high is None:
        low, high = 0, low
    numpy_dtype = _dtypes.to_numpy_dtype(dtype) or np.dtype(np.int64)
    return Tensor._wrap(rng(generator).integers(low, high, _as_shape((size,))).astype(numpy_dtype))


def randperm(n: int, generator: Generator | None = None) -> Tensor:
    return Tensor._wrap(rng(generator).permutation(n).astype(np.int64))


def arange(start: float, end: float | None = None, step: float = 1, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Values from ``start`` to ``end`` (exclusive); int64 when every bound is an int, else float32."""
    if end is None:
        start, end = 0, start
    numpy_dtype = _dtypes.to_numpy_dtype(dtype)
    if numpy_dtype is None:
        integral = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        numpy_dtype = np.dtype(np.int64) if integral else DEFAULT_FLOAT
    return _finish(np.arange(start, end, step).astype(numpy_dtype), requires_grad)


def linspace(start: float, end: float, steps: int, dtype: Any = None) -> Tensor:
    return Tensor._wrap(np.linspace(start, end, steps).astype(_float_dtype(dtype)))


def _like(input: Tensor, dtype: Any) -> np.dtype:  # noqa: A002
    return _dtypes.to_numpy_dtype(dtype) or input._array.dtype


def zeros_like(input: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:  # noqa: A002
    return _finish(np.zeros(input.shape, dtype=_like(input, dtype)), requires_grad)


def ones_like(input: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:  # noqa: A002
    return _finish(np.ones(input.shape, dtype=_like(input, dtype)), requires_grad)


def empty_like(input: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:  # noqa: A002
    return _finish(np.empty(input.shape, dtype=_like(input, dtype)), requires_grad)


def full_like(input: Tensor, fill_value: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:  # noqa: A002
    return _finish(np.full(input.shape, fill_value, dtype=_like(input, dtype)), requires_grad)


def rand_like(input: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:  # noqa: A002
    return _finish(uniform_samples(None, 0.0, 1.0, input.shape, _like(input, dtype)), requires_grad)


def randn_like(input: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:  # noqa: A002
    return _finish(rng().standard_normal(input.shape).astype(_like(input, dtype)), requires_grad)


# --------------------------------------------------------------------- joining and selecting
def _tensors(values: Sequence[Any]) -> list[Tensor]:
    return [v if isinstance(v, Tensor) else Tensor._wrap(np.asarray(v)) for v in values]


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors along an existing dimension (differentiable)."""
    tensors = _tensors(tensors)
    if not tensors:
        raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
    axis = _normalize_dim(dim, tensors[0].ndim)
    for t in tensors[1:]:
        if t.ndim != tensors[0].ndim or any(
            a != b for i, (a, b) in enumerate(zip(t.shape, tensors[0].shape)) if i != axis
        ):
            raise RuntimeError(
                f"Sizes of tensors must match except in dimension {axis}. "
                f"Expected {list(tensors[0].shape)} but got {list(t.shape)}"
            )
    return ops.Cat.apply(axis, *tensors)


concat = cat


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors along a new dimension (differentiable)."""
    tensors = _tensors(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    for t in tensors[1:]:
        if t.shape != tensors[0].shape:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {list(tensors[0].shape)} "
                f"and {list(t.shape)}"
            )
    return ops.Stack.apply(_normalize_dim(dim, tensors[0].ndim + 1), *tensors)


def _promoted(values: Sequence[Any]) -> list[Any]:
    """Arrays and lists as tensors, then every operand cast to torch's result type (numbers stay numbers)."""
    return promote_to_result_type(*(v if isinstance(v, Tensor) or np.isscalar(v) else _tensors([v])[0] for v in values))


def where(condition: Any, input: Any, other: Any) -> Tensor:  # noqa: A002
    """``input`` where ``condition`` holds, else ``other`` (tensors or numbers, promoted as in torch)."""
    condition_array = np.asarray(condition._array if isinstance(condition, Tensor) else condition, dtype=bool)
    return ops.Where.apply(condition_array, *_promoted([input, other]))


def maximum(input: Any, other: Any) -> Tensor:  # noqa: A002
    return ops.ElementwiseExtreme.apply(*_tensors(_promoted([input, other])), False)


def minimum(input: Any, other: Any) -> Tensor:  # noqa: A002
    return ops.ElementwiseExtreme.apply(*_tensors(_promoted([input, other])), True)
