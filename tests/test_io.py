"""Model-file loading and saving (``npconv.io``): PyTorch checkpoints, .npz and safetensors."""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import subprocess
import sys
import time
import tracemalloc
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import safetensors.torch
import torch

import npconv
from checkpoint_helpers import (
    Payload,
    StorageStub,
    TensorStub,
    legacy_checkpoint,
    pickle_checkpoint,
    zip_checkpoint,
)
from npconv import io as npio
from npconv.io import CheckpointError, UnsafeCheckpointError

SRC_DIR = Path(npio.__file__).resolve().parents[1]

TORCH_DTYPES = [
    torch.float32,
    torch.float64,
    torch.float16,
    torch.bfloat16,
    torch.int64,
    torch.int32,
    torch.int16,
    torch.int8,
    torch.uint8,
    torch.bool,
    torch.complex64,
    torch.complex128,
]

# Every element type npconv tensors hold, each of which every format must round-trip exactly.
NUMPY_DTYPES = [
    np.float32,
    np.float64,
    np.float16,
    np.int64,
    np.int32,
    np.int16,
    np.int8,
    np.uint8,
    np.bool_,
    np.complex64,
    np.complex128,
]

_NPCONV_NAMES = {np.dtype(dtype).name for dtype in NUMPY_DTYPES}

FORMATS = ["zip", "legacy"]


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------


def torch_save(obj: Any, path: Path, fmt: str) -> Path:
    torch.save(obj, path, _use_new_zipfile_serialization=fmt == "zip")
    return path


def as_array(value: Any) -> np.ndarray:
    """The data of a loaded tensor, checking that it is an npconv tensor."""
    assert isinstance(value, npconv.Tensor), type(value)
    return value.numpy()


def expected_array(tensor: torch.Tensor) -> np.ndarray:
    """What npconv must load for a torch tensor: the same data, bfloat16 widened to float32."""
    tensor = tensor.detach()
    if tensor.dtype == torch.bfloat16:
        tensor = tensor.float()
    return tensor.numpy()


def assert_bit_exact(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.dtype == expected.dtype
    assert actual.shape == expected.shape
    assert np.ascontiguousarray(actual).tobytes() == np.ascontiguousarray(expected).tobytes()


def random_torch_tensor(dtype: torch.dtype, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    if dtype.is_floating_point or dtype.is_complex:
        return torch.randn(shape, generator=generator, dtype=dtype)
    if dtype == torch.bool:
        return torch.randint(0, 2, shape, generator=generator).bool()
    low = 0 if dtype == torch.uint8 else -100
    return torch.randint(low, 100, shape, generator=generator, dtype=dtype)


def random_array(dtype: Any, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        array = rng.standard_normal(shape).astype(dtype)
        special = np.array([np.nan, np.inf, -np.inf, -0.0], dtype=dtype)
        flat = array.reshape(-1)
        flat[: min(flat.size, special.size)] = special[: flat.size]
        return array
    if dtype.kind == "c":
        return np.asarray(rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, shape).astype(bool)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)


def small_cnn_state_dict() -> OrderedDict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1),
        torch.nn.BatchNorm2d(4),
        torch.nn.ReLU(),
        torch.nn.Conv2d(4, 2, 3, stride=2, bias=False),
        torch.nn.Flatten(),
        torch.nn.Linear(2 * 3 * 3, 5),
    )
    model.train()
    model(torch.randn(2, 3, 7, 7))  # moves the batch-norm running statistics off their defaults
    return model.state_dict()


# ----------------------------------------------------------------------------------------------
# checkpoints written by torch
# ----------------------------------------------------------------------------------------------

TORCH_FREE_LOADER = r"""
import sys


class BlockTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError(f"importing {name} is blocked in this test")
        return None


sys.meta_path.insert(0, BlockTorch())
try:
    import torch  # noqa: F401
except ImportError:
    pass
else:
    raise SystemExit("torch could still be imported")

import numpy as np

import npconv
from npconv import io as npio

expected = np.load(sys.argv[1])
for path in sys.argv[2:]:
    state = npio.load(path)
    assert type(state) is dict or type(state).__name__ == "OrderedDict", type(state)
    assert list(state) == list(expected.files), (list(state), expected.files)
    for key, value in state.items():
        assert isinstance(value, npconv.Tensor), (key, type(value))
        array, want = value.numpy(), expected[key]
        assert (array.dtype, array.shape) == (want.dtype, want.shape), (key, array.dtype, array.shape)
        assert array.tobytes() == want.tobytes(), key
assert "torch" not in sys.modules
print("loaded", len(sys.argv) - 2, "checkpoints without torch")
"""


def test_small_cnn_checkpoints_load_in_a_process_without_torch(tmp_path: Path) -> None:
    state = small_cnn_state_dict()
    zip_path = torch_save(state, tmp_path / "cnn.pt", "zip")
    legacy_path = torch_save(state, tmp_path / "cnn_legacy.pt", "legacy")
    expected_path = tmp_path / "expected.npz"
    np.savez(expected_path, **{key: expected_array(value) for key, value in state.items()})

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC_DIR), os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run(
        [sys.executable, "-c", TORCH_FREE_LOADER, str(expected_path), str(zip_path), str(legacy_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "loaded 2 checkpoints without torch" in result.stdout


@pytest.mark.parametrize("fmt", FORMATS)
def test_small_cnn_checkpoint_matches_torch(tmp_path: Path, fmt: str) -> None:
    state = small_cnn_state_dict()
    loaded = npio.load(torch_save(state, tmp_path / "cnn.pt", fmt))
    assert type(loaded) is OrderedDict
    assert list(loaded) == list(state)
    for key, value in state.items():
        assert_bit_exact(as_array(loaded[key]), expected_array(value))
    assert as_array(loaded["1.num_batches_tracked"]).dtype == np.int64


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dtype", TORCH_DTYPES, ids=str)
def test_every_torch_dtype_loads(tmp_path: Path, fmt: str, dtype: torch.dtype) -> None:
    generator = torch.Generator().manual_seed(1)
    tensors = {
        "matrix": random_torch_tensor(dtype, (3, 5), generator),
        "scalar": random_torch_tensor(dtype, (), generator),
        "empty": random_torch_tensor(dtype, (0, 4), generator),
    }
    loaded = npio.load(torch_save(tensors, tmp_path / "t.pt", fmt))
    for key, tensor in tensors.items():
        assert_bit_exact(as_array(loaded[key]), expected_array(tensor))
    if dtype == torch.bfloat16:
        assert as_array(loaded["matrix"]).dtype == np.float32
    if dtype == torch.float16:
        assert as_array(loaded["matrix"]).dtype == np.float16


@pytest.mark.parametrize("fmt", FORMATS)
def test_strided_views_and_shared_storage_load(tmp_path: Path, fmt: str) -> None:
    base = torch.arange(120, dtype=torch.float32).reshape(4, 5, 6)
    views = {
        "base": base,
        "slice": base[1:, ::2, 1:5],
        "transposed": base.transpose(0, 2),
        "permuted": base.permute(1, 2, 0),
        "narrowed": base.narrow(2, 3, 2),
        "offset_flat": base.reshape(-1)[7:19],
        "column": base[:, :, 4],
        "expanded": base[0, 0, :3].unsqueeze(0).expand(5, 3),
    }
    loaded = npio.load(torch_save(views, tmp_path / "views.pt", fmt))
    for key, tensor in views.items():
        assert_bit_exact(as_array(loaded[key]), expected_array(tensor))

    # The same tensor twice in a checkpoint loads as one tensor, as in torch.
    tied = torch.randn(3, 3)
    loaded = npio.load(torch_save({"a": tied, "b": tied, "c": tied.t()}, tmp_path / "tied.pt", fmt))
    assert loaded["a"] is loaded["b"]
    assert_bit_exact(as_array(loaded["c"]), tied.t().numpy())


@pytest.mark.parametrize("fmt", FORMATS)
def test_parameters_scalars_and_containers_from_torch(tmp_path: Path, fmt: str) -> None:
    weight = torch.nn.Parameter(torch.randn(2, 3))
    obj = {
        "weight": weight,
        "epoch": 7,
        "lr": 0.125,
        "name": "cnn",
        "flag": None,
        "nested": [1, (2.5, True), {"deep": torch.tensor([1, 2])}],
        "size": torch.Size([2, 3]),
        "raw": b"\x00\xffbytes",
        "complex": 1 - 2j,
        "tags": {"a", "b"},
    }
    loaded = npio.load(torch_save(obj, tmp_path / "obj.pt", fmt))
    assert_bit_exact(as_array(loaded["weight"]), weight.detach().numpy())
    assert not getattr(loaded["weight"], "requires_grad", False)
    assert loaded["epoch"] == 7 and loaded["lr"] == 0.125 and loaded["name"] == "cnn" and loaded["flag"] is None
    assert loaded["nested"][:2] == [1, (2.5, True)]
    assert_bit_exact(as_array(loaded["nested"][2]["deep"]), np.array([1, 2]))
    assert loaded["size"] == (2, 3)
    assert loaded["raw"] == b"\x00\xffbytes"
    assert loaded["complex"] == 1 - 2j
    assert loaded["tags"] == {"a", "b"}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_every_pickle_protocol_torch_can_write_loads(tmp_path: Path, fmt: str, protocol: int) -> None:
    state = small_cnn_state_dict()
    path = tmp_path / "cnn.pt"
    torch.save(state, path, pickle_protocol=protocol, _use_new_zipfile_serialization=fmt == "zip")
    loaded = npio.load(path)
    for key, value in state.items():
        assert_bit_exact(as_array(loaded[key]), expected_array(value))


def test_bare_storages_load_as_flat_tensors(tmp_path: Path) -> None:
    values = torch.tensor([1.0, -2.0, 0.5])
    loaded = npio.load(torch_save({"untyped": values.untyped_storage()}, tmp_path / "s.pt", "zip"))
    assert_bit_exact(as_array(loaded["untyped"]), values.numpy().view(np.uint8))


@pytest.mark.parametrize("fmt", FORMATS)
def test_tensors_with_python_attributes_load_as_plain_tensors(tmp_path: Path, fmt: str) -> None:
    # torch pickles these through _rebuild_from_type_v2 and _rebuild_parameter_with_state.
    tensor = torch.arange(3.0)
    tensor.note = "kept by torch, dropped by npconv"
    parameter = torch.nn.Parameter(torch.ones(2))
    parameter.tag = 5
    loaded = npio.load(torch_save({"t": tensor, "p": parameter}, tmp_path / "attrs.pt", fmt))
    assert_bit_exact(as_array(loaded["t"]), tensor.numpy())
    assert_bit_exact(as_array(loaded["p"]), parameter.detach().numpy())


def test_a_bare_tensor_checkpoint_loads_as_a_tensor(tmp_path: Path) -> None:
    tensor = torch.randn(4, 2)
    loaded = npio.load(torch_save(tensor, tmp_path / "t.pt", "zip"))
    assert_bit_exact(as_array(loaded), tensor.numpy())


def test_file_objects_load_like_paths(tmp_path: Path) -> None:
    state = small_cnn_state_dict()
    for fmt in FORMATS:
        path = torch_save(state, tmp_path / f"{fmt}.pt", fmt)
        loaded = npio.load(io.BytesIO(path.read_bytes()))
        assert_bit_exact(as_array(loaded["0.weight"]), state["0.weight"].numpy())


def test_dtype_npconv_cannot_hold_is_a_clear_error(tmp_path: Path) -> None:
    path = torch_save({"x": torch.tensor([1, 2, 3], dtype=torch.uint16)}, tmp_path / "u16.pt", "zip")
    try:
        npconv.from_numpy(np.zeros(1, dtype=np.uint16))
    except TypeError:
        with pytest.raises(CheckpointError, match="uint16"):
            npio.load(path)
    else:
        assert_bit_exact(as_array(npio.load(path)["x"]), np.array([1, 2, 3], dtype=np.uint16))

    float8 = torch.zeros(2).to(torch.float8_e4m3fn)
    with pytest.raises(CheckpointError, match="float8_e4m3fn"):
        npio.load(torch_save({"x": float8}, tmp_path / "f8.pt", "zip"))


def test_safetensors_written_by_torch_loads_with_bfloat16_widened(tmp_path: Path) -> None:
    generator = torch.Generator().manual_seed(2)
    tensors = {str(dtype): random_torch_tensor(dtype, (2, 3), generator) for dtype in TORCH_DTYPES[:-1]}
    path = tmp_path / "t.safetensors"
    safetensors.torch.save_file(tensors, path)
    loaded = npio.load(path)
    assert set(loaded) == set(tensors)
    for key, tensor in tensors.items():
        assert_bit_exact(as_array(loaded[key]), expected_array(tensor))


@pytest.mark.parametrize("compressed", [False, True])
def test_npz_written_by_numpy_loads(tmp_path: Path, compressed: bool) -> None:
    rng = np.random.default_rng(3)
    arrays = {f"a{index}": random_array(dtype, (3, 2), rng) for index, dtype in enumerate(NUMPY_DTYPES)}
    arrays["fortran"] = np.asfortranarray(random_array(np.float32, (3, 4), rng))
    arrays["big_endian"] = random_array(np.float64, (5,), rng).astype(">f8")
    path = tmp_path / "arrays.npz"
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    loaded = npio.load(path)
    assert list(loaded) == list(arrays)
    for key, array in arrays.items():
        assert_bit_exact(as_array(loaded[key]), array.astype(array.dtype.newbyteorder("=")))


# ----------------------------------------------------------------------------------------------
# hand-made checkpoints: unusual layouts torch does not write today
# ----------------------------------------------------------------------------------------------


def test_big_endian_zip_checkpoint_loads(tmp_path: Path) -> None:
    values = np.arange(6, dtype=np.float64)
    storage = StorageStub(torch.DoubleStorage, "0", 6)
    pkl = pickle_checkpoint({"x": TensorStub(storage, 0, (2, 3), (3, 1))})
    path = tmp_path / "be.pt"
    path.write_bytes(zip_checkpoint(pkl, {"0": values.astype(">f8").tobytes()}, byteorder="big"))
    assert_bit_exact(as_array(npio.load(path)["x"]), values.reshape(2, 3))


def test_zip_checkpoint_without_byteorder_record_is_little_endian(tmp_path: Path) -> None:
    storage = StorageStub(torch.IntStorage, "0", 3)
    pkl = pickle_checkpoint(TensorStub(storage, 0, (3,), (1,)))
    path = tmp_path / "old.pt"
    path.write_bytes(zip_checkpoint(pkl, {"0": np.array([1, 2, 3], "<i4").tobytes()}, byteorder=None))
    assert_bit_exact(as_array(npio.load(path)), np.array([1, 2, 3], dtype=np.int32))


def test_legacy_storage_views_load(tmp_path: Path) -> None:
    # Old torch versions pickled views of a storage as (view key, offset, size) metadata.
    values = np.arange(10, dtype=np.float32)
    view = StorageStub(torch.FloatStorage, "root", 10, view=("view", 4, 5))
    whole = StorageStub(torch.FloatStorage, "root", 10)
    pkl = pickle_checkpoint({"v": TensorStub(view, 1, (2, 2), (2, 1)), "w": TensorStub(whole, 0, (10,), (1,))}, True)
    path = tmp_path / "views.pt"
    path.write_bytes(legacy_checkpoint(pkl, [("root", 10, values.tobytes())]))
    loaded = npio.load(path)
    assert_bit_exact(as_array(loaded["v"]), np.array([[5, 6], [7, 8]], dtype=np.float32))
    assert_bit_exact(as_array(loaded["w"]), values)


def test_storage_viewed_as_two_dtypes_loads(tmp_path: Path) -> None:
    # torch refuses to save such views today, but the format allows them.
    values = np.array([1.0, -2.5, 3.0, 0.0], dtype=np.float32)
    as_float = TensorStub(StorageStub(torch.FloatStorage, "0", 4), 1, (2,), (1,))
    as_int = TensorStub(StorageStub(torch.IntStorage, "0", 4), 0, (4,), (1,))
    path = tmp_path / "two_types.pt"
    path.write_bytes(zip_checkpoint(pickle_checkpoint({"f": as_float, "i": as_int}), {"0": values.tobytes()}))
    loaded = npio.load(path)
    assert_bit_exact(as_array(loaded["f"]), values[1:3])
    assert_bit_exact(as_array(loaded["i"]), values.view(np.int32))


def test_big_endian_legacy_checkpoint_loads(tmp_path: Path) -> None:
    values = np.array([1.5, -2.0, 3.25], dtype=np.float32)
    pkl = pickle_checkpoint(TensorStub(StorageStub(torch.FloatStorage, "k", 3), 0, (3,), (1,)), True)
    path = tmp_path / "be.pt"
    path.write_bytes(legacy_checkpoint(pkl, [("k", 3, values.astype(">f4").tobytes())], little_endian=False))
    assert_bit_exact(as_array(npio.load(path)), values)


# ----------------------------------------------------------------------------------------------
# hostile checkpoints
# ----------------------------------------------------------------------------------------------


def hostile_payloads(marker: Path) -> dict[str, tuple[Payload, str]]:
    """Pickled calls that would create ``marker``, with the global each one names."""
    command = f"touch {marker}"
    code = f"open({str(marker)!r}, 'w').close()"
    payloads = {
        "os.system": (Payload(os.system, command), f"{os.system.__module__}.system"),
        "builtins.exec": (Payload(exec, code), "builtins.exec"),
        "builtins.eval": (Payload(eval, f"({code}, 0)"), "builtins.eval"),
        "subprocess.call": (Payload(subprocess.call, ["touch", str(marker)]), "subprocess.call"),
    }
    return payloads


@pytest.mark.parametrize("name", ["os.system", "builtins.exec", "builtins.eval", "subprocess.call"])
def test_hostile_payloads_are_live(tmp_path: Path, name: str) -> None:
    """The payloads used below really run code when read by an unrestricted unpickler."""
    marker = tmp_path / "marker"
    payload, _ = hostile_payloads(marker)[name]
    pickle.loads(pickle.dumps(payload, protocol=2))
    assert marker.exists()


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", ["os.system", "builtins.exec", "builtins.eval", "subprocess.call"])
def test_hostile_checkpoint_is_refused_and_never_runs(tmp_path: Path, fmt: str, name: str) -> None:
    marker = tmp_path / "marker"
    payload, qualname = hostile_payloads(marker)[name]
    storage = StorageStub(torch.FloatStorage, "0", 4)
    obj = OrderedDict(weight=TensorStub(storage, 0, (4,), (1,)), evil=payload)
    data = np.zeros(4, dtype=np.float32).tobytes()
    if fmt == "zip":
        content = zip_checkpoint(pickle_checkpoint(obj), {"0": data})
    else:
        content = legacy_checkpoint(pickle_checkpoint(obj, legacy=True), [("0", 4, data)])
    path = tmp_path / "evil.pt"
    path.write_bytes(content)
    with pytest.raises(UnsafeCheckpointError, match=repr(qualname).replace(".", r"\.")) as caught:
        npio.load(path)
    assert isinstance(caught.value, pickle.UnpicklingError)
    assert isinstance(caught.value, CheckpointError)
    assert not marker.exists()


def test_hostile_globals_are_refused_wherever_they_appear(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    payload, qualname = hostile_payloads(marker)["os.system"]
    cases = {
        # as the storage type of a persistent id
        "storage type": pickle_checkpoint(TensorStub(StorageStub(payload, "0", 1), 0, (1,), (1,))),
        # protocol 4 names globals with STACK_GLOBAL instead of GLOBAL
        "protocol 4": pickle_checkpoint({"evil": payload}, protocol=4),
        # a global of the torch package that is not a rebuild function
        "torch.load": pickle_checkpoint(Payload(torch.load, str(marker))),
        # classes are refused too, even harmless ones
        "class": pickle_checkpoint(Payload(type, "X", (), {})),
    }
    for label, pkl in cases.items():
        path = tmp_path / f"{label}.pt"
        path.write_bytes(zip_checkpoint(pkl, {"0": b"\x00" * 4}))
        with pytest.raises(UnsafeCheckpointError, match="refusing to load global"):
            npio.load(path)
    assert not marker.exists()


# ----------------------------------------------------------------------------------------------
# damaged and inconsistent checkpoints
# ----------------------------------------------------------------------------------------------


def stub_zip(obj: Any, records: dict[str, bytes]) -> bytes:
    return zip_checkpoint(pickle_checkpoint(obj), records)


INCONSISTENT_ZIP_CHECKPOINTS = {
    "shape past the storage": (
        lambda: stub_zip(TensorStub(StorageStub(torch.FloatStorage, "0", 4), 0, (2, 3), (3, 1)), {"0": bytes(16)}),
        "needs 6 elements but its storage holds 4",
    ),
    "offset past the storage": (
        lambda: stub_zip(TensorStub(StorageStub(torch.FloatStorage, "0", 4), 4, (1,), (1,)), {"0": bytes(16)}),
        "needs 5 elements",
    ),
    "stride past the storage": (
        lambda: stub_zip(TensorStub(StorageStub(torch.FloatStorage, "0", 4), 0, (2, 2), (1, 3)), {"0": bytes(16)}),
        "needs 5 elements",
    ),
    "negative stride": (
        lambda: stub_zip(TensorStub(StorageStub(torch.FloatStorage, "0", 4), 3, (4,), (-1,)), {"0": bytes(16)}),
        "invalid tensor stride",
    ),
    "size and stride lengths differ": (
        lambda: stub_zip(TensorStub(StorageStub(torch.FloatStorage, "0", 4), 0, (2, 2), (1,)), {"0": bytes(16)}),
        "differ in length",
    ),
    "missing storage record": (
        lambda: stub_zip(TensorStub(StorageStub(torch.FloatStorage, "7", 4), 0, (4,), (1,)), {"0": bytes(16)}),
        "'data/7' is missing",
    ),
    "record smaller than declared": (
        lambda: stub_zip(TensorStub(StorageStub(torch.FloatStorage, "0", 4), 0, (4,), (1,)), {"0": bytes(12)}),
        "holds 12 bytes, but the checkpoint declares 16",
    ),
    "unknown storage type": (
        lambda: stub_zip(TensorStub(StorageStub(torch.QInt8Storage, "0", 4), 0, (4,), (1,)), {"0": bytes(4)}),
        "QInt8Storage",
    ),
    "huge expanded view": (
        lambda: stub_zip(
            TensorStub(StorageStub(torch.FloatStorage, "0", 1), 0, (10**6, 10**6), (0, 0)), {"0": bytes(4)}
        ),
        "would take 4000000000000 bytes",
    ),
    "many views multiplying one storage": (
        lambda: stub_zip(
            [TensorStub(StorageStub(torch.FloatStorage, "0", 2**18), 0, (2**18,), (1,)) for _ in range(300)],
            {"0": bytes(2**20)},
        ),
        "would take 314572800 bytes",
    ),
    "malformed persistent id": (
        lambda: zip_checkpoint(b"\x80\x02X\x03\x00\x00\x00abcQ."),
        "unexpected persistent id",
    ),
    "container that holds itself": (
        lambda: stub_zip((lambda x: (x.append(x), x)[1])([]), {}),
        "holds itself",
    ),
    "deeply nested lists": (
        lambda: zip_checkpoint(b"\x80\x02" + b"]" * 5000 + b"a" * 4999 + b"."),
        "nested more than",
    ),
    "trailing bytes after the pickle": (
        lambda: zip_checkpoint(pickle.dumps({"a": 1}, protocol=2) + b"junk"),
        "unexpected bytes",
    ),
    "unknown byte order": (
        lambda: zip_checkpoint(pickle.dumps({"a": 1}, protocol=2), byteorder="middle"),
        "byte order",
    ),
    "zip without data.pkl": (
        lambda: zip_checkpoint(pickle.dumps(1, protocol=2), prefix="a/b"),
        "neither a PyTorch checkpoint nor an .npz archive",
    ),
}


@pytest.mark.parametrize("case", list(INCONSISTENT_ZIP_CHECKPOINTS))
def test_inconsistent_zip_checkpoint_is_a_clear_error(tmp_path: Path, case: str) -> None:
    build, message = INCONSISTENT_ZIP_CHECKPOINTS[case]
    path = tmp_path / "bad.pt"
    path.write_bytes(build())
    with pytest.raises(CheckpointError, match=message.replace("(", r"\(").replace(")", r"\)")):
        npio.load(path)


def legacy_tensor(key: str, numel: int, size: tuple[int, ...]) -> bytes:
    strides = tuple(int(np.prod(size[index + 1 :])) for index in range(len(size)))
    return pickle_checkpoint(TensorStub(StorageStub(torch.FloatStorage, key, numel), 0, size, strides), legacy=True)


INCONSISTENT_LEGACY_CHECKPOINTS = {
    "element count larger than the file": (
        lambda: legacy_checkpoint(legacy_tensor("k", 4, (4,)), [("k", 2**60, bytes(16))]),
        "holds 1152921504606846976 elements, but 4 are declared",
    ),
    "storage data truncated": (
        lambda: legacy_checkpoint(legacy_tensor("k", 4, (4,)), [("k", 4, bytes(10))]),
        "truncated",
    ),
    "storage missing from the key list": (
        lambda: legacy_checkpoint(legacy_tensor("k", 4, (4,)), []),
        "key list does not match",
    ),
    "shape past the storage": (
        lambda: legacy_checkpoint(legacy_tensor("k", 4, (5,)), [("k", 4, bytes(16))]),
        "needs 5 elements",
    ),
    "wrong magic number": (
        lambda: pickle.dumps(12345, protocol=2) + legacy_checkpoint(legacy_tensor("k", 1, (1,)))[15:],
        "magic number",
    ),
}


@pytest.mark.parametrize("case", list(INCONSISTENT_LEGACY_CHECKPOINTS))
def test_inconsistent_legacy_checkpoint_is_a_clear_error(tmp_path: Path, case: str) -> None:
    build, message = INCONSISTENT_LEGACY_CHECKPOINTS[case]
    path = tmp_path / "bad.pt"
    path.write_bytes(build())
    with pytest.raises(CheckpointError, match=message):
        npio.load(path)


@pytest.mark.parametrize(
    "pickled",
    [
        b"\x80\x02K\x01r\x00\x00\x00\x10.",  # memo index 2**28: the unpickler would allocate 2 GiB
        b"\x80\x02K\x01r\xff\xff\xff\x7f.",
        b"\x80\x02X\xff\xff\xff\x7fabc.",  # string length far past the data
        b"\x80\x04\x95\xff\xff\xff\xff\xff\x00\x00\x00K\x01.",  # frame length far past the data
        b"\x80\x04\x8e\xff\xff\xff\xff\xff\xff\x00\x00abc.",  # 8-byte bytes length
    ],
)
def test_length_and_memo_fields_cannot_force_huge_allocations(tmp_path: Path, pickled: bytes) -> None:
    path = tmp_path / "bomb.pt"
    path.write_bytes(zip_checkpoint(pickled))
    tracemalloc.start()
    try:
        start = time.perf_counter()
        with pytest.raises(CheckpointError):
            npio.load(path)
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 1.0
    assert peak < 16 * 2**20


@pytest.mark.parametrize(
    "content",
    [b"", b"\x00", b"garbage that is no model file", b"PK\x03\x04", b"PK\x05\x06" + bytes(18), b"\x80\x02", b"\x80"],
    ids=["empty", "one byte", "text", "zip magic only", "empty zip directory", "pickle header", "proto opcode"],
)
def test_tiny_and_garbage_files_are_clear_errors(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.bin"
    path.write_bytes(content)
    if content.startswith(b"PK\x05\x06"):
        assert npio.load(path) == {}  # an empty zip archive is an empty .npz
        return
    with pytest.raises(CheckpointError):
        npio.load(path)


def test_overlapping_safetensors_entries_are_refused(tmp_path: Path) -> None:
    header = {
        "a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
        "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]},
    }
    encoded = json.dumps(header).encode()
    path = tmp_path / "overlap.safetensors"
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + bytes(24))
    with pytest.raises(CheckpointError, match="overlap"):
        npio.load(path)


def test_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        npio.load(tmp_path / "missing.pt")


# ----------------------------------------------------------------------------------------------
# fuzzing
# ----------------------------------------------------------------------------------------------


def fuzz_seed_files(tmp_path: Path) -> dict[str, bytes]:
    state = small_cnn_state_dict()
    state["nested"] = {"step": 3, "names": ["a", "b"]}  # type: ignore[assignment]
    arrays = {key: value.numpy() for key, value in small_cnn_state_dict().items()}
    files = {}
    for fmt in FORMATS:
        files[fmt] = torch_save(state, tmp_path / f"seed-{fmt}.pt", fmt).read_bytes()
    for suffix in (".npz", ".safetensors"):
        npio.save(arrays, tmp_path / f"seed{suffix}")
        files[suffix] = (tmp_path / f"seed{suffix}").read_bytes()
    return files


def check_loaded_object(obj: Any, depth: int = 0) -> None:
    """A successful load holds only tensors and plain Python objects, all the way down."""
    assert depth < 300
    if isinstance(obj, dict):
        for value in obj.values():
            check_loaded_object(value, depth + 1)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            check_loaded_object(value, depth + 1)
    elif not isinstance(obj, (str, bytes, int, float, complex, type(None), set, frozenset)):
        as_array(obj)


def load_damaged(path: Path, content: bytes) -> bool:
    """Load damaged content; True if it loaded, False if it was refused with a CheckpointError."""
    path.write_bytes(content)
    start = time.perf_counter()
    try:
        loaded = npio.load(path)
    except CheckpointError:
        return False
    finally:
        assert time.perf_counter() - start < 2.0, "loading a damaged file took too long"
    check_loaded_object(loaded)
    return True


def test_fuzz_truncated_files_are_always_refused(tmp_path: Path) -> None:
    start = time.perf_counter()
    for name, content in fuzz_seed_files(tmp_path).items():
        cuts = sorted({*range(0, 64), *np.linspace(64, len(content) - 1, 120, dtype=int).tolist()})
        for cut in cuts:
            assert not load_damaged(tmp_path / "cut.bin", content[:cut]), (name, cut)
    assert time.perf_counter() - start < 30


def test_fuzz_flipped_bytes_load_or_fail_cleanly(tmp_path: Path) -> None:
    rng = np.random.default_rng(1234)
    start = time.perf_counter()
    for name, content in fuzz_seed_files(tmp_path).items():
        refused = 0
        for _ in range(200):
            damaged = bytearray(content)
            for position in rng.integers(0, len(content), rng.integers(1, 5)):
                damaged[position] = int(rng.integers(0, 256))
            refused += not load_damaged(tmp_path / "flip.bin", bytes(damaged))
        assert refused > 0, name
    assert time.perf_counter() - start < 30


def test_fuzz_flipped_bytes_in_pickles(tmp_path: Path) -> None:
    """Damage aimed at data.pkl, where a flipped opcode or length field does the most harm."""
    state = small_cnn_state_dict()
    pkl = zipfile.ZipFile(torch_save(state, tmp_path / "seed.pt", "zip")).read("seed/data.pkl")
    records = {
        name.split("/")[-1]: zipfile.ZipFile(tmp_path / "seed.pt").read(name)
        for name in zipfile.ZipFile(tmp_path / "seed.pt").namelist()
        if "/data/" in name
    }
    rng = np.random.default_rng(99)
    start = time.perf_counter()
    for _ in range(200):
        damaged = bytearray(pkl)
        for position in rng.integers(0, len(pkl), rng.integers(1, 3)):
            damaged[position] = int(rng.integers(0, 256))
        load_damaged(tmp_path / "flip.pt", zip_checkpoint(bytes(damaged), records))
    assert time.perf_counter() - start < 30


# ----------------------------------------------------------------------------------------------
# saving
# ----------------------------------------------------------------------------------------------


# safetensors has no complex128: refusing it is tested separately.
ROUND_TRIP_CASES = [
    (suffix, dtype)
    for suffix in (".pt", ".pth", ".bin", ".npz", ".safetensors")
    for dtype in NUMPY_DTYPES
    if not (suffix == ".safetensors" and dtype == np.complex128)
]


@pytest.mark.parametrize(
    ("suffix", "dtype"), ROUND_TRIP_CASES, ids=[f"{s}-{np.dtype(d).name}" for s, d in ROUND_TRIP_CASES]
)
def test_round_trip_is_bit_exact(tmp_path: Path, suffix: str, dtype: Any) -> None:
    rng = np.random.default_rng(5)
    arrays = {
        "matrix": random_array(dtype, (4, 3), rng),
        "scalar": random_array(dtype, (), rng),
        "empty": random_array(dtype, (0, 2), rng),
        "transposed": random_array(dtype, (3, 5), rng).T,
        "big": random_array(dtype, (2, 3, 50), rng),
    }
    state = {key: npconv.from_numpy(array) if index % 2 else array for index, (key, array) in enumerate(arrays.items())}
    path = tmp_path / f"weights{suffix}"
    npio.save(state, path)
    loaded = npio.load(path)
    assert set(loaded) == set(arrays)
    for key, array in arrays.items():
        assert_bit_exact(as_array(loaded[key]), array)


def test_round_trip_of_nested_containers_and_scalars(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    tensor = npconv.from_numpy(random_array(np.float32, (2, 2), rng))
    obj = OrderedDict(
        model=OrderedDict(weight=tensor, bias=npconv.from_numpy(random_array(np.float64, (2,), rng))),
        optimizer={
            "state": {0: {"step": 12, "exp_avg": tensor}},
            "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999)}],
        },
        numbers=[0, 1, 255, 256, 65535, 65536, -1, -(2**31), 2**31, 2**70, -(2**70), 1.5, -0.0, float("inf")],
        flags=(True, False, None),
        text=["", "ascii", "ünïcödé ✓"],
        raw=[b"", b"\x00\xff"],
        complex=3 - 4j,
        numpy_scalar=np.float32(0.5),
    )
    path = tmp_path / "nested.pt"
    npio.save(obj, path)
    loaded = npio.load(path)

    assert type(loaded) is OrderedDict and type(loaded["model"]) is OrderedDict
    assert type(loaded["optimizer"]) is dict
    assert_bit_exact(as_array(loaded["model"]["weight"]), tensor.numpy())
    assert loaded["optimizer"]["state"][0]["exp_avg"] is loaded["model"]["weight"]
    assert loaded["optimizer"]["state"][0]["step"] == 12
    assert loaded["optimizer"]["param_groups"] == [{"lr": 1e-3, "betas": (0.9, 0.999)}]
    assert loaded["numbers"] == obj["numbers"]
    assert str(loaded["numbers"][-2]) == "-0.0"
    assert loaded["flags"] == (True, False, None)
    assert loaded["text"] == obj["text"] and loaded["raw"] == obj["raw"]
    assert loaded["complex"] == 3 - 4j
    assert loaded["numpy_scalar"] == 0.5 and type(loaded["numpy_scalar"]) is float


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_flat_formats_refuse_what_they_cannot_hold(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"x{suffix}"
    tensor = npconv.from_numpy(np.zeros(2, dtype=np.float32))
    with pytest.raises(TypeError, match="save nested structures as .pt"):
        npio.save({"a": {"b": tensor}}, path)
    with pytest.raises(TypeError, match="save nested structures as .pt"):
        npio.save({"a": tensor, "step": 3}, path)
    with pytest.raises(TypeError, match="flat mapping"):
        npio.save(tensor, path)
    with pytest.raises(TypeError, match="keys must be str"):
        npio.save({1: tensor}, path)
    assert not path.exists()


def test_safetensors_refuses_complex128(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="complex128"):
        npio.save({"z": np.zeros(2, dtype=np.complex128)}, tmp_path / "z.safetensors")


def test_unsavable_objects_are_type_errors_and_leave_no_file(tmp_path: Path) -> None:
    path = tmp_path / "x.pt"
    path.write_bytes(b"previous contents")
    for obj in [{"f": lambda: 0}, {"o": object()}, {"s": np.array(["text"])}, {"o": np.array([None], dtype=object)}]:
        with pytest.raises(TypeError):
            npio.save(obj, path)
    looped: list[Any] = []
    looped.append(looped)
    with pytest.raises(ValueError, match="holds itself"):
        npio.save(looped, path)
    assert path.read_bytes() == b"previous contents"
    assert sorted(os.listdir(tmp_path)) == ["x.pt"]


@pytest.mark.parametrize("dtype", NUMPY_DTYPES + [np.uint16, np.uint32, np.uint64], ids=lambda d: np.dtype(d).name)
def test_torch_reads_saved_checkpoints_with_weights_only(tmp_path: Path, dtype: Any) -> None:
    rng = np.random.default_rng(7)
    arrays = {"matrix": random_array(dtype, (3, 4), rng), "scalar": random_array(dtype, (), rng)}
    shared = npconv.from_numpy(arrays["matrix"]) if np.dtype(dtype).name in _NPCONV_NAMES else arrays["matrix"]
    obj = OrderedDict(
        weight=shared,
        tied=shared,
        scalar=arrays["scalar"],
        meta={"epoch": 3, "lr": 0.5, "name": "x", "none": None, "pair": (1, [2.5]), "raw": b"ab", "z": 1j},
    )
    path = tmp_path / "for_torch.pt"
    npio.save(obj, path)

    loaded = torch.load(path, weights_only=True)
    assert type(loaded) is OrderedDict
    assert loaded["weight"] is loaded["tied"]
    assert_bit_exact(loaded["weight"].numpy(), arrays["matrix"])
    assert_bit_exact(loaded["scalar"].numpy(), arrays["scalar"])
    assert loaded["meta"] == obj["meta"]

    mapped = torch.load(path, weights_only=True, mmap=True)  # needs 64-byte aligned storage records
    assert_bit_exact(mapped["weight"].numpy(), arrays["matrix"])


def test_saved_storage_records_are_aligned(tmp_path: Path) -> None:
    path = tmp_path / "aligned.pt"
    npio.save({f"t{index}": np.ones(index, dtype=np.float32) for index in range(1, 12)}, path)
    content = path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            name_length, extra_length = struct.unpack("<HH", content[info.header_offset + 26 : info.header_offset + 30])
            assert (info.header_offset + 30 + name_length + extra_length) % 64 == 0, info.filename


# ----------------------------------------------------------------------------------------------
# exchanging tensors with torch and DLPack
# ----------------------------------------------------------------------------------------------


def test_from_torch_shares_memory() -> None:
    source = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    tensor = npio.from_torch(source)
    assert isinstance(tensor, npconv.Tensor)
    source[0, 0] = 42.0
    assert tensor.numpy()[0, 0] == 42.0

    with_grad = torch.ones(2, requires_grad=True)
    assert_bit_exact(npio.from_torch(with_grad).numpy(), np.ones(2, dtype=np.float32))

    bf16 = torch.tensor([1.5, -2.25], dtype=torch.bfloat16)
    assert_bit_exact(npio.from_torch(bf16).numpy(), np.array([1.5, -2.25], dtype=np.float32))

    with pytest.raises(TypeError):
        npio.from_torch(np.zeros(2))


def test_from_dlpack_shares_memory() -> None:
    source = torch.zeros(3, dtype=torch.float64)
    tensor = npio.from_dlpack(source)
    assert isinstance(tensor, npconv.Tensor)
    source[1] = 7.0
    assert tensor.numpy()[1] == 7.0


def test_to_torch_shares_memory() -> None:
    array = np.arange(4, dtype=np.int64)
    tensor = npconv.from_numpy(array)
    converted = npio.to_torch(tensor)
    assert isinstance(converted, torch.Tensor)
    array[2] = -5
    assert converted[2].item() == -5

    reversed_view = npio.to_torch(np.arange(5.0)[::-1])  # torch cannot view negative strides: copied
    assert reversed_view.tolist() == [4.0, 3.0, 2.0, 1.0, 0.0]


def test_npconv_package_exposes_the_io_functions() -> None:
    assert npconv.save is npio.save
    assert npconv.load is npio.load
    assert npconv.from_dlpack is npio.from_dlpack
    assert npconv.from_torch is npio.from_torch
