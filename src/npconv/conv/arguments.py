"""Every convolution argument rule in one place: normalising stride/padding/dilation, the output-size
formulas, and the validation that runs before any arithmetic.

Functional calls, modules, the shape calculator and the backward pass all use these functions, so a
shape computed anywhere in npconv comes from here.

Output size per spatial dim, with padding as a (lo, hi) pair:

    conv:            out = floor((in + lo + hi − dilation·(k − 1) − 1) / stride) + 1
    conv_transpose:  out = (in − 1)·stride − lo − hi + dilation·(k − 1) + output_padding + 1
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

Pair = tuple[int, int]
PaddingArg = Union[int, str, Sequence[int], Sequence[Sequence[int]]]

CONV_PADDING_STRINGS = ("valid", "same", "same_upper", "same_lower", "causal")
CONV_TRANSPOSE_PADDING_STRINGS = ("valid", "same")


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _shape_list(shape: Sequence[int]) -> str:
    return "[" + ", ".join(str(n) for n in shape) + "]"


def _x_join(values: Sequence[int]) -> str:
    return " x ".join(str(v) for v in values)


def expand_arg(value: Any, ndim: int, name: str, op: str) -> tuple[int, ...]:
    """An int, or a sequence of 1 or ``ndim`` ints, as ``ndim`` ints (torch's rule)."""
    if _is_int(value):
        return (int(value),) * ndim
    if isinstance(value, (tuple, list)) and all(_is_int(v) for v in value):
        if len(value) == 1:
            return (int(value[0]),) * ndim
        if len(value) == ndim:
            return tuple(int(v) for v in value)
        raise RuntimeError(
            f"expected {name} to be a single integer value or a list of {ndim} values to match the "
            f"convolution dimensions, but got {name}={list(value)}"
        )
    raise TypeError(f"{op}(): argument '{name}' must be an int or a tuple of ints, but got {value!r}")


def same_padding(kernel: Sequence[int], dilation: Sequence[int]) -> list[Pair]:
    """torch's padding='same' for stride 1: total d·(k − 1), the odd element on the high side."""
    pairs = []
    for k, d in zip(kernel, dilation):
        total = d * (k - 1)
        pairs.append((total // 2, total - total // 2))
    return pairs


def same_upper_lower_padding(
    spatial: Sequence[int], kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int], upper: bool
) -> list[Pair]:
    """ONNX's SAME_UPPER / SAME_LOWER (TensorFlow's 'SAME'): out = ceil(in / stride), total padding
    max((out − 1)·stride + d·(k − 1) + 1 − in, 0), the odd element high (upper) or low (lower)."""
    pairs = []
    for size, k, s, d in zip(spatial, kernel, stride, dilation):
        out = -(-size // s)
        total = max((out - 1) * s + d * (k - 1) + 1 - size, 0)
        small, large = total // 2, total - total // 2
        pairs.append((small, large) if upper else (large, small))
    return pairs


def normalize_padding(
    padding: PaddingArg,
    ndim: int,
    op: str,
    allowed_strings: Sequence[str] = CONV_PADDING_STRINGS,
    error: type[Exception] = ValueError,
) -> str | list[Pair]:
    """A padding string (checked against ``allowed_strings``) or one (lo, hi) pair per spatial dim, in
    spatial order. Accepts an int, ``ndim`` ints (symmetric), or ``ndim`` (lo, hi) pairs.

    An unknown string raises ``error``: torch's modules raise ValueError, its functional calls RuntimeError."""
    if isinstance(padding, str):
        if padding not in allowed_strings:
            label = (
                "Invalid padding string:" if error is RuntimeError else "Invalid padding string"
            )  # torch's two wordings
            raise error(f"{label} {padding!r} for {op}, should be one of {list(allowed_strings)}")
        if padding == "causal" and ndim != 1:
            raise ValueError(f"padding='causal' is only defined for 1-d convolutions, but {op} is {ndim}-d")
        return padding
    if isinstance(padding, (tuple, list)) and padding and all(isinstance(p, (tuple, list)) for p in padding):
        if len(padding) != ndim or any(len(p) != 2 or not all(_is_int(v) for v in p) for p in padding):
            raise ValueError(
                f"{op}: padding given as (lo, hi) pairs needs exactly {ndim} pairs of ints, one per spatial "
                f"dimension, but got padding={padding!r}"
            )
        pairs = [(int(lo), int(hi)) for lo, hi in padding]
    else:
        pairs = [(p, p) for p in expand_arg(padding, ndim, "padding", op)]
    if any(lo < 0 or hi < 0 for lo, hi in pairs):
        raise RuntimeError(f"negative padding is not supported, but got padding={padding!r} in {op}")
    return pairs


def resolve_conv_padding(
    padding: str | list[Pair],
    spatial: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    error: type[Exception] = ValueError,
) -> list[Pair]:
    """Turn a normalised conv padding (string or pairs) into (lo, hi) pairs for this input.

    padding='same' with a stride raises ``error``: torch's modules raise ValueError, its functional calls
    RuntimeError."""
    if not isinstance(padding, str):
        return list(padding)
    if padding == "valid":
        return [(0, 0)] * len(kernel)
    if padding == "same":
        if any(s != 1 for s in stride):
            raise error(f"padding='same' is not supported for strided convolutions, but got stride={list(stride)}")
        return same_padding(kernel, dilation)
    if padding == "causal":
        return [(d * (k - 1), 0) for k, d in zip(kernel, dilation)]
    return same_upper_lower_padding(spatial, kernel, stride, dilation, upper=padding == "same_upper")


def conv_output_shape(
    spatial: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[Pair],
    dilation: Sequence[int],
) -> tuple[int, ...]:
    """out = floor((in + lo + hi − dilation·(k − 1) − 1) / stride) + 1, per spatial dim."""
    return tuple(
        (size + lo + hi - d * (k - 1) - 1) // s + 1
        for size, k, s, (lo, hi), d in zip(spatial, kernel, stride, padding, dilation)
    )


def conv_transpose_output_shape(
    spatial: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[Pair],
    output_padding: Sequence[int],
    dilation: Sequence[int],
) -> tuple[int, ...]:
    """out = (in − 1)·stride − lo − hi + dilation·(k − 1) + output_padding + 1, per spatial dim."""
    return tuple(
        (size - 1) * s - lo - hi + d * (k - 1) + op + 1
        for size, k, s, (lo, hi), op, d in zip(spatial, kernel, stride, padding, output_padding, dilation)
    )


def conv_transpose_same_padding(
    kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int]
) -> tuple[list[Pair], tuple[int, ...]]:
    """padding='same' for a transposed conv: out = in·stride, the adjoint of a conv with
    padding='same_upper' on that output. Returns the (lo, hi) pairs and the output_padding."""
    pairs, extra = [], []
    for k, s, d in zip(kernel, stride, dilation):
        total = max(d * (k - 1) + 1 - s, 0)
        pairs.append((total // 2, total - total // 2))
        extra.append(s + total - d * (k - 1) - 1)
    return pairs, tuple(extra)


def output_padding_for_size(
    output_size: Sequence[int],
    spatial: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[Pair],
    dilation: Sequence[int],
    input_ndim: int,
    op: str,
) -> tuple[int, ...]:
    """The output_padding that makes a transposed conv produce ``output_size`` (which may include the
    batch and channel dims); ValueError when it lies outside [min, min + stride − 1]."""
    ndim = len(spatial)
    leading = input_ndim - ndim
    requested = [int(v) for v in output_size]
    if len(requested) == leading + ndim:
        requested = requested[leading:]
    if len(requested) != ndim:
        raise ValueError(
            f"{op}: for {input_ndim}D input, output_size must have {ndim} or {leading + ndim} elements "
            f"(got {len(requested)})"
        )
    min_sizes = list(conv_transpose_output_shape(spatial, kernel, stride, padding, [0] * ndim, dilation))
    max_sizes = [m + s - 1 for m, s in zip(min_sizes, stride)]
    for size, low, high in zip(requested, min_sizes, max_sizes):
        if not low <= size <= high:
            raise ValueError(
                f"requested an output size of {requested}, but valid sizes range from {min_sizes} to "
                f"{max_sizes} (for an input of npconv.Size({list(spatial)}))"
            )
    return tuple(size - low for size, low in zip(requested, min_sizes))


@dataclass(frozen=True)
class ConvCall:
    """A validated convolution: what to hand the primitive, and the shapes in and out.

    ``padding`` holds the primitive's (lo, hi) pairs (for a transposed conv, those of the equivalent
    convolution of the zero-stuffed input) and ``lhs_dilation`` is the transposed conv's stride."""

    op: str
    batched: bool
    transposed: bool
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[Pair, ...]
    lhs_dilation: tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int


def _check_input_rank(op: str, ndim: int, input_shape: Sequence[int]) -> bool:
    if len(input_shape) not in (ndim + 1, ndim + 2):
        raise RuntimeError(
            f"Expected {ndim + 1}D (unbatched) or {ndim + 2}D (batched) input to {op}, but got input of "
            f"size: {_shape_list(input_shape)}"
        )
    return len(input_shape) == ndim + 2


def _check_weight(op: str, ndim: int, weight_shape: Sequence[int], groups: int, transposed: bool) -> None:
    if len(weight_shape) != ndim + 2:
        layout = "in_channels, out_channels/groups" if transposed else "out_channels, in_channels/groups"
        raise RuntimeError(
            f"{op}: expected weight to be {ndim + 2}-dimensional ({layout}, *kernel_size), but got weight "
            f"of size {_shape_list(weight_shape)}"
        )
    if not _is_int(groups):
        raise TypeError(f"{op}(): argument 'groups' must be int, not {type(groups).__name__}")
    if groups <= 0:
        raise RuntimeError(f"non-positive groups is not supported, but got groups={groups!r} in {op}")
    if weight_shape[0] == 0:
        raise RuntimeError(
            f"Given groups={groups}, expected weight to be at least {groups} at dimension 0, but got weight of "
            f"size {_shape_list(weight_shape)} instead"
        )
    if weight_shape[0] % groups:
        raise RuntimeError(
            f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, but got "
            f"weight of size [{_shape_list(weight_shape)}] instead"
        )
    kernel = weight_shape[2:]
    if any(k <= 0 for k in kernel):
        raise RuntimeError(f"kernel size should be greater than zero, but got kernel size {tuple(kernel)} in {op}")


def _check_positive(op: str, name: str, values: Sequence[int]) -> None:
    if any(v <= 0 for v in values):
        raise RuntimeError(f"non-positive {name} is not supported, but got {name}={list(values)} in {op}")


def _check_stride_and_dilation(op: str, strides: Sequence[int], dilations: Sequence[int]) -> None:
    if any(v <= 0 for v in strides):
        raise RuntimeError(f"non-positive stride is not supported, but got stride={list(strides)} in {op}")
    if any(v <= 0 for v in dilations):
        raise RuntimeError(f"dilation should be greater than zero, but got dilation={list(dilations)} in {op}")


def _check_bias(
    op: str, bias_shape: Sequence[int] | None, weight_shape: Sequence[int], expected: int, transposed: bool
) -> None:
    if bias_shape is not None and tuple(bias_shape) != (expected,):
        prefix = "Given transposed=1, weight" if transposed else "Given weight"
        raise RuntimeError(
            f"{prefix} of size {_shape_list(weight_shape)}, expected bias to be 1-dimensional with "
            f"{expected} elements, but got bias of size {_shape_list(bias_shape)} instead"
        )


_ATOMS = (int, str, type(None))


def _check_not_empty(input_shape: Sequence[int]) -> None:
    """An input without elements is convolved only when its batch or its channels are empty (torch's rule,
    with a 1-d input shown as the 2-d one it becomes: (N, C, 1, L))."""
    if input_shape[0] and input_shape[1] and 0 in input_shape[2:]:
        shown = input_shape if len(input_shape) > 3 else (*input_shape[:2], 1, *input_shape[2:])
        raise RuntimeError(
            f"Only zero batch or zero channel inputs are supported, but got input shape: {_shape_list(shown)}"
        )


def _plain(value: Any) -> bool:
    """Whether ``value`` is an exact int, a string, None, or a tuple of exact ints or of (int, int) pairs:
    such arguments compare equal only when they mean the same (unlike True == 1 or 1.0 == 1), so they can
    key a cache."""
    if type(value) in _ATOMS:
        return True
    if type(value) is not tuple:
        return False
    for item in value:
        if type(item) is not int and not (type(item) is tuple and all(type(v) is int for v in item)):
            return False
    return True


def remembered(check: Callable[..., ConvCall]) -> Callable[..., ConvCall]:
    """``check`` with its ConvCall remembered for repeated plain settings and hashable shapes, so a
    network's repeated layer calls are validated once. Calls that raise are never remembered; other
    settings (lists, NumPy integers, bools, floats) are checked afresh each time."""
    cache: dict[tuple, ConvCall] = {}

    @functools.wraps(check)
    def checked(op: str, ndim: int, input_shape: Any, weight_shape: Any, bias_shape: Any, *settings: Any) -> ConvCall:
        key = (op, ndim, input_shape, weight_shape, bias_shape, *settings)
        call = False
        for value in settings:
            if not (type(value) is int or _plain(value)):
                break
        else:
            try:
                call = cache.get(key)
            except TypeError:  # an unhashable shape
                call = False
        if call:
            return call
        result = check(op, ndim, input_shape, weight_shape, bias_shape, *settings)
        if call is None:
            if len(cache) >= 4096:
                cache.clear()
            cache[key] = result
        return result

    return checked


@remembered
def check_conv(
    op: str,
    ndim: int,
    input_shape: Sequence[int],
    weight_shape: Sequence[int],
    bias_shape: Sequence[int] | None,
    stride: Any,
    padding: PaddingArg,
    dilation: Any,
    groups: int,
) -> ConvCall:
    """Validate a conv{ndim}d call and compute its output shape; raises before any arithmetic."""
    input_shape, weight_shape = tuple(input_shape), tuple(weight_shape)
    batched = _check_input_rank(op, ndim, input_shape)
    full_input = input_shape if batched else (1, *input_shape)
    strides = expand_arg(stride, ndim, "stride", op)
    dilations = expand_arg(dilation, ndim, "dilation", op)
    normalized = normalize_padding(padding, ndim, op, error=RuntimeError)
    _check_stride_and_dilation(op, strides, dilations)
    _check_weight(op, ndim, weight_shape, groups, transposed=False)
    channels, spatial = full_input[1], full_input[2:]
    if channels != weight_shape[1] * groups:
        raise RuntimeError(
            f"Given groups={groups}, weight of size {_shape_list(weight_shape)}, expected "
            f"input{_shape_list(input_shape)} to have {weight_shape[1] * groups} channels, but got "
            f"{channels} channels instead"
        )
    _check_bias(op, bias_shape, weight_shape, weight_shape[0], transposed=False)
    kernel = weight_shape[2:]
    pairs = resolve_conv_padding(normalized, spatial, kernel, strides, dilations, error=RuntimeError)
    padded = [size + lo + hi for size, (lo, hi) in zip(spatial, pairs)]
    dilated_kernel = [d * (k - 1) + 1 for k, d in zip(kernel, dilations)]
    if any(p < k for p, k in zip(padded, dilated_kernel)):
        raise RuntimeError(
            f"Calculated padded input size per channel: ({_x_join(padded)}). Kernel size: "
            f"({_x_join(dilated_kernel)}). Kernel size can't be greater than actual input size"
        )
    _check_not_empty(full_input)
    out_spatial = conv_output_shape(spatial, kernel, strides, pairs, dilations)
    output_shape = (full_input[0], weight_shape[0], *out_spatial)
    return ConvCall(
        op=op,
        batched=batched,
        transposed=False,
        input_shape=full_input,
        output_shape=output_shape if batched else output_shape[1:],
        stride=strides,
        padding=tuple(pairs),
        lhs_dilation=(1,) * ndim,
        dilation=dilations,
        groups=int(groups),
    )


@remembered
def check_conv_transpose(
    op: str,
    ndim: int,
    input_shape: Sequence[int],
    weight_shape: Sequence[int],
    bias_shape: Sequence[int] | None,
    stride: Any,
    padding: PaddingArg,
    output_padding: Any,
    groups: int,
    dilation: Any,
    output_size: Sequence[int] | None = None,
) -> ConvCall:
    """Validate a conv_transpose{ndim}d call and compute its output shape; raises before any arithmetic.

    Also derives output_padding from ``output_size`` when given (as torch's modules do)."""
    input_shape, weight_shape = tuple(input_shape), tuple(weight_shape)
    batched = _check_input_rank(op, ndim, input_shape)
    full_input = input_shape if batched else (1, *input_shape)
    strides = expand_arg(stride, ndim, "stride", op)
    dilations = expand_arg(dilation, ndim, "dilation", op)
    normalized = normalize_padding(padding, ndim, op, CONV_TRANSPOSE_PADDING_STRINGS, error=RuntimeError)
    extra = expand_arg(output_padding, ndim, "output_padding", op)
    _check_stride_and_dilation(op, strides, dilations)
    if any(p < 0 for p in extra):
        raise RuntimeError(f"negative output_padding is not supported, but got output_padding={list(extra)} in {op}")
    _check_weight(op, ndim, weight_shape, groups, transposed=True)
    channels, spatial = full_input[1], full_input[2:]
    kernel = weight_shape[2:]
    if channels != weight_shape[0]:
        raise RuntimeError(
            f"Given transposed=1, weight of size {_shape_list(weight_shape)}, expected "
            f"input{_shape_list(input_shape)} to have {weight_shape[0]} channels, but got {channels} "
            f"channels instead"
        )
    out_channels = weight_shape[1] * groups
    _check_bias(op, bias_shape, weight_shape, out_channels, transposed=True)
    _check_not_empty(full_input)
    if normalized == "same":
        pairs, extra = conv_transpose_same_padding(kernel, strides, dilations)
    else:
        pairs = [(0, 0)] * ndim if normalized == "valid" else list(normalized)
    if output_size is not None:
        extra = output_padding_for_size(output_size, spatial, kernel, strides, pairs, dilations, len(input_shape), op)
    elif normalized != "same" and any(p >= s and p >= d for p, s, d in zip(extra, strides, dilations)):
        raise RuntimeError(
            f"output padding must be smaller than either stride or dilation, but got "
            f"output_padding={list(extra)}, stride={list(strides)}, dilation={list(dilations)} in {op}"
        )
    out_spatial = conv_transpose_output_shape(spatial, kernel, strides, pairs, extra, dilations)
    if any(n <= 0 for n in out_spatial):
        lead = (1,) if ndim == 1 else ()  # torch computes a 1-d one as 2-d, and says so
        raise RuntimeError(
            f"Given input size per channel: ({_x_join((*lead, *spatial))}). Calculated output size per channel: "
            f"({_x_join((*lead, *out_spatial))}). Output size is too small"
        )
    primitive_pads = tuple(
        (d * (k - 1) - lo, d * (k - 1) - hi + p) for k, d, (lo, hi), p in zip(kernel, dilations, pairs, extra)
    )
    output_shape = (full_input[0], out_channels, *out_spatial)
    return ConvCall(
        op=op,
        batched=batched,
        transposed=True,
        input_shape=full_input,
        output_shape=output_shape if batched else output_shape[1:],
        stride=(1,) * ndim,
        padding=primitive_pads,
        lhs_dilation=strides,
        dilation=dilations,
        groups=int(groups),
    )


def macs(call: ConvCall, weight_shape: Sequence[int]) -> int:
    """Multiply-accumulates of one call. A conv does C/G·Πk per output element; a transposed conv
    scatters each input element into O/G·Πk outputs."""
    kernel_volume = math.prod(weight_shape[2:])
    if call.transposed:
        return math.prod(call.input_shape) * weight_shape[1] * kernel_volume
    out = call.output_shape if call.batched else (1, *call.output_shape)
    return math.prod(out) * weight_shape[1] * kernel_volume
