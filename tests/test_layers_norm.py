"""BatchNorm1d/2d/3d and GroupNorm (modules and functional) against torch: outputs, gradients, running
statistics over several steps (momentum incl. None), eval mode, state_dict, reprs and errors."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import npconv
import npconv.nn.functional as F
from npconv import nn
from npconv.nn.functional import normalization
from oracle import DTYPES, assert_close


def paired(name, *args, dtype=np.float64, **kwargs):
    """The same module built in npconv and torch, with the same random affine parameters."""
    ours = getattr(nn, name)(*args, **kwargs).to(npconv.float64 if dtype == np.float64 else npconv.float32)
    theirs = getattr(torch.nn, name)(*args, **kwargs).to(torch.float64 if dtype == np.float64 else torch.float32)
    rng = np.random.default_rng(1)
    for parameter_name in ("weight", "bias"):
        ours_parameter = getattr(ours, parameter_name)
        if ours_parameter is not None:
            values = rng.uniform(0.5, 1.5, ours_parameter.shape).astype(dtype)
            ours_parameter.data = npconv.tensor(values)
            getattr(theirs, parameter_name).data = torch.tensor(values)
    return ours, theirs


def step(ours, theirs, values, dtype, seed):
    """One forward and backward through both; compare the outputs and every gradient."""
    tensor, torch_tensor = npconv.tensor(values, requires_grad=True), torch.tensor(values, requires_grad=True)
    out, expected = ours(tensor), theirs(torch_tensor)
    assert_close(out.detach().numpy(), expected.detach().numpy(), dtype)
    upstream = np.random.default_rng(seed).standard_normal(values.shape).astype(dtype)
    out.backward(npconv.tensor(upstream))
    expected.backward(torch.tensor(upstream))
    assert_close(tensor.grad.numpy(), torch_tensor.grad.numpy(), dtype)
    for name, parameter in theirs.named_parameters():
        assert_close(getattr(ours, name).grad.numpy(), parameter.grad.numpy(), dtype)


def assert_same_state(ours, theirs, dtype):
    ours_state, their_state = ours.state_dict(), theirs.state_dict()
    assert list(ours_state) == list(their_state)
    for key, value in their_state.items():
        if value.dtype == torch.int64:
            assert ours_state[key].dtype == npconv.int64
            assert ours_state[key].numpy().shape == tuple(value.shape)
            assert ours_state[key].item() == value.item()
        else:
            assert_close(ours_state[key].numpy(), value.numpy(), dtype)


SHAPES = {"BatchNorm1d": [(8, 3), (4, 3, 5)], "BatchNorm2d": [(4, 3, 5, 6), (2, 3, 9, 8)], "BatchNorm3d": [(2, 3, 4, 3, 5)]}
CONFIGS = [
    {},
    {"momentum": None},
    {"momentum": 0.3, "eps": 1e-3},
    {"affine": False},
    {"bias": False},
    {"track_running_stats": False},
    {"momentum": None, "affine": False, "track_running_stats": False},
]
CASES = [(name, shape) for name, shapes in SHAPES.items() for shape in shapes]
# every configuration in float64; float32 for the two running-average rules
DTYPE_CONFIGS = [(np.float64, kwargs) for kwargs in CONFIGS] + [(np.float32, kwargs) for kwargs in CONFIGS[:2]]


@pytest.mark.parametrize(("dtype", "kwargs"), DTYPE_CONFIGS)
@pytest.mark.parametrize(("name", "shape"), CASES)
def test_batchnorm_training_steps_then_eval_match_torch(name, shape, kwargs, dtype):
    ours, theirs = paired(name, 3, dtype=dtype, **kwargs)
    assert repr(ours) == repr(theirs)
    rng = np.random.default_rng(2)
    for seed in range(4):
        values = (rng.standard_normal(shape) * 2 + 0.5).astype(dtype)
        step(ours, theirs, values, dtype, seed)
        assert_same_state(ours, theirs, dtype)
    ours.eval()
    theirs.eval()
    step(ours, theirs, (rng.standard_normal(shape) + 1).astype(dtype), dtype, 9)
    assert_same_state(ours, theirs, dtype)


@pytest.mark.parametrize("whole_max", [1 << 21, 20])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kwargs", [{}, {"affine": False}, {"bias": False}])
def test_batchnorm_eval_single_sample_matches_torch(kwargs, dtype, whole_max, monkeypatch):
    """Eval mode on one sample: in two whole passes (``EVAL_WHOLE_MAX`` at its value) or, for a sample above
    it (20 elements here), in blocks of channels as a batch is; the output and every gradient equal torch's
    after training steps have moved the running statistics."""
    monkeypatch.setattr(normalization, "EVAL_WHOLE_MAX", whole_max)
    ours, theirs = paired("BatchNorm2d", 3, dtype=dtype, **kwargs)
    rng = np.random.default_rng(6)
    for seed in range(2):
        step(ours, theirs, (rng.standard_normal((4, 3, 5, 6)) * 2 + 0.5).astype(dtype), dtype, seed)
    ours.eval()
    theirs.eval()
    step(ours, theirs, (rng.standard_normal((1, 3, 5, 6)) + 1).astype(dtype), dtype, 7)
    assert_same_state(ours, theirs, dtype)


def test_batchnorm_eval_does_not_touch_running_statistics():
    ours, theirs = paired("BatchNorm2d", 3)
    values = np.random.default_rng(3).standard_normal((4, 3, 2, 2))
    ours(npconv.tensor(values))
    theirs(torch.tensor(values))
    ours.eval()
    theirs.eval()
    with npconv.no_grad():
        ours(npconv.tensor(values * 3))
    with torch.no_grad():
        theirs(torch.tensor(values * 3))
    assert_same_state(ours, theirs, np.float64)
    assert ours.num_batches_tracked.item() == 1


def test_batchnorm_state_dict_keys_buffers_and_loading_match_torch():
    ours, theirs = nn.BatchNorm2d(4), torch.nn.BatchNorm2d(4)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == [
        "weight", "bias", "running_mean", "running_var", "num_batches_tracked",
    ]
    assert [name for name, _ in ours.named_buffers()] == [name for name, _ in theirs.named_buffers()]
    assert [name for name, _ in ours.named_parameters()] == [name for name, _ in theirs.named_parameters()]
    assert ours.num_batches_tracked.dtype == npconv.int64 and ours.num_batches_tracked.ndim == 0
    assert ours.running_mean.dtype == npconv.float32
    theirs(torch.randn(5, 4, 3, 3) * 2 + 1)
    ours.load_state_dict({key: value.numpy() for key, value in theirs.state_dict().items()})
    assert_same_state(ours, theirs, np.float32)
    assert list(nn.BatchNorm1d(3, track_running_stats=False).state_dict()) == ["weight", "bias"]
    assert list(nn.BatchNorm1d(3, affine=False).state_dict()) == ["running_mean", "running_var", "num_batches_tracked"]


@pytest.mark.parametrize(
    ("name", "args", "kwargs"),
    [
        ("BatchNorm1d", (3,), {}),
        ("BatchNorm2d", (16,), {"eps": 1e-3, "momentum": None}),
        ("BatchNorm3d", (2,), {"affine": False, "track_running_stats": False}),
        ("BatchNorm2d", (5, 1e-4, 0.2, True, False), {"bias": False}),
        ("GroupNorm", (2, 4), {}),
        ("GroupNorm", (3, 6, 1e-3, False), {}),
        ("GroupNorm", (1, 4), {"bias": False}),
    ],
)
def test_norm_module_reprs_and_parameters_match_torch(name, args, kwargs):
    ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for key, value in theirs.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[key].numpy(), value.numpy())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("groups", "channels", "shape", "kwargs"),
    [
        (2, 4, (3, 4, 5), {}),
        (1, 6, (2, 6, 3, 4), {}),
        (6, 6, (2, 6, 3, 4), {}),
        (3, 6, (2, 6, 2, 2, 3), {"eps": 1e-3}),
        (1, 4, (3, 4), {}),
        (2, 4, (3, 4, 5), {"affine": False}),
        (2, 4, (3, 4, 5), {"bias": False}),
    ],
)
def test_groupnorm_matches_torch(groups, channels, shape, kwargs, dtype):
    ours, theirs = paired("GroupNorm", groups, channels, dtype=dtype, **kwargs)
    values = (np.random.default_rng(4).standard_normal(shape) * 3 - 1).astype(dtype)
    step(ours, theirs, values, dtype, 0)
    ours.eval()
    theirs.eval()
    step(ours, theirs, values, dtype, 1)


def test_functional_batch_norm_matches_torch_with_and_without_buffers():
    rng = np.random.default_rng(5)
    values, weight, bias = rng.standard_normal((6, 3, 4)), rng.standard_normal(3), rng.standard_normal(3)
    mean, var = np.zeros(3), np.ones(3)
    ours_mean, ours_var, their_mean, their_var = (npconv.tensor(mean), npconv.tensor(var), torch.tensor(mean), torch.tensor(var))
    for training in (True, False):
        out = F.batch_norm(npconv.tensor(values), ours_mean, ours_var, npconv.tensor(weight), npconv.tensor(bias), training, 0.2, 1e-4)
        expected = TF.batch_norm(torch.tensor(values), their_mean, their_var, torch.tensor(weight), torch.tensor(bias), training, 0.2, 1e-4)
        assert_close(out.numpy(), expected.numpy(), np.float64)
        assert_close(ours_mean.numpy(), their_mean.numpy(), np.float64)
        assert_close(ours_var.numpy(), their_var.numpy(), np.float64)
    out = F.batch_norm(npconv.tensor(values), None, None, training=True)
    assert_close(out.numpy(), TF.batch_norm(torch.tensor(values), None, None, training=True).numpy(), np.float64)


@pytest.mark.parametrize("pooled", [False, True], ids=["calling-thread", "pool"])
@pytest.mark.parametrize("block", [None, 300])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_batchnorm_in_blocks_of_channels_matches_torch(block, dtype, pooled, monkeypatch):
    """Statistics, output, running estimates and all three gradients of a batch large enough to split into
    blocks of channels, in training and then in eval mode with gradients; with ``pooled`` the blocks run on
    two pool threads (as from BATCH_NORM_POOL_MIN elements)."""
    from npconv.conv import algorithms
    from npconv.nn.functional import normalization

    if block is not None:
        monkeypatch.setattr(normalization, "BATCH_NORM_BLOCK", block)
        assert len(normalization._blocks_of_channels((6, 10, 8 * 9))) == 10  # one channel a block
    handed: list[int] = []
    if pooled:
        monkeypatch.setattr(normalization, "BATCH_NORM_POOL_MIN", 0)
        monkeypatch.setattr(algorithms, "THREADS", 2)
        original = algorithms.run_on_pool

        def recording(function, total):
            handed.append(total)
            return original(function, total)

        monkeypatch.setattr(algorithms, "run_on_pool", recording)
    ours, theirs = paired("BatchNorm2d", 10, dtype=dtype)
    rng = np.random.default_rng(7)
    for seed, mode in ((0, "train"), (1, "train"), (2, "eval")):
        if mode == "eval":
            ours.eval()
            theirs.eval()
        values = (rng.standard_normal((6, 10, 8, 9)) * rng.uniform(0.5, 3, (1, 10, 1, 1)) + 2).astype(dtype)
        step(ours, theirs, values, dtype, seed)
        assert_same_state(ours, theirs, dtype)
        ours.zero_grad()
        theirs.zero_grad()
    assert bool(handed) == (pooled and block is not None)  # one block needs no pool
    assert all(total == 10 for total in handed)


@pytest.mark.parametrize("shape", [(32, 4, 48, 48), (64, 6, 10, 10)])
def test_batchnorm_float32_error_stays_within_torchs_own(shape):
    """float32 batch norm in training on data whose mean is large against its spread (cancellation in the
    output, long sums in the statistics and gradients): the output, all three gradients and the running
    estimates stay within 2.5× torch's own float32 error against a float64 reference, in the largest
    element (planes of 2304 and of 100 positions: the pairwise line sums and the centred output)."""
    rng = np.random.default_rng(3)
    channels = shape[1]
    values = (rng.standard_normal(shape) * 0.5 + 10).astype(np.float32)
    upstream = (rng.standard_normal(shape) + 0.3).astype(np.float32)
    weight, bias = rng.standard_normal(channels).astype(np.float32), rng.standard_normal(channels).astype(np.float32)

    def torch_results(dtype):
        module = torch.nn.BatchNorm2d(channels).to(dtype)
        with torch.no_grad():
            module.weight.copy_(torch.tensor(weight))
            module.bias.copy_(torch.tensor(bias))
        x = torch.tensor(values, dtype=dtype, requires_grad=True)
        module(x).backward(torch.tensor(upstream, dtype=dtype))
        out = module(x.detach())  # running estimates after one step, the output of a second pass
        results = (out, x.grad, module.weight.grad, module.bias.grad, module.running_mean, module.running_var)
        return [r.detach().double().numpy() for r in results]

    module = nn.BatchNorm2d(channels)
    module.weight.data, module.bias.data = npconv.tensor(weight), npconv.tensor(bias)
    x = npconv.tensor(values, requires_grad=True)
    module(x).backward(npconv.tensor(upstream))
    out = module(x.detach())
    ours = [np.asarray(r.detach().numpy(), dtype=np.float64) for r in
            (out, x.grad, module.weight.grad, module.bias.grad, module.running_mean, module.running_var)]
    reference, theirs = torch_results(torch.float64), torch_results(torch.float32)
    for name, mine, their, exact in zip(("output", "dx", "dweight", "dbias", "running mean", "running var"), ours, theirs, reference):
        our_error, their_error = np.abs(mine - exact).max(), np.abs(their - exact).max()
        assert our_error <= 2.5 * their_error + 1e-12, (name, our_error, their_error)


def test_batchnorm_float16_input_with_float32_parameters_matches_torch():
    """Mixed precision as torch allows it on the CPU: a float16 input normalised with float32 weight, bias
    and running estimates; the output is float16, the statistics and parameter gradients float32."""
    ours, theirs = paired("BatchNorm2d", 4, dtype=np.float32)
    values = np.random.default_rng(8).standard_normal((3, 4, 5, 5)).astype(np.float16)
    tensor, torch_tensor = npconv.tensor(values, requires_grad=True), torch.tensor(values, requires_grad=True)
    out, expected = ours(tensor), theirs(torch_tensor)
    assert out.dtype == npconv.float16 and expected.dtype == torch.float16
    np.testing.assert_allclose(out.detach().numpy().astype(np.float64), expected.detach().numpy().astype(np.float64), rtol=2e-3, atol=2e-3)
    upstream = np.random.default_rng(9).standard_normal(values.shape).astype(np.float16)
    out.backward(npconv.tensor(upstream))
    expected.backward(torch.tensor(upstream))
    np.testing.assert_allclose(tensor.grad.numpy().astype(np.float64), torch_tensor.grad.numpy().astype(np.float64), rtol=5e-3, atol=5e-3)
    for name in ("weight", "bias"):
        ours_grad, their_grad = getattr(ours, name).grad, getattr(theirs, name).grad
        assert ours_grad.dtype == npconv.float32 and their_grad.dtype == torch.float32
        np.testing.assert_allclose(ours_grad.numpy(), their_grad.numpy(), rtol=2e-3, atol=2e-3)
    for name in ("running_mean", "running_var"):
        np.testing.assert_allclose(getattr(ours, name).numpy(), getattr(theirs, name).numpy(), rtol=1e-3, atol=1e-4)


def test_batchnorm_of_an_empty_batch_leaves_the_running_estimates():
    ours, theirs = paired("BatchNorm2d", 3)
    for module, make in ((ours, npconv.zeros), (theirs, torch.zeros)):
        out = module(make(2, 3, 0, 4, dtype=module.weight.dtype))
        assert tuple(out.shape) == (2, 3, 0, 4)
    assert_same_state(ours, theirs, np.float64)
    assert ours.num_batches_tracked.item() == 1


def test_functional_group_norm_matches_torch():
    rng = np.random.default_rng(6)
    values, weight, bias = rng.standard_normal((2, 6, 5)), rng.standard_normal(6), rng.standard_normal(6)
    out = F.group_norm(npconv.tensor(values), 3, npconv.tensor(weight), npconv.tensor(bias), 1e-3)
    expected = TF.group_norm(torch.tensor(values), 3, torch.tensor(weight), torch.tensor(bias), 1e-3)
    assert_close(out.numpy(), expected.numpy(), np.float64)


def both(call):
    """Run ``call(library_nn, library_functional, make_tensor)`` for torch then npconv, yielding the errors."""
    errors = []
    for library_nn, library_functional, make in (
        (torch.nn, TF, lambda *shape: torch.randn(*shape)),
        (nn, F, lambda *shape: npconv.randn(*shape)),
    ):
        with pytest.raises(Exception) as info:
            call(library_nn, library_functional, make)
        errors.append(info)
    return errors


ERRORS = [
    ("bn2d_rank", lambda n, f, t: n.BatchNorm2d(3)(t(2, 3, 4)), ValueError, r"expected 4D input \(got 3D input\)"),
    ("bn1d_rank", lambda n, f, t: n.BatchNorm1d(3)(t(2, 3, 4, 4)), ValueError, r"expected 2D or 3D input \(got 4D input\)"),
    ("bn3d_rank", lambda n, f, t: n.BatchNorm3d(3)(t(2, 3, 4, 4)), ValueError, r"expected 5D input \(got 4D input\)"),
    ("bn_single_value", lambda n, f, t: n.BatchNorm1d(3)(t(1, 3)), ValueError, "Expected more than 1 value per channel when training"),
    ("bn_channels", lambda n, f, t: n.BatchNorm2d(3)(t(2, 4, 2, 2)), RuntimeError, "running_mean should contain 4 elements not 3"),
    ("bn_eval_without_buffers", lambda n, f, t: f.batch_norm(t(2, 3), None, None, training=False), RuntimeError, "running_mean must be defined"),
    ("bn_negative_eps", lambda n, f, t: f.batch_norm(t(2, 3), t(3), t(3).abs(), eps=-1.0), ValueError, "eps must be non-negative"),
    ("bn_integer_input", lambda n, f, t: f.batch_norm(t(2, 3).long(), None, None, training=True), NotImplementedError, '"batch_norm" not implemented for'),
    ("bn_double_weight", lambda n, f, t: f.batch_norm(t(2, 3), None, None, t(3).double(), training=True), RuntimeError, r"mixed dtype \(CPU\): expect parameter to have scalar type of Float"),
    ("bn_float_weight_double_input", lambda n, f, t: f.batch_norm(t(2, 3).double(), None, None, t(3), training=True), RuntimeError, r"mixed dtype \(CPU\): all inputs must share same datatype"),
    ("bn_double_running_stats", lambda n, f, t: f.batch_norm(t(2, 3), t(3).double(), t(3).abs().double(), t(3), training=True), RuntimeError, "expected scalar type Float but found Double"),
    ("gn_module_divisibility", lambda n, f, t: n.GroupNorm(3, 4), ValueError, r"num_channels \(4\) must be divisible by num_groups \(3\)"),
    ("gn_functional_divisibility", lambda n, f, t: f.group_norm(t(2, 6, 4), 4), RuntimeError, "divisible by num_groups"),
    ("gn_channels", lambda n, f, t: n.GroupNorm(2, 4)(t(2, 6, 4)), RuntimeError, "Expected weight to be a vector of size equal to the number of channels"),
    ("gn_rank", lambda n, f, t: f.group_norm(t(6), 2), RuntimeError, "Expected at least 2 dimensions"),
    ("gn_single_value", lambda n, f, t: f.group_norm(t(1, 2), 2), ValueError, "Expected more than 1 value per channel"),
]


@pytest.mark.parametrize(("name", "call", "error", "message"), ERRORS, ids=[e[0] for e in ERRORS])
def test_bad_inputs_raise_like_torch(name, call, error, message):
    for info in both(call):
        assert info.type is error
        assert info.match(message)
