"""Losses against torch: forward values and gradients (input, target, weights) for every reduction,
class-index and class-probability targets, K-d inputs, weights, ignore_index, label smoothing, the
clamped logarithm of BCE, the stable logits form, modules and torch's errors."""

import re
import warnings

import numpy as np
import pytest
import torch

import npconv
import npconv.nn.functional as F
from npconv import nn

REDUCTIONS = ("mean", "sum", "none")


def to_both(value, requires_grad=False):
    if not isinstance(value, np.ndarray):
        return value, value
    ours = npconv.tensor(value, requires_grad=requires_grad)
    theirs = torch.tensor(value, requires_grad=requires_grad)
    return ours, theirs


def tolerance(dtype):
    return {"rtol": 1e-10, "atol": 1e-12} if dtype == np.float64 else {"rtol": 2e-5, "atol": 2e-6}


def compare(name, arrays, grads, kwargs, dtype=np.float64, module=None):
    """Run ``name`` (a functional loss, or ``module`` built from kwargs) in both frameworks and compare
    the value and the gradients of the arrays whose flag in ``grads`` is set."""
    pairs = [to_both(array, flag) for array, flag in zip(arrays, grads)]
    keyword_pairs = {key: to_both(value) for key, value in kwargs.items()}
    ours_kwargs = {key: pair[0] for key, pair in keyword_pairs.items()}
    theirs_kwargs = {key: pair[1] for key, pair in keyword_pairs.items()}
    if module is None:
        ours = getattr(F, name)(*[p[0] for p in pairs], **ours_kwargs)
        theirs = getattr(torch.nn.functional, name)(*[p[1] for p in pairs], **theirs_kwargs)
    else:
        ours = getattr(nn, module)(**ours_kwargs)(*[p[0] for p in pairs])
        theirs = getattr(torch.nn, module)(**theirs_kwargs)(*[p[1] for p in pairs])
    assert tuple(ours.shape) == tuple(theirs.shape)
    assert ours.dtype.name == str(theirs.dtype).replace("torch.", "")
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), **tolerance(dtype))
    seed = np.random.default_rng(7).standard_normal(tuple(theirs.shape)).astype(theirs.detach().numpy().dtype)
    if any(grads):
        ours.backward(npconv.tensor(seed))
        theirs.backward(torch.tensor(seed))
        for (our_input, their_input), flag in zip(pairs, grads):
            if flag:
                np.testing.assert_allclose(our_input.grad.numpy(), their_input.grad.numpy(), **tolerance(dtype))


def logits(rng, shape, dtype=np.float64, scale=3.0):
    return (scale * rng.standard_normal(shape)).astype(dtype)


# --------------------------------------------------------------------- cross entropy and nll
CLASS_SHAPES = [(5,), (4, 5), (3, 4, 6), (2, 3, 4, 5), (2, 3, 2, 3, 2)]


def class_targets(rng, shape, ignore=None):
    classes = shape[0] if len(shape) == 1 else shape[1]
    target_shape = () if len(shape) == 1 else (shape[0], *shape[2:])
    target = rng.integers(0, classes, target_shape)
    if ignore is not None and target.ndim:
        target.flat[:: 3] = ignore
    return target


@pytest.mark.parametrize("shape", CLASS_SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "options",
    [{}, {"weight": True}, {"ignore_index": 1}, {"label_smoothing": 0.2}, {"weight": True, "ignore_index": 2, "label_smoothing": 0.35}],
    ids=["plain", "weight", "ignore", "smoothing", "all"],
)
def test_cross_entropy_class_indices(shape, reduction, options, rng):
    classes = shape[0] if len(shape) == 1 else shape[1]
    kwargs = {"reduction": reduction, **options}
    if options.get("weight"):
        kwargs["weight"] = rng.uniform(0.2, 2.0, classes)
    target = class_targets(rng, shape, options.get("ignore_index"))
    compare("cross_entropy", [logits(rng, shape), target], [True, False], kwargs)
    if "label_smoothing" not in options:
        compare("nll_loss", [logits(rng, shape), target], [True, False], kwargs)


@pytest.mark.parametrize("shape", CLASS_SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("options", [{}, {"weight": True}, {"label_smoothing": 0.3, "weight": True}])
def test_cross_entropy_class_probabilities(shape, reduction, options, rng):
    classes = shape[0] if len(shape) == 1 else shape[1]
    kwargs = {"reduction": reduction, **options}
    if options.get("weight"):
        kwargs["weight"] = rng.uniform(0.2, 2.0, classes)
    probabilities = rng.dirichlet(np.ones(classes), size=int(np.prod(shape)) // classes)
    class_axis = 0 if len(shape) == 1 else 1
    moved = (shape[0], *shape[2:], classes) if len(shape) > 1 else (classes,)
    target = np.moveaxis(probabilities.reshape(moved), -1, class_axis)
    compare("cross_entropy", [logits(rng, shape), np.ascontiguousarray(target)], [True, True], kwargs)


def test_cross_entropy_float32_and_extreme_logits(rng):
    x = logits(rng, (6, 10), np.float32, scale=40.0)
    compare("cross_entropy", [x, rng.integers(0, 10, 6)], [True, False], {}, dtype=np.float32)
    compare("cross_entropy", [x, rng.integers(0, 10, 6)], [True, False], {"label_smoothing": 0.1}, dtype=np.float32)


def test_all_targets_ignored_gives_nan_like_torch(rng):
    x = logits(rng, (3, 4))
    ours = F.cross_entropy(npconv.tensor(x), npconv.tensor([1, 1, 1]), ignore_index=1)
    theirs = torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor([1, 1, 1]), ignore_index=1)
    assert np.isnan(ours.item()) and np.isnan(theirs.item())


def test_uint8_targets_and_negative_label_smoothing_are_accepted(rng):
    x = logits(rng, (4, 5))
    target = rng.integers(0, 5, 4).astype(np.uint8)
    compare("cross_entropy", [x, target], [True, False], {})
    compare("cross_entropy", [x, target.astype(np.int64)], [True, False], {"label_smoothing": -0.2})


# --------------------------------------------------------------------- regression losses
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_regression_losses(name, reduction, dtype, rng):
    x, y = logits(rng, (3, 4, 5), dtype), logits(rng, (3, 4, 5), dtype)
    y[0, 0, :2] = x[0, 0, :2]  # zero differences: the gradient of |d| at 0 is 0 in both
    compare(name, [x, y], [True, True], {"reduction": reduction}, dtype)
    compare(name, [x, y], [True, True], {"reduction": reduction, "weight": rng.uniform(0, 2, (3, 4, 5)).astype(dtype)}, dtype)


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
def test_regression_losses_broadcast_with_torch_warning(name, rng):
    with pytest.warns(UserWarning, match="different to the input size"):
        compare(name, [logits(rng, (3, 1)), logits(rng, (4,))], [True, True], {})


def test_mse_integer_target_keeps_input_dtype(rng):
    compare("mse_loss", [logits(rng, (5,), np.float32), rng.integers(0, 3, 5)], [True, False], {}, np.float32)


# --------------------------------------------------------------------- binary cross entropy
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight_shape", [None, (4, 5), (5,), (4, 1)])
def test_binary_cross_entropy(reduction, weight_shape, rng):
    x = rng.uniform(0.01, 0.99, (4, 5))
    y = rng.uniform(0, 1, (4, 5))
    y[0] = (y[0] > 0.5).astype(float)
    kwargs = {"reduction": reduction}
    if weight_shape:
        kwargs["weight"] = rng.uniform(0.1, 2, weight_shape)
    compare("binary_cross_entropy", [x, y], [True, True], kwargs)
    compare("binary_cross_entropy", [x, y], [True, True], kwargs, module="BCELoss")


def test_binary_cross_entropy_clamps_the_log_at_minus_100():
    x = np.array([0.0, 1.0, 0.0, 1.0, 0.5, 1e-300])
    y = np.array([1.0, 0.0, 0.0, 1.0, 0.3, 1.0])
    compare("binary_cross_entropy", [x, y], [True, False], {"reduction": "none"})
    compare("binary_cross_entropy", [x.astype(np.float32), y.astype(np.float32)], [True, False], {}, np.float32)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("options", [{}, {"pos_weight": (5,)}, {"weight": (4, 5)}, {"pos_weight": (1,), "weight": (5,)}])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_binary_cross_entropy_with_logits(reduction, options, dtype, rng):
    x = logits(rng, (4, 5), dtype, scale=5.0)
    x[0, :3] = [200.0, -200.0, 0.0]  # stable far from zero
    y = rng.uniform(0, 1, (4, 5)).astype(dtype)
    kwargs = {"reduction": reduction}
    arrays, grads = [x, y], [True, True]
    for key, shape in options.items():
        kwargs[key] = rng.uniform(0.2, 3, shape).astype(dtype)
    compare("binary_cross_entropy_with_logits", arrays, grads, kwargs, dtype)
    compare("binary_cross_entropy_with_logits", arrays, grads, kwargs, dtype, module="BCEWithLogitsLoss")


@pytest.mark.parametrize("argument", ["weight", "pos_weight"])
def test_weights_that_require_grad_are_rejected_like_torch(argument):
    name = "binary_cross_entropy_with_logits"
    ours_weight, theirs_weight = npconv.ones(3, requires_grad=True), torch.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=f"not differentiable with respect to argument '{argument}'"):
        getattr(torch.nn.functional, name)(torch.zeros(3), torch.zeros(3), **{argument: theirs_weight})
    with pytest.raises(RuntimeError, match=f"not differentiable with respect to argument '{argument}'"):
        getattr(F, name)(npconv.zeros(3), npconv.zeros(3), **{argument: ours_weight})
    with pytest.raises(RuntimeError, match="not differentiable with respect to argument 'weight'"):
        F.binary_cross_entropy(npconv.full((3,), 0.5), npconv.zeros(3), weight=ours_weight)


# --------------------------------------------------------------------- modules
@pytest.mark.parametrize(
    ("module", "arrays", "grads", "kwargs"),
    [
        ("CrossEntropyLoss", "logits", [True, False], {"ignore_index": 0, "label_smoothing": 0.1, "reduction": "sum"}),
        ("NLLLoss", "logits", [True, False], {"ignore_index": 2, "reduction": "none"}),
        ("MSELoss", "pair", [True, True], {"reduction": "sum"}),
        ("L1Loss", "pair", [True, True], {}),
    ],
)
def test_modules_match_torch(module, arrays, grads, kwargs, rng):
    if arrays == "logits":
        values = [logits(rng, (6, 4, 3)), rng.integers(0, 4, (6, 3))]
        kwargs = {**kwargs, "weight": rng.uniform(0.5, 1.5, 4)}
    else:
        values = [logits(rng, (6, 4)), logits(rng, (6, 4))]
    compare(None, values, grads, kwargs, module=module)


def test_module_positional_signatures_and_buffers():
    weight = npconv.tensor([1.0, 2.0, 3.0])
    ce = nn.CrossEntropyLoss(weight, None, 3, None, "sum", 0.25)
    assert (ce.ignore_index, ce.reduction, ce.label_smoothing) == (3, "sum", 0.25)
    assert list(ce.state_dict()) == list(torch.nn.CrossEntropyLoss(torch.ones(3)).state_dict()) == ["weight"]
    nll = nn.NLLLoss(None, None, 5, None, "none")
    assert (nll.ignore_index, nll.reduction, nll.weight) == (5, "none", None)
    bce = nn.BCEWithLogitsLoss(weight, None, None, "sum", weight)
    assert list(bce.state_dict()) == list(torch.nn.BCEWithLogitsLoss(torch.ones(3), pos_weight=torch.ones(3)).state_dict())
    assert nn.MSELoss(None, None, "sum").reduction == "sum"
    assert repr(nn.CrossEntropyLoss()) == repr(torch.nn.CrossEntropyLoss()) == "CrossEntropyLoss()"


@pytest.mark.parametrize(("size_average", "reduce"), [(False, None), (None, False), (True, True)])
def test_legacy_size_average_and_reduce(size_average, reduce):
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        expected = torch.nn.MSELoss(size_average=size_average, reduce=reduce).reduction
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        assert nn.MSELoss(size_average=size_average, reduce=reduce).reduction == expected


# --------------------------------------------------------------------- errors
def long(values):
    return np.asarray(values, dtype=np.int64)


ERROR_CASES = [
    ("cross_entropy", [(3, 5), long([0, 1, 5])], {}),
    ("cross_entropy", [(3, 5), long([0, 1, -1])], {}),
    ("cross_entropy", [(3, 5), long([0, 1])], {}),
    ("cross_entropy", [(3, 5), np.array([0.0, 1.0, 2.0])], {}),
    ("cross_entropy", [(3, 5), np.array([0, 1, 2], dtype=np.int32)], {}),
    ("cross_entropy", [(3, 5), long([0, 1, 2])], {"weight": np.ones(4)}),
    ("cross_entropy", [(3, 5), np.full((3, 5), 0.2)], {"weight": np.ones(4)}),
    ("cross_entropy", [(3, 5), np.full((3, 5), 0.2)], {"ignore_index": 1}),
    ("cross_entropy", [(3, 5), np.zeros((3, 5), dtype=np.int64)], {}),
    ("cross_entropy", [(3, 5), long([0, 1, 2])], {"label_smoothing": 1.5}),
    ("cross_entropy", [(3, 5), long([0, 1, 2])], {"reduction": "avg"}),
    ("cross_entropy", [(2, 3, 4, 5), np.zeros((2, 4, 4), dtype=np.int64)], {}),
    ("cross_entropy", [(2, 3, 4, 5), np.zeros((2, 4), dtype=np.int64)], {}),
    ("cross_entropy", [(2, 3, 4), np.zeros((2, 5), dtype=np.int64)], {}),
    ("cross_entropy", [(2, 3, 4, 5, 6), np.zeros((2, 4, 5, 7), dtype=np.int64)], {}),
    ("cross_entropy", [(2, 3, 4, 5), np.full((2, 4, 5), 7)], {}),
    ("nll_loss", [(), long(0)], {}),
    ("nll_loss", [(3, 5), long([[1], [2], [3]])], {}),
    ("binary_cross_entropy", [(3,), np.full(4, 0.5)], {}),
    ("binary_cross_entropy", [np.array([0.5, 1.5]), np.full(2, 0.5)], {}),
    ("binary_cross_entropy", [np.array([0.5, 0.5]), np.array([0.5, 2.0])], {}),
    ("binary_cross_entropy", [np.full(3, 0.5), np.full(3, 0.5)], {"weight": np.ones(2)}),
    ("binary_cross_entropy", [np.full(3, 0.5), np.full(3, 0.5, dtype=np.float32)], {}),
    ("binary_cross_entropy_with_logits", [(3,), np.full(4, 0.5)], {}),
    ("binary_cross_entropy_with_logits", [(2, 3), np.full((2, 3), 0.5)], {"pos_weight": np.ones(2)}),
    ("binary_cross_entropy_with_logits", [(2, 3), np.full((2, 3), 0.5)], {"weight": np.ones((4, 2, 3))}),
    ("mse_loss", [(3,), np.zeros(4)], {}),
    ("mse_loss", [(3,), np.zeros(3)], {"weight": np.ones(2)}),
    ("l1_loss", [(3,), np.zeros(3)], {"reduction": "bogus"}),
]


@pytest.mark.parametrize(("name", "arrays", "kwargs"), ERROR_CASES)
def test_errors_match_torch(name, arrays, kwargs):
    arrays = [np.random.default_rng(0).uniform(0.1, 0.9, a) if isinstance(a, tuple) else a for a in arrays]
    theirs_args = [torch.tensor(a) for a in arrays]
    theirs_kwargs = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(Exception) as expected:
            getattr(torch.nn.functional, name)(*theirs_args, **theirs_kwargs)
        ours_kwargs = {k: npconv.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
        with pytest.raises(type(expected.value)) as raised:
            getattr(F, name)(*[npconv.tensor(a) for a in arrays], **ours_kwargs)
    their_message = str(expected.value).replace("torch.", "npconv.")
    key = re.split(r"[\[(]", their_message)[0].strip()
    assert key in str(raised.value), (str(raised.value), their_message)
