"""Table-driven convolution cases, in the style of torch's OpInfo ``sample_inputs`` / ``error_inputs``.

``sample_cases()`` yields valid ``ConvCase``s (a systematic grid plus a fixed-seed random set) for
conv1d/2d/3d and conv_transpose1d/2d/3d; ``error_cases()`` yields invalid ``ErrorCase``s with the exception
torch raises and the parts of the message that must appear. ``call_npconv`` / ``call_torch`` run a case
positionally, in torch's argument order, on the two libraries. Other test files import these.

Validity is decided here by the textbook formulas, never by the code under test.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

import npconv
import npconv.nn.functional as F

# torch's intra-op thread pool spins against the other test worker on a 2-core machine; the cases are
# tiny, so one thread is also the fastest.
torch.set_num_threads(1)

CONV_ARGUMENT_ORDER = ("stride", "padding", "dilation", "groups")
CONV_TRANSPOSE_ARGUMENT_ORDER = ("stride", "padding", "output_padding", "groups", "dilation")
CONV_DEFAULTS = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "output_padding": 0}


@dataclass
class ConvCase:
    """One call: ``conv{ndim}d`` or ``conv_transpose{ndim}d`` on the given shapes with ``kwargs``."""

    ndim: int
    transposed: bool
    input_shape: tuple[int, ...]
    weight_shape: tuple[int, ...]
    bias: bool
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def op(self) -> str:
        return f"conv_transpose{self.ndim}d" if self.transposed else f"conv{self.ndim}d"

    @property
    def bias_shape(self) -> tuple[int, ...] | None:
        if not self.bias:
            return None
        groups = self.kwargs.get("groups", 1)
        return (self.weight_shape[1] * groups,) if self.transposed else (self.weight_shape[0],)

    @property
    def id(self) -> str:
        arguments = ",".join(f"{key}={value}" for key, value in self.kwargs.items())
        bias = "bias" if self.bias else "nobias"
        return f"{self.op}-x{list(self.input_shape)}-w{list(self.weight_shape)}-{bias}-{arguments}"

    def positional_arguments(self) -> tuple[Any, ...]:
        """stride, padding, ... in torch's positional order, defaults filled in."""
        order = CONV_TRANSPOSE_ARGUMENT_ORDER if self.transposed else CONV_ARGUMENT_ORDER
        return tuple(self.kwargs.get(name, CONV_DEFAULTS[name]) for name in order)

    def arrays(self, dtype: Any, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Random input, weight and bias arrays of ``dtype`` (small integers for integer dtypes)."""
        return tuple(  # type: ignore[return-value]
            None if shape is None else random_array(shape, dtype, np.random.default_rng([seed, index]))
            for index, shape in enumerate((self.input_shape, self.weight_shape, self.bias_shape))
        )


@dataclass
class ErrorCase:
    """An invalid call: ``exception`` is torch's type and ``message`` the parts our message must hold."""

    name: str
    case: ConvCase
    exception: type[BaseException]
    message: tuple[str, ...]
    dtypes: tuple[Any, Any, Any] = (np.float32, np.float32, np.float32)
    bias_shape: tuple[int, ...] | None = None


def random_array(shape: tuple[int, ...], dtype: Any, generator: np.random.Generator) -> np.ndarray:
    dtype = np.dtype(dtype)
    if dtype.kind == "u":
        return generator.integers(0, 3, shape).astype(dtype)
    if dtype.kind in "ib":
        return generator.integers(-2, 3, shape).astype(dtype)
    if dtype.kind == "c":
        return (generator.standard_normal(shape) + 1j * generator.standard_normal(shape)).astype(dtype)
    return generator.standard_normal(shape).astype(dtype)


# --------------------------------------------------------------------- shape rules (the oracle's formulas)
def _per_dim(value: Any, ndim: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * ndim


def expected_output_shape(case: ConvCase) -> tuple[int, ...] | None:
    """The output shape by torch's documented formulas; None when the call is invalid."""
    ndim, kwargs = case.ndim, case.kwargs
    batched = len(case.input_shape) == ndim + 2
    spatial = case.input_shape[-ndim:]
    kernel = case.weight_shape[2:]
    stride = _per_dim(kwargs.get("stride", 1), ndim)
    dilation = _per_dim(kwargs.get("dilation", 1), ndim)
    padding = kwargs.get("padding", 0)
    groups = kwargs.get("groups", 1)
    if case.transposed:
        output_padding = _per_dim(kwargs.get("output_padding", 0), ndim)
        pads = _per_dim(padding, ndim)
        out = tuple(
            (n - 1) * s - 2 * p + d * (k - 1) + o + 1
            for n, s, p, d, k, o in zip(spatial, stride, pads, dilation, kernel, output_padding)
        )
        if any(o >= s and o >= d for o, s, d in zip(output_padding, stride, dilation)) or min(out) <= 0:
            return None
        channels = case.weight_shape[1] * groups
    else:
        if padding == "same":
            totals = tuple(d * (k - 1) for d, k in zip(dilation, kernel))
        elif padding == "valid":
            totals = (0,) * ndim
        else:
            totals = tuple(2 * p for p in _per_dim(padding, ndim))
        padded = tuple(n + t for n, t in zip(spatial, totals))
        if any(p < d * (k - 1) + 1 for p, d, k in zip(padded, dilation, kernel)):
            return None
        out = tuple((p - d * (k - 1) - 1) // s + 1 for p, d, k, s in zip(padded, dilation, kernel, stride))
        channels = case.weight_shape[0]
    return (case.input_shape[0], channels, *out) if batched else (channels, *out)


# --------------------------------------------------------------------- the systematic grid
SPATIAL = {1: (9,), 2: (7, 6), 3: (5, 4, 6)}
KERNEL = {1: (3,), 2: (3, 2), 3: (2, 3, 1)}
EVEN_KERNEL = {1: (4,), 2: (4, 2), 3: (2, 4, 2)}
ASYMMETRIC = {1: (2,), 2: (2, 1), 3: (2, 1, 3)}
PADDING_TUPLE = {1: (2,), 2: (0, 2), 3: (1, 0, 2)}
COMBINED_PADDING = {1: (3,), 2: (2, 1), 3: (1, 2, 0)}


def _conv_variants(ndim: int) -> list[tuple[int, int, tuple[int, ...], dict[str, Any]]]:
    """(in_channels, out_channels, kernel, kwargs) of the grid's convolutions."""
    kernel, even = KERNEL[ndim], EVEN_KERNEL[ndim]
    return [
        (2, 3, kernel, {}),
        (2, 3, kernel, {"stride": 2}),
        (2, 3, kernel, {"stride": ASYMMETRIC[ndim]}),
        (2, 3, kernel, {"padding": 1}),
        (2, 3, kernel, {"padding": PADDING_TUPLE[ndim]}),
        (2, 3, kernel, {"padding": 4, "stride": 3}),
        (2, 3, kernel, {"padding": "valid"}),
        (2, 3, kernel, {"padding": "same"}),
        (2, 3, even, {"padding": "same"}),
        (2, 3, even, {"padding": "same", "dilation": ASYMMETRIC[ndim]}),
        (2, 3, kernel, {"dilation": 2, "padding": 1}),
        (2, 3, kernel, {"dilation": ASYMMETRIC[ndim]}),
        (4, 6, kernel, {"groups": 2}),
        (3, 3, kernel, {"groups": 3, "padding": 1}),
        (2, 6, kernel, {"groups": 2, "stride": 2}),
        (4, 2, even, {"groups": 2, "stride": ASYMMETRIC[ndim], "padding": COMBINED_PADDING[ndim], "dilation": 2}),
    ]


def _conv_transpose_variants(ndim: int) -> list[tuple[int, int, tuple[int, ...], dict[str, Any]]]:
    """(in_channels, out_channels, kernel, kwargs) of the grid's transposed convolutions."""
    kernel, even = KERNEL[ndim], EVEN_KERNEL[ndim]
    asymmetric = ASYMMETRIC[ndim]
    return [
        (2, 3, kernel, {}),
        (2, 3, kernel, {"stride": 2}),
        (2, 3, kernel, {"stride": 2, "output_padding": 1}),
        (2, 3, even, {"stride": tuple(s + 1 for s in asymmetric), "output_padding": asymmetric}),
        (2, 3, kernel, {"padding": 1}),
        (2, 3, even, {"padding": PADDING_TUPLE[ndim], "stride": 3}),
        (2, 3, kernel, {"dilation": 2, "output_padding": 1}),
        (2, 3, kernel, {"dilation": asymmetric, "padding": 1}),
        (4, 6, kernel, {"groups": 2}),
        (3, 3, kernel, {"groups": 3, "stride": 2}),
        (2, 6, kernel, {"groups": 2}),
        (4, 2, even, {"stride": 2, "padding": 1, "output_padding": 1, "groups": 2, "dilation": 2}),
    ]


def _weight_shape(transposed: bool, in_channels: int, out_channels: int, groups: int, kernel: tuple[int, ...]) -> tuple[int, ...]:
    if transposed:
        return (in_channels, out_channels // groups, *kernel)
    return (out_channels, in_channels // groups, *kernel)


def grid_cases() -> Iterator[ConvCase]:
    """Every variant for every dimension, with and without bias; batched and unbatched alternate."""
    count = 0
    for transposed in (False, True):
        for ndim in (1, 2, 3):
            variants = _conv_transpose_variants(ndim) if transposed else _conv_variants(ndim)
            spatial = SPATIAL[ndim]
            if transposed:
                spatial = tuple(max(n - 2, 2) for n in spatial)
            for in_channels, out_channels, kernel, kwargs in variants:
                for bias in (True, False):
                    count += 1
                    batch = (2,) if count % 2 else ()
                    groups = kwargs.get("groups", 1)
                    yield ConvCase(
                        ndim,
                        transposed,
                        (*batch, in_channels, *spatial),
                        _weight_shape(transposed, in_channels, out_channels, groups, kernel),
                        bias,
                        dict(kwargs),
                    )


def random_cases(count: int, seed: int = 20240531) -> Iterator[ConvCase]:
    """A fixed-seed random set of valid configurations (rejection-sampled by ``expected_output_shape``)."""
    generator = np.random.default_rng(seed)
    produced = 0
    while produced < count:
        ndim = int(generator.integers(1, 4))
        transposed = bool(generator.random() < 0.4)
        groups = int(generator.choice([1, 1, 2, 3]))
        in_channels = groups * int(generator.integers(1, 3))
        out_channels = groups * int(generator.integers(1, 3))
        kernel = tuple(int(k) for k in generator.integers(1, 4, ndim))
        spatial = tuple(int(n) for n in generator.integers(1, {1: 12, 2: 8, 3: 6}[ndim], ndim))
        stride = tuple(int(s) for s in generator.integers(1, 4, ndim))
        dilation = tuple(int(d) for d in generator.integers(1, 3, ndim))
        kwargs: dict[str, Any] = {"stride": stride, "dilation": dilation, "groups": groups}
        if transposed:
            kwargs["padding"] = tuple(int(p) for p in generator.integers(0, 3, ndim))
            kwargs["output_padding"] = tuple(
                int(generator.integers(0, max(s, d))) for s, d in zip(stride, dilation)
            )
        else:
            choice = generator.integers(0, 4)
            if choice == 0:
                kwargs["padding"] = tuple(int(p) for p in generator.integers(0, 4, ndim))
            elif choice == 1:
                kwargs["padding"] = int(generator.integers(0, 3))
            elif choice == 2:
                kwargs["padding"] = "valid"
            else:
                kwargs["padding"] = "same"
                kwargs["stride"] = 1
        batch = (int(generator.integers(1, 3)),) if generator.random() < 0.7 else ()
        case = ConvCase(
            ndim,
            transposed,
            (*batch, in_channels, *spatial),
            _weight_shape(transposed, in_channels, out_channels, groups, kernel),
            bool(generator.random() < 0.5),
            kwargs,
        )
        if expected_output_shape(case) is not None:
            produced += 1
            yield case


def sample_cases(random_count: int = 80) -> list[ConvCase]:
    """The systematic grid followed by ``random_count`` fixed-seed random cases."""
    return [*grid_cases(), *random_cases(random_count)]


# --------------------------------------------------------------------- running a case
def call_npconv(case: ConvCase, input: Any, weight: Any, bias: Any) -> npconv.Tensor:  # noqa: A002
    function = getattr(F, case.op)
    return function(input, weight, bias, *case.positional_arguments())


def call_torch(case: ConvCase, input: Any, weight: Any, bias: Any) -> torch.Tensor:  # noqa: A002
    function = getattr(torch.nn.functional, case.op)
    return function(input, weight, bias, *case.positional_arguments())


def run_both(case: ConvCase, dtype: Any, seed: int = 0, gradients: bool = True) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Forward (and, if ``gradients``, the gradients of input/weight/bias for a random upstream
    gradient) on npconv and torch: name → (npconv result, torch result)."""
    arrays = case.arrays(dtype, seed)
    ours = [None if a is None else npconv.tensor(a, requires_grad=gradients) for a in arrays]
    theirs = [None if a is None else torch.tensor(a, requires_grad=gradients) for a in arrays]
    out_ours = call_npconv(case, *ours)
    out_theirs = call_torch(case, *theirs)
    results = {"output": (out_ours.detach().numpy(), out_theirs.detach().numpy())}
    if gradients:
        upstream = random_array(tuple(out_theirs.shape), dtype, np.random.default_rng([seed, 99]))
        out_ours.backward(npconv.tensor(upstream))
        out_theirs.backward(torch.tensor(upstream))
        for name, a, b in zip(("input", "weight", "bias"), ours, theirs):
            if a is not None:
                results[f"grad_{name}"] = (a.grad.numpy(), b.grad.numpy())
    return results


def assert_close(actual: np.ndarray, expected: np.ndarray, dtype: Any, what: str = "") -> None:
    """float64 (and complex128) to 1e-10 relative; float32/complex64 to 2e-5 of the largest magnitude;
    float16 to 1e-2 of it (torch and npconv both accumulate in float32 but round differently);
    integers exactly."""
    dtype = np.dtype(dtype)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != {expected.dtype}"
    if dtype.kind in "iub":
        np.testing.assert_array_equal(actual, expected, err_msg=what)
        return
    relative = {"float64": 1e-10, "float32": 2e-5, "float16": 1e-2}[np.finfo(dtype).dtype.name]
    finite = expected[np.isfinite(expected)]
    scale = max(float(np.abs(finite).max()) if finite.size else 0.0, 1.0)
    np.testing.assert_allclose(
        actual.astype(np.complex128 if dtype.kind == "c" else np.float64),
        expected.astype(np.complex128 if dtype.kind == "c" else np.float64),
        rtol=relative,
        atol=relative * scale,
        err_msg=what,
    )


# --------------------------------------------------------------------- invalid calls
def error_cases() -> list[ErrorCase]:
    """Invalid calls with torch's exception type and the key parts of the message (values included)."""
    def conv(input_shape: tuple, weight_shape: tuple, ndim: int = 2, **kwargs: Any) -> ConvCase:
        return ConvCase(ndim, False, input_shape, weight_shape, False, kwargs)

    def transpose(input_shape: tuple, weight_shape: tuple, ndim: int = 2, **kwargs: Any) -> ConvCase:
        return ConvCase(ndim, True, input_shape, weight_shape, False, kwargs)

    x4 = (1, 3, 8, 8)
    w4 = (4, 3, 3, 3)
    return [
        ErrorCase("channel mismatch", conv((1, 1, 28, 28), (16, 3, 5, 5), padding=1), RuntimeError,
                  ("expected input[1, 1, 28, 28] to have 3 channels, but got 1 channels instead",)),
        ErrorCase("channel mismatch 1d", conv((2, 5, 9), (4, 3, 3), ndim=1), RuntimeError,
                  ("weight of size [4, 3, 3]", "to have 3 channels, but got 5 channels")),
        ErrorCase("channel mismatch with groups", conv((1, 5, 8, 8), (4, 2, 3, 3), groups=2), RuntimeError,
                  ("Given groups=2", "to have 4 channels, but got 5 channels")),
        ErrorCase("channel mismatch unbatched 3d", conv((2, 4, 4, 4), (4, 3, 2, 2, 2), ndim=3), RuntimeError,
                  ("input[2, 4, 4, 4] to have 3 channels, but got 2 channels",)),
        ErrorCase("weight rank too low", conv(x4, (4, 3, 3)), RuntimeError, ("weight", "[4, 3, 3]")),
        ErrorCase("weight rank too high", conv((1, 3, 8), (4, 3, 3, 3), ndim=1), RuntimeError,
                  ("weight", "[4, 3, 3, 3]")),
        ErrorCase("groups not dividing out channels", conv((1, 4, 8, 8), (6, 1, 3, 3), groups=4), RuntimeError,
                  ("Given groups=4, expected weight to be divisible by 4 at dimension 0", "[6, 1, 3, 3]")),
        ErrorCase("zero out channels", conv(x4, (0, 3, 3, 3)), RuntimeError,
                  ("expected weight to be at least 1 at dimension 0", "[0, 3, 3, 3]")),
        ErrorCase("zero stride", conv(x4, w4, stride=0), RuntimeError, ("non-positive stride is not supported", "0")),
        ErrorCase("negative stride in tuple", conv(x4, w4, stride=(1, -2)), RuntimeError,
                  ("non-positive stride is not supported", "-2")),
        ErrorCase("zero dilation", conv(x4, w4, dilation=0), RuntimeError,
                  ("dilation should be greater than zero", "0")),
        ErrorCase("negative dilation in tuple", conv(x4, w4, dilation=(2, -1)), RuntimeError,
                  ("dilation should be greater than zero", "-1")),
        ErrorCase("zero groups", conv(x4, w4, groups=0), RuntimeError, ("non-positive groups is not supported", "0")),
        ErrorCase("negative groups", conv(x4, w4, groups=-1), RuntimeError,
                  ("non-positive groups is not supported", "-1")),
        ErrorCase("negative padding", conv(x4, w4, padding=-1), RuntimeError,
                  ("negative padding is not supported", "-1")),
        ErrorCase("negative padding in tuple", conv(x4, w4, padding=(1, -2)), RuntimeError,
                  ("negative padding is not supported", "-2")),
        ErrorCase("unknown padding string", conv(x4, w4, padding="full"), RuntimeError,
                  ("Invalid padding string", "'full'")),
        ErrorCase("same with stride 2", conv(x4, w4, padding="same", stride=2), RuntimeError,
                  ("padding='same' is not supported for strided convolutions",)),
        ErrorCase("same with one strided dim", conv((1, 3, 8), (4, 3, 3), ndim=1, padding="same", stride=(3,)),
                  RuntimeError, ("padding='same' is not supported for strided convolutions",)),
        ErrorCase("input smaller than kernel", conv((1, 3, 2, 2), w4), RuntimeError,
                  ("Calculated padded input size per channel: (2 x 2)", "Kernel size: (3 x 3)",
                   "Kernel size can't be greater than actual input size")),
        ErrorCase("input smaller than dilated kernel", conv((1, 3, 4, 9), w4, dilation=2), RuntimeError,
                  ("Calculated padded input size per channel: (4 x 9)", "Kernel size: (5 x 5)")),
        ErrorCase("padded input smaller than kernel 3d", conv((1, 1, 3, 3, 1), (2, 1, 3, 3, 4), ndim=3, padding=1),
                  RuntimeError, ("(5 x 5 x 3)", "(3 x 3 x 4)")),
        ErrorCase("input rank too low", conv((3, 8), w4), RuntimeError,
                  ("Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: [3, 8]",)),
        ErrorCase("input rank too high", conv((1, 1, 3, 8, 8), w4), RuntimeError,
                  ("Expected 3D (unbatched) or 4D (batched) input to conv2d", "[1, 1, 3, 8, 8]")),
        ErrorCase("input rank 3d", conv((3, 4, 4), (2, 3, 1, 1, 1), ndim=3), RuntimeError,
                  ("Expected 4D (unbatched) or 5D (batched) input to conv3d", "[3, 4, 4]")),
        ErrorCase("stride tuple of wrong length", conv(x4, w4, stride=(1, 1, 1)), RuntimeError,
                  ("expected stride to be a single integer value or a list of 2 values", "stride=[1, 1, 1]")),
        ErrorCase("padding tuple of wrong length", conv((1, 3, 9), (4, 3, 3), ndim=1, padding=(1, 1)), RuntimeError,
                  ("expected padding to be a single integer value or a list of 1 values", "padding=[1, 1]")),
        ErrorCase("dilation tuple of wrong length", conv((1, 1, 4, 4, 4), (2, 1, 1, 1, 1), ndim=3, dilation=(1, 2)),
                  RuntimeError, ("expected dilation to be a single integer value or a list of 3 values",
                                 "dilation=[1, 2]")),
        ErrorCase("bias of wrong length", conv(x4, w4), RuntimeError,
                  ("expected bias to be 1-dimensional with 4 elements, but got bias of size [5] instead",),
                  bias_shape=(5,)),
        ErrorCase("bias of wrong rank", conv(x4, w4), RuntimeError,
                  ("expected bias to be 1-dimensional with 4 elements", "[4, 1]"), bias_shape=(4, 1)),
        ErrorCase("input and weight dtypes differ", conv(x4, w4), RuntimeError, ("float32", "float64"),
                  dtypes=(np.float32, np.float64, np.float32)),
        ErrorCase("input and bias dtypes differ", conv(x4, w4), RuntimeError,
                  ("Input type", "bias type", "should be the same"),
                  dtypes=(np.float32, np.float32, np.float64), bias_shape=(4,)),
        ErrorCase("output_padding equal to stride", transpose((1, 3, 5, 5), (3, 4, 3, 3), stride=2, output_padding=2),
                  RuntimeError, ("output padding must be smaller than either stride or dilation", "2")),
        ErrorCase("output_padding equal to stride and dilation",
                  transpose((1, 3, 5), (3, 4, 3), ndim=1, stride=2, dilation=2, output_padding=2),
                  RuntimeError, ("output padding must be smaller than either stride or dilation",)),
        ErrorCase("output_padding too large in one dim",
                  transpose((1, 3, 5, 5), (3, 4, 3, 3), stride=(2, 1), output_padding=(1, 1)),
                  RuntimeError, ("output padding must be smaller than either stride or dilation",)),
        ErrorCase("negative output_padding", transpose((1, 3, 5, 5), (3, 4, 3, 3), output_padding=-1), RuntimeError,
                  ("negative output_padding is not supported", "-1")),
        ErrorCase("output_padding tuple of wrong length",
                  transpose((1, 3, 5, 5), (3, 4, 3, 3), output_padding=(0, 0, 0)), RuntimeError,
                  ("expected output_padding to be a single integer value or a list of 2 values",)),
        ErrorCase("transposed channel mismatch", transpose((1, 2, 5, 5), (3, 4, 3, 3)), RuntimeError,
                  ("Given transposed=1, weight of size [3, 4, 3, 3]", "to have 3 channels, but got 2 channels")),
        ErrorCase("transposed groups not dividing", transpose((1, 3, 5, 5), (3, 4, 3, 3), groups=2), RuntimeError,
                  ("Given groups=2, expected weight to be divisible by 2 at dimension 0",)),
        ErrorCase("transposed bias of wrong length", transpose((1, 4, 5, 5), (4, 2, 3, 3)), RuntimeError,
                  ("Given transposed=1, weight of size [4, 2, 3, 3]", "expected bias to be 1-dimensional with 2 "
                   "elements, but got bias of size [4] instead"), bias_shape=(4,)),
        ErrorCase("transposed output too small", transpose((1, 3, 1, 1), (3, 4, 3, 3), padding=2), RuntimeError,
                  ("Given input size per channel: (1 x 1)", "Calculated output size per channel: (-1 x -1)",
                   "Output size is too small")),
        ErrorCase("transposed 1d output too small", transpose((1, 3, 2), (3, 4, 3), ndim=1, padding=2), RuntimeError,
                  ("Given input size per channel: (1 x 2)", "Calculated output size per channel: (1 x 0)")),
        ErrorCase("transposed negative padding", transpose((1, 3, 5, 5), (3, 4, 3, 3), padding=-1), RuntimeError,
                  ("negative padding is not supported", "-1")),
        ErrorCase("transposed zero stride", transpose((1, 3, 5, 5), (3, 4, 3, 3), stride=0), RuntimeError,
                  ("non-positive stride is not supported",)),
        ErrorCase("transposed zero dilation", transpose((1, 3, 5, 5), (3, 4, 3, 3), dilation=0), RuntimeError,
                  ("dilation should be greater than zero",)),
        ErrorCase("transposed input rank", transpose((3, 5), (3, 4, 3, 3)), RuntimeError,
                  ("Expected 3D (unbatched) or 4D (batched) input to conv_transpose2d", "[3, 5]")),
        ErrorCase("empty spatial dim, padded", conv((1, 3, 0, 5), (4, 3, 1, 1), padding=1), RuntimeError,
                  ("Only zero batch or zero channel inputs are supported, but got input shape: [1, 3, 0, 5]",)),
        ErrorCase("empty spatial dim 1d, shown as 2d", conv((2, 3, 0), (4, 3, 1), ndim=1, padding=1, stride=2),
                  RuntimeError, ("Only zero batch or zero channel inputs are supported", "[2, 3, 1, 0]")),
        ErrorCase("empty spatial dim unbatched 3d", conv((2, 3, 0, 4), (2, 2, 1, 1, 1), ndim=3, padding=1),
                  RuntimeError, ("Only zero batch or zero channel inputs are supported", "[1, 2, 3, 0, 4]")),
        ErrorCase("empty spatial dim, kernel larger than padded input", conv((1, 3, 0, 5), w4, padding=1),
                  RuntimeError, ("Calculated padded input size per channel: (2 x 7)", "Kernel size: (3 x 3)")),
        ErrorCase("transposed empty spatial dim", transpose((1, 3, 0, 5), (3, 2, 2, 2)), RuntimeError,
                  ("Only zero batch or zero channel inputs are supported", "[1, 3, 0, 5]")),
        ErrorCase("transposed empty spatial dim before output_padding",
                  transpose((2, 3, 0), (3, 4, 1), ndim=1, output_padding=5), RuntimeError,
                  ("Only zero batch or zero channel inputs are supported", "[2, 3, 1, 0]")),
    ]
