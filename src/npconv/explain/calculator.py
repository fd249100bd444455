"""The shape calculator behind ``npconv shape`` and ``npconv.summary``.

For each layer it reports the output shape, the output-size formula per spatial dim with the numbers filled
in, the weight and bias shapes, the parameter count, the multiply-accumulates (MACs), and the receptive
field and jump (cumulative stride) of the output, by the standard recurrence

    receptive_field_out = receptive_field_in + (effective_kernel − 1) · jump_in
    jump_out            = jump_in · stride

Every convolution rule (argument normalisation, validation, output size, MACs) comes from
:mod:`npconv.conv.arguments`; this module only adds the pooling, resizing, flattening and linear layers
and the presentation.

A transposed convolution or an upsampling divides the jump (it becomes a fraction of an input pixel); the
receptive field stays the recurrence's value, which for such a chain is the usual approximation.
"""

from __future__ import annotations

import inspect
import math
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, TextIO

import numpy as np

from ..conv import arguments
from ..nn.functional import pooling
from .spec import LayerCall, SpecError

SPATIAL_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}

ELEMENTWISE_LAYERS = frozenset(
    {
        "Identity",
        "ReLU",
        "ReLU6",
        "LeakyReLU",
        "PReLU",
        "ELU",
        "CELU",
        "SELU",
        "GELU",
        "SiLU",
        "Mish",
        "Sigmoid",
        "Tanh",
        "Hardtanh",
        "Hardswish",
        "Hardsigmoid",
        "Softplus",
        "Softsign",
        "Tanhshrink",
        "LogSigmoid",
        "Softmax",
        "LogSoftmax",
        "Softmin",
        "Threshold",
        "Dropout",
        "Dropout1d",
        "Dropout2d",
        "Dropout3d",
        "AlphaDropout",
        "FeatureAlphaDropout",
        "LocalResponseNorm",
    }
)
NAMED_LAYERS = frozenset(
    {"Linear", "Flatten", "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d", "GroupNorm", "LayerNorm"}
)
_PATTERNS = {
    "conv": re.compile(r"Conv([123])d"),
    "conv_transpose": re.compile(r"ConvTranspose([123])d"),
    "pool": re.compile(r"(Max|Avg)Pool([123])d"),
    "adaptive_pool": re.compile(r"Adaptive(Max|Avg)Pool([123])d"),
    "batch_norm": re.compile(r"BatchNorm([123])d"),
    "instance_norm": re.compile(r"InstanceNorm([123])d"),
}
Shape = tuple[int, ...]


class LayerError(ValueError):
    """A layer that cannot run on its input (kernel larger than the padded input, channel mismatch, a bad
    argument); the message names the layer (index and text) and, where it applies, the dim."""


def layer_kind(name: str) -> str | None:
    """The calculator's category for a layer class name, or None when it has no rule for it."""
    for kind, pattern in _PATTERNS.items():
        if pattern.fullmatch(name):
            return kind
    if name in ELEMENTWISE_LAYERS:
        return "elementwise"
    if name in NAMED_LAYERS:
        return name
    return None


def known_layers() -> list[str]:
    """The layer names that ``npconv shape`` accepts: layers of ``npconv.nn`` the calculator has a rule for."""
    from .. import nn

    return sorted(name for name in dir(nn) if layer_kind(name) is not None and inspect.isclass(getattr(nn, name)))


# --------------------------------------------------------------------------------------------- results
@dataclass
class LayerReport:
    """One row of the table. ``receptive_field`` and ``jump`` hold one value per spatial dim of the
    output, or the string ``"all"`` (the output sees the whole input) or ``"?"`` (unknown layer)."""

    index: int
    name: str
    kind: str
    input_shape: Shape
    output_shape: Shape
    formulas: list[str] = field(default_factory=list)
    weight_shape: Shape | None = None
    bias_shape: Shape | None = None
    params: int = 0
    macs: int = 0
    receptive_field: tuple[Fraction, ...] | str = ()
    jump: tuple[Fraction, ...] | str = ()
    shared: bool = False


@dataclass
class Summary:
    """The layers of a model or a SPEC with totals; ``str(summary)`` is the printed table."""

    layers: list[LayerReport]
    input_shape: Shape
    output_shape: Shape
    total_params: int
    trainable_params: int
    total_macs: int
    show_formulas: bool = True

    def __str__(self) -> str:
        return render_table(self)


# --------------------------------------------------------------------------------------------- helpers
def _fmt_shape(shape: Sequence[int] | None) -> str:
    if shape is None:
        return "—"
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def _fmt_number(value: Fraction | int) -> str:
    value = Fraction(value)
    if value.denominator == 1:
        return str(value.numerator)
    return f"{float(value):.3g}"


def _fmt_field(values: tuple[Fraction, ...] | str) -> str:
    if isinstance(values, str):
        return values
    return "×".join(_fmt_number(v) for v in values) if values else "—"


def _human(count: int) -> str:
    for unit, size in (("G", 10**9), ("M", 10**6), ("k", 10**3)):
        if abs(count) >= size:
            return f"{count / size:.2f} {unit}"
    return f"{count} "


def _pad_text(lo: int, hi: int, explicit_pair: bool) -> str:
    return f"{lo} + {hi}" if explicit_pair or lo != hi else f"2·{lo}"


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _require_positive_int(value: Any, name: str, layer: str) -> int:
    if not _is_int(value) or value <= 0:
        raise LayerError(f"{layer}: {name} must be a positive integer, but got {name}={value!r}")
    return int(value)


def _require_positive(layer: str, **values: tuple[int, ...]) -> None:
    for name, numbers in values.items():
        if any(n <= 0 for n in numbers):
            raise LayerError(f"{layer}: {name} must be positive, but got {name}={list(numbers)}")


def _dim_names(ndim: int) -> tuple[str, ...]:
    return SPATIAL_NAMES.get(ndim, tuple(f"dim{i}" for i in range(ndim)))


def _check_rank(layer: str, input_shape: Shape, ranks: Sequence[int]) -> None:
    if len(input_shape) not in ranks:
        expected = " or ".join(f"{r}-d" for r in ranks)
        raise LayerError(f"{layer} expects a {expected} input, but got input of shape {_fmt_shape(input_shape)}")


def _channel_axis(input_shape: Shape, ndim: int) -> int:
    return 1 if len(input_shape) == ndim + 2 else 0


@dataclass
class LayerMath:
    """What a rule computes for one layer. ``field_steps`` is one (span, stride) per spatial dim — the
    receptive field grows by span·jump_in and the jump is multiplied by stride — or ``"keep"`` (shape-
    preserving) or ``"all"`` (every output sees the whole input)."""

    output_shape: Shape
    formulas: list[str] = field(default_factory=list)
    weight_shape: Shape | None = None
    bias_shape: Shape | None = None
    macs: int = 0
    field_steps: list[tuple[Fraction, Fraction]] | str = "keep"

    @property
    def params(self) -> int:
        return sum(math.prod(shape) for shape in (self.weight_shape, self.bias_shape) if shape is not None)


# --------------------------------------------------------------------------------------------- conv rules
def _check_conv_channels(config: dict[str, Any], layer: str, input_shape: Shape, ndim: int) -> tuple[int, int, int]:
    in_channels = _require_positive_int(config["in_channels"], "in_channels", layer)
    out_channels = _require_positive_int(config["out_channels"], "out_channels", layer)
    groups = _require_positive_int(config["groups"], "groups", layer)
    if in_channels % groups:
        raise LayerError(
            f"{layer}: in_channels must be divisible by groups (in_channels={in_channels}, groups={groups})"
        )
    if out_channels % groups:
        raise LayerError(
            f"{layer}: out_channels must be divisible by groups (out_channels={out_channels}, groups={groups})"
        )
    _check_rank(layer, input_shape, (ndim + 1, ndim + 2))
    channels = input_shape[_channel_axis(input_shape, ndim)]
    if channels != in_channels:
        raise LayerError(
            f"{layer}: channel mismatch: the input {_fmt_shape(input_shape)} has {channels} channels, but the "
            f"layer expects in_channels={in_channels}"
        )
    return in_channels, out_channels, groups


def _conv_rule(config: dict[str, Any], layer: str, input_shape: Shape, ndim: int) -> LayerMath:
    op = f"conv{ndim}d"
    in_channels, out_channels, groups = _check_conv_channels(config, layer, input_shape, ndim)
    try:
        kernel = arguments.expand_arg(config["kernel_size"], ndim, "kernel_size", op)
        stride = arguments.expand_arg(config["stride"], ndim, "stride", op)
        dilation = arguments.expand_arg(config["dilation"], ndim, "dilation", op)
        normalized = arguments.normalize_padding(config["padding"], ndim, op)
        _require_positive(layer, kernel_size=kernel, stride=stride, dilation=dilation)
        spatial = input_shape[-ndim:]
        pairs = arguments.resolve_conv_padding(normalized, spatial, kernel, stride, dilation)
    except LayerError:
        raise
    except (ValueError, RuntimeError, TypeError) as error:
        raise LayerError(f"{layer}: {error}") from None
    weight_shape = (out_channels, in_channels // groups, *kernel)
    bias_shape = (out_channels,) if config["bias"] else None
    outputs = arguments.conv_output_shape(spatial, kernel, stride, pairs, dilation)
    names = _dim_names(ndim)
    for name, size, k, d, (lo, hi), out in zip(names, spatial, kernel, dilation, pairs, outputs):
        if out < 1:
            raise LayerError(
                f"{layer}: dim {name}: the kernel is larger than the padded input: padded input "
                f"{size} + {lo} + {hi} = {size + lo + hi}, dilated kernel {d}·({k} − 1) + 1 = {d * (k - 1) + 1}"
            )
    try:
        call = arguments.check_conv(
            op, ndim, input_shape, weight_shape, bias_shape, stride, normalized, dilation, groups
        )
    except (ValueError, RuntimeError, TypeError) as error:
        raise LayerError(f"{layer}: {error}") from None
    explicit = isinstance(normalized, str) or any(lo != hi for lo, hi in pairs)
    note = f"   (padding={normalized!r})" if isinstance(normalized, str) else ""
    if config.get("padding_mode", "zeros") != "zeros":
        note += f"   (padding_mode={config['padding_mode']!r})"
    formulas = [
        f"{name}: floor(({size} + {_pad_text(lo, hi, explicit)} − {d}·({k} − 1) − 1) / {s}) + 1 = {out}{note}"
        for name, size, k, s, d, (lo, hi), out in zip(names, spatial, kernel, stride, dilation, pairs, outputs)
    ]
    return LayerMath(
        output_shape=call.output_shape,
        formulas=formulas,
        weight_shape=weight_shape,
        bias_shape=bias_shape,
        macs=arguments.macs(call, weight_shape),
        field_steps=[(Fraction(d * (k - 1)), Fraction(s)) for k, s, d in zip(kernel, stride, dilation)],
    )


def transposed_span(kernel: int, stride: int, dilation: int) -> int:
    """How many input positions (minus one) one output of a transposed conv reaches: the taps j of one
    output satisfy j ≡ j0 (mod stride / gcd), so at most ceil(k·g / stride) of them, dilation/g apart."""
    common = math.gcd(dilation, stride)
    return (dilation // common) * (-(-kernel * common // stride) - 1)


def _conv_transpose_rule(config: dict[str, Any], layer: str, input_shape: Shape, ndim: int) -> LayerMath:
    op = f"conv_transpose{ndim}d"
    in_channels, out_channels, groups = _check_conv_channels(config, layer, input_shape, ndim)
    try:
        kernel = arguments.expand_arg(config["kernel_size"], ndim, "kernel_size", op)
        stride = arguments.expand_arg(config["stride"], ndim, "stride", op)
        dilation = arguments.expand_arg(config["dilation"], ndim, "dilation", op)
        weight_shape = (in_channels, out_channels // groups, *kernel)
        bias_shape = (out_channels,) if config["bias"] else None
        call = arguments.check_conv_transpose(
            op,
            ndim,
            input_shape,
            weight_shape,
            bias_shape,
            stride,
            config["padding"],
            config["output_padding"],
            groups,
            dilation,
        )
        normalized = arguments.normalize_padding(config["padding"], ndim, op, arguments.CONV_TRANSPOSE_PADDING_STRINGS)
        if normalized == "same":
            pairs, extra = arguments.conv_transpose_same_padding(kernel, stride, dilation)
        else:
            pairs = [(0, 0)] * ndim if normalized == "valid" else list(normalized)
            extra = arguments.expand_arg(config["output_padding"], ndim, "output_padding", op)
    except (ValueError, RuntimeError, TypeError) as error:
        raise LayerError(f"{layer}: {error}") from None
    spatial = input_shape[-ndim:]
    outputs = call.output_shape[-ndim:]
    explicit = isinstance(normalized, str) or any(lo != hi for lo, hi in pairs)
    note = f"   (padding={normalized!r})" if isinstance(normalized, str) else ""
    formulas = []
    for name, size, k, s, d, (lo, hi), extra_size, out in zip(
        _dim_names(ndim), spatial, kernel, stride, dilation, pairs, extra, outputs
    ):
        padding_text = f"{lo} − {hi}" if explicit else f"2·{lo}"
        formulas.append(f"{name}: ({size} − 1)·{s} − {padding_text} + {d}·({k} − 1) + {extra_size} + 1 = {out}{note}")
    return LayerMath(
        output_shape=call.output_shape,
        formulas=formulas,
        weight_shape=weight_shape,
        bias_shape=bias_shape,
        macs=arguments.macs(call, weight_shape),
        field_steps=[(Fraction(transposed_span(k, s, d)), Fraction(1, s)) for k, s, d in zip(kernel, stride, dilation)],
    )


# --------------------------------------------------------------------------------------------- pooling
def _pool_rule(config: dict[str, Any], layer: str, input_shape: Shape, ndim: int, is_max: bool) -> LayerMath:
    """Max/avg pooling through ``npconv.nn.functional.pooling``'s ``check_pool`` and ``pool_output_size``
    (torch's rule: floor-or-ceil((in + 2·p − d·(k − 1) − 1) / s) + 1, and with ``ceil_mode`` one less
    when the last window would start inside the right padding)."""
    op = f"{'max' if is_max else 'avg'}_pool{ndim}d"
    _check_rank(layer, input_shape, (ndim + 1, ndim + 2))
    ceil_mode = config.get("ceil_mode", False)
    if not isinstance(ceil_mode, (bool, np.bool_)):
        raise LayerError(f"{layer}: ceil_mode must be a bool, but got {ceil_mode!r}")
    try:
        kernel = pooling.expand_pool_arg(config["kernel_size"], ndim, "kernel_size", op)
        stride_arg = config["stride"]
        no_stride = stride_arg is None or (isinstance(stride_arg, (tuple, list)) and len(stride_arg) == 0)
        stride = kernel if no_stride else pooling.expand_pool_arg(stride_arg, ndim, "stride", op)
        padding = pooling.expand_pool_arg(config["padding"], ndim, "padding", op)
        dilation = pooling.expand_pool_arg(config.get("dilation", 1), ndim, "dilation", op)
    except (ValueError, RuntimeError, TypeError) as error:
        raise LayerError(f"{layer}: {error}") from None
    spatial = input_shape[-ndim:]
    names = _dim_names(ndim)
    for name, size, k, s, p, d in zip(names, spatial, kernel, stride, padding, dilation):
        valid_arguments = k > 0 and s > 0 and d > 0 and 0 <= p <= k // 2
        if valid_arguments and pooling.pool_output_size(size, k, s, p, d, ceil_mode) < 1:
            raise LayerError(
                f"{layer}: dim {name}: the kernel is larger than the padded input: padded input "
                f"{size} + 2·{p} = {size + 2 * p}, dilated kernel {d}·({k} − 1) + 1 = {d * (k - 1) + 1}"
            )
    try:
        call = pooling.check_pool(op, ndim, input_shape, kernel, stride, padding, dilation, ceil_mode)
    except (ValueError, RuntimeError, TypeError) as error:
        raise LayerError(f"{layer}: {error}") from None
    formulas = []
    for name, size, k, s, p, d, out in zip(names, spatial, kernel, stride, padding, dilation, call.output_size):
        rounding = "ceil" if ceil_mode else "floor"
        text = f"{name}: {rounding}(({size} + 2·{p} − {d}·({k} − 1) − 1) / {s}) + 1"
        written_value = -(-(size + 2 * p - d * (k - 1) - 1) // s) + 1  # the ceil expression as printed
        if ceil_mode and out != written_value:
            text += " − 1 (the last window would start in the padding)"
        formulas.append(f"{text} = {out}")
    return LayerMath(
        output_shape=(*input_shape[:-ndim], *call.output_size),
        formulas=formulas,
        field_steps=[(Fraction(d * (k - 1)), Fraction(s)) for k, s, d in zip(kernel, stride, dilation)],
    )


def _adaptive_pool_rule(config: dict[str, Any], layer: str, input_shape: Shape, ndim: int) -> LayerMath:
    _check_rank(layer, input_shape, (ndim + 1, ndim + 2))
    requested = config["output_size"]
    requested = (requested,) * ndim if requested is None or _is_int(requested) else tuple(requested)
    if len(requested) != ndim:
        raise LayerError(f"{layer}: output_size must have {ndim} values, but got output_size={config['output_size']!r}")
    spatial = input_shape[-ndim:]
    outputs, formulas, steps = [], [], []
    for name, size, wanted in zip(_dim_names(ndim), spatial, requested):
        out = size if wanted is None else wanted
        if not _is_int(out) or out < 0:
            raise LayerError(f"{layer}: dim {name}: output_size must be a non-negative integer, but got {wanted!r}")
        outputs.append(out)
        if out == 0:
            formulas.append(f"{name}: adaptive, {size} → 0 (empty)")
            steps.append((Fraction(0), Fraction(1)))
            continue
        starts, ends = pooling.adaptive_bins(size, out)
        windows = ends - starts
        low, high = int(windows.min()), int(windows.max())
        lengths = str(low) if low == high else f"{low}–{high}"
        formulas.append(f"{name}: adaptive, {size} → {out} (windows of {lengths})")
        steps.append((Fraction(high - 1), Fraction(size, out)))
    return LayerMath(output_shape=(*input_shape[:-ndim], *outputs), formulas=formulas, field_steps=steps)


# --------------------------------------------------------------------------------------------- other layers
_INTERPOLATION_TAPS = {"nearest": 1, "nearest-exact": 1, "linear": 2, "bilinear": 2, "trilinear": 2, "bicubic": 4}


def _upsample_rule(config: dict[str, Any], layer: str, input_shape: Shape, mode: str) -> LayerMath:
    ndim = len(input_shape) - 2
    if ndim not in (1, 2, 3):
        raise LayerError(f"{layer} expects a 3-d, 4-d or 5-d input (N, C, ...), but got {_fmt_shape(input_shape)}")
    size, scale = config.get("size"), config.get("scale_factor")
    if (size is None) == (scale is None):
        raise LayerError(f"{layer}: give exactly one of size and scale_factor")
    spatial = input_shape[2:]
    values = size if size is not None else scale
    values = tuple(values) if isinstance(values, (tuple, list)) else (values,) * ndim
    if len(values) != ndim:
        raise LayerError(f"{layer}: expected {ndim} values for a {ndim}-d input, but got {values!r}")
    outputs, formulas = [], []
    for name, in_size, value in zip(_dim_names(ndim), spatial, values):
        out = int(value) if size is not None else math.floor(in_size * value)
        if out <= 0:
            raise LayerError(f"{layer}: dim {name}: output size {out} is not positive")
        outputs.append(out)
        formulas.append(f"{name}: size = {out}" if size is not None else f"{name}: floor({in_size} · {value}) = {out}")
    taps = _INTERPOLATION_TAPS.get(mode, 1)
    steps = [(Fraction(taps - 1), Fraction(in_size, out)) for in_size, out in zip(spatial, outputs)]
    return LayerMath(output_shape=(*input_shape[:2], *outputs), formulas=formulas, field_steps=steps)


def _flatten_rule(config: dict[str, Any], layer: str, input_shape: Shape) -> LayerMath:
    rank = len(input_shape)
    start, end = config.get("start_dim", 1), config.get("end_dim", -1)
    start, end = (start + rank if start < 0 else start), (end + rank if end < 0 else end)
    if not (0 <= start < max(rank, 1) and 0 <= end < max(rank, 1)) or start > end:
        raise LayerError(
            f"{layer}: dims {config.get('start_dim', 1)}..{config.get('end_dim', -1)} are out of range for {rank}-d input"
        )
    merged = input_shape[start : end + 1]
    product = math.prod(merged)
    formula = f"dims {start}–{end}: {'·'.join(str(n) for n in merged)} = {product}"
    return LayerMath(
        output_shape=(*input_shape[:start], product, *input_shape[end + 1 :]), formulas=[formula], field_steps="all"
    )


def _linear_rule(config: dict[str, Any], layer: str, input_shape: Shape) -> LayerMath:
    in_features = _require_positive_int(config["in_features"], "in_features", layer)
    out_features = _require_positive_int(config["out_features"], "out_features", layer)
    if not input_shape or input_shape[-1] != in_features:
        last = input_shape[-1] if input_shape else None
        raise LayerError(
            f"{layer}: feature mismatch: the input {_fmt_shape(input_shape)} has {last} features in its last dim, "
            f"but the layer expects in_features={in_features}"
        )
    return LayerMath(
        output_shape=(*input_shape[:-1], out_features),
        formulas=[f"features: {in_features} → {out_features}"],
        weight_shape=(out_features, in_features),
        bias_shape=(out_features,) if config["bias"] else None,
        macs=math.prod(input_shape[:-1]) * in_features * out_features,
        field_steps="all",
    )


def _norm_rule(config: dict[str, Any], layer: str, input_shape: Shape, kind: str, ndim: int) -> LayerMath:
    affine_shape: Shape | None = None
    if kind == "batch_norm":
        ranks = (2, 3) if ndim == 1 else (ndim + 2,)
        _check_rank(layer, input_shape, ranks)
        features = _require_positive_int(config["num_features"], "num_features", layer)
        if input_shape[1] != features:
            raise LayerError(
                f"{layer}: channel mismatch: the input {_fmt_shape(input_shape)} has {input_shape[1]} channels, but num_features={features}"
            )
        affine_shape = (features,) if config.get("affine", True) else None
    elif kind == "instance_norm":
        _check_rank(layer, input_shape, (ndim + 1, ndim + 2))
        features = _require_positive_int(config["num_features"], "num_features", layer)
        channels = input_shape[_channel_axis(input_shape, ndim)]
        if config.get("affine", False) and channels != features:
            raise LayerError(
                f"{layer}: channel mismatch: the input {_fmt_shape(input_shape)} has {channels} channels, but num_features={features}"
            )
        affine_shape = (features,) if config.get("affine", False) else None
    elif kind == "GroupNorm":
        groups = _require_positive_int(config["num_groups"], "num_groups", layer)
        channels = _require_positive_int(config["num_channels"], "num_channels", layer)
        if channels % groups:
            raise LayerError(
                f"{layer}: num_channels must be divisible by num_groups (num_channels={channels}, num_groups={groups})"
            )
        if len(input_shape) < 2 or input_shape[1] != channels:
            raise LayerError(
                f"{layer}: channel mismatch: the input {_fmt_shape(input_shape)} needs {channels} channels in dim 1"
            )
        affine_shape = (channels,) if config.get("affine", True) else None
    else:  # LayerNorm
        normalized = config["normalized_shape"]
        normalized = (normalized,) if _is_int(normalized) else tuple(normalized)
        if tuple(input_shape[-len(normalized) :]) != normalized:
            raise LayerError(
                f"{layer}: the input {_fmt_shape(input_shape)} does not end with normalized_shape {_fmt_shape(normalized)}"
            )
        affine = config.get("elementwise_affine", True)
        affine_shape = normalized if affine else None
        bias = affine and config.get("bias", True)
        return LayerMath(
            output_shape=tuple(input_shape), weight_shape=affine_shape, bias_shape=normalized if bias else None
        )
    return LayerMath(output_shape=tuple(input_shape), weight_shape=affine_shape, bias_shape=affine_shape)


def _elementwise_rule(config: dict[str, Any], layer: str, input_shape: Shape, name: str) -> LayerMath:
    if name == "PReLU":
        count = _require_positive_int(config.get("num_parameters", 1), "num_parameters", layer)
        if count != 1 and (len(input_shape) < 2 or input_shape[1] != count):
            raise LayerError(
                f"{layer}: channel mismatch: num_parameters={count} but the input {_fmt_shape(input_shape)} has a different channel count"
            )
        return LayerMath(output_shape=tuple(input_shape), weight_shape=(count,))
    if "Dropout" in name:
        probability = config.get("p", 0.5)
        if isinstance(probability, bool) or not isinstance(probability, (int, float)) or not 0 <= probability <= 1:
            raise LayerError(f"{layer}: dropout probability has to be between 0 and 1, but got {probability!r}")
    return LayerMath(output_shape=tuple(input_shape))


def layer_math(name: str, config: dict[str, Any], input_shape: Sequence[int], layer: str) -> LayerMath:
    """Apply the rule of layer class ``name`` with hyper-parameters ``config`` (torch's constructor
    argument names) to ``input_shape``; ``layer`` is the label used in error messages."""
    input_shape = tuple(int(n) for n in input_shape)
    kind = layer_kind(name)
    match = re.search(r"([123])d$", name)
    ndim = int(match.group(1)) if match else 0
    if kind == "conv":
        return _conv_rule(config, layer, input_shape, ndim)
    if kind == "conv_transpose":
        return _conv_transpose_rule(config, layer, input_shape, ndim)
    if kind == "pool":
        return _pool_rule(config, layer, input_shape, ndim, is_max=name.startswith("Max"))
    if kind == "adaptive_pool":
        return _adaptive_pool_rule(config, layer, input_shape, ndim)
    if kind in ("batch_norm", "instance_norm", "GroupNorm", "LayerNorm"):
        return _norm_rule(config, layer, input_shape, kind, ndim)
    if kind == "Linear":
        return _linear_rule(config, layer, input_shape)
    if kind == "Flatten":
        return _flatten_rule(config, layer, input_shape)
    if kind in ("Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d"):
        mode = {"UpsamplingNearest2d": "nearest", "UpsamplingBilinear2d": "bilinear"}.get(
            name, config.get("mode", "nearest")
        )
        return _upsample_rule(config, layer, input_shape, mode)
    if kind == "elementwise":
        return _elementwise_rule(config, layer, input_shape, name)
    raise LayerError(f"{layer}: no shape rule for layer {name}")


# --------------------------------------------------------------------------------------------- receptive fields
class ReceptiveField:
    """Receptive field and jump per spatial axis (keyed by negative axis index, −1 = last), in input
    pixels; ``whole`` once a layer mixes every position (Flatten, Linear); ``unknown`` after a layer
    the calculator has no rule for that changed the spatial size."""

    def __init__(self) -> None:
        self.axes: dict[int, tuple[Fraction, Fraction]] = {}
        self.whole = False
        self.unknown = False

    def copy(self) -> ReceptiveField:
        other = ReceptiveField()
        other.axes, other.whole, other.unknown = dict(self.axes), self.whole, self.unknown
        return other

    def step(self, steps: list[tuple[Fraction, Fraction]] | str) -> ReceptiveField:
        result = self.copy()
        if steps == "all":
            result.whole = True
        elif steps != "keep" and not (result.whole or result.unknown):
            for offset, (span, stride) in enumerate(steps):
                axis = offset - len(steps)
                field_size, jump = result.axes.get(axis, (Fraction(1), Fraction(1)))
                result.axes[axis] = (field_size + span * jump, jump * stride)
        return result

    def describe(self, spatial_ndim: int) -> tuple[tuple[Fraction, ...] | str, tuple[Fraction, ...] | str]:
        if self.whole:
            return "all", "—"
        if self.unknown:
            return "?", "?"
        axes = range(-spatial_ndim, 0) if spatial_ndim else sorted(self.axes)
        values = [self.axes.get(axis, (Fraction(1), Fraction(1))) for axis in axes]
        return tuple(v[0] for v in values), tuple(v[1] for v in values)

    def rank(self) -> tuple[bool, Fraction]:
        """Sort key: a field covering the whole input ranks first, then the largest receptive field."""
        return self.whole, max((v[0] for v in self.axes.values()), default=Fraction(1))


def _spatial_ndim(name: str, shape: Shape) -> int:
    match = re.search(r"([123])d$", name)
    if match and layer_kind(name) in ("conv", "conv_transpose", "pool", "adaptive_pool", "instance_norm"):
        return int(match.group(1))
    return max(len(shape) - 2, 0)


# --------------------------------------------------------------------------------------------- SPEC analysis
def _bind(call: LayerCall) -> dict[str, Any]:
    from .. import nn

    layer = f"layer {call.index} `{call.text}`"
    cls = getattr(nn, call.name, None)
    if cls is None or not inspect.isclass(cls):
        raise SpecError(f"{layer}: npconv.nn has no layer {call.name}")
    signature = inspect.signature(cls)
    try:
        bound = signature.bind(*call.args, **call.kwargs)
    except TypeError as error:
        raise SpecError(f"{layer}: {call.name}(): {error}") from None
    bound.apply_defaults()
    config = dict(bound.arguments)
    for name in ("device", "dtype"):
        config.pop(name, None)
    return config


def analyze(calls: Sequence[LayerCall], input_shape: Sequence[int], show_formulas: bool = True) -> Summary:
    """Run the calculator over parsed SPEC layers for an input of ``input_shape``.

    Raises:
        SpecError: a layer's arguments do not fit its constructor.
        LayerError: a layer cannot run on its input (message names the layer and the dim).
    """
    shape = tuple(int(n) for n in input_shape)
    input_shape = shape
    receptive = ReceptiveField()
    reports = []
    for call in calls:
        config = _bind(call)
        label = f"layer {call.index} `{call.text}`"
        try:
            result = layer_math(call.name, config, shape, label)
        except (TypeError, ValueError, ArithmeticError, IndexError) as error:
            if isinstance(error, LayerError):
                raise
            raise LayerError(f"{label}: invalid arguments for {call.name}: {error}") from None
        receptive = receptive.step(result.field_steps)
        field_values, jump_values = receptive.describe(_spatial_ndim(call.name, result.output_shape))
        reports.append(
            LayerReport(
                index=call.index,
                name=call.text,
                kind=call.name,
                input_shape=shape,
                output_shape=tuple(result.output_shape),
                formulas=result.formulas,
                weight_shape=result.weight_shape,
                bias_shape=result.bias_shape,
                params=result.params,
                macs=result.macs,
                receptive_field=field_values,
                jump=jump_values,
            )
        )
        shape = tuple(result.output_shape)
    total = sum(report.params for report in reports)
    return Summary(reports, input_shape, shape, total, total, sum(r.macs for r in reports), show_formulas)


# --------------------------------------------------------------------------------------------- model summary
def _module_config(module: Any) -> dict[str, Any]:
    """The constructor arguments of a layer, read back from its attributes (torch's names)."""
    config: dict[str, Any] = {}
    try:
        parameters = inspect.signature(type(module)).parameters
    except (TypeError, ValueError):
        return config
    for name, parameter in parameters.items():
        if name in ("device", "dtype") or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if name in module._parameters:
            config[name] = (
                module._parameters[name] is not None
                if isinstance(parameter.default, bool)
                else module._parameters[name]
            )
        elif hasattr(module, name):
            config[name] = getattr(module, name)
        elif parameter.default is not parameter.empty:
            config[name] = parameter.default
    return config


def _rule_name(module: Any) -> str | None:
    for cls in type(module).__mro__:
        if layer_kind(cls.__name__) is not None:
            return cls.__name__
    return None


def _first_tensor(value: Any) -> Any:
    from ..tensor import Tensor

    if isinstance(value, Tensor):
        return value
    if isinstance(value, (tuple, list)):
        for item in value:
            found = _first_tensor(item)
            if found is not None:
                return found
    if isinstance(value, dict):
        return _first_tensor(list(value.values()))
    return None


class _Recorder:
    """Wraps the ``forward`` of every leaf module on the instance, records a row per call, and tracks the
    receptive field of each tensor a leaf produced. A tensor made outside any leaf (an addition, a
    concatenation, a reshape) takes the largest receptive field recorded so far — the main path of a
    residual block or a U-Net decoder."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.reports: list[LayerReport] = []
        self.fields: dict[int, tuple[Any, ReceptiveField]] = {}
        self.seen: set[int] = set()
        self.saved: list[tuple[Any, Any]] = []

    def field_of(self, tensor: Any) -> ReceptiveField:
        if tensor is not None and id(tensor) in self.fields:
            return self.fields[id(tensor)][1]
        if not self.fields:
            return ReceptiveField()
        return max((entry[1] for entry in self.fields.values()), key=ReceptiveField.rank)

    def record(self, path: str, module: Any, inputs: Any, output: Any) -> None:
        tensor_in, tensor_out = _first_tensor(inputs), _first_tensor(output)
        input_shape = tuple(tensor_in.shape) if tensor_in is not None else ()
        output_shape = tuple(tensor_out.shape) if tensor_out is not None else ()
        field_in = self.field_of(tensor_in)
        name = _rule_name(module)
        result: LayerMath | None = None
        if name is not None and tensor_in is not None:
            try:
                result = layer_math(name, _module_config(module), input_shape, path or type(module).__name__)
            except (LayerError, SpecError, KeyError, TypeError, ValueError):
                result = None
        if result is not None:
            field_out = field_in.step(result.field_steps)
        else:
            field_out = field_in.copy()
            if input_shape[2:] != output_shape[2:]:
                field_out.unknown = True
        shared = id(module) in self.seen
        self.seen.add(id(module))
        direct = [p for p in module._parameters.values() if p is not None]
        params = 0 if shared else sum(math.prod(p.shape) for p in direct)
        weight = module._parameters.get("weight")
        bias = module._parameters.get("bias")
        field_values, jump_values = field_out.describe(_spatial_ndim(name or "", output_shape))
        self.reports.append(
            LayerReport(
                index=len(self.reports) + 1,
                name=path or "(model)",
                kind=type(module).__name__,
                input_shape=input_shape,
                output_shape=output_shape,
                formulas=result.formulas if result is not None else [],
                weight_shape=tuple(weight.shape) if weight is not None else None,
                bias_shape=tuple(bias.shape) if bias is not None else None,
                params=params,
                macs=result.macs if result is not None else 0,
                receptive_field=field_values,
                jump=jump_values,
                shared=shared,
            )
        )
        if tensor_out is not None:
            self.fields[id(tensor_out)] = (tensor_out, field_out)  # keep the tensor alive: ids stay unique

    def __enter__(self) -> _Recorder:
        leaves = [(path, module) for path, module in self.model.named_modules() if not module._modules]
        for path, module in leaves:
            original = module.__dict__.get("forward")
            bound_forward = module.forward

            def wrapper(
                *args: Any, _path: str = path, _module: Any = module, _forward: Callable = bound_forward, **kwargs: Any
            ) -> Any:
                output = _forward(*args, **kwargs)
                self.record(_path, _module, (args, kwargs), output)
                return output

            object.__setattr__(module, "forward", wrapper)
            self.saved.append((module, original))
        return self

    def __exit__(self, *exc: object) -> None:
        for module, original in self.saved:
            if original is None:
                module.__dict__.pop("forward", None)
            else:
                object.__setattr__(module, "forward", original)


def summary(
    model: Any,
    input_size: Sequence[int] | Sequence[Sequence[int]],
    dtype: Any = None,
    show_formulas: bool = False,
    file: TextIO | None = sys.stdout,
) -> Summary:
    """Print a torchinfo-style table of ``model``: per leaf layer the output shape, parameters, MACs,
    receptive field and jump, then the totals.

    Runs one forward pass on zeros under ``no_grad`` in eval mode (the training flags are restored),
    recording every leaf module's call by temporarily wrapping its ``forward`` on the instance.

    Args:
        model: any ``npconv.nn.Module``.
        input_size: the input shape including the batch dim, e.g. ``(1, 3, 224, 224)``, or a list of
            shapes for a model with several inputs.
        dtype: dtype of the zeros; default ``npconv.float32``.
        show_formulas: also print the output-size formula per dim and the weight/bias shapes; default False.
        file: where to print; default ``sys.stdout``, None prints nothing.

    Returns:
        The :class:`Summary` (``str(result)`` is the table; ``total_params``, ``total_macs``, ``layers``).

    Example:
        >>> result = npconv.summary(nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU()), (1, 3, 32, 32), file=None)
        >>> result.total_params, result.output_shape
        (224, (1, 8, 30, 30))
    """
    import npconv

    shapes = [tuple(input_size)] if input_size and _is_int(input_size[0]) else [tuple(s) for s in input_size]
    inputs = [npconv.zeros(*shape, dtype=dtype or npconv.float32) for shape in shapes]
    training = {id(module): module.training for module in model.modules()}
    model.eval()
    try:
        with _Recorder(model) as recorder, npconv.no_grad():
            output = model(*inputs)
    finally:
        for module in model.modules():
            object.__setattr__(module, "training", training[id(module)])
    parameters = list(model.parameters())
    out_tensor = _first_tensor(output)
    result = Summary(
        layers=recorder.reports,
        input_shape=shapes[0],
        output_shape=tuple(out_tensor.shape) if out_tensor is not None else (),
        total_params=sum(math.prod(p.shape) for p in parameters),
        trainable_params=sum(math.prod(p.shape) for p in parameters if p.requires_grad),
        total_macs=sum(report.macs for report in recorder.reports),
        show_formulas=show_formulas,
    )
    if file is not None:
        print(result, file=file)
    return result


# --------------------------------------------------------------------------------------------- table
def render_table(result: Summary) -> str:
    """The table of a :class:`Summary`: one row per layer, detail lines when ``show_formulas``, totals."""
    header = ("#", "Layer", "Output shape", "Params", "MACs", "RF", "Jump")
    rows = []
    for report in result.layers:
        label = report.name if report.name.startswith(report.kind) else f"{report.name} ({report.kind})"
        rows.append(
            (
                str(report.index),
                label,
                _fmt_shape(report.output_shape),
                "(shared)" if report.shared else f"{report.params:,}",
                f"{report.macs:,}",
                _fmt_field(report.receptive_field),
                _fmt_field(report.jump),
            )
        )
    widths = [
        max(len(header[i]), *(len(row[i]) for row in rows)) if rows else len(header[i]) for i in range(len(header))
    ]
    right = {0, 3, 4}

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    rule = "─" * len(line(header))
    out = [rule, line(header), rule]
    for report, row in zip(result.layers, rows):
        out.append(line(row))
        if result.show_formulas:
            indent = " " * (widths[0] + 4)
            out.extend(indent + text for text in report.formulas)
            if report.weight_shape is not None or report.bias_shape is not None:
                out.append(f"{indent}weight {_fmt_shape(report.weight_shape)}, bias {_fmt_shape(report.bias_shape)}")
    out.append(rule)
    last = result.layers[-1] if result.layers else None
    out.append(f"Input shape: {_fmt_shape(result.input_shape)}    Output shape: {_fmt_shape(result.output_shape)}")
    out.append(f"Total params: {result.total_params:,}    Trainable params: {result.trainable_params:,}")
    out.append(f"Total MACs: {result.total_macs:,} ({_human(result.total_macs)}MACs)")
    if last is not None:
        out.append(f"Receptive field of the output: {_fmt_field(last.receptive_field)}, jump {_fmt_field(last.jump)}")
    out.append(rule)
    return "\n".join(out)
