"""npconv.nn.init against torch.nn.init: gains, fans, errors, exact deterministic fills, and the random
initialisers' distributions (bounds, mean and variance of large tensors), plus reproducibility."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest
import torch

import npconv
from npconv import nn

LARGE_SHAPE = (128, 64, 3, 3)  # 73,728 values

NONLINEARITIES = [
    ("linear", None), ("conv1d", None), ("conv2d", None), ("conv3d", None), ("conv_transpose1d", None),
    ("conv_transpose2d", None), ("conv_transpose3d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
    ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", 3), ("leaky_relu", math.sqrt(5)), ("selu", None),
]


def values_of(tensor: npconv.Tensor) -> np.ndarray:
    return tensor.detach().numpy().astype(np.float64).ravel()


def assert_moments(values: np.ndarray, mean: float, variance: float, fourth_central: float) -> None:
    """Sample mean and variance within five standard errors of the distribution's."""
    count = values.size
    assert abs(values.mean() - mean) < 5 * math.sqrt(variance / count)
    assert abs(values.var() - variance) < 5 * math.sqrt((fourth_central - variance**2) / count)


def assert_uniform(values: np.ndarray, low: float, high: float) -> None:
    """Within [low, high] as float32 represents them (a bound rounds to the nearest float32, which may lie
    just outside the float64 value), near both ends, with the uniform distribution's moments."""
    slack = 2 * np.finfo(np.float32).eps * max(abs(low), abs(high))
    assert values.min() >= low - slack and values.max() <= high + slack
    width = high - low
    assert values.min() < low + 0.01 * width and values.max() > high - 0.01 * width
    assert_moments(values, (low + high) / 2, width**2 / 12, width**4 / 80)


def assert_normal(values: np.ndarray, mean: float, std: float) -> None:
    assert_moments(values, mean, std**2, 3 * std**4)
    # about 68.27% within one standard deviation
    assert abs(np.mean(np.abs(values - mean) < std) - 0.6827) < 0.01


# ----------------------------------------------------------------------------- gains and fans


@pytest.mark.parametrize(("nonlinearity", "param"), NONLINEARITIES)
def test_calculate_gain_equals_torch(nonlinearity: str, param: float | None) -> None:
    assert nn.init.calculate_gain(nonlinearity, param) == torch.nn.init.calculate_gain(nonlinearity, param)


@pytest.mark.parametrize(("nonlinearity", "param", "message"), [
    ("softplus", None, "Unsupported nonlinearity softplus"),
    ("leaky_relu", True, "negative_slope True not a valid number"),
    ("leaky_relu", "0.1", "negative_slope 0.1 not a valid number"),
])
def test_calculate_gain_errors_match_torch(nonlinearity: str, param: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        torch.nn.init.calculate_gain(nonlinearity, param)
    with pytest.raises(ValueError, match=message):
        nn.init.calculate_gain(nonlinearity, param)


FAN_SHAPES = [(5, 3), (8, 4, 3), (16, 2, 3, 5), (6, 3, 2, 3, 4), (3, 0, 2), (1, 7)]


@pytest.mark.parametrize("shape", FAN_SHAPES)
def test_fans_equal_torch(shape: tuple[int, ...]) -> None:
    ours, reference = npconv.empty(*shape), torch.empty(*shape)
    assert nn.init._calculate_fan_in_and_fan_out(ours) == torch.nn.init._calculate_fan_in_and_fan_out(reference)
    for mode in ("fan_in", "fan_out", "FAN_OUT"):
        assert nn.init._calculate_correct_fan(ours, mode) == torch.nn.init._calculate_correct_fan(reference, mode)


def test_fan_errors_match_torch() -> None:
    message = "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions"
    for library in (torch, npconv):
        with pytest.raises(ValueError, match=message):
            library.nn.init._calculate_fan_in_and_fan_out(library.empty(4))
        with pytest.raises(ValueError, match="Mode fan_avg not supported, please use one of"):
            library.nn.init._calculate_correct_fan(library.empty(4, 4), "fan_avg")


def test_transposed_conv_fan_in_uses_out_channels_per_group_as_torch() -> None:
    ours = nn.ConvTranspose2d(12, 8, (3, 2), groups=4)
    reference = torch.nn.ConvTranspose2d(12, 8, (3, 2), groups=4)
    fans = nn.init._calculate_fan_in_and_fan_out(ours.weight)
    assert fans == torch.nn.init._calculate_fan_in_and_fan_out(reference.weight) == (2 * 6, 12 * 6)


# ----------------------------------------------------------------------------- random initialisers


def test_uniform_and_normal() -> None:
    tensor = npconv.empty(*LARGE_SHAPE)
    assert nn.init.uniform_(tensor, -0.3, 0.7) is tensor
    assert_uniform(values_of(tensor), -0.3, 0.7)
    assert_uniform(values_of(nn.init.uniform_(npconv.empty(*LARGE_SHAPE))), 0.0, 1.0)
    assert nn.init.normal_(tensor, 2.0, 0.5) is tensor
    assert_normal(values_of(tensor), 2.0, 0.5)
    assert_normal(values_of(nn.init.normal_(npconv.empty(*LARGE_SHAPE))), 0.0, 1.0)


@pytest.mark.parametrize("gain", [1.0, 0.5, torch.nn.init.calculate_gain("tanh")])
@pytest.mark.parametrize("shape", [LARGE_SHAPE, (300, 200)])
def test_xavier_matches_torchs_formula(gain: float, shape: tuple[int, ...]) -> None:
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    bound = math.sqrt(3.0) * std
    assert_uniform(values_of(nn.init.xavier_uniform_(npconv.empty(*shape), gain=gain)), -bound, bound)
    assert_normal(values_of(nn.init.xavier_normal_(npconv.empty(*shape), gain=gain)), 0.0, std)


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize(("nonlinearity", "a"), [("leaky_relu", 0), ("leaky_relu", math.sqrt(5)), ("relu", 0),
                                                 ("tanh", 0), ("leaky_relu", 0.2)])
def test_kaiming_matches_torchs_formula(mode: str, nonlinearity: str, a: float) -> None:
    fan = torch.nn.init._calculate_correct_fan(torch.empty(LARGE_SHAPE), mode)
    std = torch.nn.init.calculate_gain(nonlinearity, a) / math.sqrt(fan)
    bound = math.sqrt(3.0) * std
    uniform = nn.init.kaiming_uniform_(npconv.empty(*LARGE_SHAPE), a=a, mode=mode, nonlinearity=nonlinearity)
    assert_uniform(values_of(uniform), -bound, bound)
    normal = nn.init.kaiming_normal_(npconv.empty(*LARGE_SHAPE), a, mode, nonlinearity)
    assert_normal(values_of(normal), 0.0, std)


def truncated_normal_moments(mean: float, std: float, a: float, b: float) -> tuple[float, float]:
    alpha, beta = (a - mean) / std, (b - mean) / std

    def pdf(x: float) -> float:
        return math.exp(-x * x / 2) / math.sqrt(2 * math.pi)

    def cdf(x: float) -> float:
        return (1 + math.erf(x / math.sqrt(2))) / 2

    mass = cdf(beta) - cdf(alpha)
    shift = (pdf(alpha) - pdf(beta)) / mass
    variance = std**2 * (1 + (alpha * pdf(alpha) - beta * pdf(beta)) / mass - shift**2)
    return mean + std * shift, variance


@pytest.mark.parametrize(("mean", "std", "a", "b"), [
    (0.0, 1.0, -2.0, 2.0),     # most of the mass inside: redraw normal samples
    (0.5, 0.25, 0.0, 1.0),
    (0.0, 1.0, 1.5, 3.0),      # a tail: uniform proposals with acceptance
    (0.0, 0.02, -0.01, 0.0),
])
def test_trunc_normal_bounds_and_moments(mean: float, std: float, a: float, b: float) -> None:
    tensor = npconv.empty(*LARGE_SHAPE, dtype=npconv.float64)
    assert nn.init.trunc_normal_(tensor, mean, std, a, b) is tensor
    values = values_of(tensor)
    assert values.min() >= a and values.max() <= b
    expected_mean, expected_variance = truncated_normal_moments(mean, std, a, b)
    count = values.size
    assert abs(values.mean() - expected_mean) < 5 * math.sqrt(expected_variance / count)
    # the truncated distribution's fourth moment is at most the uniform's on [a, b] or the normal's
    assert abs(values.var() / expected_variance - 1) < 5 * math.sqrt(2 / count) * 1.5


def test_trunc_normal_warns_like_torch_when_mean_is_far_from_the_interval() -> None:
    with pytest.warns(UserWarning, match="mean is more than 2 std from \\[a, b\\]"):
        torch.nn.init.trunc_normal_(torch.empty(10), mean=5.0, std=1.0, a=-1.0, b=1.0)
    with pytest.warns(UserWarning, match="mean is more than 2 std from \\[a, b\\]"):
        values = values_of(nn.init.trunc_normal_(npconv.empty(10), mean=5.0, std=1.0, a=-1.0, b=1.0))
    assert values.min() >= -1.0 and values.max() <= 1.0


@pytest.mark.parametrize("shape", [(40, 100), (100, 40), (16, 8, 3, 3), (8, 16, 3)])
@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_orthogonal(shape: tuple[int, ...], gain: float) -> None:
    tensor = npconv.empty(*shape)
    assert nn.init.orthogonal_(tensor, gain=gain) is tensor
    matrix = values_of(tensor).reshape(shape[0], -1) / gain
    rows, cols = matrix.shape
    product = matrix @ matrix.T if rows <= cols else matrix.T @ matrix
    np.testing.assert_allclose(product, np.eye(min(rows, cols)), atol=1e-5)


def test_orthogonal_is_haar_distributed() -> None:
    # The sign fix makes Q uniform on O(n): each entry of a random orthogonal n×n matrix has mean 0 and
    # variance 1/n, and the diagonal is not biased positive (as it would be without the fix).
    samples = np.stack([values_of(nn.init.orthogonal_(npconv.empty(6, 6))).reshape(6, 6) for _ in range(400)])
    diagonal = np.einsum("sii->si", samples).ravel()
    assert abs(diagonal.mean()) < 5 * math.sqrt(1 / 6 / diagonal.size)
    assert abs(samples.var() - 1 / 6) < 0.01


# ----------------------------------------------------------------------------- deterministic fills


def test_constant_ones_zeros() -> None:
    tensor = npconv.empty(3, 4)
    assert nn.init.constant_(tensor, 0.25) is tensor
    np.testing.assert_array_equal(tensor.numpy(), np.full((3, 4), 0.25, np.float32))
    np.testing.assert_array_equal(nn.init.ones_(tensor).numpy(), np.ones((3, 4), np.float32))
    np.testing.assert_array_equal(nn.init.zeros_(tensor).numpy(), np.zeros((3, 4), np.float32))


@pytest.mark.parametrize("shape", [(3, 3), (2, 5), (5, 2)])
def test_eye_equals_torch(shape: tuple[int, int]) -> None:
    expected = torch.nn.init.eye_(torch.empty(shape)).numpy()
    np.testing.assert_array_equal(nn.init.eye_(npconv.empty(*shape)).numpy(), expected)


@pytest.mark.parametrize(("shape", "groups"), [
    ((4, 4, 3), 1), ((6, 2, 3, 3), 1), ((2, 6, 3, 3), 1), ((6, 3, 3, 3), 2), ((8, 2, 4, 5), 4),
    ((4, 3, 3, 2, 3), 1), ((6, 1, 3, 3, 3), 3), ((9, 2, 4), 3),
])
def test_dirac_equals_torch(shape: tuple[int, ...], groups: int) -> None:
    expected = torch.nn.init.dirac_(torch.empty(shape), groups=groups).numpy()
    np.testing.assert_array_equal(nn.init.dirac_(npconv.empty(*shape), groups=groups).numpy(), expected)


def test_dirac_kernel_preserves_each_group_through_a_convolution() -> None:
    layer = nn.Conv2d(4, 4, 3, padding=1, groups=2, bias=False)
    nn.init.dirac_(layer.weight, groups=2)
    x = npconv.randn(1, 4, 5, 5)
    np.testing.assert_allclose(layer(x).detach().numpy(), x.numpy(), rtol=1e-6)


@pytest.mark.parametrize(("function", "args", "message"), [
    ("eye_", ((2, 3, 4),), "Only tensors with 2 dimensions are supported"),
    ("dirac_", ((2, 3),), "Only tensors with 3, 4, or 5 dimensions are supported"),
    ("dirac_", ((5, 3, 3), 2), "dim 0 must be divisible by groups"),
    ("orthogonal_", ((5,),), "Only tensors with 2 or more dimensions are supported"),
])
def test_shape_errors_match_torch(function: str, args: tuple, message: str) -> None:
    shape, *rest = args
    with pytest.raises(ValueError, match=message):
        getattr(torch.nn.init, function)(torch.empty(shape), *rest)
    with pytest.raises(ValueError, match=message):
        getattr(nn.init, function)(npconv.empty(*shape), *rest)


@pytest.mark.parametrize(("call", "exception", "message"), [
    (lambda lib: lib.nn.init.uniform_(lib.zeros(3, dtype=lib.int64)), NotImplementedError, "not implemented for"),
    (lambda lib: lib.nn.init.normal_(lib.zeros(3, dtype=lib.int64)), NotImplementedError, "not implemented for"),
    (lambda lib: lib.nn.init.kaiming_uniform_(lib.zeros(3, 3, dtype=lib.int64)), NotImplementedError,
     "not implemented for"),
    (lambda lib: lib.nn.init.orthogonal_(lib.zeros(3, 3, dtype=lib.int64)), NotImplementedError, "not implemented for"),
    (lambda lib: lib.nn.init.normal_(lib.zeros(3), std=-1.0), RuntimeError, "normal expects std >= 0.0, but found std -1"),
    (lambda lib: lib.nn.init.uniform_(lib.zeros(3), 1.0, 0.0), RuntimeError,
     "uniform_ expects to return a [from, to) range, but found from=1 > to=0"),
    (lambda lib: lib.nn.init.trunc_normal_(lib.zeros(3), a=1.0, b=0.0), RuntimeError, "from=1 > to=0"),
])
def test_random_fill_errors_match_torch(call: Any, exception: type, message: str) -> None:
    with pytest.raises(exception) as expected:
        call(torch)
    with pytest.raises(exception) as actual:
        call(npconv)
    assert message in str(expected.value) and message in str(actual.value)


def test_kaiming_on_zero_element_tensor_warns_and_is_a_no_op() -> None:
    for library in (torch, npconv):
        for function in (library.nn.init.kaiming_uniform_, library.nn.init.kaiming_normal_):
            with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
                assert function(library.empty(0, 3)).shape == (0, 3)


# ----------------------------------------------------------------------------- in place, dtype, seeds


def test_initialisers_write_parameters_in_place_without_autograd() -> None:
    layer = nn.Conv2d(3, 8, 3, dtype=npconv.float64)
    weight = layer.weight
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for initialise in (
            lambda w: nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu"),
            nn.init.xavier_uniform_, nn.init.orthogonal_, nn.init.dirac_, nn.init.trunc_normal_,
            lambda w: nn.init.constant_(w, 0.1),
        ):
            assert initialise(weight) is weight
            assert layer.weight is weight and weight.requires_grad and weight.is_leaf
            assert weight.dtype == npconv.float64
    assert layer(npconv.randn(1, 3, 5, 5, dtype=npconv.float64)).shape == (1, 8, 3, 3)


RANDOM_INITIALISERS = [
    lambda t, g: nn.init.uniform_(t, -1, 1, generator=g),
    lambda t, g: nn.init.normal_(t, 0, 2, generator=g),
    lambda t, g: nn.init.trunc_normal_(t, generator=g),
    lambda t, g: nn.init.trunc_normal_(t, a=1.5, b=3.0, generator=g),
    lambda t, g: nn.init.xavier_uniform_(t, generator=g),
    lambda t, g: nn.init.xavier_normal_(t, generator=g),
    lambda t, g: nn.init.kaiming_uniform_(t, generator=g),
    lambda t, g: nn.init.kaiming_normal_(t, generator=g),
    lambda t, g: nn.init.orthogonal_(t, generator=g),
]


@pytest.mark.parametrize("index", range(len(RANDOM_INITIALISERS)))
def test_manual_seed_and_generator_make_every_initialiser_reproducible(index: int) -> None:
    initialise = RANDOM_INITIALISERS[index]

    def draw(generator: npconv.Generator | None = None) -> np.ndarray:
        return values_of(initialise(npconv.empty(16, 8, 3), generator))

    npconv.manual_seed(123)
    first = draw()
    npconv.manual_seed(123)
    np.testing.assert_array_equal(draw(), first)
    assert not np.array_equal(draw(), first)
    generated = draw(npconv.Generator().manual_seed(5))
    np.testing.assert_array_equal(draw(npconv.Generator().manual_seed(5)), generated)
    # a private generator leaves the default stream alone
    npconv.manual_seed(123)
    draw(npconv.Generator().manual_seed(5))
    np.testing.assert_array_equal(draw(), first)
