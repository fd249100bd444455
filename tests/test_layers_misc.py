"""Linear, Identity, Flatten, Unflatten, Dropout and Upsample / F.interpolate against torch."""

import importlib
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import npconv
import npconv.nn.functional as F
from npconv import nn
from oracle import DTYPES, assert_close, check_against_torch


def randn(*shape, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# --------------------------------------------------------------------- Linear
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("input_shape", "weight_shape", "bias"),
    [((4, 5), (3, 5), True), ((4, 5), (3, 5), False), ((5,), (3, 5), True), ((2, 3, 5), (4, 5), True),
     ((4, 5), (5,), False), ((0, 5), (3, 5), True), ((4, 0), (3, 0), True), ((2, 3, 0), (4, 0), False),
     ((4, 5), (3, 5), "broadcast")],
)
def test_functional_linear_matches_torch(input_shape, weight_shape, bias, dtype):
    arrays = [randn(*input_shape, dtype=dtype), randn(*weight_shape, dtype=dtype, seed=1)]
    if bias == "broadcast":
        arrays.append(randn(1, dtype=dtype, seed=2))
    elif bias:
        arrays.append(randn(weight_shape[0], dtype=dtype, seed=2))
    check_against_torch(F.linear, TF.linear, arrays, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("input_shape", "weight_shape"), [((32, 512), (1000, 512)), ((4, 3, 700), (600, 700))])
def test_a_large_linear_runs_on_the_thread_pool_and_matches_torch(input_shape, weight_shape, dtype, monkeypatch):
    """From PARALLEL_WORK multiply-adds the forward and both gradient products are split over the pool
    (single-threaded BLAS calls) and still match torch."""
    from npconv.conv import algorithms

    assert math.prod(input_shape) * weight_shape[0] >= algorithms.PARALLEL_WORK
    pooled = []
    original = algorithms.parallel_matmul

    def recording(a, b, *args, **kwargs):
        pooled.append(algorithms.on_the_pool())
        return original(a, b, *args, **kwargs)

    monkeypatch.setattr(algorithms, "parallel_matmul", recording)
    arrays = [randn(*input_shape, dtype=dtype), randn(*weight_shape, dtype=dtype, seed=1), randn(weight_shape[0], dtype=dtype, seed=2)]
    check_against_torch(F.linear, TF.linear, arrays, dtype)
    assert len(pooled) >= 3 and all(pooled) == (algorithms.THREADS > 1)


def test_a_mid_sized_linear_runs_on_one_blas_thread_and_matches_torch(monkeypatch):
    """Between OpenBLAS's own threading threshold and PARALLEL_WORK multiply-adds, each product runs in the
    calling thread with BLAS held to one thread (no BLAS thread left spinning) and still matches torch."""
    import contextlib

    from npconv.conv import algorithms
    linear_module = importlib.import_module("npconv.nn.functional.linear")

    input_shape, weight_shape = (8, 512), (1000, 512)
    work = math.prod(input_shape) * weight_shape[0]
    assert linear_module.BLAS_THREADED_WORK <= work < algorithms.PARALLEL_WORK
    limits = []
    original = algorithms.one_blas_thread

    @contextlib.contextmanager
    def recording():
        with original():
            if algorithms.THREADS > 1:
                from threadpoolctl import threadpool_info

                limits.append({info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"})
            else:
                limits.append({1})
            yield

    monkeypatch.setattr(algorithms, "one_blas_thread", recording)
    arrays = [randn(*input_shape, dtype=np.float32), randn(*weight_shape, dtype=np.float32, seed=1)]
    check_against_torch(F.linear, TF.linear, arrays, np.float32)
    assert len(limits) == 3 and all(threads == {1} for threads in limits)


@pytest.mark.parametrize("bias", [True, False])
def test_linear_module_forward_backward_repr_and_state_match_torch(bias):
    ours, theirs = nn.Linear(5, 3, bias=bias), torch.nn.Linear(5, 3, bias=bias)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [tuple(p.shape) for p in ours.parameters()] == [tuple(p.shape) for p in theirs.parameters()]
    ours.load_state_dict({key: value.numpy() for key, value in theirs.state_dict().items()})
    values = randn(4, 5, dtype=np.float32)
    out, expected = ours(npconv.tensor(values)), theirs(torch.tensor(values))
    assert_close(out.detach().numpy(), expected.detach().numpy(), np.float32)
    out.sum().backward()
    expected.sum().backward()
    for parameter, torch_parameter in zip(ours.parameters(), theirs.parameters()):
        assert_close(parameter.grad.numpy(), torch_parameter.grad.numpy(), np.float32)


def test_linear_init_follows_torch_bounds_and_the_default_generator():
    npconv.manual_seed(0)
    layer = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    weight, bias = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    assert weight.dtype == np.float32 and bias.dtype == np.float32
    assert np.abs(weight).max() <= bound and np.abs(bias).max() <= bound
    # U(−b, b) has standard deviation b/√3; 120 000 draws pin it to well under 1 %
    assert abs(weight.std() - bound / math.sqrt(3)) < 0.01 * bound
    assert abs(weight.mean()) < 0.01 * bound
    npconv.manual_seed(0)
    again = nn.Linear(400, 300)
    np.testing.assert_array_equal(again.weight.detach().numpy(), weight)
    np.testing.assert_array_equal(again.bias.detach().numpy(), bias)
    assert not np.array_equal(nn.Linear(400, 300).weight.detach().numpy(), weight)


def test_linear_dtype_argument_and_module_conversion():
    layer = nn.Linear(3, 2, dtype=npconv.float64)
    assert layer.weight.dtype == npconv.float64 and layer.bias.dtype == npconv.float64
    assert nn.Linear(3, 2).double().weight.dtype == npconv.float64


@pytest.mark.parametrize(
    ("input_shape", "weight_shape", "message"),
    [((2, 5), (4, 3), r"mat1 and mat2 shapes cannot be multiplied \(2x5 and 3x4\)"),
     ((), (4, 3), "both arguments to linear need to be at least 1D")],
)
def test_linear_shape_errors_match_torch(input_shape, weight_shape, message):
    with pytest.raises(RuntimeError, match=message):
        TF.linear(torch.zeros(input_shape), torch.zeros(weight_shape))
    with pytest.raises(RuntimeError, match=message):
        F.linear(npconv.zeros(*input_shape), npconv.zeros(*weight_shape))


# --------------------------------------------------------------------- Identity, Flatten, Unflatten
def test_identity_returns_its_input_and_ignores_arguments():
    ours, theirs = nn.Identity(54, unused="x"), torch.nn.Identity(54, unused="x")
    assert repr(ours) == repr(theirs) == "Identity()"
    tensor = npconv.randn(2, 3)
    assert ours(tensor) is tensor
    assert list(ours.state_dict()) == []


@pytest.mark.parametrize(
    ("args", "shape"),
    [((), (2, 3, 4, 5)), ((0,), (2, 3, 4)), ((1, 2), (2, 3, 4, 5)), ((-3, -2), (2, 3, 4, 5)), ((0, -1), (3,)), ((0,), ())],
)
def test_flatten_matches_torch(args, shape):
    ours, theirs = nn.Flatten(*args), torch.nn.Flatten(*args)
    assert repr(ours) == repr(theirs)
    check_against_torch(ours, theirs, [randn(*shape)], np.float64)


@pytest.mark.parametrize(
    ("dim", "sizes", "shape"),
    [(1, (2, 3), (4, 6)), (-1, [2, 2, 2], (3, 8)), (1, (-1, 2), (2, 6, 4)), (0, (1, 5), (5, 2))],
)
def test_unflatten_matches_torch(dim, sizes, shape):
    ours, theirs = nn.Unflatten(dim, sizes), torch.nn.Unflatten(dim, sizes)
    assert repr(ours) == repr(theirs)
    check_against_torch(ours, theirs, [randn(*shape)], np.float64)


@pytest.mark.parametrize(
    ("build", "shape", "error", "message"),
    [(lambda m: m.Flatten(2, 1), (2, 3, 4), RuntimeError, "start_dim cannot come after end_dim"),
     (lambda m: m.Unflatten(1, (2, 2)), (2, 3, 4), RuntimeError, r"Provided sizes \[2, 2\] don't multiply up"),
     (lambda m: m.Unflatten(1, (-1, 4)), (2, 6), RuntimeError, r"Provided sizes \[-1, 4\] don't multiply up"),
     (lambda m: m.Flatten(5), (2, 3), IndexError, "Dimension out of range"),
     (lambda m: m.Flatten(), (2,), IndexError, "Dimension out of range")],
)
def test_shape_layer_errors_match_torch(build, shape, error, message):
    with pytest.raises(error, match=message):
        build(torch.nn)(torch.zeros(shape))
    with pytest.raises(error, match=message):
        build(nn)(npconv.zeros(*shape))


def test_unflatten_rejects_a_non_tuple_size_like_torch():
    with pytest.raises(TypeError, match="unflattened_size must be a tuple of ints"):
        torch.nn.Unflatten(1, 3)
    with pytest.raises(TypeError, match="unflattened_size must be a tuple of ints"):
        nn.Unflatten(1, 3)


# --------------------------------------------------------------------- Dropout
@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_dropout_zeroes_about_p_and_scales_the_rest(p):
    npconv.manual_seed(1)
    values = np.random.default_rng(0).uniform(1, 2, (200, 250)).astype(np.float32)
    tensor = npconv.tensor(values, requires_grad=True)
    out = F.dropout(tensor, p)
    result = out.detach().numpy()
    kept = result != 0
    assert abs(1 - kept.mean() - p) < 0.01
    np.testing.assert_allclose(result[kept], values[kept] / np.float32(1 - p), rtol=1e-6)
    out.sum().backward()
    # the gradient is the same scaled mask
    np.testing.assert_allclose(tensor.grad.numpy(), kept / np.float32(1 - p), rtol=1e-6)


def test_dropout_draws_from_the_default_generator_reproducibly():
    npconv.manual_seed(7)
    first = F.dropout(npconv.ones(1000)).numpy()
    second = F.dropout(npconv.ones(1000)).numpy()
    npconv.manual_seed(7)
    np.testing.assert_array_equal(F.dropout(npconv.ones(1000)).numpy(), first)
    assert not np.array_equal(first, second)


def test_dropout_module_train_and_eval():
    ours, theirs = nn.Dropout(0.3), torch.nn.Dropout(0.3)
    assert repr(ours) == repr(theirs) and repr(nn.Dropout(0.1, True)) == repr(torch.nn.Dropout(0.1, True))
    tensor = npconv.randn(50, 40)
    assert ours.training
    assert (ours(tensor).numpy() == 0).any()
    ours.eval()
    assert ours(tensor) is tensor
    assert F.dropout(tensor, 0.5, training=False) is tensor


def test_dropout_edge_probabilities_match_torch():
    values = randn(4, 5, dtype=np.float32)
    for p in (0.0, 1.0):
        out, expected = F.dropout(npconv.tensor(values), p), TF.dropout(torch.tensor(values), p)
        np.testing.assert_array_equal(out.numpy(), expected.numpy())


def test_dropout_inplace_writes_into_its_input_when_not_recording():
    npconv.manual_seed(3)
    tensor = npconv.ones(100)
    assert F.dropout(tensor, 0.5, inplace=True) is tensor
    assert set(np.unique(tensor.numpy())) == {0.0, 2.0}


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_dropout_probability_errors_match_torch(p):
    message = f"dropout probability has to be between 0 and 1, but got {p}"
    for build in (lambda: torch.nn.Dropout(p), lambda: nn.Dropout(p)):
        with pytest.raises(ValueError, match=message):
            build()
    with pytest.raises(ValueError, match=message):
        TF.dropout(torch.ones(3), p)
    with pytest.raises(ValueError, match=message):
        F.dropout(npconv.ones(3), p)


# --------------------------------------------------------------------- Upsample and interpolate
INTERPOLATE_CASES = [
    ((2, 3, 5, 7), {"scale_factor": 2}),
    ((2, 3, 5, 7), {"scale_factor": 2.5}),
    ((2, 3, 5, 7), {"scale_factor": 0.6}),
    ((2, 3, 5, 7), {"size": (3, 11)}),
    ((2, 3, 5, 7), {"size": 9, "mode": "nearest-exact"}),
    ((2, 3, 5, 7), {"scale_factor": (1.7, 0.8), "mode": "nearest-exact"}),
    ((2, 3, 5, 7), {"scale_factor": 1.7, "mode": "bilinear"}),
    ((2, 3, 5, 7), {"scale_factor": 1.7, "mode": "bilinear", "align_corners": True}),
    ((2, 3, 5, 7), {"size": (9, 4), "mode": "bilinear"}),
    ((2, 3, 5, 7), {"size": (9, 4), "mode": "bilinear", "align_corners": True}),
    ((2, 3, 5, 7), {"size": (1, 4), "mode": "bilinear", "align_corners": True}),
    ((2, 3, 5, 7), {"scale_factor": (0.6, 1.3), "mode": "bilinear", "recompute_scale_factor": True}),
    ((2, 3, 5, 7), {"size": (3, 11), "mode": "area"}),
    ((2, 3, 13), {"scale_factor": 0.37}),
    ((2, 3, 5), {"scale_factor": 3.3, "mode": "linear"}),
    ((2, 3, 5), {"size": 12, "mode": "linear", "align_corners": True}),
    ((1, 2, 3, 4, 5), {"scale_factor": 2, "mode": "trilinear"}),
    ((1, 2, 3, 4, 5), {"size": (4, 3, 7), "mode": "nearest"}),
    ((1, 2, 9, 40), {"scale_factor": 1.5, "mode": "bilinear"}),  # rows of ≥ 32: one product per plane
    ((1, 2, 3, 4, 33), {"scale_factor": 2, "mode": "trilinear"}),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("shape", "kwargs"), INTERPOLATE_CASES)
def test_interpolate_matches_torch(shape, kwargs, dtype):
    check_against_torch(
        lambda x: F.interpolate(x, **kwargs), lambda x: TF.interpolate(x, **kwargs), [randn(*shape, dtype=dtype)], dtype
    )


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_interpolate_keeps_non_finite_values_local_like_torch(mode):
    values = randn(1, 2, 5, 6)
    values[0, 0, 2, 3] = np.inf
    values[0, 1, 1, 1] = np.nan
    check_against_torch(
        lambda x: F.interpolate(x, scale_factor=1.5, mode=mode),
        lambda x: TF.interpolate(x, scale_factor=1.5, mode=mode),
        [values],
        np.float64,
    )
    assert np.isfinite(F.interpolate(npconv.tensor(values), scale_factor=1.5, mode=mode).numpy()).mean() > 0.8


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((), {"scale_factor": 2}), ((), {"scale_factor": (2, 3)}), ((5,), {}), (((3, 4),), {"mode": "bilinear", "align_corners": True}),
     ((), {"scale_factor": 2.5, "mode": "bilinear"}), ((), {"scale_factor": 1.5, "mode": "nearest-exact"})],
)
def test_upsample_module_repr_and_forward_match_torch(args, kwargs):
    ours, theirs = nn.Upsample(*args, **kwargs), torch.nn.Upsample(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == []
    check_against_torch(ours, theirs, [randn(2, 3, 4, 5)], np.float64)


@pytest.mark.parametrize("name", ["UpsamplingNearest2d", "UpsamplingBilinear2d"])
def test_fixed_mode_upsampling_modules_match_torch(name):
    ours, theirs = getattr(nn, name)(scale_factor=2), getattr(torch.nn, name)(scale_factor=2)
    assert repr(ours) == repr(theirs)
    check_against_torch(ours, theirs, [randn(1, 2, 3, 4)], np.float64)


INTERPOLATE_ERRORS = [
    ("size_and_scale", (1, 2, 4, 4), {"size": 3, "scale_factor": 2}, ValueError, "only one of size or scale_factor"),
    ("neither", (1, 2, 4, 4), {}, ValueError, "either size or scale_factor should be defined"),
    ("align_corners_nearest", (1, 2, 4, 4), {"scale_factor": 2, "align_corners": True}, ValueError, "align_corners option can only be set"),
    ("bilinear_3d", (1, 2, 4), {"scale_factor": 2, "mode": "bilinear"}, NotImplementedError, "Got 3D input, but bilinear mode needs 4D input"),
    ("linear_4d", (1, 2, 4, 4), {"scale_factor": 2, "mode": "linear"}, NotImplementedError, "Got 4D input, but linear mode needs 3D input"),
    ("size_length", (1, 2, 4, 4), {"size": (2, 2, 2)}, ValueError, "Input and output must have the same number of spatial dimensions"),
    ("scale_length", (1, 2, 4, 4), {"scale_factor": (2, 2, 2)}, ValueError, "Input and scale_factor must have the same number"),
    ("size_zero", (1, 2, 4, 4), {"size": 0}, RuntimeError, "Input and output sizes should be greater than 0"),
    ("scale_too_small", (1, 2, 4, 4), {"scale_factor": 0.1}, RuntimeError, "Input and output sizes should be greater than 0"),
    ("bad_mode", (1, 2, 4, 4), {"scale_factor": 2, "mode": "foo"}, NotImplementedError, r"\(got foo\)"),
    ("2d_input", (4, 4), {"scale_factor": 2}, NotImplementedError, r"Only 3D, 4D and 5D input Tensors supported \(got 2D\)"),
    ("recompute_with_size", (1, 2, 4, 4), {"size": 3, "recompute_scale_factor": True}, ValueError, "recompute_scale_factor is not meaningful"),
    ("float_size", (1, 2, 4, 4), {"size": (2.0, 3)}, TypeError, "expected size to be one of int"),
]


@pytest.mark.parametrize(
    ("name", "shape", "kwargs", "error", "message"), INTERPOLATE_ERRORS, ids=[e[0] for e in INTERPOLATE_ERRORS]
)
def test_interpolate_errors_match_torch(name, shape, kwargs, error, message):
    with pytest.raises(error, match=message):
        TF.interpolate(torch.zeros(shape), **kwargs)
    with pytest.raises(error, match=message):
        F.interpolate(npconv.zeros(*shape), **kwargs)
