"""Loading and saving model files without PyTorch.

``save(obj, path)`` picks the format from the file name:

* ``.safetensors``: the safetensors format, written with the optional ``safetensors`` package
  (``safetensors.numpy``).  Holds a flat mapping of ``str`` keys to tensors.
* ``.npz``: a NumPy zip archive with one ``<key>.npy`` member per tensor.  Holds a flat mapping of
  ``str`` keys to tensors.
* anything else (``.pt``, ``.pth``, ``.bin``, ...): the zip checkpoint format that ``torch.save``
  writes, readable by ``torch.load(path, weights_only=True)``.  Holds a tensor, a Python scalar,
  string, bytes or ``None``, or any nesting of dicts, ``OrderedDict``\\ s, lists and tuples of those.

For ``.npz`` and ``.safetensors``, nested containers and non-tensor values are refused with a
``TypeError`` rather than flattened: flattening cannot be undone on load, so a nested state dict
belongs in a ``.pt`` file.

``load(path)`` recognises the format from the file's content, never its name: a zip archive
holding ``<dir>/data.pkl`` is a PyTorch zip checkpoint, one holding only ``.npy`` members is an
``.npz`` archive, a pickle stream starting with PyTorch's magic number is the legacy checkpoint
format (``torch.save(..., _use_new_zipfile_serialization=False)``), and an 8-byte header length
followed by a JSON object is safetensors.  Loading never needs torch or safetensors.

Pickles inside PyTorch checkpoints are read by a restricted unpickler that resolves only the
globals needed to rebuild tensors, storages, ``collections.OrderedDict``, ``torch.Size`` and
plain Python values; any other global (``os.system``, ``builtins.eval``, any class, ...) raises
``UnsafeCheckpointError`` naming it, before anything from the file is called.  Before it is
unpickled, each pickle is scanned opcode by opcode so that a damaged length or memo index cannot
make the unpickler allocate memory the file does not contain.

Loaded tensors are ``npconv.Tensor`` objects (``npconv.from_numpy`` over a fresh array, never a
view of the file).  Element types follow the file, except that ``bfloat16`` data, which NumPy has
no type for, is widened exactly to ``float32``.  Parameters (``torch.nn.Parameter``) load as plain
tensors.  A damaged, truncated or inconsistent file raises ``CheckpointError``; no partial result
is ever returned.
"""

from __future__ import annotations

import _compat_pickle
import io
import json
import math
import mmap
import os
import pickle
import pickletools
import reprlib
import struct
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any, BinaryIO, Union

import numpy as np

__all__ = [
    "CheckpointError",
    "UnsafeCheckpointError",
    "from_dlpack",
    "from_torch",
    "load",
    "save",
    "to_torch",
]

PathLike = Union[str, "os.PathLike[str]"]

# PyTorch's legacy (pre-zip) format starts with these two pickled integers.
_LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL_VERSION = 1001

# Storage records in checkpoints written by ``save`` start at multiples of this, as torch's own.
_STORAGE_ALIGNMENT = 64

# Loaded tensors are copies, so views (slices, expanded tensors) can take more memory than the
# file holds.  Loading refuses to allocate more than this many bytes beyond 4x the file size.
_MATERIALIZE_SLACK_BYTES = 1 << 28
_MATERIALIZE_FILE_FACTOR = 4

# Deepest nesting of containers accepted in a loaded object.
_MAX_NESTING = 256

# Most dimensions a tensor may have (NumPy's own limit).
_MAX_DIMS = 64

# Largest safetensors JSON header accepted (the safetensors package's own limit).
_MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024

# Deflate cannot expand data by more than about 1032:1; larger declared sizes are lies.
_MAX_DEFLATE_RATIO = 1032


class CheckpointError(ValueError):
    """A model file is corrupt, truncated, inconsistent, or uses a feature this reader lacks."""


class UnsafeCheckpointError(CheckpointError, pickle.UnpicklingError):
    """A pickle in a model file names a global outside the allow-list.

    The message names the refused global (for example ``'posix.system'``).  The error is raised
    while the pickle is being read, before any callable from the file has been called.
    """


# --------------------------------------------------------------------------------------------
# Element types
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _DType:
    """An element type as stored on disk.

    ``raw`` is the little-endian NumPy dtype of the stored bytes; ``finish`` turns an array of
    ``raw`` (in either byte order) into the native-order array handed to the caller.
    """

    name: str
    raw: np.dtype

    @property
    def itemsize(self) -> int:
        return self.raw.itemsize

    def finish(self, array: np.ndarray) -> np.ndarray:
        if self.name == "bool":
            return array.astype(np.bool_)  # any nonzero byte is True
        if self.name == "bfloat16":
            # bfloat16 is the top half of a float32: widening is exact.
            widened = array.astype(np.uint32)
            widened <<= 16
            return widened.view(np.float32)
        return array.astype(array.dtype.newbyteorder("="), copy=False)


_DTYPES: dict[str, _DType] = {
    name: _DType(name, np.dtype(raw))
    for name, raw in [
        ("float32", "<f4"),
        ("float64", "<f8"),
        ("float16", "<f2"),
        ("bfloat16", "<u2"),
        ("int64", "<i8"),
        ("int32", "<i4"),
        ("int16", "<i2"),
        ("int8", "i1"),
        ("uint8", "u1"),
        ("uint16", "<u2"),
        ("uint32", "<u4"),
        ("uint64", "<u8"),
        ("bool", "u1"),
        ("complex64", "<c8"),
        ("complex128", "<c16"),
    ]
}

# torch's legacy typed storage classes (``torch.FloatStorage`` ...).
_STORAGE_CLASS_DTYPES = {
    "FloatStorage": "float32",
    "DoubleStorage": "float64",
    "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16",
    "LongStorage": "int64",
    "IntStorage": "int32",
    "ShortStorage": "int16",
    "CharStorage": "int8",
    "ByteStorage": "uint8",
    "BoolStorage": "bool",
    "ComplexFloatStorage": "complex64",
    "ComplexDoubleStorage": "complex128",
}

# ``torch.<name>`` dtype globals, as pickled by ``_rebuild_tensor_v3``.
_TORCH_DTYPE_NAMES = {
    "float32": "float32",
    "float": "float32",
    "float64": "float64",
    "double": "float64",
    "float16": "float16",
    "half": "float16",
    "bfloat16": "bfloat16",
    "int64": "int64",
    "long": "int64",
    "int32": "int32",
    "int": "int32",
    "int16": "int16",
    "short": "int16",
    "int8": "int8",
    "uint8": "uint8",
    "uint16": "uint16",
    "uint32": "uint32",
    "uint64": "uint64",
    "bool": "bool",
    "complex64": "complex64",
    "cfloat": "complex64",
    "complex128": "complex128",
    "cdouble": "complex128",
}

# torch element types this reader cannot represent; named in a CheckpointError when met.
_UNSUPPORTED_TORCH_DTYPES = frozenset(
    {"complex32", "chalf", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz"}
    | {"float8_e8m0fnu", "float4_e2m1fn_x2", "qint8", "quint8", "qint32", "quint4x2", "quint2x4"}
    | {"bits1x8", "bits2x4", "bits4x2", "bits8", "bits16"}
    | {f"uint{bits}" for bits in range(1, 8)}
    | {f"int{bits}" for bits in range(1, 8)}
    | {"QInt8Storage", "QUInt8Storage", "QInt32Storage", "QUInt4x2Storage", "QUInt2x4Storage", "ComplexHalfStorage"}
)

# safetensors dtype codes.
_SAFETENSORS_DTYPES = {
    "F64": "float64",
    "F32": "float32",
    "F16": "float16",
    "BF16": "bfloat16",
    "I64": "int64",
    "I32": "int32",
    "I16": "int16",
    "I8": "int8",
    "U64": "uint64",
    "U32": "uint32",
    "U16": "uint16",
    "U8": "uint8",
    "BOOL": "bool",
    "C64": "complex64",
}

# NumPy dtypes that can be saved, by their npconv/torch name.
_SAVABLE_DTYPES = {
    np.dtype(name): name
    for name in (
        "float32",
        "float64",
        "float16",
        "int64",
        "int32",
        "int16",
        "int8",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "bool",
        "complex64",
        "complex128",
    )
}
_SAVE_STORAGE_CLASSES = {dtype: cls for cls, dtype in _STORAGE_CLASS_DTYPES.items()}


# --------------------------------------------------------------------------------------------
# Objects the restricted unpickler hands to the pickle machine
# --------------------------------------------------------------------------------------------
#
# Everything below is a frozen, slotted dataclass so that a pickle's BUILD opcode cannot attach
# or change attributes on objects shared between loads.


@dataclass(frozen=True, slots=True)
class _Global:
    """A callable global from the allow-list, under the name the pickle used for it."""

    qualname: str
    function: Callable[..., Any]

    def __call__(self, *args: Any) -> Any:
        return self.function(*args)


@dataclass(frozen=True, slots=True)
class _StorageClass:
    """``torch.FloatStorage`` and friends; ``dtype`` is None for ``torch.storage.UntypedStorage``."""

    qualname: str
    dtype: _DType | None


@dataclass(frozen=True, slots=True)
class _TorchDType:
    """A ``torch.<dtype>`` global."""

    qualname: str
    dtype: _DType


@dataclass(frozen=True, slots=True)
class _TensorClass:
    """``torch.Tensor`` or ``torch.nn.Parameter``, only meaningful inside ``_rebuild_from_type_v2``."""

    qualname: str


@dataclass(frozen=True, slots=True, eq=False)
class _StorageRef:
    """``nbytes`` bytes at ``byte_offset`` of the storage record ``key``, read as ``dtype``.

    ``dtype`` is None for an untyped (byte) storage.
    """

    key: str
    dtype: _DType | None
    byte_offset: int
    nbytes: int

    @property
    def numel(self) -> int:
        return self.nbytes // (self.dtype.itemsize if self.dtype is not None else 1)


@dataclass(frozen=True, slots=True, eq=False)
class _TensorRef:
    """A tensor described by a checkpoint: a strided view into a typed storage."""

    storage: _StorageRef
    offset: int
    shape: tuple[int, ...]
    strides: tuple[int, ...]


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = 120


def _brief(value: Any) -> str:
    """``repr(value)``, shortened: values from a damaged file may be huge or deeply nested."""
    return _REPR.repr(value)


def _require_int(value: Any, what: str, minimum: int = 0) -> int:
    if type(value) is not int or value < minimum:
        raise CheckpointError(f"invalid {what}: {_brief(value)}")
    return value


def _require_ints(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)) or len(value) > _MAX_DIMS:
        raise CheckpointError(f"invalid {what}: {_brief(value)}")
    return tuple(_require_int(item, what) for item in value)


def _tensor_ref(storage: Any, storage_offset: Any, size: Any, stride: Any) -> _TensorRef:
    """Validate a tensor's geometry against its storage and describe it."""
    if not isinstance(storage, _StorageRef):
        raise CheckpointError(f"tensor storage is not a storage: {type(storage).__name__}")
    if storage.dtype is None:
        raise CheckpointError("tensor built on an untyped storage without a dtype")
    offset = _require_int(storage_offset, "storage offset")
    shape = _require_ints(size, "tensor size")
    strides = _require_ints(stride, "tensor stride")
    if len(shape) != len(strides):
        raise CheckpointError(f"tensor size {shape} and stride {strides} differ in length")
    # The stride of a dimension of length 1 is never used, and may be anything in torch.
    strides = tuple(0 if extent == 1 else step for extent, step in zip(shape, strides, strict=True))
    if math.prod(shape) > 0:
        needed = offset + 1 + sum((extent - 1) * step for extent, step in zip(shape, strides, strict=True))
        if needed > storage.numel:
            raise CheckpointError(
                f"tensor of size {shape}, stride {strides} and offset {offset} needs "
                f"{needed} elements but its storage holds {storage.numel}"
            )
    return _TensorRef(storage, offset, shape, strides)


def _rebuild_tensor(storage: Any, storage_offset: Any, size: Any, stride: Any) -> _TensorRef:
    return _tensor_ref(storage, storage_offset, size, stride)


def _rebuild_tensor_v2(
    storage: Any,
    storage_offset: Any,
    size: Any,
    stride: Any,
    requires_grad: Any = False,
    backward_hooks: Any = None,
    metadata: Any = None,
) -> _TensorRef:
    return _tensor_ref(storage, storage_offset, size, stride)


def _rebuild_tensor_v3(
    storage: Any,
    storage_offset: Any,
    size: Any,
    stride: Any,
    requires_grad: Any,
    backward_hooks: Any,
    dtype: Any,
    metadata: Any = None,
) -> _TensorRef:
    if not isinstance(storage, _StorageRef) or not isinstance(dtype, _TorchDType):
        raise CheckpointError("_rebuild_tensor_v3 needs a storage and a dtype")
    if storage.nbytes % dtype.dtype.itemsize or storage.byte_offset % dtype.dtype.itemsize:
        raise CheckpointError(f"storage of {storage.nbytes} bytes is not a whole number of {dtype.dtype.name} elements")
    typed = _StorageRef(storage.key, dtype.dtype, storage.byte_offset, storage.nbytes)
    return _tensor_ref(typed, storage_offset, size, stride)


def _rebuild_parameter(data: Any, requires_grad: Any, backward_hooks: Any, state: Any = None) -> _TensorRef:
    if not isinstance(data, _TensorRef):
        raise CheckpointError(f"parameter data is not a tensor: {type(data).__name__}")
    return data


def _rebuild_from_type_v2(func: Any, new_type: Any, args: Any, state: Any) -> _TensorRef:
    if not (isinstance(func, _Global) and func.function in _TENSOR_REBUILDERS):
        raise CheckpointError("_rebuild_from_type_v2 with an unexpected rebuild function")
    if not isinstance(new_type, _TensorClass) or not isinstance(args, tuple):
        raise CheckpointError("_rebuild_from_type_v2 with an unexpected tensor type")
    return _rebuild_parameter(func(*args), False, None)


def _torch_size(dims: Any) -> tuple[int, ...]:
    return _require_ints(dims, "torch.Size")


def _codecs_encode(text: Any, encoding: Any = "utf-8") -> bytes:
    """How protocol-2 pickles spell ``bytes``: ``_codecs.encode(text, 'latin1')``."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise CheckpointError("_codecs.encode is only accepted for latin-1 encoded bytes")
    return text.encode("latin-1")


def _empty_bytes() -> bytes:
    """How protocol-2 pickles spell ``b''``: ``builtins.bytes()``."""
    return b""


_TENSOR_REBUILDERS = (_rebuild_tensor, _rebuild_tensor_v2, _rebuild_tensor_v3)


def _allowed_globals() -> dict[str, object]:
    allowed: dict[str, object] = {}

    def callable_global(qualname: str, function: Callable[..., Any]) -> None:
        allowed[qualname] = _Global(qualname, function)

    callable_global("collections.OrderedDict", OrderedDict)
    callable_global("builtins.set", set)
    callable_global("builtins.frozenset", frozenset)
    callable_global("builtins.complex", complex)
    callable_global("builtins.bytes", _empty_bytes)
    callable_global("_codecs.encode", _codecs_encode)
    callable_global("torch.Size", _torch_size)
    callable_global("torch._utils._rebuild_tensor", _rebuild_tensor)
    callable_global("torch._utils._rebuild_tensor_v2", _rebuild_tensor_v2)
    callable_global("torch._utils._rebuild_tensor_v3", _rebuild_tensor_v3)
    callable_global("torch._utils._rebuild_parameter", _rebuild_parameter)
    callable_global("torch._utils._rebuild_parameter_with_state", _rebuild_parameter)
    callable_global("torch._tensor._rebuild_from_type_v2", _rebuild_from_type_v2)
    for qualname in ("torch.Tensor", "torch._tensor.Tensor", "torch.nn.parameter.Parameter"):
        allowed[qualname] = _TensorClass(qualname)
    for module in ("torch", "torch.cuda"):
        for class_name, dtype_name in _STORAGE_CLASS_DTYPES.items():
            qualname = f"{module}.{class_name}"
            allowed[qualname] = _StorageClass(qualname, _DTYPES[dtype_name])
    for qualname in ("torch.storage.UntypedStorage", "torch.UntypedStorage"):
        allowed[qualname] = _StorageClass(qualname, None)
    for name, dtype_name in _TORCH_DTYPE_NAMES.items():
        allowed[f"torch.{name}"] = _TorchDType(f"torch.{name}", _DTYPES[dtype_name])
    return allowed


_ALLOWED_GLOBALS = _allowed_globals()


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only allow-listed globals and checkpoint storage ids."""

    def __init__(self, data: bytes, persistent_load: Callable[[Any], _StorageRef] | None) -> None:
        super().__init__(io.BytesIO(data), encoding="utf-8")
        self._storage_loader = persistent_load

    def find_class(self, module: str, name: str) -> Any:
        # Protocol-2 pickles keep Python 2 names (``__builtin__.set``, ``commands.call``); map them
        # to the Python 3 globals they stand for, as pickle itself does, before judging them.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        qualname = f"{module}.{name}"
        target = _ALLOWED_GLOBALS.get(qualname)
        if target is None and module == "torch" and name in _UNSUPPORTED_TORCH_DTYPES:
            raise CheckpointError(f"unsupported tensor element type {_brief(qualname)}")
        if target is None:
            raise UnsafeCheckpointError(
                f"refusing to load global {_brief(qualname)}: only tensors, storages and plain "
                "Python containers and values can be loaded"
            )
        return target

    def persistent_load(self, pid: Any) -> Any:
        if self._storage_loader is None:
            raise CheckpointError(f"unexpected persistent id {_brief(pid)}")
        return self._storage_loader(pid)


def _scan_pickle(stream: IO[bytes], limit: int) -> int:
    """Check the pickle starting at ``stream``'s position and return the offset just past it.

    Every length field is checked against the bytes actually present (``pickletools.genops``
    reads them), and memo indices are bounded by the number of opcodes so far, so the real
    unpickler cannot be tricked into a large allocation by a damaged byte.
    """
    for count, (opcode, arg, pos) in enumerate(pickletools.genops(stream), start=1):
        if opcode.name in ("PUT", "BINPUT", "LONG_BINPUT", "GET", "BINGET", "LONG_BINGET"):
            if not isinstance(arg, int) or not 0 <= arg <= count:
                raise CheckpointError(f"pickle memo index {_brief(arg)} out of range at byte {pos}")
        elif opcode.name == "FRAME":
            if not isinstance(arg, int) or arg > limit - stream.tell():
                raise CheckpointError(f"pickle frame of {_brief(arg)} bytes runs past the data")
        elif opcode.name == "STOP":
            return stream.tell()
    raise CheckpointError("pickle ended without a STOP opcode")  # pragma: no cover - genops raises


def _unpickle(data: bytes, persistent_load: Callable[[Any], _StorageRef] | None = None) -> Any:
    """Unpickle one complete pickle (``data`` holds nothing else) with the restricted unpickler."""
    end = _scan_pickle(io.BytesIO(data), len(data))
    if end != len(data):
        raise CheckpointError(f"{len(data) - end} unexpected bytes after the pickle")
    return _RestrictedUnpickler(data, persistent_load).load()


def _storage_pid(pid: Any, length: int) -> tuple[_DType | None, str, int, Any]:
    """Check a ``('storage', storage_class, key, location, numel[, view])`` persistent id."""
    if not isinstance(pid, tuple) or len(pid) != length or pid[0] != "storage":
        raise CheckpointError(f"unexpected persistent id {_brief(pid)}")
    storage_class, key, location, numel = pid[1:5]
    if not isinstance(storage_class, _StorageClass):
        raise CheckpointError(f"persistent id names {_brief(storage_class)}, not a storage type")
    if not isinstance(key, str) or not isinstance(location, str):
        raise CheckpointError(f"invalid storage key or location in {_brief(pid)}")
    _require_int(numel, "storage size")
    return storage_class.dtype, key, numel, pid[5] if length > 5 else None


# --------------------------------------------------------------------------------------------
# Turning what was unpickled into the caller's objects
# --------------------------------------------------------------------------------------------

_PLAIN_TYPES = (type(None), bool, int, float, complex, str, bytes)


def _to_tensor(array: np.ndarray) -> Any:
    """Wrap a freshly made array as an ``npconv.Tensor`` (the array itself if npconv lacks it)."""
    try:
        import npconv

        from_numpy = npconv.from_numpy
    except (ImportError, AttributeError):
        return array
    try:
        return from_numpy(array)
    except TypeError as exc:
        raise CheckpointError(f"npconv tensors cannot hold {array.dtype} data: {exc}") from exc


class _Materializer:
    """Replaces tensor descriptions in an unpickled object with tensors read from storage.

    ``read_storage(key)`` returns the bytes of a storage record.  Each record is read at most
    once and released once the last tensor built on it has been made.  Containers are rebuilt,
    so the result holds only plain Python objects and tensors; shared references (a tensor or
    list appearing twice) stay shared.  Before anything is read, the total size of the tensors
    to be made is checked against ``file_size``, so that views cannot multiply a small file
    into a huge allocation.
    """

    def __init__(self, read_storage: Callable[[str], bytes], file_size: int, big_endian: bool = False) -> None:
        self._read_storage = read_storage
        self._limit = _MATERIALIZE_FILE_FACTOR * file_size + _MATERIALIZE_SLACK_BYTES
        self._big_endian = big_endian
        self._raw: dict[str, bytes] = {}
        self._pending: dict[str, int] = {}
        self._done: dict[int, Any] = {}
        self._in_progress: set[int] = set()

    def convert(self, root: Any) -> Any:
        total = self._survey(root, set(), 0)
        if total > self._limit:
            raise CheckpointError(
                f"the tensors in this file would take {total} bytes, more than the {self._limit} "
                f"allowed for a file of this size (views are loaded as copies)"
            )
        return self._convert(root, 0)

    def _survey(self, obj: Any, seen: set[int], depth: int) -> int:
        """Count the tensors on each storage and return the bytes all tensors will take."""
        if depth > _MAX_NESTING:
            raise CheckpointError(f"objects nested more than {_MAX_NESTING} deep")
        if id(obj) in seen or type(obj) in _PLAIN_TYPES:
            return 0
        seen.add(id(obj))
        if isinstance(obj, (list, tuple, set, frozenset, dict)):
            items = obj.values() if isinstance(obj, dict) else obj
            return sum(self._survey(item, seen, depth + 1) for item in items)
        if isinstance(obj, _TensorRef):
            assert obj.storage.dtype is not None  # checked by _tensor_ref
            self._pending[obj.storage.key] = self._pending.get(obj.storage.key, 0) + 1
            return math.prod(obj.shape) * _loaded_itemsize(obj.storage.dtype)
        if isinstance(obj, _StorageRef):
            return obj.nbytes * 2  # a bare storage: at most widened from bfloat16
        return 0

    def _convert(self, obj: Any, depth: int) -> Any:
        if type(obj) in _PLAIN_TYPES:
            return obj
        key = id(obj)
        if key in self._done:
            return self._done[key]
        if key in self._in_progress:
            raise CheckpointError("checkpoint contains a container that holds itself")
        self._in_progress.add(key)
        result = self._convert_new(obj, depth)
        self._in_progress.discard(key)
        self._done[key] = result
        return result

    def _convert_new(self, obj: Any, depth: int) -> Any:
        if depth > _MAX_NESTING:
            raise CheckpointError(f"objects nested more than {_MAX_NESTING} deep")
        kind = type(obj)
        if isinstance(obj, _TensorRef):
            return _to_tensor(self._tensor(obj))
        if isinstance(obj, _StorageRef):
            return _to_tensor(self._storage_array(obj))
        if kind in (dict, OrderedDict):
            for item_key in obj:
                self._check_hashable(item_key, depth)
            return kind((item_key, self._convert(value, depth + 1)) for item_key, value in obj.items())
        if kind is list:
            return [self._convert(item, depth + 1) for item in obj]
        if kind is tuple:
            return tuple(self._convert(item, depth + 1) for item in obj)
        if kind in (set, frozenset):
            for item in obj:
                self._check_hashable(item, depth)
            return kind(obj)
        raise CheckpointError(f"checkpoint holds an unsupported object: {_describe(obj)}")

    def _check_hashable(self, obj: Any, depth: int) -> None:
        """Check a dict key or set member: plain values and (nested) tuples of them only."""
        if type(obj) in _PLAIN_TYPES or id(obj) in self._done:
            return
        if type(obj) is not tuple:
            raise CheckpointError(f"unsupported dict key or set member: {_describe(obj)}")
        if depth > _MAX_NESTING:
            raise CheckpointError(f"objects nested more than {_MAX_NESTING} deep")
        for item in obj:
            self._check_hashable(item, depth + 1)
        self._done[id(obj)] = obj

    def _storage_bytes(self, key: str) -> bytes:
        raw = self._raw.get(key)
        if raw is None:
            raw = self._read_storage(key)
            self._raw[key] = raw
        return raw

    def _elements(self, storage: _StorageRef, dtype: _DType) -> np.ndarray:
        raw = self._storage_bytes(storage.key)
        if storage.byte_offset + storage.nbytes > len(raw):
            raise CheckpointError(f"storage {_brief(storage.key)} is shorter than its declared size")
        raw_dtype = dtype.raw.newbyteorder(">") if self._big_endian else dtype.raw
        return np.frombuffer(raw, dtype=raw_dtype, count=storage.nbytes // dtype.itemsize, offset=storage.byte_offset)

    def _storage_array(self, storage: _StorageRef) -> np.ndarray:
        dtype = storage.dtype if storage.dtype is not None else _DTYPES["uint8"]
        return dtype.finish(self._elements(storage, dtype).copy())

    def _tensor(self, ref: _TensorRef) -> np.ndarray:
        dtype = ref.storage.dtype
        assert dtype is not None  # checked by _tensor_ref
        if math.prod(ref.shape) == 0:
            array = np.empty(ref.shape, dtype=dtype.raw)
        else:
            elements = self._elements(ref.storage, dtype)
            view = np.lib.stride_tricks.as_strided(
                elements[ref.offset :],
                shape=ref.shape,
                strides=tuple(step * dtype.itemsize for step in ref.strides),
                writeable=False,
            )
            array = view.copy(order="C")
            del elements, view
        remaining = self._pending.get(ref.storage.key, 0) - 1
        self._pending[ref.storage.key] = remaining
        if remaining <= 0:
            self._raw.pop(ref.storage.key, None)
        return dtype.finish(array)


def _loaded_itemsize(dtype: _DType) -> int:
    return 4 if dtype.name == "bfloat16" else dtype.itemsize


def _describe(obj: Any) -> str:
    if isinstance(obj, (_Global, _StorageClass, _TorchDType, _TensorClass)):
        return obj.qualname
    return type(obj).__name__


# --------------------------------------------------------------------------------------------
# Reading files
# --------------------------------------------------------------------------------------------


@contextmanager
def _open_source(source: PathLike | BinaryIO) -> Iterator[tuple[BinaryIO, str]]:
    if hasattr(source, "read"):
        handle: BinaryIO = source  # type: ignore[assignment]
        yield handle, str(getattr(source, "name", "<file object>"))
    else:
        with open(source, "rb") as handle:
            yield handle, os.fsdecode(source)


@contextmanager
def _file_bytes(handle: BinaryIO) -> Iterator[bytes | mmap.mmap]:
    """The whole file, memory-mapped when it is a real file, read into memory otherwise."""
    handle.seek(0)
    try:
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    except (AttributeError, OSError, ValueError):
        yield handle.read()
        return
    try:
        yield mapped
    finally:
        mapped.close()


def load(source: PathLike | BinaryIO) -> Any:
    """Load tensors or a state dict from a model file, without PyTorch.

    ``source`` is a path or a seekable binary file object.  The format is recognised from the
    content: PyTorch's zip checkpoint (what ``torch.save`` writes) and its legacy pre-zip format,
    ``.npz`` archives and safetensors files.  Tensors come back as ``npconv.Tensor``; ``bfloat16``
    data is widened (exactly) to ``float32``, every other element type is kept.  Parameters
    load as plain tensors and dicts keep their type (``dict`` or ``OrderedDict``).

    Raises:
        UnsafeCheckpointError: a pickle in the file names a global that is not allowed (the
            message names it); nothing from the file was run.
        CheckpointError: the file is empty, truncated, corrupt, inconsistent, of an unknown
            format, or holds a dtype npconv cannot represent.
        OSError: the file cannot be opened.
    """
    with _open_source(source) as (handle, name):
        try:
            return _load_from(handle)
        except CheckpointError:
            raise
        except Exception as exc:
            # Anything else raised while decoding untrusted bytes (BadZipFile, EOFError,
            # struct.error, KeyError, UnpicklingError, MemoryError, an OSError from a seek to a
            # damaged offset, ...) means a broken file.  Opening the file happened above.
            raise CheckpointError(f"cannot load {name}: {type(exc).__name__}: {exc}") from exc


def _load_from(handle: BinaryIO) -> Any:
    handle.seek(0)
    head = handle.read(16)
    handle.seek(0)
    if not head:
        raise CheckpointError("the file is empty")
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        with zipfile.ZipFile(handle) as archive:
            return _load_zip(archive, handle)
    with _file_bytes(handle) as data:
        # A safetensors header length may start with 0x80 too, so test for it first; the
        # legacy format's byte 8 lies inside its magic number and is never "{".
        if len(head) > 8 and head[8:9] == b"{":
            return _load_safetensors(data)
        if head.startswith(b"\x80"):
            return _load_legacy(data)
    raise CheckpointError("unrecognised file format (not a PyTorch checkpoint, .npz or safetensors file)")


def _archive_size(handle: BinaryIO) -> int:
    position = handle.tell()
    size = handle.seek(0, os.SEEK_END)
    handle.seek(position)
    return size


def _member(archive: zipfile.ZipFile, name: str) -> zipfile.ZipInfo | None:
    try:
        return archive.getinfo(name)
    except KeyError:
        return None


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, archive_size: int) -> bytes:
    """A zip member's bytes, after checking that its declared sizes are possible."""
    if info.flag_bits & 0x1:
        raise CheckpointError(f"zip member {_brief(info.filename)} is encrypted")
    if info.compress_type == zipfile.ZIP_STORED:
        plausible = info.file_size == info.compress_size
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        plausible = info.file_size <= max(info.compress_size, 1) * _MAX_DEFLATE_RATIO
    else:
        raise CheckpointError(f"zip member {_brief(info.filename)} uses unsupported compression")
    if not plausible or info.compress_size > archive_size:
        raise CheckpointError(f"zip member {_brief(info.filename)} declares an impossible size")
    with archive.open(info) as member:
        data = member.read()
    if len(data) != info.file_size:
        raise CheckpointError(f"zip member {_brief(info.filename)} is truncated")
    return data


def _load_zip(archive: zipfile.ZipFile, handle: BinaryIO) -> Any:
    names = archive.namelist()
    pickles = [name for name in names if name.endswith("/data.pkl") and name.count("/") == 1]
    if len(pickles) == 1:
        return _load_torch_zip(archive, pickles[0][: -len("data.pkl")], _archive_size(handle))
    if all(name.endswith(".npy") for name in names):
        return _load_npz(archive, _archive_size(handle))
    raise CheckpointError("zip archive is neither a PyTorch checkpoint nor an .npz archive")


def _load_torch_zip(archive: zipfile.ZipFile, prefix: str, archive_size: int) -> Any:
    byteorder = "little"  # checkpoints from before torch 1.10 have no byteorder record
    byteorder_info = _member(archive, f"{prefix}byteorder")
    if byteorder_info is not None:
        byteorder = _read_member(archive, byteorder_info, archive_size).decode("ascii", errors="replace")
        if byteorder not in ("little", "big"):
            raise CheckpointError(f"unknown byte order {_brief(byteorder)}")
    records: dict[str, zipfile.ZipInfo] = {}

    def persistent_load(pid: Any) -> _StorageRef:
        dtype, key, numel, _ = _storage_pid(pid, 5)
        nbytes = numel * (dtype.itemsize if dtype is not None else 1)
        info = _member(archive, f"{prefix}data/{key}")
        if info is None:
            raise CheckpointError(f"storage record 'data/{key}' is missing")
        if info.file_size != nbytes:
            raise CheckpointError(
                f"storage record 'data/{key}' holds {info.file_size} bytes, but the checkpoint declares {nbytes}"
            )
        records[key] = info
        return _StorageRef(key, dtype, 0, nbytes)

    pickle_info = _member(archive, f"{prefix}data.pkl")
    assert pickle_info is not None  # found by _load_zip
    pickled = _read_member(archive, pickle_info, archive_size)
    obj = _unpickle(pickled, persistent_load)

    def read_storage(key: str) -> bytes:
        return _read_member(archive, records[key], archive_size)

    return _Materializer(read_storage, archive_size, big_endian=byteorder == "big").convert(obj)


class _LegacyStorages:
    """Storage ids of a legacy checkpoint, checked for consistency as they are unpickled."""

    def __init__(self) -> None:
        self.roots: dict[str, tuple[int, int]] = {}  # key -> (item size, element count)

    def persistent_load(self, pid: Any) -> _StorageRef:
        dtype, key, numel, view = _storage_pid(pid, 6)
        itemsize = dtype.itemsize if dtype is not None else 1
        root = self.roots.setdefault(key, (itemsize, numel))
        if root[0] * root[1] != itemsize * numel:
            raise CheckpointError(f"storage {_brief(key)} is declared with two different sizes")
        if view is None:
            return _StorageRef(key, dtype, 0, numel * itemsize)
        if not isinstance(view, tuple) or len(view) != 3:
            raise CheckpointError(f"invalid storage view {_brief(view)}")
        _, view_offset, view_size = view
        _require_int(view_offset, "storage view offset")
        _require_int(view_size, "storage view size")
        if view_offset + view_size > numel:
            raise CheckpointError(f"storage view {_brief(view)} runs past its {numel}-element storage")
        return _StorageRef(key, dtype, view_offset * itemsize, view_size * itemsize)


def _load_legacy(data: bytes | mmap.mmap) -> Any:
    size = len(data)
    position = 0

    def next_pickle(persistent_load: Callable[[Any], _StorageRef] | None = None) -> Any:
        nonlocal position
        stream = io.BytesIO(data) if isinstance(data, bytes) else data
        stream.seek(position)
        end = _scan_pickle(stream, size)
        obj = _unpickle(data[position:end], persistent_load)
        position = end
        return obj

    if next_pickle() != _LEGACY_MAGIC_NUMBER:
        raise CheckpointError("not a PyTorch checkpoint: the magic number is wrong")
    protocol = next_pickle()
    if protocol != _LEGACY_PROTOCOL_VERSION:
        raise CheckpointError(f"unsupported legacy checkpoint protocol {_brief(protocol)}")
    sys_info = next_pickle()
    if not isinstance(sys_info, dict):
        raise CheckpointError("invalid legacy checkpoint system information")
    little_endian = sys_info.get("little_endian", True)
    if not isinstance(little_endian, bool):
        raise CheckpointError("invalid legacy checkpoint system information")
    storages = _LegacyStorages()
    obj = next_pickle(storages.persistent_load)
    keys = next_pickle()
    if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
        raise CheckpointError("invalid storage key list")
    if len(set(keys)) != len(keys) or set(keys) != set(storages.roots):
        raise CheckpointError("the storage key list does not match the storages the checkpoint uses")

    count_format = "<Q" if little_endian else ">Q"
    spans: dict[str, tuple[int, int]] = {}
    for key in keys:
        if position + 8 > size:
            raise CheckpointError(f"the file ends before storage {_brief(key)}")
        (count,) = struct.unpack(count_format, data[position : position + 8])
        itemsize, numel = storages.roots[key]
        if count != numel:
            raise CheckpointError(f"storage {_brief(key)} holds {count} elements, but {numel} are declared")
        nbytes = count * itemsize
        if position + 8 + nbytes > size:
            raise CheckpointError(f"storage {_brief(key)} is truncated")
        spans[key] = (position + 8, position + 8 + nbytes)
        position += 8 + nbytes

    def read_storage(key: str) -> bytes:
        start, stop = spans[key]
        return data[start:stop]

    return _Materializer(read_storage, size, big_endian=not little_endian).convert(obj)


def _load_npz(archive: zipfile.ZipFile, archive_size: int) -> dict[str, Any]:
    arrays: dict[str, np.ndarray] = {}
    for info in archive.infolist():
        data = _read_member(archive, info, archive_size)
        stream = io.BytesIO(data)
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise CheckpointError(f"unsupported .npy format version {version} in {_brief(info.filename)}")
        name = _SAVABLE_DTYPES.get(dtype.newbyteorder("="))
        if name is None:
            raise CheckpointError(f"unsupported dtype {dtype} in {_brief(info.filename)}")
        nbytes = math.prod(shape) * dtype.itemsize
        if stream.tell() + nbytes != len(data):
            raise CheckpointError(f"{_brief(info.filename)} holds {len(data) - stream.tell()} data bytes, not {nbytes}")
        array = np.frombuffer(data, dtype=dtype, offset=stream.tell(), count=math.prod(shape))
        array = array.reshape(shape, order="F" if fortran_order else "C")
        disk_dtype = _DType(name, dtype)
        arrays[info.filename[: -len(".npy")]] = disk_dtype.finish(np.array(array, order="C"))
    return {key: _to_tensor(array) for key, array in arrays.items()}


def _load_safetensors(data: bytes | mmap.mmap) -> dict[str, Any]:
    size = len(data)
    (header_size,) = struct.unpack("<Q", data[:8])
    if header_size > min(size - 8, _MAX_SAFETENSORS_HEADER):
        raise CheckpointError(f"safetensors header of {header_size} bytes does not fit the file")
    header = json.loads(data[8 : 8 + header_size])
    if not isinstance(header, dict):
        raise CheckpointError("safetensors header is not a JSON object")
    data_start = 8 + header_size
    data_size = size - data_start

    entries = []
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        if not isinstance(entry, dict):
            raise CheckpointError(f"invalid safetensors entry for {_brief(key)}")
        dtype_name = _SAFETENSORS_DTYPES.get(entry.get("dtype"))  # type: ignore[arg-type]
        if dtype_name is None:
            raise CheckpointError(f"unsupported safetensors dtype {_brief(entry.get('dtype'))} for {_brief(key)}")
        dtype = _DTYPES[dtype_name]
        shape = _require_ints(entry.get("shape"), f"shape of {_brief(key)}")
        offsets = _require_ints(entry.get("data_offsets"), f"data offsets of {_brief(key)}")
        if len(offsets) != 2 or not offsets[0] <= offsets[1] <= data_size:
            raise CheckpointError(f"data offsets {offsets} of {_brief(key)} do not fit the file")
        if offsets[1] - offsets[0] != math.prod(shape) * dtype.itemsize:
            raise CheckpointError(f"data offsets {offsets} of {_brief(key)} do not match its shape {shape}")
        entries.append((key, dtype, shape, offsets))

    entries.sort(key=lambda entry: entry[3])
    for previous, following in zip(entries, entries[1:]):
        if following[3][0] < previous[3][1]:
            raise CheckpointError(f"the data of {_brief(previous[0])} and {_brief(following[0])} overlap")

    arrays = {}
    for key, dtype, shape, (begin, end) in entries:
        raw = data[data_start + begin : data_start + end]
        array = np.frombuffer(raw, dtype=dtype.raw).reshape(shape)
        arrays[key] = dtype.finish(array.copy())
    return {key: _to_tensor(array) for key, array in arrays.items()}


# --------------------------------------------------------------------------------------------
# Writing files
# --------------------------------------------------------------------------------------------


def _as_array(obj: Any) -> np.ndarray | None:
    """The ndarray behind a tensor-like object (an ndarray, npconv or torch tensor), else None."""
    if isinstance(obj, np.ndarray):
        return obj
    if isinstance(obj, np.generic) or not (hasattr(obj, "shape") and callable(getattr(obj, "numpy", None))):
        return None
    source = obj.detach() if callable(getattr(obj, "detach", None)) else obj
    return np.asarray(source.numpy())


def _savable_array(obj: Any, where: str) -> np.ndarray:
    """A tensor-like ``obj`` as a C-contiguous little-endian array, checking its dtype."""
    array = _as_array(obj)
    if array is None:
        raise TypeError(f"{where}: expected a tensor, got {type(obj).__name__}")
    if array.dtype.newbyteorder("=") not in _SAVABLE_DTYPES:
        raise TypeError(f"{where}: cannot save a tensor of dtype {array.dtype}")
    return np.asarray(array, dtype=array.dtype.newbyteorder("<"), order="C")


def save(obj: Any, path: PathLike) -> None:
    """Save a tensor or a state dict to ``path``, in the format its extension names.

    * ``.pt``, ``.pth``, ``.bin`` and any other extension: PyTorch's zip checkpoint format, which
      ``torch.load(path, weights_only=True)`` reads.  ``obj`` may be a tensor, ``None``, a bool,
      int, float, complex, str or bytes, or dicts (``dict``/``OrderedDict``), lists and tuples of
      those, nested to any depth.  A tensor object appearing twice is stored once.
    * ``.npz`` and ``.safetensors``: ``obj`` must be a flat mapping of ``str`` keys to tensors;
      anything nested raises ``TypeError`` (save nested structures as ``.pt``).  ``.safetensors``
      needs the optional ``safetensors`` package and cannot hold ``complex128``.

    Tensors are npconv tensors, NumPy arrays, or any object with ``.shape`` and ``.numpy()``
    (``.detach()`` is called first when present).  NumPy scalars are saved as Python scalars.
    The whole object is checked before anything is written, and the file is written under a
    temporary name and then renamed, so a failed save leaves any existing file untouched.
    """
    path = os.fsdecode(os.fspath(path))
    extension = os.path.splitext(path)[1].lower()
    if extension == ".safetensors":
        writer = _safetensors_writer(obj)
    elif extension == ".npz":
        writer = _npz_writer(obj)
    else:
        writer = _torch_zip_writer(obj)
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        writer(temporary)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def _flat_arrays(obj: Any, format_name: str) -> dict[str, np.ndarray]:
    if not isinstance(obj, Mapping):
        raise TypeError(
            f"{format_name} files hold a flat mapping of str keys to tensors, not {type(obj).__name__}; "
            "save other objects as .pt"
        )
    arrays = {}
    for key, value in obj.items():
        if not isinstance(key, str):
            raise TypeError(f"{format_name} keys must be str, not {type(key).__name__}")
        if _as_array(value) is None:
            raise TypeError(
                f"{format_name} files hold only tensors, but {key!r} is a {type(value).__name__}; "
                "save nested structures as .pt"
            )
        arrays[key] = _savable_array(value, f"{format_name} entry {key!r}")
    return arrays


def _safetensors_writer(obj: Any) -> Callable[[str], None]:
    arrays = _flat_arrays(obj, ".safetensors")
    for key, array in arrays.items():
        if array.dtype == np.complex128:
            raise TypeError(f".safetensors cannot hold complex128 ({key!r}); use .pt or .npz")
    try:
        from safetensors.numpy import save_file
    except ImportError as exc:
        raise ImportError(
            "saving .safetensors files needs the optional 'safetensors' package (pip install safetensors)"
        ) from exc

    def write(path: str) -> None:
        save_file(arrays, path)

    return write


def _npz_writer(obj: Any) -> Callable[[str], None]:
    arrays = _flat_arrays(obj, ".npz")
    for key in arrays:
        if "\x00" in key:
            raise ValueError(f".npz keys cannot contain NUL characters: {key!r}")

    def write(path: str) -> None:
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
            for key, array in arrays.items():
                with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, array, allow_pickle=False)

    return write


class _TorchPickleWriter:
    """Writes the ``data.pkl`` pickle of a PyTorch zip checkpoint, opcode by opcode.

    The pickle uses protocol 2 and only the opcodes and globals torch's ``weights_only`` loader
    accepts: tensors are ``torch._utils._rebuild_tensor_v2`` (``_rebuild_tensor_v3`` for
    unsigned types beyond uint8) over a storage persistent id
    ``('storage', torch.<Type>Storage, key, 'cpu', numel)``, exactly as ``torch.save`` writes
    them.  Writing the opcodes directly avoids importing torch to name its globals.
    """

    def __init__(self) -> None:
        self.out = bytearray(pickle.PROTO + b"\x02")
        self.storages: list[np.ndarray] = []
        self._memo: dict[int, tuple[int, Any]] = {}  # id(tensor) -> (memo index, tensor)
        self._active: set[int] = set()

    def dump(self, obj: Any) -> bytes:
        self._save(obj, "object")
        self.out += pickle.STOP
        return bytes(self.out)

    def _global(self, module: str, name: str) -> None:
        self.out += pickle.GLOBAL + f"{module}\n{name}\n".encode("ascii")

    def _save(self, obj: Any, where: str) -> None:
        if obj is None:
            self.out += pickle.NONE
        elif obj is True or obj is False:
            self.out += pickle.NEWTRUE if obj else pickle.NEWFALSE
        elif isinstance(obj, int):
            self._int(int(obj))
        elif isinstance(obj, float):
            self.out += pickle.BINFLOAT + struct.pack(">d", obj)
        elif isinstance(obj, complex):
            self._global("__builtin__", "complex")
            self._tuple([obj.real, obj.imag], where)
            self.out += pickle.REDUCE
        elif isinstance(obj, str):
            self._str(obj)
        elif isinstance(obj, (bytes, bytearray)):
            self._global("_codecs", "encode")
            self._str(bytes(obj).decode("latin-1"))
            self._str("latin1")
            self.out += pickle.TUPLE2 + pickle.REDUCE
        elif isinstance(obj, np.generic):
            self._save(obj.item(), where)
        elif isinstance(obj, Mapping):
            self._container(obj, where, self._mapping)
        elif isinstance(obj, (list, tuple)):
            self._container(obj, where, self._list if isinstance(obj, list) else self._tuple)
        elif _as_array(obj) is not None:
            self._tensor(obj, where)
        else:
            raise TypeError(f"{where}: cannot save an object of type {type(obj).__name__}")

    def _container(self, obj: Any, where: str, write: Callable[[Any, str], None]) -> None:
        if id(obj) in self._active:
            raise ValueError(f"{where}: cannot save a container that holds itself")
        self._active.add(id(obj))
        write(obj, where)
        self._active.discard(id(obj))

    def _int(self, value: int) -> None:
        if 0 <= value < 0x100:
            self.out += pickle.BININT1 + bytes([value])
        elif 0 <= value < 0x10000:
            self.out += pickle.BININT2 + struct.pack("<H", value)
        elif -0x80000000 <= value < 0x80000000:
            self.out += pickle.BININT + struct.pack("<i", value)
        else:
            encoded = value.to_bytes(value.bit_length() // 8 + 1, "little", signed=True)
            if len(encoded) > 0xFF:
                raise OverflowError(f"integer with {len(encoded)} bytes is too large to save")
            self.out += pickle.LONG1 + bytes([len(encoded)]) + encoded

    def _str(self, text: str) -> None:
        encoded = text.encode("utf-8", "surrogatepass")
        self.out += pickle.BINUNICODE + struct.pack("<I", len(encoded)) + encoded

    def _mapping(self, obj: Mapping[Any, Any], where: str) -> None:
        if isinstance(obj, OrderedDict):
            self._global("collections", "OrderedDict")
            self.out += pickle.EMPTY_TUPLE + pickle.REDUCE
        else:
            self.out += pickle.EMPTY_DICT
        items = list(obj.items())
        for start in range(0, len(items), 1000):
            self.out += pickle.MARK
            for key, value in items[start : start + 1000]:
                if _as_array(key) is not None or isinstance(key, (Mapping, list)):
                    raise TypeError(f"{where}: dict keys must be plain values, not {type(key).__name__}")
                self._save(key, where)
                self._save(value, f"{where}[{key!r}]")
            self.out += pickle.SETITEMS

    def _list(self, obj: list[Any], where: str) -> None:
        self.out += pickle.EMPTY_LIST
        for start in range(0, len(obj), 1000):
            self.out += pickle.MARK
            for index, item in enumerate(obj[start : start + 1000], start):
                self._save(item, f"{where}[{index}]")
            self.out += pickle.APPENDS

    def _tuple(self, obj: Any, where: str) -> None:
        self.out += pickle.MARK
        for index, item in enumerate(obj):
            self._save(item, f"{where}[{index}]")
        self.out += pickle.TUPLE

    def _tensor(self, obj: Any, where: str) -> None:
        known = self._memo.get(id(obj))
        if known is not None:
            self.out += pickle.LONG_BINGET + struct.pack("<I", known[0])
            return
        array = _savable_array(obj, where)
        dtype_name = _SAVABLE_DTYPES[array.dtype.newbyteorder("=")]
        storage_class = _SAVE_STORAGE_CLASSES.get(dtype_name)
        key = str(len(self.storages))
        self.storages.append(array)

        self._global("torch._utils", "_rebuild_tensor_v2" if storage_class else "_rebuild_tensor_v3")
        self.out += pickle.MARK
        self.out += pickle.MARK
        self._str("storage")
        if storage_class:
            self._global("torch", storage_class)
        else:
            self._global("torch.storage", "UntypedStorage")
        self._str(key)
        self._str("cpu")
        self._int(array.size if storage_class else array.nbytes)
        self.out += pickle.TUPLE + pickle.BINPERSID
        self._int(0)
        self._tuple(array.shape, where)
        self._tuple(_contiguous_strides(array.shape), where)
        self.out += pickle.NEWFALSE
        self._global("collections", "OrderedDict")
        self.out += pickle.EMPTY_TUPLE + pickle.REDUCE
        if not storage_class:
            self._global("torch", dtype_name)
        self.out += pickle.TUPLE + pickle.REDUCE

        index = len(self._memo)
        self._memo[id(obj)] = (index, obj)
        self.out += pickle.LONG_BINPUT + struct.pack("<I", index)


def _contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Element strides of a C-contiguous tensor, as torch computes them."""
    strides = []
    step = 1
    for extent in reversed(shape):
        strides.append(step)
        step *= max(extent, 1)
    return tuple(reversed(strides))


class _AlignedZipWriter:
    """Adds stored (uncompressed) members to a new zip file so each one's data is aligned.

    torch pads the local header of every record with an extra field (id ``FB``) so that the
    data starts at a multiple of 64 bytes; this does the same, predicting the header size the
    way ``zipfile`` writes it.
    """

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self._archive = archive
        self._offset = 0

    def add(self, name: str, data: bytes | memoryview) -> None:
        size = memoryview(data).nbytes
        info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_STORED
        info.file_size = size
        zip64 = size * 1.05 > zipfile.ZIP64_LIMIT
        header = 30 + len(name.encode("utf-8")) + (20 if zip64 else 0)
        padding = -(self._offset + header + 4) % _STORAGE_ALIGNMENT
        info.extra = struct.pack("<HH", 0x4246, padding) + b"Z" * padding
        with self._archive.open(info, "w", force_zip64=zip64) as member:
            member.write(data)
        self._offset = info.header_offset + header + 4 + padding + size


def _torch_zip_writer(obj: Any) -> Callable[[str], None]:
    pickler = _TorchPickleWriter()
    pickled = pickler.dump(obj)
    storages = pickler.storages

    def write(path: str) -> None:
        with open(path, "wb") as handle, zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED) as archive:
            writer = _AlignedZipWriter(archive)
            writer.add("archive/data.pkl", pickled)
            writer.add("archive/.format_version", b"1")
            writer.add("archive/.storage_alignment", str(_STORAGE_ALIGNMENT).encode("ascii"))
            writer.add("archive/byteorder", b"little")
            for key, array in enumerate(storages):
                writer.add(f"archive/data/{key}", memoryview(array.reshape(-1)).cast("B"))
            writer.add("archive/version", b"3\n")

    return write


# --------------------------------------------------------------------------------------------
# Exchanging tensors with other libraries
# --------------------------------------------------------------------------------------------


def from_dlpack(obj: Any) -> Any:
    """An ``npconv.Tensor`` sharing memory with a DLPack-capable CPU array (torch, JAX, ...)."""
    import npconv

    return npconv.from_numpy(np.from_dlpack(obj))


def from_torch(tensor: Any) -> Any:
    """An ``npconv.Tensor`` sharing memory with a CPU ``torch.Tensor``.

    The tensor is detached first.  Tensors on another device are copied to the CPU, and
    ``bfloat16`` tensors (which NumPy cannot hold) are widened to a ``float32`` copy.
    """
    import torch

    import npconv

    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor, got {type(tensor).__name__}")
    tensor = tensor.detach().cpu().resolve_conj().resolve_neg()
    if tensor.dtype == torch.bfloat16:
        tensor = tensor.float()
    return npconv.from_numpy(tensor.numpy())


def to_torch(tensor: Any) -> Any:
    """A ``torch.Tensor`` sharing memory with an npconv tensor (or ndarray) where possible.

    Memory is shared unless the array has negative strides or non-native byte order, which
    torch cannot view; those are copied.  A read-only array is copied too, since torch tensors
    are always writable.
    """
    import torch

    array = _as_array(tensor)
    if array is None:
        array = np.asarray(tensor)
    if any(step < 0 for step in array.strides) or not array.dtype.isnative or not array.flags.writeable:
        array = np.array(array, dtype=array.dtype.newbyteorder("="), order="C")
    return torch.from_numpy(array)
