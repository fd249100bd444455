"""Tensor operations' values and gradients against torch (float64, broadcasting included), and the backward
engine: accumulation, tensors used twice, deep graphs, no_grad."""

from collections.abc import Callable

import numpy as np
import pytest
import torch

import npconv

torch.set_num_threads(1)


def _compare(function: Callable, shapes: list[tuple[int, ...]], seed: int = 0, positive: bool = False,
             dtype: type = np.float64) -> None:
    """Run ``function`` on npconv and torch tensors built from the same random arrays; compare the result
    and the gradient of every input for a random upstream gradient."""
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(shape).astype(dtype) for shape in shapes]
    if positive:
        arrays = [np.abs(a) + 0.5 for a in arrays]
    ours = [npconv.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out_ours, out_theirs = function(*ours), function(*theirs)
    assert tuple(out_ours.shape) == tuple(out_theirs.shape)
    assert out_ours.dtype.name == str(out_theirs.dtype).removeprefix("torch.")
    tolerance = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(out_ours.detach().numpy(), out_theirs.detach().numpy(), rtol=tolerance, atol=tolerance)
    upstream = rng.standard_normal(tuple(out_theirs.shape)).astype(dtype)
    out_ours.backward(npconv.tensor(upstream))
    out_theirs.backward(torch.tensor(upstream))
    for index, (a, b) in enumerate(zip(ours, theirs)):
        assert (a.grad is None) == (b.grad is None), index
        if b.grad is not None:
            assert a.grad.shape == tuple(b.grad.shape)
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=tolerance, atol=tolerance, err_msg=str(index))


BROADCAST_SHAPES = [
    [(3, 4), (3, 4)],
    [(3, 4), (4,)],
    [(2, 1, 4), (3, 1)],
    [(1,), (2, 3)],
    [(), (2, 3)],
    [(2, 3, 1), (1, 1, 5)],
]


@pytest.mark.parametrize("shapes", BROADCAST_SHAPES, ids=str)
@pytest.mark.parametrize(
    "name",
    ["add", "sub", "mul", "div", "pow", "radd", "rsub", "rmul", "rdiv", "maximum", "minimum", "where"],
)
def test_binary_operations_with_broadcasting(name: str, shapes: list) -> None:
    functions = {
        "add": lambda a, b: a + b,
        "sub": lambda a, b: a - b,
        "mul": lambda a, b: a * b,
        "div": lambda a, b: a / b,
        "pow": lambda a, b: a**b,
        "radd": lambda a, b: 2.5 + a + b * 0.5,
        "rsub": lambda a, b: 1.5 - a - (3 - b),
        "rmul": lambda a, b: 3 * a * (b * 2),
        "rdiv": lambda a, b: 2 / a + b / 4,
        "maximum": lambda a, b: _module(a).maximum(a, b),
        "minimum": lambda a, b: _module(a).minimum(a, b),
        "where": lambda a, b: _module(a).where(a > 0.1, a, b),
    }
    _compare(functions[name], shapes, positive=name in ("pow", "div", "rdiv"))


def _module(tensor: object) -> object:
    return torch if isinstance(tensor, torch.Tensor) else npconv


@pytest.mark.parametrize(
    ("name", "function", "positive"),
    [
        ("neg", lambda a: -a, False),
        ("pow_scalar", lambda a: a**3, False),
        ("rpow", lambda a: 2.0**a, False),
        ("exp", lambda a: a.exp(), False),
        ("log", lambda a: a.log(), True),
        ("sqrt", lambda a: a.sqrt(), True),
        ("abs", lambda a: a.abs(), False),
        ("tanh", lambda a: a.tanh(), False),
        ("sigmoid", lambda a: a.sigmoid(), False),
        ("clamp", lambda a: a.clamp(-0.3, 0.4), False),
        ("clamp_min", lambda a: a.clamp(min=0.1), False),
        ("relu", lambda a: a.relu(), False),
        ("square", lambda a: a.square(), False),
        ("sum", lambda a: a.sum(), False),
        ("sum_dim", lambda a: a.sum(1), False),
        ("sum_dims_keepdim", lambda a: a.sum((0, 2), keepdim=True), False),
        ("sum_negative_dim", lambda a: a.sum(-1), False),
        ("mean", lambda a: a.mean(), False),
        ("mean_dim_keepdim", lambda a: a.mean(1, keepdim=True), False),
        ("mean_dims", lambda a: a.mean((0, -1)), False),
        ("max", lambda a: a.max(), False),
        ("min", lambda a: a.min(), False),
        ("max_dim", lambda a: a.max(1)[0], False),
        ("max_dim_keepdim", lambda a: a.max(-1, keepdim=True).values, False),
        ("min_dim", lambda a: a.min(0).values, False),
        ("amax", lambda a: a.amax(1), False),
        ("amax_dims_keepdim", lambda a: a.amax((0, 2), keepdim=True), False),
        ("amin", lambda a: a.amin(-1), False),
        ("reshape", lambda a: a.reshape(6, 4), False),
        ("reshape_infer", lambda a: a.reshape(-1, 2), False),
        ("view", lambda a: a.view(2, 12), False),
        ("flatten", lambda a: a.flatten(), False),
        ("flatten_range", lambda a: a.flatten(1), False),
        ("permute", lambda a: a.permute(2, 0, 1), False),
        ("transpose", lambda a: a.transpose(0, 2), False),
        ("unsqueeze", lambda a: a.unsqueeze(1), False),
        ("unsqueeze_negative", lambda a: a.unsqueeze(-1), False),
        ("squeeze", lambda a: a[:, :1].squeeze(), False),
        ("squeeze_dim", lambda a: a[:1].squeeze(0), False),
        ("slice", lambda a: a[1:, ::2, -2:], False),
        ("index", lambda a: a[1], False),
        ("index_ellipsis", lambda a: a[..., 1], False),
        ("index_none", lambda a: a[None, :, 0], False),
        ("negative_step_free_slice", lambda a: a[:, 1:3][0], False),
        ("T", lambda a: a[0].T, False),
        ("clone", lambda a: a.clone() * 2, False),
        ("contiguous", lambda a: a.transpose(0, 1).contiguous() * 2, False),
        ("chained", lambda a: ((a * 2).exp().sum(0) / 3).tanh(), False),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_unary_operations(name: str, function: Callable, positive: bool) -> None:
    _compare(function, [(2, 3, 4)], seed=len(name), positive=positive)


@pytest.mark.parametrize(
    "shapes", [[(3, 4), (4, 5)], [(4,), (4, 5)], [(3, 4), (4,)], [(4,), (4,)], [(2, 3, 4), (4, 5)], [(2, 3, 4), (2, 4, 2)],
               [(5, 3, 4), (1, 4, 2)]], ids=str
)
def test_matmul(shapes: list) -> None:
    _compare(lambda a, b: a @ b, shapes)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat_and_stack(dim: int) -> None:
    _compare(lambda a, b: _module(a).cat([a, b * 2], dim), [(2, 3), (2, 3)])
    _compare(lambda a, b: _module(a).stack([a, b, a], dim), [(2, 3), (2, 3)])


def test_cat_of_different_lengths() -> None:
    _compare(lambda a, b: _module(a).cat([a, b], 1), [(2, 3), (2, 5)])


def test_max_ties_share_the_gradient_as_in_torch() -> None:
    values = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
    for reduce in (lambda t: t.max(), lambda t: t.amax(1), lambda t: t.amin(0)):
        ours, theirs = npconv.tensor(values, requires_grad=True), torch.tensor(values, requires_grad=True)
        reduce(ours).sum().backward()
        reduce(theirs).sum().backward()
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy())
    a, b = np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 3.0])
    ours = [npconv.tensor(v, requires_grad=True) for v in (a, b)]
    theirs = [torch.tensor(v, requires_grad=True) for v in (a, b)]
    npconv.maximum(*ours).sum().backward()
    torch.maximum(*theirs).sum().backward()
    for x, y in zip(ours, theirs):
        np.testing.assert_allclose(x.grad.numpy(), y.grad.numpy())


def test_float32_gradients() -> None:
    _compare(lambda a, b: (a * b + a / (b.abs() + 1)).sum(1), [(3, 4), (4,)], dtype=np.float32)


def test_grad_accumulates_across_backward_calls() -> None:
    a = npconv.tensor([1.0, 2.0, 3.0], requires_grad=True)
    t = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for _ in range(3):
        (a * a).sum().backward()
        (t * t).sum().backward()
        np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy())
    a.grad = None
    (a * 3).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [3.0, 3.0, 3.0])


def test_tensor_used_twice_accumulates_both_contributions() -> None:
    _compare(lambda a: a * a + a.exp() * a, [(3,)])
    _compare(lambda a, b: (a + b) * (a - b) + a, [(2, 3), (3,)])
    x = npconv.tensor(2.0, requires_grad=True)
    y = x * 3
    (y + y * y).backward()  # d/dx (3x + 9x²) = 3 + 18x
    assert x.grad.item() == pytest.approx(39.0)


def test_deep_graph_does_not_hit_the_recursion_limit() -> None:
    x = npconv.tensor([1.0, 2.0], requires_grad=True)
    y = x
    for _ in range(5000):
        y = y + 1
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])
    z, reference = x, torch.tensor([1.0, 2.0], requires_grad=True)
    zt = reference
    for _ in range(3000):
        z, zt = z * 1.0001, zt * 1.0001
    z.sum().backward()
    zt.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 1.0 + reference.grad.numpy(), rtol=1e-5)


def test_non_scalar_backward_without_gradient_raises_torch_error() -> None:
    a = npconv.tensor([1.0, 2.0], requires_grad=True)
    t = torch.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs") as ours:
        (a * 2).backward()
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        (t * 2).backward()
    assert ours.type is RuntimeError


def test_backward_with_explicit_gradient() -> None:
    _compare(lambda a: a * a, [(2, 2)])
    a = npconv.tensor([1.0, 2.0], requires_grad=True)
    (a * 2).backward(npconv.tensor([1.0, 10.0]))
    np.testing.assert_array_equal(a.grad.numpy(), [2.0, 20.0])


def test_leaf_gradients_never_alias_the_upstream_gradient() -> None:
    """A gradient that an operation passes on unchanged (or as a view) reaches the leaf as a copy: writing
    into ``.grad`` must not change the caller's upstream gradient, nor a second leaf's ``.grad``."""
    a = npconv.tensor(np.ones((2, 3)), requires_grad=True)
    b = npconv.tensor(np.ones((2, 3)), requires_grad=True)
    upstream = npconv.tensor(np.arange(6.0).reshape(2, 3))
    (a + b).backward(upstream)
    for leaf in (a, b):
        assert not np.shares_memory(leaf.grad.numpy(), upstream.numpy())
    assert not np.shares_memory(a.grad.numpy(), b.grad.numpy())
    c = npconv.tensor(np.ones(6), requires_grad=True)
    c.reshape(2, 3).backward(upstream)
    assert not np.shares_memory(c.grad.numpy(), upstream.numpy())


def test_convolution_gradients_are_kept_without_a_copy_and_still_accumulate() -> None:
    """The convolution's gradients are new arrays, which its leaves keep as ``.grad`` (no copy): they share
    no memory with the upstream gradient, the inputs or each other, in-place writes to one leave the others
    alone, and a second backward accumulates into a new array, as in torch."""
    rng = np.random.default_rng(3)
    x = npconv.tensor(rng.standard_normal((2, 4, 7, 6)), requires_grad=True)
    w = npconv.tensor(rng.standard_normal((5, 4, 3, 3)), requires_grad=True)
    b = npconv.tensor(rng.standard_normal(5), requires_grad=True)
    g = rng.standard_normal((2, 5, 7, 6))
    upstream = npconv.tensor(g.copy())
    npconv.nn.functional.conv2d(x, w, b, padding=1).backward(upstream)
    grads = [t.grad.numpy() for t in (x, w, b)]
    tx, tw, tb = (torch.tensor(t.detach().numpy(), requires_grad=True) for t in (x, w, b))
    torch.nn.functional.conv2d(tx, tw, tb, padding=1).backward(torch.tensor(g))
    for ours, theirs in zip(grads, (tx.grad, tw.grad, tb.grad)):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-10, atol=1e-10)
        for other in (upstream.numpy(), x.detach().numpy(), w.detach().numpy(), *(o for o in grads if o is not ours)):
            assert not np.shares_memory(ours, other)
    first = [grad.copy() for grad in grads]
    x.grad.numpy()[...] = 0.0
    np.testing.assert_array_equal(upstream.numpy(), g)
    np.testing.assert_array_equal(w.grad.numpy(), first[1])
    npconv.nn.functional.conv2d(x, w, b, padding=1).backward(upstream)
    np.testing.assert_allclose(x.grad.numpy(), first[0], rtol=1e-12)
    np.testing.assert_allclose(w.grad.numpy(), 2 * first[1], rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), 2 * first[2], rtol=1e-12)


def test_backward_of_tensor_without_grad_raises_like_torch() -> None:
    with pytest.raises(RuntimeError, match="does not require grad"):
        npconv.tensor([1.0]).sum().backward()
    with pytest.raises(RuntimeError, match="does not require grad"):
        torch.tensor([1.0]).sum().backward()


def test_no_grad_context_manager_and_decorator() -> None:
    a = npconv.tensor([1.0], requires_grad=True)
    with npconv.no_grad():
        b = a * 2
        assert not npconv.is_grad_enabled()
    assert npconv.is_grad_enabled()
    assert not b.requires_grad and b.grad_fn is None

    @npconv.no_grad()
    def double(t: npconv.Tensor) -> npconv.Tensor:
        return t * 2

    assert not double(a).requires_grad
    assert npconv.is_grad_enabled()
    assert (a * 2).requires_grad
    with npconv.no_grad():
        with npconv.enable_grad():
            assert (a * 2).requires_grad
        assert not (a * 2).requires_grad
    with npconv.set_grad_enabled(False):
        assert not (a * 2).requires_grad
    assert npconv.is_grad_enabled()


def test_no_grad_restores_state_after_an_exception() -> None:
    with pytest.raises(ValueError), npconv.no_grad():
        raise ValueError("inside")
    assert npconv.is_grad_enabled()


def test_detach_stops_gradients() -> None:
    _compare(lambda a, b: a * b.detach() + a.detach() * 0, [(3,), (3,)])


def test_requires_grad_propagates_like_torch() -> None:
    a = npconv.tensor([1.0], requires_grad=True)
    b = npconv.tensor([2.0])
    assert (a + b).requires_grad and not (b * 2).requires_grad
    assert (a + b).grad_fn is not None and a.grad_fn is None
    assert a.is_leaf and not (a + b).is_leaf
    with pytest.raises(RuntimeError, match="only Tensors of floating point"):
        npconv.tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError, match="only Tensors of floating point"):
        torch.tensor([1, 2]).requires_grad_()


def test_no_grad_and_enable_grad_as_bare_decorators() -> None:
    @npconv.no_grad
    def double(t: npconv.Tensor) -> npconv.Tensor:
        return t * 2

    @npconv.enable_grad
    def triple(t: npconv.Tensor) -> npconv.Tensor:
        return t * 3

    a = npconv.ones(2, requires_grad=True)
    assert not double(a).requires_grad and npconv.is_grad_enabled()
    with npconv.no_grad():
        assert triple(a).requires_grad
        assert not npconv.is_grad_enabled()


def test_grad_fn_repr_of_a_convolution_matches_torch() -> None:
    import npconv.nn.functional as F

    ours = F.conv1d(npconv.arange(6.0).reshape(1, 1, 6), npconv.ones(2, 1, 3, requires_grad=True))
    theirs = torch.nn.functional.conv1d(torch.arange(6.0).reshape(1, 1, 6), torch.ones(2, 1, 3, requires_grad=True))
    assert repr(ours) == repr(theirs)
    assert repr(npconv.ones(2, requires_grad=True) * 2) == repr(torch.ones(2, requires_grad=True) * 2)


def test_retain_grad_of_an_intermediate() -> None:
    for library in (npconv, torch):
        leaf = library.ones(2, requires_grad=True)
        middle = leaf * 3
        middle.retain_grad()
        (middle * middle).sum().backward()
        np.testing.assert_array_equal(np.asarray(middle.grad.detach()), [6.0, 6.0])


def test_manual_update_under_no_grad_is_in_place_as_in_torch() -> None:
    for library in (npconv, torch):
        weight = library.ones(2, requires_grad=True)
        (weight * library.tensor([1.0, 3.0])).sum().backward()
        same_object = weight
        with library.no_grad():
            weight -= 0.5 * weight.grad
            weight *= 2
            weight /= 4
            weight += 1
        assert weight is same_object and weight.requires_grad and weight.is_leaf
        np.testing.assert_allclose(np.asarray(weight.detach()), [1.25, 0.75])


def test_augmented_assignment_on_a_leaf_requiring_grad_raises_like_torch() -> None:
    for library in (npconv, torch):
        weight = library.ones(2, requires_grad=True)
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place operation"):
            weight += 1


def test_augmented_assignment_inside_the_graph_keeps_gradients() -> None:
    _compare(lambda a: _augmented(a), [(3,)])


def _augmented(a: object) -> object:
    b = a * 2
    b += a
    b *= a
    return b


@pytest.mark.parametrize(
    "write",
    [
        lambda t, v, library: t.__setitem__((0, slice(None)), 5.0),
        lambda t, v, library: t.__setitem__(1, v[0] * 2),
        lambda t, v, library: t.__setitem__((slice(None), 1), v[:3, 0]),
        lambda t, v, library: t.__setitem__(library.tensor([2, 0]), v[:2]),
        lambda t, v, library: t.__setitem__(t.detach() > 0.5, 0.0),
    ],
    ids=["row with number", "row with tensor", "column with tensor", "rows by index tensor", "mask"],
)
def test_assignment_into_a_tensor_of_the_graph_is_differentiable(write: Callable) -> None:
    def function(a: object, v: object) -> object:
        library = _module(a)
        target = a * 1
        write(target, v, library)
        return target * target

    _compare(function, [(3, 4), (3, 4)])


def test_assignment_of_a_tensor_requiring_grad_into_a_plain_tensor() -> None:
    for library in (npconv, torch):
        weight = library.tensor(2.0, requires_grad=True)
        plain = library.zeros(3)
        plain[1] = weight
        assert plain.requires_grad
        (plain * 3).sum().backward()
        assert weight.grad.item() == 3.0


def test_tensor_relu_has_zero_gradient_at_zero_like_torch() -> None:
    values = [-1.0, 0.0, 2.0]
    ours = npconv.tensor(values, requires_grad=True)
    theirs = torch.tensor(values, requires_grad=True)
    ours.relu().sum().backward()
    theirs.relu().sum().backward()
    np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())
