"""``npconv shape`` and ``npconv.summary`` against PyTorch: output shapes, parameter counts, MACs, receptive
fields and jumps for generated layers, layer chains and whole architectures; CLI messages and exit codes."""

from __future__ import annotations

import contextlib
import io
import math
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given
from hypothesis import strategies as st

import architectures  # tests/architectures.py (pytest puts tests/ on sys.path)
import npconv
from npconv.cli import main
from npconv.explain import analyze, parse_spec, summary
from npconv.explain.calculator import known_layers


def spec_text(name: str, args: tuple, kwargs: dict) -> str:
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"


def run_spec(spec: str, shape: tuple[int, ...]):
    return analyze(parse_spec(spec, known_layers()), shape)


# --------------------------------------------------------------------------------------------- generated layers
def _conv_case(rng: np.random.Generator, ndim: int, transposed: bool) -> tuple:
    groups = int(rng.choice([1, 1, 2, 3]))
    in_channels, out_channels = groups * int(rng.integers(1, 4)), groups * int(rng.integers(1, 4))
    kernel = tuple(int(k) for k in rng.integers(1, 5, ndim))
    stride = tuple(int(s) for s in rng.integers(1, 4, ndim))
    dilation = tuple(int(d) for d in rng.integers(1, 3, ndim))
    spatial = tuple(int(d * (k - 1) + 1 + rng.integers(0, 9)) for k, d in zip(kernel, dilation))
    kwargs = {
        "stride": stride if rng.random() < 0.7 else stride[0],
        "dilation": dilation,
        "groups": groups,
        "bias": bool(rng.random() < 0.6),
    }
    padding_choice = rng.integers(0, 4)
    if transposed:
        kwargs["padding"] = (
            tuple(int(rng.integers(0, d * (k - 1) + 1)) for k, d in zip(kernel, dilation)) if padding_choice else 0
        )
        kwargs["output_padding"] = tuple(int(rng.integers(0, max(s, d))) for s, d in zip(stride, dilation))
    elif padding_choice == 0:
        kwargs["padding"] = "valid"
    elif padding_choice == 1:
        kwargs["padding"] = "same"
        kwargs["stride"] = 1
    else:
        kwargs["padding"] = tuple(int(p) for p in rng.integers(0, 4, ndim))
    name = f"ConvTranspose{ndim}d" if transposed else f"Conv{ndim}d"
    return name, (in_channels, out_channels, kernel), kwargs, (2, in_channels, *spatial)


def _pool_case(rng: np.random.Generator, ndim: int) -> tuple:
    is_max = bool(rng.random() < 0.5)
    kernel = tuple(int(k) for k in rng.integers(1, 5, ndim))
    kwargs = {
        "stride": tuple(int(s) for s in rng.integers(1, 4, ndim)) if rng.random() < 0.7 else None,
        "padding": tuple(int(rng.integers(0, k // 2 + 1)) for k in kernel),
        "ceil_mode": bool(rng.random() < 0.5),
    }
    dilation = (1,) * ndim
    if is_max:
        dilation = tuple(int(d) for d in rng.integers(1, 3, ndim))
        kwargs["dilation"] = dilation
    spatial = tuple(int(d * (k - 1) + 1 + rng.integers(0, 8)) for k, d in zip(kernel, dilation))
    return f"{'Max' if is_max else 'Avg'}Pool{ndim}d", (kernel,), kwargs, (2, 3, *spatial)


def _other_case(rng: np.random.Generator, index: int) -> tuple:
    ndim = int(rng.integers(1, 4))
    spatial = tuple(int(n) for n in rng.integers(2, 9, ndim))
    kind = index % 6
    if kind == 0:
        sizes = tuple(int(rng.integers(1, 6)) if rng.random() < 0.8 else None for _ in range(ndim))
        return f"Adaptive{'Avg' if rng.random() < 0.5 else 'Max'}Pool{ndim}d", (sizes,), {}, (2, 3, *spatial)
    if kind == 1:
        return f"BatchNorm{ndim}d", (3,), {"affine": bool(rng.random() < 0.7)}, (2, 3, *spatial)
    if kind == 2:
        return "Linear", (spatial[-1], 5), {"bias": bool(rng.random() < 0.5)}, (2, 3, *spatial)
    if kind == 3:
        return "Flatten", (), {"start_dim": int(rng.integers(0, 2))}, (2, 3, *spatial)
    if kind == 4:
        mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[ndim] if rng.random() < 0.5 else "nearest"
        if rng.random() < 0.5:
            return (
                "Upsample",
                (),
                {"scale_factor": float(rng.choice([0.5, 1.5, 2.0, 3.0])), "mode": mode},
                (2, 3, *spatial),
            )
        return (
            "Upsample",
            (),
            {"size": tuple(int(n) for n in rng.integers(1, 12, ndim)), "mode": mode},
            (2, 3, *spatial),
        )
    return str(rng.choice(["ReLU", "Dropout", "Identity", "Sigmoid", "GELU"])), (), {}, (2, 3, *spatial)


def generated_layers() -> list[tuple]:
    rng = np.random.default_rng(2024)
    cases = []
    for index in range(90):
        ndim = index % 3 + 1
        if index < 30:
            cases.append(_conv_case(rng, ndim, transposed=False))
        elif index < 55:
            cases.append(_conv_case(rng, ndim, transposed=True))
        elif index < 75:
            cases.append(_pool_case(rng, ndim))
        else:
            cases.append(_other_case(rng, index))
    cases.append(("GroupNorm", (2, 4), {}, (2, 4, 5, 5)))
    cases.append(("PReLU", (3,), {}, (2, 3, 5)))
    return cases


def expected_macs(name: str, layer: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    if name.startswith("ConvTranspose"):
        return x.numel() * layer.weight.shape[1] * math.prod(layer.weight.shape[2:])
    if name.startswith("Conv"):
        return y.numel() * layer.weight.shape[1] * math.prod(layer.weight.shape[2:])
    if name == "Linear":
        return y.numel() * layer.in_features
    return 0


def expected_field(name: str, args: tuple, kwargs: dict, ndim: int) -> tuple[tuple, tuple] | None:
    """Receptive field and jump of one conv or pooling layer from its definition: a window of
    dilation·(kernel − 1) + 1 input pixels, stepping by the stride."""

    def per_dim(value, default):
        value = default if value is None else value
        return tuple(value) if isinstance(value, (tuple, list)) else (value,) * ndim

    if name.startswith("Conv") and not name.startswith("ConvTranspose"):
        kernel = per_dim(args[2], None)
    elif "Pool" in name and not name.startswith("Adaptive"):
        kernel = per_dim(args[0], None)
    else:
        return None
    stride = per_dim(kwargs.get("stride"), kernel if "Pool" in name else 1)
    dilation = per_dim(kwargs.get("dilation"), 1)
    return tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation)), stride


@pytest.mark.parametrize("case", generated_layers(), ids=lambda case: spec_text(*case[:3]) + f"@{case[3]}")
def test_generated_layer_matches_torch(case: tuple) -> None:
    name, args, kwargs, shape = case
    layer = getattr(torch.nn, name)(*args, **kwargs).eval()
    x = torch.zeros(shape)
    with torch.no_grad():
        y = layer(x)
    report = run_spec(spec_text(name, args, kwargs), shape).layers[0]
    assert report.output_shape == tuple(y.shape)
    assert report.params == sum(p.numel() for p in layer.parameters())
    weight = getattr(layer, "weight", None)
    assert report.weight_shape == (tuple(weight.shape) if isinstance(weight, torch.Tensor) else None)
    bias = getattr(layer, "bias", None)
    assert report.bias_shape == (tuple(bias.shape) if isinstance(bias, torch.Tensor) else None)
    assert report.macs == expected_macs(name, layer, x, y)
    field = expected_field(name, args, kwargs, len(shape) - 2)
    if field is not None:
        assert report.receptive_field == tuple(Fraction(v) for v in field[0])
        assert report.jump == tuple(Fraction(v) for v in field[1])
    if name.startswith("Conv"):
        # the printed formula evaluates to the printed size: "... = 112"
        assert [int(text.rsplit("= ", 1)[1].split()[0]) for text in report.formulas] == list(y.shape[2:])


# --------------------------------------------------------------------------------------------- padding extensions
@pytest.mark.parametrize(
    ("spec", "shape", "torch_pads"),
    [
        ("Conv2d(2, 3, 3, padding=((1, 2), (0, 3)))", (1, 2, 7, 6), (0, 3, 1, 2)),
        ("Conv1d(2, 3, 4, padding='causal', dilation=2)", (1, 2, 9), (6, 0)),
        ("Conv2d(2, 3, (3, 2), stride=(2, 3), padding='same_upper')", (1, 2, 8, 7), None),
        ("Conv2d(2, 3, (4, 3), stride=(3, 2), padding='same_lower', dilation=(1, 2))", (1, 2, 10, 9), None),
        ("Conv2d(2, 3, 4, padding='same', dilation=(1, 2))", (1, 2, 6, 11), None),
    ],
)
def test_padding_extensions(spec: str, shape: tuple[int, ...], torch_pads: tuple | None) -> None:
    report = run_spec(spec, shape).layers[0]
    call = parse_spec(spec, known_layers())[0]
    kwargs = dict(call.kwargs)
    padding = kwargs.pop("padding")
    ndim = len(shape) - 2
    layer = getattr(torch.nn, call.name)(*call.args, padding=0, **kwargs)
    spatial = shape[2:]
    if torch_pads is not None:  # explicit (lo, hi) pairs: torch pads first, then a valid conv
        expected = tuple(layer(TF.pad(torch.zeros(shape), torch_pads)).shape)
    elif padding == "same":
        expected = tuple(
            torch.nn.functional.conv2d(torch.zeros(shape), layer.weight, padding="same", dilation=layer.dilation).shape
        )
    else:  # TensorFlow's SAME: out = ceil(in / stride)
        stride = layer.stride
        expected = (shape[0], layer.out_channels, *(-(-n // s) for n, s in zip(spatial, stride)))
    assert report.output_shape == expected
    assert len(report.formulas) == ndim
    assert all("+" in text and repr(padding) in text for text in report.formulas if isinstance(padding, str))


def test_formula_text_of_the_stem_example() -> None:
    report = run_spec("Conv2d(3, 64, 7, stride=2, padding=3)", (1, 3, 224, 224)).layers[0]
    assert report.formulas[0] == "H: floor((224 + 2·3 − 1·(7 − 1) − 1) / 2) + 1 = 112"
    transposed = run_spec("ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1)", (1, 8, 16, 16)).layers[0]
    assert transposed.formulas[1] == "W: (16 − 1)·2 − 2·1 + 1·(3 − 1) + 1 + 1 = 32"


# --------------------------------------------------------------------------------------------- receptive fields
def _torch_extent(model: torch.nn.Module, length: int) -> int:
    """Largest receptive field over the outputs of a 1-d model, measured: feed one impulse per input
    position (a batch of one-hot inputs) and take, for each output, the span of impulses it responds to
    (all weights are positive, so nothing cancels)."""
    with torch.no_grad():
        responses = model(torch.eye(length, dtype=torch.float64).view(length, 1, length))
    reaches = (responses.abs().sum(dim=1) != 0).T  # (output position, input position)
    positions = torch.arange(length).expand_as(reaches)
    first = torch.where(reaches, positions, length).min(dim=1).values
    last = torch.where(reaches, positions, -1).max(dim=1).values
    return int((last - first + 1).max())


def _positive(model: torch.nn.Module) -> torch.nn.Module:
    model = model.double()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            parameter.fill_(0.0 if name.endswith("bias") else 1.0)
    return model


@pytest.mark.parametrize("kernel", [1, 2, 3, 4, 5])
@pytest.mark.parametrize(("stride", "dilation"), [(1, 1), (3, 1), (2, 2), (2, 3), (4, 6)])
def test_transposed_receptive_field_is_measured_extent(kernel: int, stride: int, dilation: int) -> None:
    spec = f"ConvTranspose1d(1, 1, {kernel}, stride={stride}, dilation={dilation})"
    report = run_spec(spec, (1, 1, 12)).layers[0]
    measured = _torch_extent(_positive(torch.nn.ConvTranspose1d(1, 1, kernel, stride=stride, dilation=dilation)), 12)
    assert report.receptive_field == (measured,)
    assert report.jump == (Fraction(1, stride),)


def random_chain(rng: np.random.Generator) -> list[tuple[str, tuple, dict]]:
    layers, channels = [], 1
    for _ in range(int(rng.integers(2, 5))):
        kernel, stride, dilation = int(rng.integers(1, 5)), int(rng.integers(1, 3)), int(rng.integers(1, 3))
        if rng.random() < 0.65:
            out = int(rng.integers(1, 3))
            kwargs = {"stride": stride, "dilation": dilation, "padding": int(rng.integers(0, 3))}
            layers.append(("Conv1d", (channels, out, kernel), kwargs))
            channels = out
        else:
            layers.append(
                ("AvgPool1d", (kernel,), {"stride": stride, "padding": int(rng.integers(0, kernel // 2 + 1))})
            )
    return layers


@pytest.mark.parametrize("seed", range(8))
def test_chain_receptive_field_jump_and_shapes(seed: int) -> None:
    rng = np.random.default_rng(seed)
    layers = random_chain(rng)
    length = 80
    result = run_spec("; ".join(spec_text(*layer) for layer in layers), (1, 1, length))
    modules = [getattr(torch.nn, name)(*args, **kwargs) for name, args, kwargs in layers]
    model = _positive(torch.nn.Sequential(*modules))
    x = torch.zeros(1, 1, length, dtype=torch.float64)
    field, jump = 1, 1
    for module, report in zip(modules, result.layers):
        x = module(x)
        kernel, stride = module.kernel_size[0], module.stride[0]
        dilation = module.dilation[0] if hasattr(module, "dilation") else 1
        field, jump = field + dilation * (kernel - 1) * jump, jump * stride  # Araujo et al., Distill 2019
        assert report.output_shape == tuple(x.shape)
        assert report.receptive_field == (field,) and report.jump == (jump,)
    assert _torch_extent(model, length) == field


# --------------------------------------------------------------------------------------------- architectures
def torch_leaf_outputs(model: torch.nn.Module, shape: tuple[int, ...]) -> list[tuple[str, tuple[int, ...], int]]:
    """(module path, output shape, MACs) per leaf call, in call order, with torch forward hooks."""
    records = []
    handles = []
    for path, module in model.named_modules():
        if next(module.children(), None) is None:

            def hook(module, inputs, output, path=path):
                name = type(module).__name__
                records.append((path, tuple(output.shape), expected_macs(name, module, inputs[0], output)))

            handles.append(module.register_forward_hook(hook))
    with torch.no_grad():
        model.eval()(torch.zeros(shape))
    for handle in handles:
        handle.remove()
    return records


@pytest.mark.parametrize(
    ("name", "shape", "documented"),
    [
        ("resnet18", (1, 3, 32, 32), architectures.RESNET18_PARAMS),
        ("vgg11_cifar", (1, 3, 32, 32), None),
        ("unet", (2, 1, 16, 16), None),
        ("alexnet_features", (1, 3, 127, 127), architectures.ALEXNET_FEATURES_PARAMS),
    ],
)
def test_architecture_summary_matches_torch(name: str, shape: tuple[int, ...], documented: int | None) -> None:
    model = architectures.build(npconv, name)
    model.train()
    result = summary(model, shape, file=None)
    reference = architectures.build(torch, name)
    expected = torch_leaf_outputs(reference, shape)
    assert [(r.name, r.output_shape, r.macs) for r in result.layers] == expected
    torch_params = sum(p.numel() for p in reference.parameters())
    assert result.total_params == result.trainable_params == torch_params
    if documented is not None:
        assert torch_params == documented
    torch_modules = dict(reference.named_modules())
    for report in result.layers:
        own = sum(p.numel() for p in torch_modules[report.name].parameters(recurse=False))
        assert report.params == (0 if report.shared else own)
    assert result.output_shape == expected[-1][1]
    assert result.total_macs == sum(macs for _, _, macs in expected)
    assert model.training and all(m.training for m in model.modules())
    assert all("forward" not in m.__dict__ for m in model.modules())


def test_resnet18_receptive_field() -> None:
    result = summary(architectures.build(npconv, "resnet18"), (1, 3, 32, 32), file=None)
    by_name = {r.name: r for r in result.layers}
    # published receptive field of ResNet-18's last conv block: 435, jump 32
    assert by_name["layer4.1.conv2"].receptive_field == (435, 435)
    assert by_name["layer4.1.conv2"].jump == (32, 32)
    assert result.layers[-1].receptive_field == "all"


def test_spec_alexnet_features_at_224() -> None:
    result = run_spec(architectures.ALEXNET_FEATURES_SPEC, (1, 3, 224, 224))
    expected = torch_leaf_outputs(architectures.build(torch, "alexnet_features"), (1, 3, 224, 224))
    assert [r.output_shape for r in result.layers] == [shape for _, shape, _ in expected]
    assert result.total_macs == sum(macs for _, _, macs in expected)
    assert result.total_params == architectures.ALEXNET_FEATURES_PARAMS
    assert result.layers[-1].receptive_field == (195, 195) and result.layers[-1].jump == (32, 32)


def test_spec_vgg11_without_building_it() -> None:
    result = run_spec(architectures.VGG11_SPEC, (1, 3, 64, 64))
    with torch.device("meta"):  # built without initialising its 133 M parameters
        reference = architectures.build(torch, "vgg11")
    reference = reference.to_empty(device="cpu")
    expected = torch_leaf_outputs(reference, (1, 3, 64, 64))
    assert [r.output_shape for r in result.layers] == [shape for _, shape, _ in expected]
    assert result.total_params == sum(p.numel() for p in reference.parameters()) == architectures.VGG11_PARAMS


# --------------------------------------------------------------------------------------------- summary API
def test_summary_prints_and_returns_the_table() -> None:
    model = npconv.nn.Sequential(npconv.nn.Conv2d(3, 8, 3, padding=1), npconv.nn.ReLU(), npconv.nn.MaxPool2d(2))
    stream = io.StringIO()
    result = summary(model, (1, 3, 16, 16), show_formulas=True, file=stream)
    printed = stream.getvalue()
    assert printed.strip() == str(result).strip()
    assert "H: floor((16 + 2·1 − 1·(3 − 1) − 1) / 1) + 1 = 16" in printed
    assert "weight (8, 3, 3, 3), bias (8,)" in printed
    assert f"Total params: {8 * 27 + 8:,}" in printed
    assert result.output_shape == (1, 8, 8, 8)


def test_summary_of_a_model_with_two_inputs_and_unknown_leaf() -> None:
    class Scale(npconv.nn.Module):
        def forward(self, x):
            return x[:, :, ::2] * 2

    class Two(npconv.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = npconv.nn.Conv1d(2, 4, 3)
            self.b = npconv.nn.Conv1d(2, 4, 3)
            self.scale = Scale()

        def forward(self, x, y):
            return self.scale(self.a(x) + self.b(y))

    result = summary(Two(), [(1, 2, 10), (1, 2, 10)], file=None)
    assert [r.output_shape for r in result.layers] == [(1, 4, 8), (1, 4, 8), (1, 4, 4)]
    assert result.layers[-1].receptive_field == "?"
    assert result.total_params == 2 * (4 * 2 * 3 + 4)


# --------------------------------------------------------------------------------------------- CLI
def test_cli_prints_the_table(capsys: pytest.CaptureFixture) -> None:
    code = main(
        ["shape", "Conv2d(3, 64, 7, stride=2, padding=3); MaxPool2d(3, stride=2, padding=1)", "--input", "1,3,224,224"]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "floor((224 + 2·3 − 1·(7 − 1) − 1) / 2) + 1 = 112" in out
    assert "floor((112 + 2·1 − 1·(3 − 1) − 1) / 2) + 1 = 56" in out
    assert "(1, 64, 56, 56)" in out and "9,472" in out and "11×11" in out and "4×4" in out


@pytest.mark.parametrize(
    ("spec", "shape", "parts"),
    [
        ("Conv2d(3, 8, 7)", "1,3,5,9", ["layer 1", "`Conv2d(3, 8, 7)`", "dim H", "5 + 0 + 0"]),
        ("Conv2d(3, 8, 3, padding=(0, 1), dilation=(1, 6))", "1,3,9,9", ["dim W", "13"]),
        (
            "Conv2d(3, 16, 3); Conv2d(8, 4, 3)",
            "1,3,9,9",
            ["layer 2", "`Conv2d(8, 4, 3)`", "16 channels", "in_channels=8"],
        ),
        ("Conv2d(3, 6, 3, groups=4)", "1,3,9,9", ["layer 1", "divisible by groups"]),
        ("MaxPool2d(5)", "1,1,4,8", ["layer 1", "dim H"]),
        ("Flatten(); Linear(10, 2)", "1,3,2,2", ["layer 2", "12", "in_features=10"]),
        ("Conv2d(3, 4, 3, stride=2, padding='same')", "1,3,9,9", ["layer 1", "same"]),
        ("Conv4d(3, 4, 3)", "1,3,9,9", ["layer 1", "`Conv4d` is not a known layer"]),
        ("Conv2d(3, 4)", "1,3,9,9", ["layer 1", "kernel_size"]),
        ("Conv2d(3, 4, 3", "1,3,9,9", ["SPEC is not valid"]),
        ("", "1,3,9,9", ["SPEC is empty"]),
        ("Conv2d(3, 4, kernel_size=k)", "1,3,9,9", ["layer 1", "kernel_size", "`k` is not a literal"]),
        ("Conv2d(3, 4, 1 + 2)", "1,3,9,9", ["argument 3", "not a literal"]),
        ("Conv2d(*[3, 4, 3])", "1,3,9,9", ["unpacking"]),
        ("Conv2d(3, 4, 3, **{'bias': False})", "1,3,9,9", ["unpacking"]),
        ("import os", "1,3,9,9", ["layer 1", "constructor call"]),
        ("ReLU(); os.system('true')", "1,3,9,9", ["layer 2", "not a known layer"]),
        ("Conv2d(3, 4, 3).__class__", "1,3,9,9", ["layer 1", "constructor call"]),
        ("ReLU(); Conv2d(3, 4, 3, stride=0)", "1,3,9,9", ["layer 2", "stride"]),
        ("Upsample(scale_factor='x')", "1,3,9,9", ["layer 1", "Upsample"]),
        ("Dropout(p=2)", "1,3,9,9", ["layer 1", "between 0 and 1"]),
        ("ConvTranspose2d(3, 4, 3, output_padding=2)", "1,3,9,9", ["layer 1", "output padding"]),
        ("Conv1d(3, 4, 3)", "1,3,9,9", ["layer 1", "3-d input"]),
    ],
)
def test_cli_errors(spec: str, shape: str, parts: list[str], capsys: pytest.CaptureFixture) -> None:
    code = main(["shape", spec, "--input", shape])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert "Traceback" not in captured.err
    for part in parts:
        assert part in captured.err


literals = st.recursive(
    st.one_of(st.integers(-2, 6), st.sampled_from(["same", "valid", "causal", "x", None, True, 0.5, 2.0])),
    lambda inner: st.tuples(inner, inner) | st.lists(inner, max_size=3),
    max_leaves=4,
)


@given(
    name=st.sampled_from(known_layers()),
    args=st.lists(literals, max_size=4),
    shape=st.lists(st.integers(1, 6), min_size=2, max_size=5),
)
def test_cli_never_raises_on_arbitrary_literals(name: str, args: list, shape: list[int]) -> None:
    spec = f"{name}({', '.join(repr(a) for a in args)})"
    output = io.StringIO()
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        code = main(["shape", spec, "--input", ",".join(map(str, shape))])
    assert code in (0, 2)
    assert "Traceback" not in output.getvalue()


def test_cli_bad_input_shape_exits_2() -> None:
    with pytest.raises(SystemExit) as raised:
        main(["shape", "ReLU()", "--input", "1,three,4"])
    assert raised.value.code == 2


def test_injection_does_not_execute(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    target = tmp_path / "created"
    touch = f"__import__('pathlib').Path({str(target)!r}).touch()"
    completed = subprocess.run(
        [sys.executable, "-m", "npconv", "shape", touch, "--input", "1,3,8,8"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 2
    assert "Traceback" not in completed.stderr and "not a known layer" in completed.stderr
    for spec in (f"Conv2d(3, 4, {touch})", f"Conv2d(3, 4, 3, padding=[x for x in {touch}])", f"ReLU(); {touch}"):
        assert main(["shape", spec, "--input", "1,3,8,8"]) == 2
        assert "Traceback" not in capsys.readouterr().err
    assert not target.exists()
