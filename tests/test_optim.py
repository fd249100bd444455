"""Optimizers and schedulers against torch: parameters and state after several steps with every option,
parameter groups, zero_grad, closures, state_dict layout and round trips, validation errors, and the
learning-rate sequences of StepLR and CosineAnnealingLR."""

import copy
import warnings

import numpy as np
import pytest
import torch

import npconv
from npconv import optim
from npconv.optim import lr_scheduler

SHAPES = [(3, 4), (5,), (2, 1, 3)]

CONFIGS = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.5, "maximize": True}),
    ("Adam", {}),
    ("Adam", {"lr": 0.01, "betas": (0.8, 0.95), "eps": 1e-6, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.01, "amsgrad": True, "maximize": True}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("AdamW", {"lr": 0.01}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.3, "amsgrad": True}),
    ("RMSprop", {}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "weight_decay": 0.1, "momentum": 0.5}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.7, "eps": 1e-4}),
    ("RMSprop", {"lr": 0.01, "centered": True, "maximize": True}),
]


def make_pair(name, kwargs, dtype, rng, groups=False):
    initial = [rng.standard_normal(shape).astype(dtype) for shape in SHAPES]
    ours = [npconv.nn.Parameter(npconv.tensor(a)) for a in initial]
    theirs = [torch.nn.Parameter(torch.tensor(a)) for a in initial]
    if groups:
        ours_params = [{"params": ours[:1], "lr": 0.003}, {"params": ours[1:]}]
        theirs_params = [{"params": theirs[:1], "lr": 0.003}, {"params": theirs[1:]}]
    else:
        ours_params, theirs_params = ours, theirs
    return ours, theirs, getattr(optim, name)(ours_params, **kwargs), getattr(torch.optim, name)(theirs_params, **kwargs)


def set_gradients(ours, theirs, rng, dtype, skip=None):
    for index, (our_param, their_param) in enumerate(zip(ours, theirs)):
        if index == skip:
            our_param.grad, their_param.grad = None, None
            continue
        grad = rng.standard_normal(tuple(their_param.shape)).astype(dtype)
        our_param.grad, their_param.grad = npconv.tensor(grad), torch.tensor(grad)


def assert_same_state(ours_optimizer, theirs_optimizer, rtol):
    ours_dict, theirs_dict = ours_optimizer.state_dict(), theirs_optimizer.state_dict()
    assert ours_dict["param_groups"] == theirs_dict["param_groups"]
    assert ours_dict["state"].keys() == theirs_dict["state"].keys()
    for index, their_state in theirs_dict["state"].items():
        our_state = ours_dict["state"][index]
        assert list(our_state) == list(their_state)
        for key, value in their_state.items():
            assert our_state[key].dtype.name == str(value.dtype).replace("torch.", "")
            np.testing.assert_allclose(our_state[key].numpy(), value.numpy(), rtol=rtol, atol=rtol * 1e-2)


def assert_same_params(ours, theirs, rtol):
    for our_param, their_param in zip(ours, theirs):
        np.testing.assert_allclose(our_param.detach().numpy(), their_param.detach().numpy(), rtol=rtol, atol=rtol * 1e-2)


@pytest.mark.parametrize(("name", "kwargs"), CONFIGS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_steps_match_torch(name, kwargs, dtype, rng):
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    ours, theirs, ours_optimizer, theirs_optimizer = make_pair(name, kwargs, dtype, rng, groups=True)
    arrays = [p._array for p in ours]
    for step in range(6):
        set_gradients(ours, theirs, rng, dtype, skip=2 if step < 2 else None)  # a late-starting parameter
        ours_optimizer.step()
        theirs_optimizer.step()
        assert_same_params(ours, theirs, rtol)
    assert_same_state(ours_optimizer, theirs_optimizer, rtol)
    assert all(p._array is array for p, array in zip(ours, arrays))  # updated in place
    assert all(p.grad is not None and p.grad._node is None for p in ours)


@pytest.mark.parametrize(("name", "kwargs"), [CONFIGS[3], CONFIGS[7], CONFIGS[10], CONFIGS[13]])
def test_state_dict_round_trip_continues_identically(name, kwargs, rng):
    ours, theirs, ours_optimizer, theirs_optimizer = make_pair(name, kwargs, np.float64, rng)
    for _ in range(3):
        set_gradients(ours, theirs, rng, np.float64)
        ours_optimizer.step()
        theirs_optimizer.step()
    # a fresh optimizer over copies of the parameters, loaded from the saved state, continues the same way
    saved = copy.deepcopy(ours_optimizer.state_dict())
    clones = [npconv.nn.Parameter(npconv.tensor(p.detach().numpy())) for p in ours]
    resumed = getattr(optim, name)(clones, lr=123.0)
    resumed.load_state_dict(saved)
    assert resumed.param_groups[0]["lr"] == kwargs.get("lr", ours_optimizer.defaults["lr"])
    # torch's own state_dict loads into npconv too
    from_torch = getattr(optim, name)([npconv.nn.Parameter(npconv.tensor(p.detach().numpy())) for p in ours])
    from_torch.load_state_dict(theirs_optimizer.state_dict())
    from_torch_params = [p for group in from_torch.param_groups for p in group["params"]]
    for _ in range(3):
        set_gradients(ours, theirs, rng, np.float64)
        for p, q, r in zip(clones, from_torch_params, ours):
            p.grad, q.grad = npconv.tensor(r.grad.numpy()), npconv.tensor(r.grad.numpy())
        for optimizer in (ours_optimizer, theirs_optimizer, resumed, from_torch):
            optimizer.step()
    assert_same_params(ours, theirs, 1e-12)
    assert_same_params(clones, theirs, 1e-12)
    assert_same_params(from_torch_params, theirs, 1e-12)
    assert saved["state"][0] is not resumed.state[clones[0]]


def test_load_state_dict_checks_groups(rng):
    ours, _, ours_optimizer, _ = make_pair("SGD", {"lr": 0.1}, np.float64, rng)
    other = optim.SGD([ours[0]], lr=0.1)
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        other.load_state_dict(ours_optimizer.state_dict())
    grouped = optim.SGD([{"params": ours[:1]}, {"params": ours[1:]}], lr=0.1)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        grouped.load_state_dict(ours_optimizer.state_dict())


def test_zero_grad_closure_and_add_param_group(rng):
    ours, theirs, ours_optimizer, theirs_optimizer = make_pair("SGD", {"lr": 0.1, "momentum": 0.9}, np.float32, rng)
    set_gradients(ours, theirs, rng, np.float32)
    ours_optimizer.zero_grad(set_to_none=False)
    theirs_optimizer.zero_grad(set_to_none=False)
    assert all(np.all(p.grad.numpy() == 0) for p in ours)
    ours_optimizer.zero_grad()
    assert all(p.grad is None for p in ours)
    extra_ours, extra_theirs = npconv.nn.Parameter(npconv.ones(2)), torch.nn.Parameter(torch.ones(2))
    ours_optimizer.add_param_group({"params": extra_ours, "lr": 0.5, "nesterov": True})
    theirs_optimizer.add_param_group({"params": extra_theirs, "lr": 0.5, "nesterov": True})
    assert ours_optimizer.state_dict()["param_groups"] == theirs_optimizer.state_dict()["param_groups"]
    assert repr(ours_optimizer) == repr(theirs_optimizer)

    def closure(optimizer, parameter):
        def evaluate():
            optimizer.zero_grad()
            loss = (parameter * parameter * 3).sum()
            loss.backward()
            return loss

        return evaluate

    assert ours_optimizer.step(closure(ours_optimizer, extra_ours)).item() == 6.0
    theirs_optimizer.step(closure(theirs_optimizer, extra_theirs))
    np.testing.assert_allclose(extra_ours.detach().numpy(), extra_theirs.detach().numpy(), rtol=1e-6)


def test_parameters_from_a_module_and_named_parameters():
    layer = npconv.nn.Conv2d(2, 3, 3)
    optimizer = optim.SGD(layer.parameters(), lr=0.1)
    assert len(optimizer.param_groups[0]["params"]) == 2
    named = optim.Adam(layer.named_parameters())
    assert named.param_groups[0]["param_names"] == ["weight", "bias"]


VALIDATION_CASES = [
    ("SGD", {"lr": -1.0}),
    ("SGD", {"momentum": -0.5}),
    ("SGD", {"weight_decay": -1}),
    ("SGD", {"nesterov": True}),
    ("SGD", {"nesterov": True, "momentum": 0.9, "dampening": 0.1}),
    ("Adam", {"lr": -1.0}),
    ("Adam", {"eps": -1.0}),
    ("Adam", {"betas": (1.0, 0.9)}),
    ("Adam", {"betas": (0.9, -0.1)}),
    ("Adam", {"betas": (0, 0.9)}),
    ("Adam", {"weight_decay": -0.1}),
    ("AdamW", {"betas": (0.9, 1.5)}),
    ("RMSprop", {"alpha": -1.0}),
    ("RMSprop", {"momentum": -1.0}),
    ("RMSprop", {"eps": -1.0}),
]


@pytest.mark.parametrize(("name", "kwargs"), VALIDATION_CASES)
def test_validation_errors_match_torch(name, kwargs):
    with pytest.raises(ValueError) as expected:
        getattr(torch.optim, name)([torch.nn.Parameter(torch.ones(1))], **kwargs)
    with pytest.raises(ValueError, match=str(expected.value).replace("(", r"\(").replace(")", r"\)")):
        getattr(optim, name)([npconv.nn.Parameter(npconv.ones(1))], **kwargs)


def test_parameter_list_errors_match_torch():
    parameter = npconv.nn.Parameter(npconv.ones(2))
    with pytest.raises(TypeError, match="should be an iterable of Tensors or dicts"):
        optim.SGD(parameter)
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        optim.SGD([])
    with pytest.raises(TypeError, match="optimizer can only optimize Tensors"):
        optim.SGD([1.0])
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        optim.SGD([parameter * 2])
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
        optim.SGD([{"params": [parameter]}, {"params": [parameter]}])
    with pytest.raises(TypeError, match="organized in ordered collections"):
        torch.optim.SGD([{"params": {torch.nn.Parameter(torch.ones(2))}}])
    with pytest.raises(TypeError, match="organized in ordered collections"):
        optim.SGD([{"params": {parameter}}])
    with pytest.warns(UserWarning, match="duplicate parameters"):
        optim.SGD([parameter, parameter])


# --------------------------------------------------------------------- schedulers
def lr_sequences(make_ours, make_theirs, epochs, groups=2):
    ours_params = [{"params": [npconv.nn.Parameter(npconv.ones(1))], "lr": 0.1 * (i + 1)} for i in range(groups)]
    theirs_params = [{"params": [torch.nn.Parameter(torch.ones(1))], "lr": 0.1 * (i + 1)} for i in range(groups)]
    ours_optimizer, theirs_optimizer = optim.SGD(ours_params), torch.optim.SGD(theirs_params)
    ours, theirs = make_ours(ours_optimizer), make_theirs(theirs_optimizer)
    ours_lrs, theirs_lrs = [ours.get_last_lr()], [theirs.get_last_lr()]
    for _ in range(epochs):
        ours_optimizer.step()
        theirs_optimizer.step()
        ours.step()
        theirs.step()
        ours_lrs.append(ours.get_last_lr())
        theirs_lrs.append(theirs.get_last_lr())
    assert [group["lr"] for group in ours_optimizer.param_groups] == ours_lrs[-1]
    return ours, theirs, np.array(ours_lrs), np.array(theirs_lrs)


@pytest.mark.parametrize(("step_size", "gamma"), [(1, 0.5), (3, 0.1), (7, 0.9)])
def test_step_lr_sequence(step_size, gamma):
    ours, theirs, ours_lrs, theirs_lrs = lr_sequences(
        lambda o: lr_scheduler.StepLR(o, step_size, gamma),
        lambda o: torch.optim.lr_scheduler.StepLR(o, step_size, gamma),
        20,
    )
    np.testing.assert_allclose(ours_lrs, theirs_lrs, rtol=1e-15)
    for key in ("step_size", "gamma", "base_lrs", "last_epoch", "_step_count", "_last_lr"):
        assert ours.state_dict()[key] == theirs.state_dict()[key]


@pytest.mark.parametrize(("t_max", "eta_min"), [(10, 0.0), (4, 0.01), (1, 0.0)])
def test_cosine_annealing_lr_sequence(t_max, eta_min):
    ours, theirs, ours_lrs, theirs_lrs = lr_sequences(
        lambda o: lr_scheduler.CosineAnnealingLR(o, t_max, eta_min),
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=t_max, eta_min=eta_min),
        3 * t_max + 5,
    )
    np.testing.assert_allclose(ours_lrs, theirs_lrs, rtol=1e-12, atol=1e-15)


def test_scheduler_state_dict_round_trip_and_closed_form():
    ours, theirs, _, _ = lr_sequences(
        lambda o: lr_scheduler.CosineAnnealingLR(o, 10), lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 10), 4
    )
    state = ours.state_dict()
    for key in ("T_max", "eta_min", "base_lrs", "last_epoch", "_step_count", "_last_lr"):
        assert state[key] == theirs.state_dict()[key]
    other = lr_scheduler.CosineAnnealingLR(optim.SGD([npconv.nn.Parameter(npconv.ones(1))] * 1, lr=0.1), 10)
    other.load_state_dict({**state, "base_lrs": state["base_lrs"][:1], "_last_lr": state["_last_lr"][:1]})
    assert other.last_epoch == 4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours.step(7)
        theirs.step(7)
    np.testing.assert_allclose(ours.get_last_lr(), theirs.get_last_lr(), rtol=1e-14)


def test_scheduler_warns_when_stepped_before_the_optimizer():
    optimizer = optim.SGD([npconv.nn.Parameter(npconv.ones(1))], lr=0.1)
    scheduler = lr_scheduler.StepLR(optimizer, 2)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        scheduler.step()
    with pytest.raises(TypeError, match="is not an Optimizer"):
        lr_scheduler.StepLR(object(), 2)
    assert isinstance(scheduler, lr_scheduler.LRScheduler)
