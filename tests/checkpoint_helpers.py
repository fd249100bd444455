"""Hand-built PyTorch checkpoint files, for tests that need unusual, damaged or hostile ones.

The pickles are made by Python's own pickler from stand-in objects that reduce to the same
globals ``torch.save`` uses, so their byte layout matches what torch writes, while the tests
stay free to put any size, stride, storage record or global into them.
"""

from __future__ import annotations

import io
import pickle
import struct
import zipfile
from collections import OrderedDict
from typing import Any

import torch

LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL_VERSION = 1001


class StorageStub:
    """Pickles as the persistent id of a storage: ``('storage', type, key, location, numel[, view])``."""

    def __init__(
        self, storage_type: Any, key: str, numel: int, location: str = "cpu", view: tuple[Any, ...] | None = None
    ) -> None:
        self.storage_type = storage_type
        self.key = key
        self.numel = numel
        self.location = location
        self.view = view


class TensorStub:
    """Pickles as ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())``."""

    def __init__(self, storage: StorageStub, offset: Any, size: Any, stride: Any) -> None:
        self.storage = storage
        self.offset = offset
        self.size = size
        self.stride = stride

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            torch._utils._rebuild_tensor_v2,
            (self.storage, self.offset, self.size, self.stride, False, OrderedDict()),
        )


class Payload:
    """Pickles as a call ``function(*args)``: what a hostile checkpoint uses to run code."""

    def __init__(self, function: Any, *args: Any) -> None:
        self.function = function
        self.args = args

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.function, self.args)


class _StubPickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO, legacy: bool, protocol: int) -> None:
        super().__init__(file, protocol=protocol)
        self._legacy = legacy

    def persistent_id(self, obj: Any) -> Any:
        if not isinstance(obj, StorageStub):
            return None
        pid = ("storage", obj.storage_type, obj.key, obj.location, obj.numel)
        return (*pid, obj.view) if self._legacy else pid


def pickle_checkpoint(obj: Any, legacy: bool = False, protocol: int = 2) -> bytes:
    """Pickle ``obj`` with storage stubs turned into zip (5-tuple) or legacy (6-tuple) persistent ids."""
    buffer = io.BytesIO()
    _StubPickler(buffer, legacy, protocol).dump(obj)
    return buffer.getvalue()


def zip_checkpoint(
    data_pkl: bytes, records: dict[str, bytes] | None = None, byteorder: str | None = "little", prefix: str = "archive"
) -> bytes:
    """A zip checkpoint: ``<prefix>/data.pkl``, ``<prefix>/data/<key>`` records, byteorder and version."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(f"{prefix}/data.pkl", data_pkl)
        if byteorder is not None:
            archive.writestr(f"{prefix}/byteorder", byteorder)
        for key, data in (records or {}).items():
            archive.writestr(f"{prefix}/data/{key}", data)
        archive.writestr(f"{prefix}/version", "3\n")
    return buffer.getvalue()


def legacy_checkpoint(
    main_pkl: bytes, storages: list[tuple[str, int, bytes]] | None = None, little_endian: bool = True
) -> bytes:
    """A legacy checkpoint: magic, protocol, sys_info and main pickles, key list, then storages.

    ``storages`` lists ``(key, element count, data)``; each is written as the count (8 bytes)
    followed by the data, in the given order.
    """
    storages = storages or []
    sys_info = {
        "protocol_version": LEGACY_PROTOCOL_VERSION,
        "little_endian": little_endian,
        "type_sizes": {"short": 2, "int": 4, "long": 4},
    }
    parts = [
        pickle.dumps(LEGACY_MAGIC_NUMBER, protocol=2),
        pickle.dumps(LEGACY_PROTOCOL_VERSION, protocol=2),
        pickle.dumps(sys_info, protocol=2),
        main_pkl,
        pickle.dumps([key for key, _, _ in storages], protocol=2),
    ]
    count_format = "<q" if little_endian else ">q"
    for _, count, data in storages:
        parts.append(struct.pack(count_format, count) + data)
    return b"".join(parts)
