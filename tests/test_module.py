"""nn.Module, Parameter and the containers against torch.nn: the same code builds the same structure in
both libraries, and traversal order, names, modes, conversions, state_dict and repr must agree."""

from __future__ import annotations

from collections import OrderedDict
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch

import npconv

LIBRARIES = [torch, npconv]


def build(library: ModuleType) -> Any:
    """A nested model of conv layers in Sequential / ModuleList / ModuleDict, with a custom Module that
    owns a Parameter and persistent, non-persistent and integer buffers, and one shared layer."""
    nn = library.nn

    class Block(nn.Module):
        def __init__(self, channels: int) -> None:
            super().__init__()
            self.conv = nn.Conv2d(channels, channels, 3, padding=1, padding_mode="reflect")
            self.register_buffer("running", library.zeros(channels))
            self.register_buffer("scratch", library.ones(3), persistent=False)
            self.register_buffer("count", library.tensor([0]))
            self.scale = nn.Parameter(library.ones(1))

        def forward(self, x: Any) -> Any:
            return self.conv(x) * self.scale

    shared = nn.Conv1d(1, 1, 1)
    return nn.Sequential(OrderedDict([
        ("stem", nn.Conv2d(1, 2, 3)),
        ("blocks", nn.ModuleList([Block(2), Block(2), nn.Conv2d(2, 2, 1), nn.Conv2d(2, 2, 1), nn.Conv2d(2, 2, 1),
                                  nn.ConvTranspose2d(2, 2, 3)])),
        ("heads", nn.ModuleDict({"up": nn.ConvTranspose2d(2, 1, 2, stride=2), "volume": nn.Conv3d(1, 1, 1, bias=False),
                                 "shared": shared})),
        ("tail", nn.Sequential(shared, nn.Sequential(), nn.ModuleList())),
    ]))


@pytest.fixture
def models() -> tuple[Any, Any]:
    return build(torch), build(npconv)


def names(pairs: Any) -> list[str]:
    return [name for name, _ in pairs]


def shapes(tensors: Any) -> list[tuple[int, ...]]:
    return [tuple(tensor.shape) for tensor in tensors]


def test_repr_tree_equals_torch(models: tuple[Any, Any]) -> None:
    reference, ours = models
    assert repr(ours) == repr(reference)
    assert repr(ours[1:3]) == repr(reference[1:3])
    assert repr(ours.blocks[2:]) == repr(reference.blocks[2:])


def test_traversal_order_and_names_equal_torch(models: tuple[Any, Any]) -> None:
    reference, ours = models
    for method in ("named_parameters", "named_buffers", "named_modules", "named_children"):
        assert names(getattr(ours, method)()) == names(getattr(reference, method)()), method
    for keyword in ({"remove_duplicate": False}, {"prefix": "model"}):
        for method in ("named_parameters", "named_buffers", "named_modules"):
            assert names(getattr(ours, method)(**keyword)) == names(getattr(reference, method)(**keyword))
    assert names(ours.blocks[0].named_parameters(recurse=False)) == ["scale"]
    assert names(ours.named_parameters(recurse=False)) == names(reference.named_parameters(recurse=False)) == []
    assert shapes(ours.parameters()) == shapes(reference.parameters())
    assert shapes(ours.buffers()) == shapes(reference.buffers())
    assert [type(m).__name__ for m in ours.children()] == [type(m).__name__ for m in reference.children()]
    assert [type(m).__name__ for m in ours.modules()] == [type(m).__name__ for m in reference.modules()]
    assert len(list(ours.parameters())) == len(list(reference.parameters())) == 21


def test_state_dict_keys_shapes_and_loading_a_torch_state_dict(models: tuple[Any, Any]) -> None:
    reference, ours = models
    state, reference_state = ours.state_dict(), reference.state_dict()
    assert list(state) == list(reference_state)
    assert "blocks.0.scratch" not in state and "blocks.0.count" in state
    assert shapes(state.values()) == shapes(reference_state.values())
    result = ours.load_state_dict({key: value.numpy() for key, value in reference_state.items()})
    assert result.missing_keys == [] and result.unexpected_keys == []
    for key, value in ours.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), reference_state[key].numpy())
    x = np.random.default_rng(0).standard_normal((1, 2, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(
        ours.blocks[0](npconv.tensor(x)).detach().numpy(),
        reference.blocks[0](torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6,
    )


def test_state_dict_values_are_detached_and_share_memory() -> None:
    layer = npconv.nn.Conv2d(1, 1, 2)
    weight = layer.state_dict()["weight"]
    assert not weight.requires_grad
    assert layer.state_dict(keep_vars=True)["weight"] is layer.weight
    weight.numpy()[...] = 3.0
    assert float(layer.weight.detach().numpy().max()) == 3.0


def test_load_state_dict_strict_false_reports_keys_like_torch(models: tuple[Any, Any]) -> None:
    reference, ours = models
    state = {key: value.numpy() for key, value in reference.state_dict().items()}
    del state["stem.bias"], state["blocks.1.running"]
    state["blocks.9.weight"] = np.zeros(1, np.float32)
    torch_state = {key: torch.tensor(value) for key, value in state.items()}
    expected = reference.load_state_dict(torch_state, strict=False)
    actual = ours.load_state_dict(state, strict=False)
    assert actual.missing_keys == expected.missing_keys
    assert actual.unexpected_keys == expected.unexpected_keys
    with pytest.raises(RuntimeError) as expected_error:
        reference.load_state_dict(torch_state)
    with pytest.raises(RuntimeError) as actual_error:
        ours.load_state_dict(state)
    assert str(actual_error.value) == str(expected_error.value)


def test_train_eval_and_training_flags(models: tuple[Any, Any]) -> None:
    for model in models:
        assert all(module.training for module in model.modules())
        assert model.eval() is model
        assert not any(module.training for module in model.modules())
        model.blocks.train()
        assert not model.training and all(module.training for module in model.blocks.modules())
        assert model.train(True) is model and all(module.training for module in model.modules())
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        models[1].train("yes")


def test_zero_grad_and_requires_grad(models: tuple[Any, Any]) -> None:
    _, ours = models
    layer = ours.stem
    output = layer(npconv.randn(1, 1, 5, 5))
    output.sum().backward()
    assert layer.weight.grad is not None and layer.bias.grad is not None
    ours.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(layer.weight.grad.numpy(), np.zeros((2, 1, 3, 3), np.float32))
    ours.zero_grad()
    assert layer.weight.grad is None and layer.bias.grad is None
    assert ours.requires_grad_(False) is ours
    assert not any(param.requires_grad for param in ours.parameters())
    ours.requires_grad_()
    assert all(param.requires_grad for param in ours.parameters())


def test_apply_visits_children_first_like_torch(models: tuple[Any, Any]) -> None:
    visits: dict[Any, list[str]] = {torch: [], npconv: []}
    for library, model in zip(LIBRARIES, models):
        assert model.apply(lambda module, seen=visits[library]: seen.append(type(module).__name__)) is model
    assert visits[npconv] == visits[torch]
    _, ours = models
    ours.apply(lambda module: npconv.nn.init.zeros_(module.weight) if isinstance(module, npconv.nn.Conv2d) else None)
    assert float(np.abs(ours.stem.weight.detach().numpy()).sum()) == 0.0


@pytest.mark.parametrize(("convert", "float_dtype"), [
    (lambda model, library: model.double(), "float64"),
    (lambda model, library: model.double().float(), "float32"),
    (lambda model, library: model.to(library.float64), "float64"),
    (lambda model, library: model.to(dtype=library.float64), "float64"),
])
def test_dtype_conversions_touch_floating_point_tensors_only(models: tuple[Any, Any], convert: Any,
                                                              float_dtype: str) -> None:
    for library, model in zip(LIBRARIES, models):
        assert convert(model, library) is model
        dtypes = [str(tensor.dtype).split(".")[1] for tensor in [*model.parameters(), *model.buffers()]]
        assert sorted(set(dtypes)) == sorted({float_dtype, "int64"}) and dtypes.count("int64") == 2
        assert model.blocks[0].count.dtype == library.int64
        assert all(str(param.dtype).endswith(float_dtype) for param in model.parameters())
        assert isinstance(model.stem.weight, library.nn.Parameter)
    x = npconv.randn(1, 1, 5, 5, dtype=getattr(npconv, float_dtype))
    assert models[1].stem(x).dtype == getattr(npconv, float_dtype)


def test_register_buffer_and_parameter_rules() -> None:
    for library in LIBRARIES:
        module = library.nn.Module()
        module.register_buffer("kept", library.zeros(2))
        module.register_buffer("dropped", library.zeros(2), persistent=False)
        module.register_buffer("empty", None)
        module.weight = library.nn.Parameter(library.ones(2))
        assert list(module.state_dict()) == ["weight", "kept"]
        assert names(module.named_buffers()) == ["kept", "dropped"]
        with pytest.raises(KeyError):
            module.register_buffer("a.b", library.zeros(1))
        with pytest.raises(TypeError):
            module.register_buffer("bad", [1, 2])
        with pytest.raises(TypeError):
            module.weight = library.zeros(2)
        module.weight = None
        assert list(module.state_dict()) == ["kept"]
        del module.kept
        assert list(module.state_dict()) == []


def test_reassignment_keeps_position_and_names_clash_like_torch(models: tuple[Any, Any]) -> None:
    for library, model in zip(LIBRARIES, models):
        model.stem = library.nn.Conv2d(1, 2, 5)
        model.blocks[0].conv.weight = library.nn.Parameter(library.zeros(2, 2, 3, 3))
        model.blocks[0].register_buffer("running", library.ones(2))
        model.heads["up"] = library.nn.Conv2d(2, 1, 1)
    reference, ours = models
    assert repr(ours) == repr(reference)
    assert list(ours.state_dict()) == list(reference.state_dict())
    for library, model in zip(LIBRARIES, models):
        with pytest.raises(KeyError, match="attribute 'training' already exists"):
            model.register_buffer("training", library.zeros(1))
        with pytest.raises(KeyError, match="attribute 'running' already exists"):
            model.blocks[0].register_parameter("running", None)
        with pytest.raises(KeyError, match="attribute 'forward' already exists"):
            model.add_module("forward", library.nn.Conv1d(1, 1, 1))


def test_parameter_is_a_tensor_that_requires_grad_and_shares_memory() -> None:
    data = npconv.zeros(3)
    param = npconv.nn.Parameter(data)
    assert isinstance(param, npconv.Tensor) and param.requires_grad and param.is_leaf
    param.detach().numpy()[0] = 5.0
    assert data.numpy()[0] == 5.0
    assert not npconv.nn.Parameter(npconv.zeros(2), requires_grad=False).requires_grad
    assert repr(param).startswith("Parameter containing:\ntensor(")
    assert repr(torch.nn.Parameter(torch.zeros(3))).startswith("Parameter containing:\ntensor(")


def test_forward_runs_through_call_and_missing_forward_raises() -> None:
    model = build(npconv)
    x = npconv.randn(1, 2, 6, 6)
    np.testing.assert_array_equal(model.blocks[0](x).detach().numpy(), model.blocks[0].forward(x).detach().numpy())
    chain = npconv.nn.Sequential(npconv.nn.Conv2d(1, 2, 3), npconv.nn.Conv2d(2, 3, 3, padding=1))
    assert chain(npconv.randn(2, 1, 7, 7)).shape == (2, 3, 5, 5)
    with pytest.raises(NotImplementedError, match='missing the required "forward" function'):
        npconv.nn.Module()(x)


# ----------------------------------------------------------------------------- containers


def sequential_operations(library: ModuleType) -> list[str]:
    """The same list operations on a Sequential; returns the reprs seen along the way."""
    nn = library.nn
    seen = []
    model = nn.Sequential(nn.Conv1d(1, 2, 1), nn.Conv1d(2, 3, 1), nn.Conv1d(3, 4, 1), nn.Conv1d(4, 5, 1))
    seen += [len(model), repr(model[0]), repr(model[-1]), repr(model[1:3]), repr(model[::2]), repr(model[-2:])]
    model.append(nn.Conv1d(5, 6, 1))
    seen.append(repr(model))
    del model[1]
    seen.append(repr(model))
    del model[1:3]
    seen.append(repr(model))
    model[0] = nn.Conv2d(1, 1, 1)
    model.insert(1, nn.Conv3d(1, 1, 1))
    model.insert(-1, nn.ConvTranspose1d(1, 1, 1))
    model.extend([nn.Conv1d(7, 7, 1)])
    seen.append(repr(model))
    seen.append(repr(model.pop(0)))
    seen += [repr(model), len(model), [type(m).__name__ for m in model]]
    for bad in (7, -8):
        try:
            model[bad]
        except IndexError as error:
            seen.append(str(error))
    return seen


def test_sequential_indexing_slicing_len_append_match_torch() -> None:
    assert sequential_operations(npconv) == sequential_operations(torch)


def module_list_operations(library: ModuleType) -> list[Any]:
    nn = library.nn
    seen: list[Any] = []
    layers = nn.ModuleList([nn.Conv1d(1, 1, 1) for _ in range(3)])
    seen += [repr(layers), len(layers), repr(layers[-1]), repr(layers[1:])]
    layers.append(nn.Conv2d(1, 1, 1))
    layers.extend([nn.Conv3d(1, 1, 1), nn.Conv3d(1, 1, 1)])
    layers.insert(1, nn.ConvTranspose1d(1, 1, 1))
    seen.append(repr(layers))
    layers[0] = nn.Conv2d(2, 2, 2)
    del layers[2]
    seen.append(repr(layers))
    seen.append(repr(layers.pop(-1)))
    layers += [nn.Conv1d(3, 3, 3)]
    seen += [repr(layers), repr(layers + nn.ModuleList([nn.Conv1d(4, 4, 4)])), names(layers.named_parameters())]
    seen.append([type(layer).__name__ for layer in layers])
    for bad in (len(layers), -len(layers) - 1):
        try:
            layers[bad]
        except IndexError as error:
            seen.append(str(error))
    seen.append(repr(nn.ModuleList()))
    return seen


def test_module_list_matches_torch() -> None:
    assert module_list_operations(npconv) == module_list_operations(torch)


def module_dict_operations(library: ModuleType) -> list[Any]:
    nn = library.nn
    seen: list[Any] = []
    layers = nn.ModuleDict({"conv": nn.Conv2d(1, 2, 3), "up": nn.ConvTranspose2d(2, 1, 2)})
    layers.update([("pool", nn.Conv1d(1, 1, 1))])
    layers["deep"] = nn.Conv3d(1, 1, 1)
    seen += [repr(layers), len(layers), list(layers.keys()), list(layers), "conv" in layers, "nope" in layers]
    seen += [[type(m).__name__ for m in layers.values()], [key for key, _ in layers.items()]]
    seen.append(repr(layers.pop("up")))
    del layers["pool"]
    seen += [repr(layers), names(layers.named_parameters()), list(layers.state_dict())]
    layers.clear()
    seen += [repr(layers), len(layers)]
    return seen


def test_module_dict_matches_torch() -> None:
    assert module_dict_operations(npconv) == module_dict_operations(torch)
