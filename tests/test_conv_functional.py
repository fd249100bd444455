"""Functional convolutions against torch 2.13: forward and the gradients of input, weight and bias over the
systematic grid and the fixed-seed random set of ``conv_cases``, every supported dtype, NaN/inf, NumPy
inputs, and the README's introductory example."""

import numpy as np
import pytest
import torch

import npconv
import npconv.nn.functional as F
from conv_cases import (
    ConvCase,
    assert_close,
    call_npconv,
    call_torch,
    expected_output_shape,
    random_array,
    run_both,
    sample_cases,
)
from npconv.conv import algorithms

CASES = sample_cases()
SUBSET = CASES[::7]


@pytest.mark.parametrize("path", ["small-path", "general-paths"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_forward_and_gradients_match_torch(
    case: ConvCase, dtype: type, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every case twice: as it comes (tiny calls take ``conv_im2col_small``) and with that path switched
    off, so that the same configurations also run through the blocked, threaded algorithms."""
    if path == "general-paths":
        monkeypatch.setattr(algorithms, "SMALL_WORK", 0)
    results = run_both(case, dtype, seed=len(case.id))
    assert results["output"][0].shape == expected_output_shape(case)
    for name, (ours, theirs) in results.items():
        assert_close(ours, theirs, dtype, f"{case.id} {name}")


@pytest.mark.parametrize("case", SUBSET, ids=[case.id for case in SUBSET])
def test_keyword_call_equals_positional_call(case: ConvCase) -> None:
    input, weight, bias = (None if a is None else npconv.tensor(a) for a in case.arrays(np.float64, 3))
    positional = call_npconv(case, input, weight, bias)
    keyword = getattr(F, case.op)(input=input, weight=weight, bias=bias, **case.kwargs)
    np.testing.assert_array_equal(positional.numpy(), keyword.numpy())


@pytest.mark.parametrize("dtype", [np.float16, np.complex64, np.complex128], ids=["float16", "complex64", "complex128"])
@pytest.mark.parametrize("case", SUBSET, ids=[case.id for case in SUBSET])
def test_half_and_complex_match_torch(case: ConvCase, dtype: type) -> None:
    for name, (ours, theirs) in run_both(case, dtype, seed=5).items():
        assert_close(ours, theirs, dtype, f"{case.id} {name}")


INTEGER_DTYPES = [np.int64, np.int32, np.int16, np.int8, np.uint8]


@pytest.mark.parametrize("dtype", INTEGER_DTYPES, ids=lambda d: np.dtype(d).name)
def test_integer_convolutions_match_torch_exactly(dtype: type) -> None:
    # torch 2.13 convolves every integer dtype on the CPU; its dilated and transposed ones only int64
    cases = [
        case
        for case in SUBSET
        if dtype is np.int64 or not (case.transposed or any(d != 1 for d in np.ravel(case.kwargs.get("dilation", 1))))
    ]
    assert cases
    for case in cases:
        results = run_both(case, dtype, seed=11, gradients=False)
        assert_close(*results["output"], dtype, case.id)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16], ids=lambda d: np.dtype(d).name)
def test_integer_overflow_wraps_as_in_torch(dtype: type) -> None:
    x = np.full((1, 4, 5, 5), 100, dtype=dtype)
    w = np.full((2, 4, 3, 3), 100, dtype=dtype)
    ours = F.conv2d(npconv.from_numpy(x), npconv.from_numpy(w)).numpy()
    theirs = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w)).numpy()
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("op", ["conv1d", "conv2d", "conv3d", "conv_transpose2d"])
def test_bool_is_a_type_error(op: str) -> None:
    ndim = int(op[-2])
    x = np.ones((1, 2, *(4,) * ndim), dtype=bool)
    w = np.ones((2, 2, *(2,) * ndim), dtype=bool)
    with pytest.raises(TypeError, match="bool"):
        getattr(F, op)(npconv.from_numpy(x), npconv.from_numpy(w))
    with pytest.raises((NotImplementedError, RuntimeError)):  # torch refuses too
        getattr(torch.nn.functional, op)(torch.from_numpy(x), torch.from_numpy(w))


# A NaN/inf weight meets torch's zero padding in some of its kernels and not in others: its float64 direct
# convolution multiplies explicit zero padding, its transposed convolutions scatter products (only real
# input elements meet the weight), and its float32 oneDNN kernels pad implicitly, chosen by size heuristics.
# npconv follows the first two rules; non-finite weights are compared in float64 and float16.
NAN_SETTINGS = [
    (where, dtype) for where, dtypes in (("input", (np.float64, np.float32, np.float16)),
                                         ("bias", (np.float64, np.float32)),
                                         ("weight", (np.float64, np.float16))) for dtype in dtypes
]
NAN_CASES = CASES[::9]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize(("where", "dtype"), NAN_SETTINGS, ids=[f"{w}-{np.dtype(d).name}" for w, d in NAN_SETTINGS])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_nan_and_inf_propagate_as_in_torch(where: str, dtype: type, value: float) -> None:
    for case in NAN_CASES:
        if where == "bias" and not case.bias:
            continue
        arrays = list(case.arrays(dtype, 7))
        index = {"input": 0, "weight": 1, "bias": 2}[where]
        arrays[index].flat[0] = value
        arrays[index].flat[-1] = -value
        arrays[0].flat[1] = 0.0  # 0·inf is NaN
        ours = call_npconv(case, *(None if a is None else npconv.tensor(a) for a in arrays)).numpy()
        theirs = call_torch(case, *(None if a is None else torch.tensor(a) for a in arrays)).numpy()
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs), err_msg=case.id)
        np.testing.assert_array_equal(np.isposinf(ours), np.isposinf(theirs), err_msg=case.id)
        np.testing.assert_array_equal(np.isneginf(ours), np.isneginf(theirs), err_msg=case.id)
        finite = np.isfinite(theirs)
        assert_close(ours[finite], theirs[finite], dtype, case.id)


@pytest.mark.parametrize("case", CASES[::31], ids=[case.id for case in CASES[::31]])
def test_numpy_arrays_are_accepted_wherever_a_tensor_is(case: ConvCase) -> None:
    arrays = case.arrays(np.float64, 2)
    from_arrays = call_npconv(case, *arrays)
    assert isinstance(from_arrays, npconv.Tensor)
    from_tensors = call_npconv(case, *(None if a is None else npconv.from_numpy(a) for a in arrays))
    np.testing.assert_array_equal(from_arrays.numpy(), from_tensors.numpy())
    mixed = call_npconv(case, arrays[0], npconv.from_numpy(arrays[1]), arrays[2])
    np.testing.assert_array_equal(mixed.numpy(), from_tensors.numpy())
    theirs = call_torch(case, *(None if a is None else torch.from_numpy(a) for a in arrays))
    assert_close(from_arrays.numpy(), theirs.numpy(), np.float64)


def test_gradient_reaches_a_tensor_whose_partner_is_an_array() -> None:
    x = np.random.default_rng(0).standard_normal((2, 3, 6))
    w = npconv.tensor(np.random.default_rng(1).standard_normal((4, 3, 2)), requires_grad=True)
    F.conv1d(x, w).sum().backward()
    wt = torch.tensor(w.detach().numpy(), requires_grad=True)
    torch.nn.functional.conv1d(torch.from_numpy(x), wt).sum().backward()
    assert_close(w.grad.numpy(), wt.grad.numpy(), np.float64)


def test_input_only_gradient_and_weight_only_gradient() -> None:
    case = ConvCase(2, False, (2, 4, 6, 5), (6, 2, 3, 2), True, {"groups": 2, "stride": 2, "padding": 1})
    x, w, b = case.arrays(np.float64, 4)
    for wants in ((True, False, False), (False, True, False), (False, False, True)):
        ours = [npconv.tensor(a, requires_grad=flag) for a, flag in zip((x, w, b), wants)]
        theirs = [torch.tensor(a, requires_grad=flag) for a, flag in zip((x, w, b), wants)]
        (call_npconv(case, *ours) ** 2).sum().backward()
        (call_torch(case, *theirs) ** 2).sum().backward()
        for a, t, flag in zip(ours, theirs, wants):
            assert (a.grad is not None) == flag
            if flag:
                assert_close(a.grad.numpy(), t.grad.numpy(), np.float64)


def test_gradients_accumulate_over_two_convolutions_sharing_the_weight() -> None:
    rng = np.random.default_rng(8)
    x1, x2 = rng.standard_normal((1, 2, 7)), rng.standard_normal((1, 2, 9))
    w = rng.standard_normal((3, 2, 3))
    wn = npconv.tensor(w, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    (F.conv1d(x1, wn).sum() + F.conv1d(x2, wn, stride=2).mean()).backward()
    (torch.nn.functional.conv1d(torch.tensor(x1), wt).sum()
     + torch.nn.functional.conv1d(torch.tensor(x2), wt, stride=2).mean()).backward()
    assert_close(wn.grad.numpy(), wt.grad.numpy(), np.float64)


def test_output_dtype_and_type() -> None:
    y = F.conv2d(npconv.randn(1, 2, 5, 5), npconv.randn(3, 2, 3, 3))
    assert isinstance(y, npconv.Tensor)
    assert y.dtype == npconv.float32
    assert isinstance(y.shape, npconv.Size)
    z = F.conv2d(npconv.randn(1, 2, 5, 5, dtype=npconv.float64), npconv.randn(3, 2, 3, 3, dtype=npconv.float64))
    assert z.dtype == npconv.float64


def test_introductory_example_block() -> None:
    torch_ = npconv
    x = torch_.randn(3, 1, 5, 4)
    w = torch_.randn(4, 1, 2, 3, requires_grad=True)
    y = F.conv2d(x, w)
    assert y.shape == (3, 4, 4, 2)
    assert isinstance(y.shape, tuple)
    assert repr(y.shape) == "npconv.Size([3, 4, 4, 2])"
    y.sum().backward()
    assert w.grad.shape == (4, 1, 2, 3)
    assert str(w.grad.shape) == "npconv.Size([4, 1, 2, 3])"
    with pytest.raises(RuntimeError, match=r"expected input\[1, 1, 28, 28\] to have 3 channels, but got 1 channels instead"):
        F.conv2d(torch_.rand(1, 1, 28, 28), torch_.rand(16, 3, 5, 5), torch_.randn(16), stride=1, padding=1)
    assert F.conv2d(torch_.rand(1, 3, 28, 28), torch_.rand(16, 3, 5, 5), torch_.randn(16), stride=1, padding=1).shape == (1, 16, 26, 26)
    assert F.conv_transpose2d(torch_.randn(1, 3, 8, 8), torch_.randn(3, 64, 3, 3), stride=2, padding=1, output_padding=1).shape == (1, 64, 16, 16)
    assert F.conv1d(torch_.randn(8, 16, 100), torch_.randn(33, 16, 3), stride=2).shape == (8, 33, 49)
    assert F.conv3d(torch_.randn(2, 4, 5, 6, 7), torch_.randn(8, 2, 3, 3, 3), groups=2, padding="same").shape == (2, 8, 5, 6, 7)


def test_introductory_example_values_match_torch() -> None:
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((3, 1, 5, 4)), rng.standard_normal((4, 1, 2, 3))
    wn, wt = npconv.tensor(w, requires_grad=True), torch.tensor(w, requires_grad=True)
    yn, yt = F.conv2d(npconv.tensor(x), wn), torch.nn.functional.conv2d(torch.tensor(x), wt)
    yn.sum().backward()
    yt.sum().backward()
    assert_close(yn.detach().numpy(), yt.detach().numpy(), np.float64)
    assert_close(wn.grad.numpy(), wt.grad.numpy(), np.float64)


def test_larger_batched_float32_call_matches_torch() -> None:
    """One call big enough to exercise the primitive's chunking paths, float32 relative to magnitude."""
    rng = np.random.default_rng(12)
    x = random_array((4, 8, 20, 20), np.float32, rng)
    w = random_array((16, 8, 3, 3), np.float32, rng)
    ours = F.conv2d(x, w, None, 1, 1).numpy()
    theirs = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), None, 1, 1).numpy()
    assert_close(ours, theirs, np.float32)


LAYOUT_CASES = CASES[::23]


@pytest.mark.parametrize("layout", ["negative strides", "fortran order", "strided view", "broadcast read-only"])
def test_memory_layouts_of_the_arguments(layout: str) -> None:
    """Views with negative, Fortran-order, gapped or zero strides give torch's values and gradients, and
    the caller's arrays are left untouched."""
    for case in LAYOUT_CASES:
        x, w, b = case.arrays(np.float64, 1)
        if layout == "negative strides":
            xv, wv = np.flip(x, -1).copy()[..., ::-1], np.flip(w, -1).copy()[..., ::-1]
        elif layout == "fortran order":
            xv, wv = np.asfortranarray(x), np.asfortranarray(w)
        elif layout == "strided view":
            xv, wv = np.repeat(x, 2, axis=-1)[..., ::2], np.repeat(w, 2, axis=0)[::2]
        else:
            x = np.broadcast_to(x[..., :1], x.shape)
            xv, wv = x, w
        snapshot = (xv.copy(), wv.copy())
        xt, wt = npconv.from_numpy(xv).requires_grad_(), npconv.from_numpy(wv).requires_grad_()
        out = call_npconv(case, xt, wt, b)
        tx, tw = torch.tensor(np.ascontiguousarray(x), requires_grad=True), torch.tensor(w, requires_grad=True)
        reference = call_torch(case, tx, tw, None if b is None else torch.tensor(b))
        assert_close(out.detach().numpy(), reference.detach().numpy(), np.float64, case.id)
        upstream = np.random.default_rng(3).standard_normal(tuple(reference.shape))
        out.backward(npconv.tensor(upstream))
        reference.backward(torch.tensor(upstream))
        assert_close(xt.grad.numpy(), tx.grad.numpy(), np.float64, case.id)
        assert_close(wt.grad.numpy(), tw.grad.numpy(), np.float64, case.id)
        np.testing.assert_array_equal(xv, snapshot[0])
        np.testing.assert_array_equal(wv, snapshot[1])
