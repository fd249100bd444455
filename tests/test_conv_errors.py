"""Invalid convolution calls: npconv raises torch's exception type with a message naming the argument and
the values, torch fails on the same call with the same type, and no arithmetic runs before the error."""

import numpy as np
import pytest
import torch

import npconv
import npconv.conv.primitive
import npconv.nn.functional as F
from conv_cases import ConvCase, ErrorCase, call_npconv, call_torch, error_cases

ERRORS = error_cases()


def _arrays(error: ErrorCase) -> list[np.ndarray | None]:
    case = error.case
    shapes = (case.input_shape, case.weight_shape, error.bias_shape)
    rng = np.random.default_rng(0)
    return [
        None if shape is None else rng.standard_normal(shape).astype(dtype)
        for shape, dtype in zip(shapes, error.dtypes)
    ]


@pytest.fixture
def no_arithmetic(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any call into the convolution primitive fail loudly."""

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("the convolution primitive ran before the arguments were validated")

    monkeypatch.setattr(npconv.conv.primitive, "conv_general", forbidden)


@pytest.mark.parametrize("error", ERRORS, ids=[error.name for error in ERRORS])
def test_error_type_and_message(error: ErrorCase, no_arithmetic: None) -> None:
    arrays = _arrays(error)
    with pytest.raises(error.exception) as raised:
        call_npconv(error.case, *(None if a is None else npconv.from_numpy(a) for a in arrays))
    assert raised.type is error.exception
    for part in error.message:
        assert part in str(raised.value), f"{part!r} not in {str(raised.value)!r}"


@pytest.mark.parametrize("error", ERRORS, ids=[error.name for error in ERRORS])
def test_torch_raises_the_same_type(error: ErrorCase) -> None:
    arrays = _arrays(error)
    with pytest.raises(Exception) as raised:  # noqa: B017 - the type is compared below
        call_torch(error.case, *(None if a is None else torch.from_numpy(a) for a in arrays))
    assert raised.type is error.exception, f"torch raised {raised.type.__name__}: {raised.value}"


@pytest.mark.parametrize("error", ERRORS[::4], ids=[error.name for error in ERRORS[::4]])
def test_numpy_inputs_raise_the_same_error(error: ErrorCase) -> None:
    with pytest.raises(error.exception):
        call_npconv(error.case, *_arrays(error))


def test_valid_call_reaches_the_primitive(no_arithmetic: None) -> None:
    """The guard above is real: a valid call does run the primitive."""
    with pytest.raises(AssertionError, match="primitive ran"):
        F.conv2d(npconv.randn(1, 2, 5, 5), npconv.randn(3, 2, 3, 3))


def _both(function_name: str, arrays: list, **kwargs: object) -> tuple[pytest.ExceptionInfo, pytest.ExceptionInfo]:
    with pytest.raises(Exception) as ours:  # noqa: B017 - the types are compared by the callers
        getattr(F, function_name)(*(None if a is None else npconv.from_numpy(a) for a in arrays), **kwargs)
    with pytest.raises(Exception) as theirs:  # noqa: B017
        getattr(torch.nn.functional, function_name)(
            *(None if a is None else torch.from_numpy(a) for a in arrays), **kwargs
        )
    return ours, theirs


@pytest.mark.parametrize(
    ("name", "value"), [("stride", 1.5), ("padding", 1.5), ("dilation", None), ("stride", "2"), ("groups", 1.0)]
)
def test_argument_of_wrong_type_is_a_type_error(name: str, value: object, no_arithmetic: None) -> None:
    arrays = [np.ones((1, 2, 5, 5), np.float32), np.ones((2, 2, 3, 3), np.float32)]
    ours, theirs = _both("conv2d", arrays, **{name: value})
    assert ours.type is TypeError and theirs.type is TypeError
    assert name in str(ours.value)


@pytest.mark.parametrize(("position", "name"), [(0, "input"), (1, "weight"), (2, "bias")])
def test_non_tensor_argument_is_a_type_error_naming_it(position: int, name: str, no_arithmetic: None) -> None:
    arguments: list[object] = [npconv.ones(1, 2, 5), npconv.ones(3, 2, 2), npconv.ones(3)]
    arguments[position] = [1.0, 2.0, 3.0]
    with pytest.raises(TypeError, match=f"argument '{name}'"):
        F.conv1d(*arguments)


@pytest.mark.parametrize("dtype", [np.uint16, np.uint32, np.longdouble, object])
def test_unsupported_numpy_dtype_is_a_type_error(dtype: type, no_arithmetic: None) -> None:
    with pytest.raises(TypeError, match=np.dtype(dtype).name):
        F.conv1d(np.ones((1, 2, 5), dtype=dtype), np.ones((3, 2, 2), dtype=dtype))


@pytest.mark.parametrize("op", ["conv1d", "conv_transpose1d"])
def test_bool_tensors_are_a_type_error(op: str, no_arithmetic: None) -> None:
    arrays = [np.ones((1, 2, 5), bool), np.ones((2, 2, 2), bool)]
    ours, theirs = _both(op, arrays)
    assert ours.type is TypeError  # torch: NotImplementedError from its kernel dispatch
    assert theirs.type in (NotImplementedError, RuntimeError)
    assert "bool" in str(ours.value)


@pytest.mark.parametrize(
    "dtypes",
    [
        (np.float32, np.float64),
        (np.float64, np.float32),
        (np.float32, np.float16),
        (np.int64, np.float32),
        (np.complex64, np.float32),
    ],
    ids=lambda d: "-".join(np.dtype(t).name for t in d),
)
def test_input_and_weight_dtype_mismatch(dtypes: tuple, no_arithmetic: None) -> None:
    arrays = [np.ones((1, 2, 5), dtypes[0]), np.ones((3, 2, 2), dtypes[1])]
    ours, theirs = _both("conv1d", arrays)
    assert ours.type is RuntimeError and theirs.type is RuntimeError
    for dtype in dtypes:
        assert np.dtype(dtype).name in str(ours.value)


def test_transposed_weight_dtype_mismatch(no_arithmetic: None) -> None:
    arrays = [np.ones((1, 2, 5), np.float64), np.ones((2, 3, 2), np.float32), None]
    ours, theirs = _both("conv_transpose1d", arrays)
    assert ours.type is RuntimeError and theirs.type is RuntimeError


def test_errors_from_the_shape_rule_come_before_dtype_independent_work(no_arithmetic: None) -> None:
    """A channel mismatch in an unbatched complex call is still reported before any arithmetic."""
    case = ConvCase(2, False, (2, 5, 5), (3, 4, 3, 3), False)
    with pytest.raises(RuntimeError, match="to have 4 channels, but got 2 channels"):
        call_npconv(
            case, npconv.zeros(2, 5, 5, dtype=npconv.complex64), npconv.zeros(3, 4, 3, 3, dtype=npconv.complex64), None
        )


def test_backward_of_an_invalid_call_never_happens() -> None:
    """An invalid call raises; it never returns a tensor whose graph could be differentiated."""
    w = npconv.randn(4, 3, 3, 3, requires_grad=True)
    with pytest.raises(RuntimeError):
        F.conv2d(npconv.randn(1, 2, 8, 8), w)
    assert w.grad is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("stride", True),
        ("stride", 1.0),
        ("stride", [1, 1]),
        ("stride", np.int64(1)),
        ("groups", True),
        ("groups", 1.0),
        ("groups", np.int64(1)),
    ],
    ids=lambda v: repr(v),
)
def test_remembered_valid_call_does_not_admit_lookalike_arguments(name: str, value: object) -> None:
    """Validated calls are remembered; a later call whose argument only compares equal to the remembered one
    (True == 1 == 1.0) is still checked on its own and ends as torch's does."""
    arrays = [np.ones((1, 2, 5, 5), np.float32), np.ones((2, 2, 3, 3), np.float32)]
    F.conv2d(*(npconv.from_numpy(a) for a in arrays), **{name: 1})  # now remembered
    try:
        theirs = torch.nn.functional.conv2d(*(torch.from_numpy(a) for a in arrays), **{name: value})
    except TypeError:
        with pytest.raises(TypeError, match=name):
            F.conv2d(*(npconv.from_numpy(a) for a in arrays), **{name: value})
    else:
        ours = F.conv2d(*(npconv.from_numpy(a) for a in arrays), **{name: value})
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)
