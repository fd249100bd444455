"""Activations (functional and modules) against torch: values, gradients, reprs, in-place rules and errors."""

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import npconv
import npconv.nn.functional as F
from npconv import nn
from oracle import DTYPES, assert_close, check_against_torch


def sample(shape, dtype, seed=0, scale=2.0):
    """Normal values with some exact zeros (where the kinks of relu-like functions are)."""
    values = np.random.default_rng(seed).standard_normal(shape) * scale
    values.reshape(-1)[::5] = 0.0
    return values.astype(dtype)


ELEMENTWISE = [
    ("relu", F.relu, TF.relu),
    ("leaky_relu", F.leaky_relu, TF.leaky_relu),
    ("leaky_relu_0.2", lambda x: F.leaky_relu(x, 0.2), lambda x: TF.leaky_relu(x, 0.2)),
    ("elu", F.elu, TF.elu),
    ("elu_0.7", lambda x: F.elu(x, alpha=0.7), lambda x: TF.elu(x, alpha=0.7)),
    ("gelu", F.gelu, TF.gelu),
    ("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), lambda x: TF.gelu(x, approximate="tanh")),
    ("silu", F.silu, TF.silu),
    ("sigmoid", F.sigmoid, torch.sigmoid),
    ("tanh", F.tanh, torch.tanh),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(7, 9), (2, 3, 4, 5), ()])
@pytest.mark.parametrize(("name", "ours", "theirs"), ELEMENTWISE, ids=[case[0] for case in ELEMENTWISE])
def test_elementwise_activation_matches_torch(name, ours, theirs, shape, dtype):
    check_against_torch(ours, theirs, [sample(shape, dtype)], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("name", "ours", "theirs"), ELEMENTWISE, ids=[case[0] for case in ELEMENTWISE])
def test_elementwise_activation_over_a_wide_range(name, ours, theirs, dtype):
    # the tails: saturation of sigmoid/tanh, the erf tail of gelu, exp overflow in silu/elu
    values = np.concatenate([np.linspace(-12, 12, 481), [-80.0, -30.0, 30.0, 80.0]]).astype(dtype)
    check_against_torch(ours, theirs, [values], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("shape", "dim"), [((4, 7), 1), ((4, 7), 0), ((2, 3, 5), -1), ((2, 3, 5), 1), ((6,), 0), ((), 0)]
)
@pytest.mark.parametrize("which", ["softmax", "log_softmax"])
def test_softmax_family_matches_torch(which, shape, dim, dtype):
    ours, theirs = getattr(F, which), getattr(TF, which)
    check_against_torch(lambda x: ours(x, dim), lambda x: theirs(x, dim), [sample(shape, dtype, scale=3.0)], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("which", ["softmax", "log_softmax"])
def test_softmax_family_is_numerically_stable(which, dtype):
    values = np.array([[1000.0, 0.0, -1000.0], [-1e4, -1e4 + 1, -1e4 + 2], [88.0, 89.0, 90.0]], dtype=dtype)
    ours, theirs = getattr(F, which), getattr(TF, which)
    check_against_torch(lambda x: ours(x, 1), lambda x: theirs(x, 1), [values], dtype)
    assert np.all(np.isfinite(ours(npconv.tensor(values), 1).numpy()))


def test_softmax_dtype_argument_casts_first():
    values = sample((3, 4), np.float32)
    out = F.softmax(npconv.tensor(values), 1, dtype=npconv.float64)
    expected = TF.softmax(torch.tensor(values), 1, dtype=torch.float64)
    assert_close(out.numpy(), expected.numpy(), np.float64)


@pytest.mark.parametrize("shape", [(3,), (2, 3), (2, 3, 4)])
def test_softmax_without_dim_uses_torch_legacy_choice_and_warns(shape):
    values = sample(shape, np.float64)
    with pytest.warns(UserWarning, match="Implicit dimension choice"):
        out = F.softmax(npconv.tensor(values))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = TF.softmax(torch.tensor(values))
    assert_close(out.numpy(), expected.numpy(), np.float64)


def test_tensor_softmax_methods_match_torch():
    values = sample((3, 5), np.float64)
    assert_close(npconv.tensor(values).softmax(1).numpy(), torch.tensor(values).softmax(1).numpy(), np.float64)
    assert_close(
        npconv.tensor(values).log_softmax(0).numpy(), torch.tensor(values).log_softmax(0).numpy(), np.float64
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("shape", "parameters"), [((4, 3, 5), 3), ((4, 3, 5), 1), ((2, 6), 6), ((5,), 1), ((), 1)])
def test_prelu_matches_torch_for_input_and_weight(shape, parameters, dtype):
    weight = np.random.default_rng(1).uniform(-0.5, 0.5, parameters).astype(dtype)
    check_against_torch(F.prelu, TF.prelu, [sample(shape, dtype), weight], dtype)


def test_prelu_module_learns_its_weight_like_torch():
    ours, theirs = nn.PReLU(3, init=0.1).double(), torch.nn.PReLU(3, init=0.1).double()
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert_close(ours.weight.detach().numpy(), theirs.weight.detach().numpy(), np.float64)
    values = sample((2, 3, 4), np.float64)
    ours(npconv.tensor(values)).sum().backward()
    theirs(torch.tensor(values)).sum().backward()
    assert_close(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), np.float64)


MODULES = [
    ("ReLU", (), {}),
    ("ReLU", (True,), {}),
    ("LeakyReLU", (), {}),
    ("LeakyReLU", (0.2, True), {}),
    ("ELU", (), {}),
    ("ELU", (0.5,), {"inplace": True}),
    ("PReLU", (), {}),
    ("PReLU", (4, 0.3), {}),
    ("GELU", (), {}),
    ("GELU", ("tanh",), {}),
    ("SiLU", (), {}),
    ("SiLU", (True,), {}),
    ("Sigmoid", (), {}),
    ("Tanh", (), {}),
    ("Softmax", (), {"dim": 1}),
    ("Softmax", (-1,), {}),
    ("LogSoftmax", (), {"dim": 1}),
    ("LogSoftmax", (0,), {}),
]


@pytest.mark.parametrize(("name", "args", "kwargs"), MODULES)
def test_activation_module_repr_state_and_forward_match_torch(name, args, kwargs):
    ours = getattr(nn, name)(*args, **kwargs).double()
    theirs = getattr(torch.nn, name)(*args, **kwargs).double()
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    values = sample((3, 4, 5), np.float64)
    out = ours(npconv.tensor(values))
    with torch.no_grad():
        expected = theirs(torch.tensor(values))
    assert_close(out.detach().numpy(), expected.numpy(), np.float64)


def test_softmax_module_without_dim_prints_none():
    assert repr(nn.Softmax()) == repr(torch.nn.Softmax()) == "Softmax(dim=None)"


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "elu", "silu"])
def test_inplace_writes_into_the_input_when_no_graph_is_recorded(name):
    values = sample((4, 5), np.float64)
    tensor, torch_tensor = npconv.tensor(values), torch.tensor(values)
    result = getattr(F, name)(tensor, inplace=True)
    getattr(TF, name)(torch_tensor, inplace=True)
    assert result is tensor
    assert_close(tensor.numpy(), torch_tensor.numpy(), np.float64)


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "elu", "silu"])
def test_inplace_on_a_leaf_that_requires_grad_is_refused_like_torch(name):
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        torch_function = getattr(TF, name)
        torch_function(torch.randn(3, requires_grad=True), inplace=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        getattr(F, name)(npconv.randn(3, requires_grad=True), inplace=True)


def test_inplace_inside_a_graph_keeps_gradients_right():
    values = sample((3, 4), np.float64)
    leaf, torch_leaf = npconv.tensor(values, requires_grad=True), torch.tensor(values, requires_grad=True)
    out = F.relu(leaf * 2, inplace=True)
    expected = TF.relu(torch_leaf * 2, inplace=True)
    (out * out).sum().backward()
    (expected * expected).sum().backward()
    assert_close(leaf.grad.numpy(), torch_leaf.grad.numpy(), np.float64)


def test_relu_without_a_graph_computes_in_one_pass_and_inplace_writes_the_input():
    values = np.random.default_rng(3).standard_normal((4, 5)).astype(np.float32)
    expected = TF.relu(torch.tensor(values)).numpy()
    tensor = npconv.tensor(values)
    out = F.relu(tensor)
    assert out is not tensor and not out.requires_grad
    np.testing.assert_array_equal(out.numpy(), expected)
    np.testing.assert_array_equal(tensor.numpy(), values)  # untouched
    assert F.relu(tensor, inplace=True) is tensor
    np.testing.assert_array_equal(tensor.numpy(), expected)
    leaf = npconv.tensor(values, requires_grad=True)
    with npconv.no_grad():
        np.testing.assert_array_equal(F.relu(leaf).numpy(), expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_of_large_arrays_in_blocks_matches_torch(dtype):
    """Arrays larger than a block of ``rectify`` (and not a multiple of it), and small ones, with NaN,
    infinities and signed zeros: torch's values bit for bit (−0.0 stays −0.0), with and without a graph, in
    place or not, contiguous or not; the gradient is 1 where the output is positive."""
    from npconv.nn.functional.activation import RECTIFY_BLOCK

    rng = np.random.default_rng(8)
    values = rng.standard_normal(RECTIFY_BLOCK * 2 + 1234).astype(dtype)
    values[rng.integers(0, values.size, 50)] = np.nan
    values[:4] = [np.inf, -np.inf, -0.0, 0.0]
    values = values.reshape(-1, 2)
    expected = TF.relu(torch.tensor(values)).numpy()
    np.testing.assert_array_equal(F.relu(npconv.tensor(values)).numpy(), expected)
    inplace = npconv.tensor(values.copy())
    np.testing.assert_array_equal(F.relu(inplace, inplace=True).numpy(), expected)
    leaf = npconv.tensor(values, requires_grad=True)
    out = F.relu(leaf)
    np.testing.assert_array_equal(out.detach().numpy(), expected)
    out.sum().backward()
    np.testing.assert_array_equal(leaf.grad.numpy(), (expected > 0).astype(dtype))
    transposed = F.relu(npconv.tensor(values).T)  # not contiguous: max(x, 0) as it comes
    np.testing.assert_array_equal(transposed.numpy(), expected.T)
    small = values[:300]
    for ours, theirs in (
        (F.relu(npconv.tensor(values)).numpy(), expected),
        (F.relu(npconv.tensor(values.copy()), inplace=True).numpy(), expected),
        (transposed.numpy(), expected.T),
        (F.relu(npconv.tensor(small)).numpy(), TF.relu(torch.tensor(small)).numpy()),
    ):
        np.testing.assert_array_equal(np.signbit(ours), np.signbit(theirs))


@pytest.mark.parametrize("slope", [0.01, 0.2, 1.0, 1.5, -0.5, 0.0, np.inf, -np.inf, np.nan])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_leaky_relu_with_special_values_and_slopes_is_torchs_exactly(slope, dtype):
    """Values and gradients equal to torch's, bit for bit up to NaN payloads, for NaN, infinities, signed
    zeros, tiny and huge values and any slope (the max/min forms and the exact gradient factor, and
    np.where where those would differ)."""
    special = [-0.0, 0.0, np.nan, np.inf, -np.inf, 1.5, -2.5, 1e-300, -1e-300, 3e38, -3e38]
    values = np.concatenate([special, np.random.default_rng(9).standard_normal(3000)]).astype(dtype)
    upstream = np.random.default_rng(10).standard_normal(values.size).astype(dtype)
    leaf, torch_leaf = npconv.tensor(values, requires_grad=True), torch.tensor(values, requires_grad=True)
    with np.errstate(all="ignore"):
        out = F.leaky_relu(leaf, slope)
        out.backward(npconv.tensor(upstream))
    expected = TF.leaky_relu(torch_leaf, slope)
    expected.backward(torch.tensor(upstream))
    np.testing.assert_array_equal(out.detach().numpy(), expected.detach().numpy())
    np.testing.assert_array_equal(leaf.grad.numpy(), torch_leaf.grad.numpy())
    with npconv.no_grad(), np.errstate(all="ignore"):
        np.testing.assert_array_equal(F.leaky_relu(npconv.tensor(values), slope).numpy(), expected.detach().numpy())


def test_integer_inputs_follow_torch_dtypes():
    values = np.array([-2, 0, 3])
    assert F.relu(npconv.tensor(values)).dtype == npconv.int64
    assert F.relu(npconv.tensor(values)).tolist() == TF.relu(torch.tensor(values)).tolist()
    for name in ("sigmoid", "tanh"):
        ours, theirs = getattr(F, name)(npconv.tensor(values)), getattr(torch, name)(torch.tensor(values))
        assert ours.dtype.name == str(theirs.dtype).removeprefix("torch.") == "float32"
        assert_close(ours.numpy(), theirs.numpy(), np.float32)


ERRORS = [
    ("gelu_bad_approximate", lambda m: m.gelu(m_randn(m, 3), approximate="foo"), RuntimeError, "approximate"),
    ("softmax_bad_dim", lambda m: m.softmax(m_randn(m, 2, 3), 2), IndexError, "Dimension out of range"),
    ("log_softmax_bad_dim", lambda m: m.log_softmax(m_randn(m, 2, 3), -3), IndexError, "Dimension out of range"),
    ("prelu_weight_count", lambda m: m.prelu(m_randn(m, 2, 3, 4), m_randn(m, 4)), RuntimeError, "Mismatch of parameter numbers"),
    ("prelu_1d_many_weights", lambda m: m.prelu(m_randn(m, 3), m_randn(m, 3)), RuntimeError, "channel size = 1"),
    ("elu_integer", lambda m: m.elu(m_tensor(m, [1, -2])), NotImplementedError, "not implemented"),
    ("relu_boolean", lambda m: m.relu(m_tensor(m, [True, False])), RuntimeError, "Boolean inputs not supported for relu"),
    ("relu_boolean_recorded", lambda m: m.relu(m_tensor(m, [True, False]), inplace=True), RuntimeError, "Boolean inputs not supported for relu"),
]


def m_randn(module, *shape):
    return npconv.randn(*shape) if module is F else torch.randn(*shape)


def m_tensor(module, data):
    return npconv.tensor(data) if module is F else torch.tensor(data)


@pytest.mark.parametrize(("name", "call", "error", "message"), ERRORS, ids=[case[0] for case in ERRORS])
def test_errors_match_torch(name, call, error, message):
    with pytest.raises(error, match=message):
        call(TF)
    with pytest.raises(error, match=message):
        call(F)
