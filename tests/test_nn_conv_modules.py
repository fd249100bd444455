"""nn.Conv1d/2d/3d and nn.ConvTranspose1d/2d/3d against torch.nn: outputs, gradients, repr, state_dict,
construction and forward errors, the default initialisation, and the documented examples."""

from __future__ import annotations

import contextlib
import doctest
import io
import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import torch

import npconv
from npconv import nn

pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths:UserWarning")

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")

SPATIAL = {1: (9,), 2: (7, 6), 3: (5, 6, 4)}


def first(values: tuple[int, ...], ndim: int) -> tuple[int, ...]:
    """The first ``ndim`` entries of a 3-tuple: anisotropic per-dimension arguments."""
    return tuple(values[:ndim])


@dataclass
class ModuleCase:
    """A layer built the same way in both libraries: ``Conv{ndim}d(in, out, kernel, **kwargs)``."""

    ndim: int
    transposed: bool
    in_channels: int
    out_channels: int
    kernel_size: Any
    kwargs: dict[str, Any] = field(default_factory=dict)
    output_size: tuple[int, ...] | None = None
    batched: bool = True

    @property
    def name(self) -> str:
        return f"ConvTranspose{self.ndim}d" if self.transposed else f"Conv{self.ndim}d"

    @property
    def id(self) -> str:
        arguments = ",".join(f"{key}={value}" for key, value in self.kwargs.items())
        extra = f",output_size={self.output_size}" if self.output_size else ""
        return f"{self.name}({self.in_channels},{self.out_channels},{self.kernel_size},{arguments}{extra})" + (
            "" if self.batched else "-unbatched"
        )

    def build(self, library: Any, dtype: Any = None) -> Any:
        cls = getattr(library.nn, self.name)
        return cls(self.in_channels, self.out_channels, self.kernel_size, **self.kwargs, dtype=dtype)

    def input_shape(self) -> tuple[int, ...]:
        shape = (self.in_channels, *SPATIAL[self.ndim])
        return (2, *shape) if self.batched else shape


def conv_cases() -> list[ModuleCase]:
    """Every dims × padding_mode × a variety of stride / dilation / padding / groups / bias."""
    cases = []
    for ndim, mode in itertools.product((1, 2, 3), PADDING_MODES):
        common = {"padding_mode": mode}
        cases += [
            ModuleCase(ndim, False, 3, 4, 3, {"padding": 1, **common}),
            ModuleCase(
                ndim, False, 4, 6, first((3, 2, 2), ndim),
                {"stride": first((2, 1, 2), ndim), "padding": first((1, 0, 2), ndim),
                 "dilation": first((1, 2, 1), ndim), "groups": 2, "bias": False, **common},
            ),
            ModuleCase(
                ndim, False, 4, 4, first((4, 3, 2), ndim),
                {"padding": "same", "dilation": first((2, 1, 1), ndim), "groups": 2, **common},
            ),
            ModuleCase(ndim, False, 4, 8, 2, {"stride": 2, "padding": "valid", "groups": 4, **common}),
        ]
    cases.append(ModuleCase(2, False, 3, 5, (3, 2), {"padding": (2, 1), "padding_mode": "reflect"}, batched=False))
    cases.append(ModuleCase(1, False, 3, 2, 3, {"padding": 2, "padding_mode": "circular"}, batched=False))
    return cases


def conv_transpose_cases() -> list[ModuleCase]:
    cases = []
    for ndim in (1, 2, 3):
        cases += [
            ModuleCase(ndim, True, 3, 4, 3, {"stride": 2, "padding": 1, "output_padding": 1}),
            ModuleCase(
                ndim, True, 4, 6, first((3, 4, 2), ndim),
                {"stride": first((2, 1, 3), ndim), "padding": first((1, 0, 1), ndim),
                 "output_padding": first((1, 1, 2), ndim), "groups": 2, "bias": False,
                 "dilation": first((1, 2, 1), ndim)},
            ),
            ModuleCase(ndim, True, 2, 4, 2, {"stride": 3, "padding": 2, "dilation": 2, "output_padding": 2}),
            ModuleCase(
                ndim, True, 4, 2, 3, {"stride": 2, "padding": 1, "groups": 2},
                output_size=tuple(2 * size for size in SPATIAL[ndim]),
            ),
        ]
    cases.append(ModuleCase(2, True, 3, 2, 3, {"stride": 2}, output_size=(16, 14), batched=False))
    cases.append(ModuleCase(1, True, 3, 2, 3, {"stride": 3}, output_size=(1, 2, 28)))
    return cases


def random_cases(count: int, seed: int = 2024) -> list[ModuleCase]:
    """Seeded random layers, valid by the textbook output-size formulas (never by the code under test)."""
    rng = np.random.default_rng(seed)
    cases: list[ModuleCase] = []
    while len(cases) < count:
        ndim, transposed = int(rng.integers(1, 4)), bool(rng.integers(0, 2))
        groups = int(rng.choice([1, 2, 3]))
        in_channels, out_channels = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
        kernel = tuple(int(k) for k in rng.integers(1, 4, ndim))
        stride = tuple(int(s) for s in rng.integers(1, 4, ndim))
        dilation = tuple(int(d) for d in rng.integers(1, 3, ndim))
        padding = tuple(int(p) for p in rng.integers(0, 3, ndim))
        kwargs: dict[str, Any] = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups,
                                  "bias": bool(rng.integers(0, 2))}
        spatial = SPATIAL[ndim]
        if transposed:
            extra = tuple(int(rng.integers(0, max(s, d))) for s, d in zip(stride, dilation))
            kwargs["output_padding"] = extra
            sizes = [(n - 1) * s - 2 * p + d * (k - 1) + e + 1
                     for n, s, p, d, k, e in zip(spatial, stride, padding, dilation, kernel, extra)]
        else:
            mode = str(rng.choice(PADDING_MODES))
            kwargs["padding_mode"] = mode
            if rng.random() < 0.2:
                kwargs["stride"], kwargs["padding"], padding = 1, "same", tuple(d * (k - 1) for k, d in zip(kernel, dilation))
                stride = (1,) * ndim
            padded = [n + 2 * p if kwargs["padding"] != "same" else n + p for n, p in zip(spatial, padding)]
            if mode == "reflect" and max(padding) >= min(spatial):
                continue
            sizes = [(m - d * (k - 1) - 1) // s + 1 for m, d, k, s in zip(padded, dilation, kernel, stride)]
        if min(sizes) < 1:
            continue
        cases.append(ModuleCase(ndim, transposed, in_channels, out_channels, kernel, kwargs))
    return cases


ALL_CASES = conv_cases() + conv_transpose_cases()
RANDOM_CASES = random_cases(30)


def copy_from_torch(ours: Any, reference: torch.nn.Module) -> None:
    """Load torch's parameters into ours as NumPy arrays."""
    ours.load_state_dict({key: value.detach().numpy().copy() for key, value in reference.state_dict().items()})


def run(module: Any, library: Any, x: np.ndarray, upstream_seed: int, output_size: Any) -> tuple:
    """Forward and backward of ``module`` on ``x``; returns output, grad_input and the parameter grads."""
    inputs = library.tensor(x, requires_grad=True)
    output = module(inputs) if output_size is None else module(inputs, output_size=output_size)
    upstream = np.random.default_rng(upstream_seed).standard_normal(tuple(output.shape)).astype(x.dtype)
    output.backward(library.tensor(upstream))
    grads = {name: param.grad for name, param in module.named_parameters()}
    as_numpy = {name: np.array(grad.detach().numpy() if library is torch else grad.numpy()) for name, grad in grads.items()}
    output_array = output.detach().numpy()
    grad_input = inputs.grad.numpy()
    return np.array(output_array), np.array(grad_input), as_numpy


def assert_close(actual: np.ndarray, expected: np.ndarray, dtype: Any) -> None:
    assert actual.shape == expected.shape
    assert actual.dtype == expected.dtype
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    tolerance = 1e-10 if np.dtype(dtype) == np.float64 else 2e-5
    np.testing.assert_allclose(actual, expected, rtol=tolerance, atol=tolerance * scale)


@pytest.mark.parametrize("case", ALL_CASES + RANDOM_CASES, ids=lambda case: case.id)
def test_forward_and_gradients_match_torch_float64(case: ModuleCase) -> None:
    reference = case.build(torch, torch.float64)
    ours = case.build(npconv, npconv.float64)
    copy_from_torch(ours, reference)
    x = np.random.default_rng(0).standard_normal(case.input_shape())
    expected = run(reference, torch, x, 1, case.output_size)
    actual = run(ours, npconv, x, 1, case.output_size)
    assert_close(actual[0], expected[0], np.float64)
    assert_close(actual[1], expected[1], np.float64)
    assert actual[2].keys() == expected[2].keys()
    for name in expected[2]:
        assert_close(actual[2][name], expected[2][name], np.float64)


@pytest.mark.parametrize("case", ALL_CASES[::3], ids=lambda case: case.id)
def test_forward_and_gradients_match_torch_float32_with_data_assignment(case: ModuleCase) -> None:
    reference = case.build(torch)
    ours = case.build(npconv)
    ours.weight.data = npconv.tensor(reference.weight.detach().numpy())
    if reference.bias is not None:
        ours.bias.data = npconv.tensor(reference.bias.detach().numpy())
    assert isinstance(ours.weight, nn.Parameter) and ours.weight.requires_grad
    x = np.random.default_rng(2).standard_normal(case.input_shape()).astype(np.float32)
    expected = run(reference, torch, x, 3, case.output_size)
    actual = run(ours, npconv, x, 3, case.output_size)
    for got, want in zip(actual[:2], expected[:2]):
        assert_close(got, want, np.float32)
    for name in expected[2]:
        assert_close(actual[2][name], expected[2][name], np.float32)


@pytest.mark.parametrize("case", ALL_CASES + RANDOM_CASES, ids=lambda case: case.id)
def test_attributes_repr_and_state_dict_match_torch(case: ModuleCase) -> None:
    reference, ours = case.build(torch), case.build(npconv)
    assert repr(ours) == repr(reference)
    for attribute in ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation",
                      "transposed", "output_padding", "groups", "padding_mode"):
        assert getattr(ours, attribute) == getattr(reference, attribute), attribute
    state, reference_state = ours.state_dict(), reference.state_dict()
    assert list(state) == list(reference_state)
    assert [tuple(value.shape) for value in state.values()] == [tuple(v.shape) for v in reference_state.values()]
    assert all(value.dtype == npconv.float32 for value in state.values())
    assert [name for name, _ in ours.named_parameters()] == [name for name, _ in reference.named_parameters()]


REPR_ARGUMENTS = [
    ("Conv1d", (16, 33, 3), {"stride": 2}),
    ("Conv1d", (4, 4, 5), {"padding": "same", "dilation": 3, "padding_mode": "reflect"}),
    ("Conv2d", (16, 33, (3, 5)), {"stride": (2, 1), "padding": (4, 2), "dilation": (3, 1)}),
    ("Conv2d", (3, 3, 3), {"padding": "valid", "groups": 3, "bias": False}),
    ("Conv2d", (3, 6, 3), {"padding": [1, 2], "padding_mode": "circular", "groups": 3}),
    ("Conv2d", (2, 2, 3), {"padding": ((1, 2), (0, 1))}),
    ("Conv3d", (2, 4, (3, 1, 2)), {"stride": [1, 2, 3], "padding": 1, "padding_mode": "replicate"}),
    ("Conv3d", (2, 2, 1), {"dilation": (1, 1, 2), "padding": 0}),
    ("ConvTranspose1d", (16, 33, 3), {"stride": 2}),
    ("ConvTranspose2d", (16, 33, (3, 5)), {"stride": (2, 1), "padding": (4, 2)}),
    ("ConvTranspose2d", (4, 8, 3), {"stride": 2, "output_padding": 1, "groups": 4, "bias": False, "dilation": 2}),
    ("ConvTranspose3d", (2, 3, (2, 3, 4)), {"stride": (1, 2, 3), "output_padding": (0, 1, 2)}),
]


@pytest.mark.parametrize(("name", "args", "kwargs"), REPR_ARGUMENTS, ids=[str(case) for case in REPR_ARGUMENTS])
def test_repr_equals_torch(name: str, args: tuple, kwargs: dict) -> None:
    assert repr(getattr(nn, name)(*args, **kwargs)) == repr(getattr(torch.nn, name)(*args, **kwargs))


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_positional_argument_orders_match_torch(ndim: int) -> None:
    # Conv(in, out, kernel_size, stride, padding, dilation, groups, bias, padding_mode)
    conv_args = (4, 6, 3, 2, 1, 2, 2, False, "circular")
    # ConvTranspose(in, out, kernel_size, stride, padding, output_padding, groups, bias, dilation, padding_mode)
    transpose_args = (4, 6, 3, 3, 1, 2, 2, False, 2, "zeros")
    for name, args in ((f"Conv{ndim}d", conv_args), (f"ConvTranspose{ndim}d", transpose_args)):
        ours, reference = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
        assert repr(ours) == repr(reference)
        for attribute in ("stride", "padding", "dilation", "output_padding", "groups", "padding_mode"):
            assert getattr(ours, attribute) == getattr(reference, attribute)
        assert ours.bias is None and reference.bias is None
        assert tuple(ours.weight.shape) == tuple(reference.weight.shape)


def test_dtype_argument_creates_float64_parameters() -> None:
    layer = nn.ConvTranspose2d(2, 3, 3, dtype=npconv.float64)
    assert layer.weight.dtype == npconv.float64 and layer.bias.dtype == npconv.float64
    assert nn.Conv1d(2, 3, 3).weight.dtype == npconv.float32


# ----------------------------------------------------------------------------- state_dict


def test_torch_state_dict_as_numpy_loads_and_reproduces_output() -> None:
    reference = torch.nn.Conv2d(3, 4, 3, padding=1, groups=1)
    ours = nn.Conv2d(3, 4, 3, padding=1)
    result = ours.load_state_dict({key: value.numpy() for key, value in reference.state_dict().items()})
    assert list(result.missing_keys) == [] and list(result.unexpected_keys) == []
    np.testing.assert_array_equal(ours.weight.detach().numpy(), reference.weight.detach().numpy())
    x = np.random.default_rng(5).standard_normal((1, 3, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(
        ours(npconv.tensor(x)).detach().numpy(), reference(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6
    )


def test_load_state_dict_with_wrong_shape_names_key_and_both_shapes() -> None:
    state = {"weight": np.zeros((3, 2, 2, 2), np.float32), "bias": np.zeros(3, np.float32)}
    with pytest.raises(RuntimeError) as expected:
        torch.nn.Conv2d(2, 3, 3).load_state_dict({key: torch.tensor(value) for key, value in state.items()})
    with pytest.raises(RuntimeError) as actual:
        nn.Conv2d(2, 3, 3).load_state_dict(state)
    for part in ("size mismatch for weight", "Size([3, 2, 2, 2])", "Size([3, 2, 3, 3])"):
        assert part in str(expected.value) and part in str(actual.value)
    assert str(actual.value) == str(expected.value).replace("torch.", "npconv.")


def test_load_state_dict_strict_reports_missing_and_unexpected_keys_like_torch() -> None:
    state = {"weight": np.zeros((3, 2, 3, 3), np.float32), "extra": np.zeros(3, np.float32)}
    torch_state = {key: torch.tensor(value) for key, value in state.items()}
    with pytest.raises(RuntimeError) as expected:
        torch.nn.Conv2d(2, 3, 3).load_state_dict(torch_state)
    with pytest.raises(RuntimeError) as actual:
        nn.Conv2d(2, 3, 3).load_state_dict(state)
    assert str(actual.value) == str(expected.value)
    ours = nn.Conv2d(2, 3, 3).load_state_dict(state, strict=False)
    reference = torch.nn.Conv2d(2, 3, 3).load_state_dict(torch_state, strict=False)
    assert ours.missing_keys == reference.missing_keys == ["bias"]
    assert ours.unexpected_keys == reference.unexpected_keys == ["extra"]


# ----------------------------------------------------------------------------- errors


CONSTRUCTION_ERRORS = [
    # (class, args, kwargs, exception, message part)
    ("Conv2d", (3, 4, 3), {"groups": 0}, ValueError, "groups must be a positive integer"),
    ("Conv2d", (3, 4, 3), {"groups": -2}, ValueError, "groups must be a positive integer"),
    ("Conv2d", (3, 4, 3), {"groups": 3}, ValueError, "out_channels must be divisible by groups"),
    ("Conv1d", (3, 4, 3), {"groups": 2}, ValueError, "in_channels must be divisible by groups"),
    ("ConvTranspose2d", (4, 3, 3), {"groups": 2}, ValueError, "out_channels must be divisible by groups"),
    ("Conv2d", (3, 4, 3), {"padding": "full"}, ValueError, "Invalid padding string 'full'"),
    ("Conv2d", (3, 4, 3), {"padding": "same", "stride": 2}, ValueError,
     "padding='same' is not supported for strided convolutions"),
    ("Conv3d", (3, 4, 3), {"padding": "same", "stride": (1, 1, 2)}, ValueError,
     "padding='same' is not supported for strided convolutions"),
    ("Conv2d", (3, 4, 3), {"padding_mode": "mirror"}, ValueError, "but got padding_mode='mirror'"),
    ("Conv2d", (-1, 4, 3), {}, RuntimeError, "-1"),
    ("Conv2d", (3, 4.0, 3), {}, TypeError, ""),
]


@pytest.mark.parametrize(("name", "args", "kwargs", "exception", "part"), CONSTRUCTION_ERRORS,
                         ids=[f"{c[0]}{c[1]}{c[2]}" for c in CONSTRUCTION_ERRORS])
def test_construction_errors_match_torch(name: str, args: tuple, kwargs: dict, exception: type, part: str) -> None:
    with pytest.raises(exception) as expected:
        getattr(torch.nn, name)(*args, **kwargs)
    with pytest.raises(exception) as actual:
        getattr(nn, name)(*args, **kwargs)
    assert part in str(expected.value) and part in str(actual.value)


# torch accepts these at construction and fails on the first forward with the same type and message;
# npconv fails at construction, since the layer could never run.
EARLY_ERRORS = [
    ("Conv2d", (2, 2, 3), {"stride": (1, 1, 1)}, RuntimeError, "expected stride to be a single integer value or a list of 2 values"),
    ("Conv2d", (2, 2, 3), {"padding": (1, 2, 3)}, RuntimeError, "expected padding to be a single integer value or a list of 2 values"),
    ("Conv1d", (2, 2, 3), {"dilation": (1, 2)}, RuntimeError, "expected dilation to be a single integer value or a list of 1 values"),
    ("Conv2d", (2, 2, 3), {"stride": 0}, RuntimeError, "non-positive stride is not supported"),
    ("Conv2d", (2, 2, 3), {"dilation": 0}, RuntimeError, "dilation"),
    ("Conv2d", (2, 2, 3), {"padding": -1}, RuntimeError, "negative padding is not supported"),
]


@pytest.mark.parametrize(("name", "args", "kwargs", "exception", "part"), EARLY_ERRORS,
                         ids=[f"{c[0]}{c[2]}" for c in EARLY_ERRORS])
def test_arguments_torch_rejects_at_forward_are_rejected_at_construction(
    name: str, args: tuple, kwargs: dict, exception: type, part: str
) -> None:
    with pytest.raises(exception) as expected:
        layer = getattr(torch.nn, name)(*args, **kwargs)
        layer(torch.randn(1, args[0], *([6] * (int(name[-2])))))
    with pytest.raises(exception) as actual:
        getattr(nn, name)(*args, **kwargs)
    assert part in str(expected.value) and part in str(actual.value)


def test_kernel_size_of_wrong_length_is_rejected() -> None:
    with pytest.raises(RuntimeError, match="kernel_size"):
        nn.Conv2d(2, 2, (3, 3, 3))
    with pytest.raises(RuntimeError, match="kernel size should be greater than zero"):
        nn.Conv3d(2, 2, (3, 0, 3))


def test_zero_channels_are_rejected() -> None:
    with pytest.raises(ValueError, match="in_channels must be a positive integer, but got in_channels=0"):
        nn.Conv2d(0, 2, 3)
    with pytest.raises(ValueError, match="out_channels must be a positive integer, but got out_channels=0"):
        nn.ConvTranspose1d(2, 0, 3)


def test_output_padding_is_checked_at_forward_as_in_torch() -> None:
    # Construction succeeds in torch (output_size may override output_padding at forward).
    reference = torch.nn.ConvTranspose2d(2, 2, 3, stride=2, output_padding=2)
    ours = nn.ConvTranspose2d(2, 2, 3, stride=2, output_padding=2)
    assert repr(ours) == repr(reference)
    x = np.random.default_rng(0).standard_normal((1, 2, 4, 4)).astype(np.float32)
    with pytest.raises(RuntimeError) as expected:
        reference(torch.tensor(x))
    with pytest.raises(RuntimeError) as actual:
        ours(npconv.tensor(x))
    part = "output padding must be smaller than either stride or dilation"
    assert part in str(expected.value) and part in str(actual.value)
    copy_from_torch(ours, reference)
    np.testing.assert_allclose(
        ours(npconv.tensor(x), output_size=[10, 9]).detach().numpy(),
        reference(torch.tensor(x), output_size=[10, 9]).detach().numpy(),
        rtol=1e-5, atol=1e-6,
    )


@pytest.mark.parametrize("output_size", [(34, 34), (30, 32), (1, 64, 33, 31), (32, 32, 1)])
def test_unreachable_output_size_raises_value_error_like_torch(output_size: tuple) -> None:
    x = np.zeros((1, 3, 16, 16), np.float32)
    with pytest.raises(ValueError) as expected:
        torch.nn.ConvTranspose2d(3, 64, 3, stride=2, padding=1)(torch.tensor(x), output_size=output_size)
    with pytest.raises(ValueError) as actual:
        nn.ConvTranspose2d(3, 64, 3, stride=2, padding=1)(npconv.tensor(x), output_size=output_size)
    if len(output_size) == 3:
        part = "for 4D input, output_size must have 2 or 4 elements (got 3)"
        assert part in str(expected.value) and part in str(actual.value)
    else:
        for part in ("requested an output size of", "but valid sizes range from [31, 31] to [32, 32]", "[16, 16]"):
            assert part in str(expected.value) and part in str(actual.value)


FORWARD_ERRORS = [
    ("Conv2d", (2, 5, 3), {}, (1, 3, 28, 28)),
    ("Conv2d", (2, 5, 3), {}, (28, 28)),
    ("Conv2d", (2, 5, 3), {"padding": 1, "padding_mode": "reflect"}, (1, 3, 8, 8)),
    ("Conv1d", (2, 4, 3), {"groups": 2}, (2, 3, 8)),
    ("Conv3d", (2, 4, 3), {}, (1, 1, 8, 8, 8)),
    ("Conv3d", (2, 4, 3), {}, (1, 2, 8, 8)),
    ("ConvTranspose2d", (2, 3, 3), {}, (1, 3, 5, 5)),
    ("ConvTranspose2d", (2, 3, 3), {}, (5, 5)),
    ("ConvTranspose1d", (2, 3, 3), {}, (1, 1, 2, 5)),
]


@pytest.mark.parametrize(("name", "args", "kwargs", "shape"), FORWARD_ERRORS, ids=[str(c) for c in FORWARD_ERRORS])
def test_forward_errors_match_torch_messages(name: str, args: tuple, kwargs: dict, shape: tuple) -> None:
    x = np.zeros(shape, np.float32)
    with pytest.raises(RuntimeError) as expected:
        getattr(torch.nn, name)(*args, **kwargs)(torch.tensor(x))
    with pytest.raises(RuntimeError) as actual:
        getattr(nn, name)(*args, **kwargs)(npconv.tensor(x))
    # torch names an unbatched input by its batched shape; everything else must agree exactly
    prefix, _, rest = str(expected.value).partition("input[")
    assert str(actual.value).startswith(prefix)
    assert rest.partition("]")[2] in str(actual.value)
    if len(shape) == int(name[-2]) + 2:  # batched input
        assert str(actual.value) == str(expected.value)


# ----------------------------------------------------------------------------- default init


INIT_CASES = [
    ("Conv1d", (8, 64, 5), {}),
    ("Conv2d", (16, 64, 3), {"groups": 4}),
    ("Conv3d", (6, 30, (2, 3, 2)), {"groups": 3}),
    ("ConvTranspose1d", (64, 12, 5), {}),
    ("ConvTranspose2d", (64, 16, 3), {"groups": 2}),
    ("ConvTranspose3d", (24, 12, 2), {"groups": 3}),
]


@pytest.mark.parametrize(("name", "args", "kwargs"), INIT_CASES, ids=[c[0] for c in INIT_CASES])
def test_default_init_is_torchs_distribution(name: str, args: tuple, kwargs: dict) -> None:
    reference = getattr(torch.nn, name)(*args, **kwargs)
    fan_in, _ = torch.nn.init._calculate_fan_in_and_fan_out(reference.weight)
    # kaiming_uniform_(a=√5) and the bias rule both give U(−1/√fan_in, 1/√fan_in)
    gain = torch.nn.init.calculate_gain("leaky_relu", math.sqrt(5))
    bound = gain * math.sqrt(3.0 / fan_in)
    assert bound == pytest.approx(1 / math.sqrt(fan_in))
    npconv.manual_seed(7)
    layers = [getattr(nn, name)(*args, **kwargs) for _ in range(20)]
    weights = np.concatenate([layer.weight.detach().numpy().ravel() for layer in layers])
    biases = np.concatenate([layer.bias.detach().numpy().ravel() for layer in layers])
    for values in (weights, biases):
        assert np.abs(values).max() <= bound * (1 + 1e-6)
        assert np.abs(values).max() >= bound * 0.9
        # U(−b, b): mean 0 and variance b²/3, within five standard errors
        count = values.size
        assert abs(values.mean()) < 5 * bound / math.sqrt(3 * count)
        assert abs(values.var() - bound**2 / 3) < 5 * bound**2 * math.sqrt(4 / 45 / count)
    assert tuple(layers[0].weight.shape) == tuple(reference.weight.shape)


def test_default_init_is_reproducible_under_manual_seed() -> None:
    npconv.manual_seed(11)
    first_layer = nn.ConvTranspose2d(3, 4, 3, groups=1)
    npconv.manual_seed(11)
    second_layer = nn.ConvTranspose2d(3, 4, 3, groups=1)
    third_layer = nn.ConvTranspose2d(3, 4, 3, groups=1)
    np.testing.assert_array_equal(first_layer.weight.detach().numpy(), second_layer.weight.detach().numpy())
    np.testing.assert_array_equal(first_layer.bias.detach().numpy(), second_layer.bias.detach().numpy())
    assert not np.array_equal(first_layer.weight.detach().numpy(), third_layer.weight.detach().numpy())


def test_reset_parameters_redraws_in_place() -> None:
    layer = nn.Conv2d(2, 3, 3)
    weight = layer.weight
    before = weight.detach().numpy().copy()
    layer.reset_parameters()
    assert layer.weight is weight and weight.requires_grad and weight.grad_fn is None
    assert not np.array_equal(before, weight.detach().numpy())


# ----------------------------------------------------------------------------- the documented examples


def test_laplacian_kernel_on_a_known_image() -> None:
    image = np.add.outer(np.arange(6.0) ** 2, 3 * np.arange(7.0)) + np.eye(6, 7) * 5
    edge = nn.Conv2d(1, 1, 3, bias=False)
    edge.weight.data = npconv.tensor([[[[0., -1., 0.], [-1., 4., -1.], [0., -1., 0.]]]])
    result = edge(npconv.tensor(image[None, None], dtype=npconv.float32)).detach().numpy()[0, 0]
    center = image[1:-1, 1:-1]
    stencil = 4 * center - image[:-2, 1:-1] - image[2:, 1:-1] - image[1:-1, :-2] - image[1:-1, 2:]
    np.testing.assert_allclose(result, stencil, rtol=1e-6, atol=1e-5)
    # rows: −∇² of i² is −2 everywhere; the diagonal adds 20 on it and −5 beside it
    assert result[0, 0] == pytest.approx(-2 + 20)
    assert result[0, 2] == pytest.approx(-2)


def test_documented_example_block_runs_and_matches_torch() -> None:
    layer = nn.Conv2d(1, 5, kernel_size=3, stride=1, padding=0)
    reference = torch.nn.Conv2d(1, 5, kernel_size=3, stride=1, padding=0)
    out = layer.forward(npconv.rand(1, 1, 28, 28))
    assert repr(out.shape) == "npconv.Size([1, 5, 26, 26])"
    assert str(layer.weight.size()) == str(reference.weight.size()).replace("torch", "npconv")
    assert str(layer.bias.size()) == "npconv.Size([5])"
    assert str(layer) == str(reference) == "Conv2d(1, 5, kernel_size=(3, 3), stride=(1, 1))"
    edge = nn.Conv2d(1, 1, 3, bias=False)
    edge.weight.data = npconv.tensor([[[[0., -1., 0.], [-1., 4., -1.], [0., -1., 0.]]]])
    assert edge.weight.shape == (1, 1, 3, 3) and isinstance(edge.weight, nn.Parameter)
    weight = nn.init.kaiming_normal_(nn.Conv2d(3, 64, 3).weight, mode="fan_out", nonlinearity="relu")
    assert weight.shape == (64, 3, 3, 3)
    up = nn.ConvTranspose2d(3, 64, kernel_size=3, stride=2, padding=1)
    assert up(npconv.randn(1, 3, 16, 16), output_size=(32, 32)).shape == (1, 64, 32, 32)
    torch_up = torch.nn.ConvTranspose2d(3, 64, kernel_size=3, stride=2, padding=1)
    assert tuple(torch_up(torch.randn(1, 3, 16, 16), output_size=(32, 32)).shape) == (1, 64, 32, 32)
    shape = nn.Conv2d(3, 8, 3, padding="same", padding_mode="circular")(npconv.randn(2, 3, 9, 9)).shape
    torch_shape = torch.nn.Conv2d(3, 8, 3, padding="same", padding_mode="circular")(torch.randn(2, 3, 9, 9)).shape
    assert tuple(shape) == tuple(torch_shape) == (2, 8, 9, 9)
    with pytest.raises(RuntimeError, match="expected input\\[1, 3, 28, 28\\] to have 2 channels, but got 3"):
        nn.Conv2d(2, 5, 3)(npconv.rand(1, 3, 28, 28))


def test_forward_is_called_through_call_and_extension_padding_strings_work() -> None:
    x = npconv.randn(1, 2, 9)
    causal = nn.Conv1d(2, 3, 4, padding="causal", dilation=2)
    assert causal(x).shape == (1, 3, 9)
    assert "padding=causal" in repr(causal)
    upper = nn.Conv2d(2, 3, 3, stride=2, padding="same_upper")
    assert upper(npconv.randn(1, 2, 9, 8)).shape == (1, 3, 5, 4)


def test_conv_transpose_same_padding_extension_multiplies_the_size_by_the_stride() -> None:
    layer = nn.ConvTranspose2d(2, 3, (3, 4), stride=(2, 3), padding="same")
    assert "padding=same" in repr(layer)
    assert layer(npconv.randn(1, 2, 5, 4)).shape == (1, 3, 10, 12)
    with pytest.raises(ValueError, match="Invalid padding string 'causal'"):
        nn.ConvTranspose1d(2, 3, 3, padding="causal")


ISSUE_EXAMPLE = """
layer = nn.Conv2d(1, 5, kernel_size=3, stride=1, padding=0)
out = layer.forward(torch.rand(1, 1, 28, 28))    # Size([1, 5, 26, 26])
print(layer.weight.size(), layer.bias.size())    # Size([5, 1, 3, 3]) Size([5])
print(layer)                                     # Conv2d(1, 5, kernel_size=(3, 3), stride=(1, 1))
edge = nn.Conv2d(1, 1, 3, bias=False)
edge.weight.data = torch.tensor([[[[0., -1., 0.], [-1., 4., -1.], [0., -1., 0.]]]])   # a custom kernel
nn.init.kaiming_normal_(nn.Conv2d(3, 64, 3).weight, mode='fan_out', nonlinearity='relu')
up = nn.ConvTranspose2d(3, 64, kernel_size=3, stride=2, padding=1)
print(up(torch.randn(1, 3, 16, 16), output_size=(32, 32)).shape)   # Size([1, 64, 32, 32])
print(nn.Conv2d(3, 8, 3, padding='same', padding_mode='circular')(torch.randn(2, 3, 9, 9)).shape)  # (2, 8, 9, 9)
print(out.shape)
nn.Conv2d(2, 5, 3)(torch.rand(1, 3, 28, 28))     # error: expected 2 channels, got 3
"""


def run_example(library: Any) -> tuple[str, BaseException]:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), pytest.raises(RuntimeError) as error:
        exec(ISSUE_EXAMPLE, {"torch": library, "nn": library.nn})
    return printed.getvalue(), error.value


def test_documented_example_block_as_written_prints_what_torch_prints() -> None:
    ours, our_error = run_example(npconv)
    theirs, their_error = run_example(torch)
    assert ours == theirs.replace("torch.", "npconv.")
    assert ours.count("\n") == 5
    assert str(our_error) == str(their_error)


@pytest.mark.parametrize("module", [npconv.nn.modules.conv, npconv.nn.init], ids=["conv", "init"])
def test_docstring_examples_run(module: Any) -> None:
    result = doctest.testmod(module, extraglobs={"nn": nn, "npconv": npconv}, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
