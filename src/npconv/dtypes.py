"""Tensor element types: ``npconv.float32`` and friends, mapped onto NumPy dtypes."""

from __future__ import annotations

import numpy as np


class dtype:  # noqa: N801 - mirrors ``torch.dtype``
    """An element type, printed as ``npconv.<name>``; ``numpy`` is the NumPy dtype behind it."""

    __slots__ = ("name", "numpy", "is_floating_point", "is_complex")

    def __init__(self, name: str, numpy_dtype: np.dtype) -> None:
        self.name = name
        self.numpy = np.dtype(numpy_dtype)
        self.is_floating_point = self.numpy.kind == "f"
        self.is_complex = self.numpy.kind == "c"

    @property
    def itemsize(self) -> int:
        return self.numpy.itemsize

    def __repr__(self) -> str:
        return f"npconv.{self.name}"

    def __reduce__(self) -> str:
        return self.name


float16 = dtype("float16", np.float16)
float32 = dtype("float32", np.float32)
float64 = dtype("float64", np.float64)
complex64 = dtype("complex64", np.complex64)
complex128 = dtype("complex128", np.complex128)
int8 = dtype("int8", np.int8)
uint8 = dtype("uint8", np.uint8)
int16 = dtype("int16", np.int16)
int32 = dtype("int32", np.int32)
int64 = dtype("int64", np.int64)
bool = dtype("bool", np.bool_)  # noqa: A001 - torch.bool

half, float, double = float16, float32, float64  # noqa: A001
short, int, long = int16, int32, int64  # noqa: A001
cfloat, cdouble = complex64, complex128

ALL_DTYPES = (float16, float32, float64, complex64, complex128, int8, uint8, int16, int32, int64, bool)
_BY_NUMPY = {d.numpy: d for d in ALL_DTYPES}


# torch's names for its scalar types, which its error messages use ("expected scalar type Float but found
# Double")
_SCALAR_TYPE_NAMES = {
    "float16": "Half", "float32": "Float", "float64": "Double", "complex64": "ComplexFloat",
    "complex128": "ComplexDouble", "int8": "Char", "uint8": "Byte", "int16": "Short", "int32": "Int",
    "int64": "Long", "bool": "Bool",
}


def scalar_type_name(numpy_dtype: np.dtype) -> str:
    """torch's name for the scalar type of ``numpy_dtype`` ("Float" for float32), as its messages show it."""
    name = np.dtype(numpy_dtype).name
    return _SCALAR_TYPE_NAMES.get(name, name)


def from_numpy_dtype(numpy_dtype: np.dtype) -> dtype:
    """The npconv dtype for a NumPy dtype; TypeError for one npconv does not store."""
    try:
        return _BY_NUMPY[np.dtype(numpy_dtype)]
    except KeyError:
        raise TypeError(
            f"can't convert np.ndarray of type {np.dtype(numpy_dtype)}. The only supported types are: "
            + ", ".join(d.name for d in ALL_DTYPES)
        ) from None


def to_numpy_dtype(value: dtype | np.dtype | type | str | None) -> np.dtype | None:
    """Accept an npconv dtype, a NumPy dtype or type, or a name; None stays None."""
    if value is None:
        return None
    if isinstance(value, dtype):
        return value.numpy
    return from_numpy_dtype(np.dtype(value)).numpy
