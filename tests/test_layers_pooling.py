"""Max, average and adaptive pooling (1d/2d/3d, functional and modules) against torch: values, indices,
gradients, output-size rules (ceil mode), reprs and errors."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import npconv
import npconv.nn.functional as F
from npconv import nn
from oracle import DTYPES, assert_close


def check_pool(ours, theirs, values, dtype, with_indices=False):
    """Outputs (and indices) equal, and input gradients equal for a random upstream gradient."""
    tensor, torch_tensor = npconv.tensor(values, requires_grad=True), torch.tensor(values, requires_grad=True)
    out, expected = ours(tensor), theirs(torch_tensor)
    if with_indices:
        (out, indices), (expected, expected_indices) = out, expected
        assert indices.dtype == npconv.int64
        np.testing.assert_array_equal(indices.numpy(), expected_indices.numpy())
    assert_close(out.detach().numpy(), expected.detach().numpy(), dtype)
    upstream = np.random.default_rng(5).standard_normal(tuple(expected.shape)).astype(dtype)
    out.backward(npconv.tensor(upstream))
    expected.backward(torch.tensor(upstream))
    assert_close(tensor.grad.numpy(), torch_tensor.grad.numpy(), dtype)


def check_with_indices(name, values, dtype, **kwargs):
    """``name(values, return_indices=True, **kwargs)`` (a max pooling): values, indices and gradients equal
    torch's."""
    ours, theirs = getattr(F, name), getattr(TF, name)
    check_pool(
        lambda x: ours(x, return_indices=True, **kwargs),
        lambda x: theirs(x, return_indices=True, **kwargs),
        values,
        dtype,
        with_indices=True,
    )


def random_configs(ndim, count, seed, dilation):
    """Valid pooling configurations (torch accepts them), drawn reproducibly, batched and unbatched."""
    rng = np.random.default_rng(seed)
    configs = []
    while len(configs) < count:
        kernel = tuple(int(k) for k in rng.integers(1, 4, ndim))
        stride = None if rng.random() < 0.3 else tuple(int(s) for s in rng.integers(1, 4, ndim))
        kwargs = {
            "kernel_size": kernel if rng.random() < 0.7 else kernel[0],
            "stride": stride,
            "padding": tuple(int(rng.integers(0, k // 2 + 1)) for k in kernel),
            "ceil_mode": bool(rng.random() < 0.5),
        }
        if isinstance(kwargs["kernel_size"], int):
            kwargs["padding"] = kwargs["padding"][0]
        if dilation:
            kwargs["dilation"] = tuple(int(d) for d in rng.integers(1, 3, ndim))
        spatial = tuple(int(n) for n in rng.integers(3, 9 if ndim < 3 else 6, ndim))
        shape = ((2, 3) if rng.random() < 0.7 else (3,)) + spatial
        function = getattr(TF, f"{'max' if dilation else 'avg'}_pool{ndim}d")
        try:
            function(torch.zeros(shape), **kwargs)
        except RuntimeError:
            continue
        configs.append((shape, kwargs))
    return configs


# ceil-mode cases chosen so that torch's "last window starts inside the input or left padding" rule matters
CEIL_CASES = [
    ((1, 1, 5), {"kernel_size": 2, "stride": 3, "padding": 1, "ceil_mode": True}),
    ((1, 2, 6, 7), {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    ((2, 1, 5, 5), {"kernel_size": 2, "stride": 2, "ceil_mode": True}),
    ((1, 1, 7, 4), {"kernel_size": (3, 2), "stride": (4, 3), "padding": (1, 1), "ceil_mode": True}),
]

MAX_CASES = [(n, shape, kwargs) for n in (1, 2, 3) for shape, kwargs in random_configs(n, 10, 100 + n, True)]
MAX_CASES += [(len(shape) - 2, shape, kwargs) for shape, kwargs in CEIL_CASES]
AVG_CASES = [(n, shape, kwargs) for n in (1, 2, 3) for shape, kwargs in random_configs(n, 8, 200 + n, False)]
AVG_CASES += [(len(shape) - 2, shape, kwargs) for shape, kwargs in CEIL_CASES]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("ndim", "shape", "kwargs"), MAX_CASES)
def test_max_pool_values_indices_and_gradients_match_torch(ndim, shape, kwargs, dtype):
    values = np.random.default_rng(len(MAX_CASES)).standard_normal(shape).astype(dtype)
    check_with_indices(f"max_pool{ndim}d", values, dtype, **kwargs)


@pytest.mark.parametrize(("ndim", "shape", "kwargs"), MAX_CASES[::3])
def test_max_pool_ties_pick_the_first_maximum_like_torch(ndim, shape, kwargs):
    # few distinct values: many ties, and overlapping windows that pick the same position
    values = np.random.default_rng(3).integers(0, 3, shape).astype(np.float64)
    check_with_indices(f"max_pool{ndim}d", values, np.float64, **kwargs)


@pytest.mark.parametrize("kernel", [(16, 16), (17, 17), (2, 129)])
def test_max_pool_with_many_kernel_offsets_matches_torch(kernel):
    """Windows of 256 offsets (the running offset number in one byte), 289 and 258 (wider numbers), with
    ties: values, indices and gradients as torch's."""
    values = np.random.default_rng(4).integers(0, 4, (2, 3, 40, 140)).astype(np.float32)
    check_with_indices("max_pool2d", values, np.float32, kernel_size=kernel, stride=(3, 5), padding=(1, 2))


@pytest.mark.parametrize(("ndim", "shape", "kwargs"), MAX_CASES[::4])
def test_max_pool_propagates_nan_and_points_at_it_like_torch(ndim, shape, kwargs):
    rng = np.random.default_rng(4)
    values = rng.standard_normal(shape)
    values[rng.random(shape) < 0.15] = np.nan
    check_with_indices(f"max_pool{ndim}d", values, np.float64, **kwargs)


@pytest.mark.parametrize(("ndim", "shape", "kwargs"), MAX_CASES[::2])
def test_max_pool_without_gradients_gives_torchs_values(ndim, shape, kwargs):
    """Without gradients (or indices) only the maxima are computed: NaN, −inf and ties included."""
    rng = np.random.default_rng(6)
    values = rng.integers(-2, 3, shape).astype(np.float64)
    values[rng.random(shape) < 0.1] = np.nan
    values[rng.random(shape) < 0.1] = -np.inf
    name = f"max_pool{ndim}d"
    expected = getattr(TF, name)(torch.tensor(values), **kwargs).numpy()
    plain = getattr(F, name)(npconv.tensor(values), **kwargs)
    with npconv.no_grad():
        unrecorded = getattr(F, name)(npconv.tensor(values, requires_grad=True), **kwargs)
    for out in (plain, unrecorded):
        assert not out.requires_grad
        np.testing.assert_array_equal(out.numpy(), expected)


@pytest.mark.parametrize("grad", [True, False])
def test_max_pool_in_many_chunks_matches_torch(grad, monkeypatch):
    """Positions split into many chunks, with ties, strided and padded windows."""
    from npconv.nn.functional import pooling

    monkeypatch.setattr(pooling, "POOL_CHUNK", 50)  # dozens of chunks
    values = np.random.default_rng(7).integers(0, 4, (2, 3, 13, 11)).astype(np.float32)
    kwargs = {"kernel_size": 3, "stride": 2, "padding": 1}
    if grad:
        check_with_indices("max_pool2d", values, np.float32, **kwargs)
    else:
        out = F.max_pool2d(npconv.tensor(values), **kwargs)
        np.testing.assert_array_equal(out.numpy(), TF.max_pool2d(torch.tensor(values), **kwargs).numpy())


def test_max_pool_never_picks_padding_even_when_the_input_is_minus_infinity():
    values = np.full((1, 1, 4, 5), -np.inf)
    values[0, 0, 1, 2] = 1.0
    check_with_indices("max_pool2d", values, np.float64, kernel_size=3, stride=2, padding=1)


@pytest.mark.parametrize(("dtype", "count_include_pad"), [(np.float64, True), (np.float64, False), (np.float32, False)])
@pytest.mark.parametrize(("ndim", "shape", "kwargs"), AVG_CASES)
def test_avg_pool_values_and_gradients_match_torch(ndim, shape, kwargs, count_include_pad, dtype):
    values = np.random.default_rng(7).standard_normal(shape).astype(dtype)
    ours, theirs = getattr(F, f"avg_pool{ndim}d"), getattr(TF, f"avg_pool{ndim}d")
    check_pool(
        lambda x: ours(x, count_include_pad=count_include_pad, **kwargs),
        lambda x: theirs(x, count_include_pad=count_include_pad, **kwargs),
        values,
        dtype,
    )


@pytest.mark.parametrize("divisor", [1, 3, 7])
@pytest.mark.parametrize(("ndim", "shape"), [(2, (2, 3, 7, 6)), (3, (1, 2, 5, 4, 6))])
def test_avg_pool_divisor_override_matches_torch(ndim, shape, divisor):
    values = np.random.default_rng(8).standard_normal(shape)
    kwargs = {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True, "divisor_override": divisor}
    ours, theirs = getattr(F, f"avg_pool{ndim}d"), getattr(TF, f"avg_pool{ndim}d")
    check_pool(lambda x: ours(x, **kwargs), lambda x: theirs(x, **kwargs), values, np.float64)


def test_avg_pool_of_integers_truncates_like_torch():
    values = np.random.default_rng(9).integers(-20, 20, (2, 3, 6, 6))
    out = F.avg_pool2d(npconv.tensor(values), 3, 2, 1)
    expected = TF.avg_pool2d(torch.tensor(values), 3, 2, 1)
    np.testing.assert_array_equal(out.numpy(), expected.numpy())


def test_max_pool_of_integers_matches_torch():
    values = np.random.default_rng(9).integers(-20, 20, (2, 3, 6, 6))
    out = F.max_pool2d(npconv.tensor(values), 3, 2, 1)
    np.testing.assert_array_equal(out.numpy(), TF.max_pool2d(torch.tensor(values), 3, 2, 1).numpy())


def test_pooling_an_empty_batch_gives_an_empty_batch():
    assert F.max_pool2d(npconv.zeros(0, 2, 4, 4), 2).shape == TF.max_pool2d(torch.zeros(0, 2, 4, 4), 2).shape
    assert F.avg_pool1d(npconv.zeros(0, 2, 4), 2).shape == TF.avg_pool1d(torch.zeros(0, 2, 4), 2).shape


ADAPTIVE_CASES = [
    (1, (2, 3, 7), 3),
    (1, (3, 10), (4,)),
    (1, (2, 2, 5), 8),
    (2, (2, 3, 10, 7), (3, 4)),
    (2, (3, 9, 9), 4),
    (2, (2, 2, 5, 6), (None, 3)),
    (2, (1, 2, 4, 5), (7, 11)),
    (2, (2, 3, 6, 6), 1),
    (3, (1, 2, 5, 6, 7), (2, 3, 4)),
    (3, (2, 4, 3, 5), (None, 2, 3)),
    (2, (1, 2, 64, 48), (5, 7)),  # too large for one combined matrix: one product per axis
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("ndim", "shape", "output_size"), ADAPTIVE_CASES)
def test_adaptive_avg_pool_matches_torch(ndim, shape, output_size, dtype):
    values = np.random.default_rng(11).standard_normal(shape).astype(dtype)
    ours, theirs = getattr(F, f"adaptive_avg_pool{ndim}d"), getattr(TF, f"adaptive_avg_pool{ndim}d")
    check_pool(lambda x: ours(x, output_size), lambda x: theirs(x, output_size), values, dtype)


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("ndim", "shape", "output_size"), ADAPTIVE_CASES)
def test_adaptive_max_pool_matches_torch(ndim, shape, output_size, dtype, ties):
    rng = np.random.default_rng(12)
    values = (rng.integers(0, 3, shape) if ties else rng.standard_normal(shape)).astype(dtype)
    check_with_indices(f"adaptive_max_pool{ndim}d", values, dtype, output_size=output_size)


MODULES = [
    ("MaxPool1d", (3,), {}),
    ("MaxPool1d", (3, 2, 1, 2, False, True), {}),
    ("MaxPool2d", (2,), {}),
    ("MaxPool2d", ((3, 2),), {"stride": (2, 1), "padding": 1, "dilation": (1, 2), "ceil_mode": True}),
    ("MaxPool3d", (2,), {"stride": 1}),
    ("AvgPool1d", (3,), {}),
    ("AvgPool1d", (3, 2, 1, True, False), {}),
    ("AvgPool2d", (2,), {}),
    ("AvgPool2d", (3, 2, 1, True, False, 4), {}),
    ("AvgPool3d", ((2, 3, 2),), {"padding": (1, 1, 0)}),
    ("AdaptiveAvgPool1d", (3,), {}),
    ("AdaptiveAvgPool2d", ((None, 3),), {}),
    ("AdaptiveAvgPool2d", (1,), {}),
    ("AdaptiveAvgPool3d", ((1, 2, 2),), {}),
    ("AdaptiveMaxPool1d", (3,), {}),
    ("AdaptiveMaxPool2d", ((2, 3),), {}),
    ("AdaptiveMaxPool3d", (2,), {}),
]


@pytest.mark.parametrize(("name", "args", "kwargs"), MODULES)
def test_pooling_module_repr_state_and_forward_match_torch(name, args, kwargs):
    ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == []
    ndim = int(name[-2])
    values = np.random.default_rng(13).standard_normal((2, 3) + (7, 8, 6)[:ndim])
    check_pool(ours, theirs, values, np.float64)


@pytest.mark.parametrize("name", ["MaxPool2d", "AdaptiveMaxPool2d"])
def test_pooling_modules_return_indices_like_torch(name):
    ours, theirs = getattr(nn, name)(3, return_indices=True), getattr(torch.nn, name)(3, return_indices=True)
    values = np.random.default_rng(14).standard_normal((2, 3, 9, 7))
    check_pool(ours, theirs, values, np.float64, with_indices=True)


def test_max_pool2d_stride_defaults_to_kernel_size_even_when_given_as_empty():
    values = np.random.default_rng(15).standard_normal((1, 2, 6, 6))
    check_pool(lambda x: F.max_pool2d(x, 2, []), lambda x: TF.max_pool2d(x, 2, []), values, np.float64)


ERRORS = [
    ("max2d_pad_over_half", "max_pool2d", (2, 3, 8, 8), {"kernel_size": 3, "padding": 2}, RuntimeError, "half of"),
    ("max2d_pad_over_half_dilated", "max_pool2d", (2, 3, 8, 8), {"kernel_size": 3, "padding": 2, "dilation": 2}, RuntimeError, "half of"),
    ("max1d_pad_over_half", "max_pool1d", (2, 3, 8), {"kernel_size": 3, "padding": 2}, RuntimeError, "half of"),
    ("max3d_pad_over_half", "max_pool3d", (1, 2, 4, 4, 4), {"kernel_size": 3, "padding": 2}, RuntimeError, "half of"),
    ("avg2d_pad_over_half", "avg_pool2d", (2, 3, 8, 8), {"kernel_size": 3, "padding": 2}, RuntimeError, "half of"),
    ("avg1d_pad_over_half", "avg_pool1d", (2, 3, 8), {"kernel_size": 3, "padding": 2}, RuntimeError, "half of"),
    ("max2d_negative_pad", "max_pool2d", (2, 3, 8, 8), {"kernel_size": 2, "padding": -1}, RuntimeError, "must be non-negative"),
    ("max1d_negative_pad", "max_pool1d", (2, 3, 8), {"kernel_size": 2, "padding": -1}, RuntimeError, "must be non-negative"),
    ("avg2d_negative_pad", "avg_pool2d", (2, 3, 8, 8), {"kernel_size": 2, "padding": -1}, RuntimeError, "must be non-negative"),
    ("max2d_zero_kernel", "max_pool2d", (2, 3, 8, 8), {"kernel_size": 0}, RuntimeError, "zero"),
    ("max1d_zero_kernel", "max_pool1d", (2, 3, 8), {"kernel_size": 0}, RuntimeError, "zero"),
    ("avg2d_zero_kernel", "avg_pool2d", (2, 3, 8, 8), {"kernel_size": 0}, RuntimeError, "zero"),
    ("max2d_zero_stride", "max_pool2d", (2, 3, 8, 8), {"kernel_size": 2, "stride": 0}, RuntimeError, "zero"),
    ("avg1d_zero_stride", "avg_pool1d", (2, 3, 8), {"kernel_size": 2, "stride": 0}, RuntimeError, "zero"),
    ("max2d_zero_dilation", "max_pool2d", (2, 3, 8, 8), {"kernel_size": 2, "dilation": 0}, RuntimeError, "greater than zero"),
    ("max1d_zero_dilation", "max_pool1d", (2, 3, 8), {"kernel_size": 2, "dilation": 0}, RuntimeError, "greater than zero"),
    ("max2d_rank_2", "max_pool2d", (3, 8), {"kernel_size": 2}, RuntimeError, "3D or 4D"),
    ("max2d_rank_5", "max_pool2d", (1, 2, 4, 4, 4), {"kernel_size": 2}, RuntimeError, "3D or 4D"),
    ("max1d_rank_4", "max_pool1d", (2, 3, 8, 8), {"kernel_size": 2}, RuntimeError, "2D or 3D"),
    ("avg1d_rank_4", "avg_pool1d", (2, 3, 8, 8), {"kernel_size": 2}, RuntimeError, "Expected"),
    ("max2d_empty_channels", "max_pool2d", (2, 0, 4, 4), {"kernel_size": 2}, RuntimeError, "3D or 4D"),
    ("max2d_output_too_small", "max_pool2d", (2, 3, 8, 8), {"kernel_size": 9}, RuntimeError, "Output size is too small"),
    ("max3d_output_too_small", "max_pool3d", (1, 2, 4, 4, 4), {"kernel_size": 5}, RuntimeError, "Output size is too small"),
    ("avg2d_output_too_small", "avg_pool2d", (2, 3, 8, 8), {"kernel_size": 9}, RuntimeError, "Output size is too small"),
    ("avg1d_output_too_small", "avg_pool1d", (2, 3, 8), {"kernel_size": 9}, RuntimeError, "Output size is too small"),
    ("max2d_kernel_three_values", "max_pool2d", (2, 3, 8, 8), {"kernel_size": (2, 2, 2)}, RuntimeError, "kernel_size must"),
    ("max1d_kernel_two_values", "max_pool1d", (2, 3, 8), {"kernel_size": (2, 2)}, RuntimeError, "kernel_size must"),
    ("avg2d_kernel_three_values", "avg_pool2d", (2, 3, 8, 8), {"kernel_size": (2, 2, 2)}, RuntimeError, "kernel_size must"),
    ("max2d_stride_three_values", "max_pool2d", (2, 3, 8, 8), {"kernel_size": 2, "stride": (2, 2, 2)}, RuntimeError, "stride must"),
    ("max2d_float_kernel", "max_pool2d", (2, 3, 8, 8), {"kernel_size": 2.0}, TypeError, "kernel_size"),
    ("avg2d_divisor_zero", "avg_pool2d", (2, 3, 8, 8), {"kernel_size": 2, "divisor_override": 0}, RuntimeError, "divisor must be not zero"),
    ("avg3d_divisor_zero", "avg_pool3d", (1, 2, 4, 4, 4), {"kernel_size": 2, "divisor_override": 0}, RuntimeError, "divisor must be not zero"),
    ("adaptive_avg2d_negative", "adaptive_avg_pool2d", (2, 3, 8, 8), {"output_size": -1}, RuntimeError, "greater than or equal to 0"),
    ("adaptive_avg2d_rank_2", "adaptive_avg_pool2d", (3, 8), {"output_size": 2}, RuntimeError, "Expected 3D or 4D tensor"),
    ("adaptive_avg2d_rank_5", "adaptive_avg_pool2d", (1, 2, 4, 4, 4), {"output_size": 2}, RuntimeError, "Expected 3D or 4D tensor"),
    ("adaptive_avg2d_three_sizes", "adaptive_avg_pool2d", (2, 3, 8, 8), {"output_size": (2, 2, 2)}, RuntimeError, "output_size must be 2"),
    ("adaptive_max2d_rank_2", "adaptive_max_pool2d", (3, 8), {"output_size": 2}, RuntimeError, "Expected 3D or 4D tensor"),
]


@pytest.mark.parametrize(("name", "function", "shape", "kwargs", "error", "message"), ERRORS, ids=[e[0] for e in ERRORS])
def test_bad_arguments_raise_like_torch(name, function, shape, kwargs, error, message):
    with pytest.raises(error, match=message):
        getattr(TF, function)(torch.zeros(shape), **kwargs)
    with pytest.raises(error, match=message):
        getattr(F, function)(npconv.zeros(*shape), **kwargs)
