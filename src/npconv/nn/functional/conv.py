"""Functional convolutions: conv1d/2d/3d and conv_transpose1d/2d/3d, with torch's signatures.

Each is one call into ``conv_nd`` / ``conv_transpose_nd``, which validate through
``npconv.conv.arguments`` and compute through the single primitive in ``npconv.conv.primitive``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ... import ops
from ...conv import arguments
from ...tensor import Tensor
from ._common import as_input
from .padding import pad, pairs_to_torch_pad

IntOrTuple = int | Sequence[int]


def conv_operands(op: str, input: Any, weight: Any, bias: Any) -> tuple[Tensor, Tensor, Tensor | None]:  # noqa: A002
    """input, weight and bias as Tensors (ndarrays wrapped), with their dtypes checked."""
    x, w = as_input(input, op, "input"), as_input(weight, op, "weight")
    b = as_input(bias, op, "bias", optional=True)
    _check_dtypes(op, x, w, b)
    return x, w, b


def _check_dtypes(op: str, x: Tensor, w: Tensor, b: Tensor | None) -> None:
    if x._array.dtype == np.bool_:
        raise TypeError(f"{op}() is not implemented for dtype {x.dtype!r}; use a floating point, complex or integer dtype")
    if x._array.dtype != w._array.dtype:
        raise RuntimeError(f"Input type ({x.dtype!r}) and weight type ({w.dtype!r}) should be the same")
    if b is not None and b._array.dtype != x._array.dtype:
        raise RuntimeError(f"Input type ({x.dtype!r}) and bias type ({b.dtype!r}) should be the same")


def conv_nd(
    ndim: int,
    input: Any,  # noqa: A002
    weight: Any,
    bias: Any = None,
    stride: IntOrTuple = 1,
    padding: arguments.PaddingArg = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
) -> Tensor:
    """An ``ndim``-d convolution; see ``conv2d`` for the arguments and the shape formula."""
    op = f"conv{ndim}d"
    x, w, b = conv_operands(op, input, weight, bias)
    call = arguments.check_conv(
        op, ndim, x._array.shape, w._array.shape, None if b is None else b._array.shape,
        stride, padding, dilation, groups,
    )
    return ops.Convolution.apply(x, w, b, call)


def conv_transpose_nd(
    ndim: int,
    input: Any,  # noqa: A002
    weight: Any,
    bias: Any = None,
    stride: IntOrTuple = 1,
    padding: arguments.PaddingArg = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
    output_size: Sequence[int] | None = None,
) -> Tensor:
    """An ``ndim``-d transposed convolution; see ``conv_transpose2d``."""
    op = f"conv_transpose{ndim}d"
    x, w, b = conv_operands(op, input, weight, bias)
    call = arguments.check_conv_transpose(
        op, ndim, x._array.shape, w._array.shape, None if b is None else b._array.shape,
        stride, padding, output_padding, groups, dilation, output_size,
    )
    return ops.Convolution.apply(x, w, b, call)


def conv1d(input: Any, weight: Any, bias: Any = None, stride: IntOrTuple = 1, padding: arguments.PaddingArg = 0, dilation: IntOrTuple = 1, groups: int = 1) -> Tensor:  # noqa: A002
    """1-d convolution (cross-correlation) over input (N, C_in, L) or (C_in, L).

    weight (C_out, C_in/groups, kL), bias (C_out,) or None. padding: int, (p,), ((lo, hi),), 'valid',
    'same' (stride 1), 'same_upper'/'same_lower' (any stride: L_out = ceil(L / stride)) or 'causal'
    (d·(k − 1) on the left only).

    Shape: L_out = floor((L + lo + hi − dilation·(kL − 1) − 1) / stride) + 1.
    """
    return conv_nd(1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input: Any, weight: Any, bias: Any = None, stride: IntOrTuple = 1, padding: arguments.PaddingArg = 0, dilation: IntOrTuple = 1, groups: int = 1) -> Tensor:  # noqa: A002
    """2-d convolution (cross-correlation) over input (N, C_in, H, W) or (C_in, H, W).

    Args:
        weight: (C_out, C_in/groups, kH, kW).  bias: (C_out,) or None.
        stride, dilation: int or (sH, sW); default 1.
        padding: int, (pH, pW), ((top, bottom), (left, right)), 'valid', 'same' (stride 1 only),
            'same_upper' / 'same_lower' (any stride); default 0.
        groups: input and output channels split into this many independent groups; default 1.

    Shape: H_out = floor((H + top + bottom − dilation[0]·(kH − 1) − 1) / stride[0]) + 1, likewise W_out.

    Example:
        >>> conv2d(npconv.randn(1, 3, 28, 28), npconv.randn(16, 3, 5, 5), padding=1).shape
        npconv.Size([1, 16, 26, 26])
    """
    return conv_nd(2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(input: Any, weight: Any, bias: Any = None, stride: IntOrTuple = 1, padding: arguments.PaddingArg = 0, dilation: IntOrTuple = 1, groups: int = 1) -> Tensor:  # noqa: A002
    """3-d convolution over input (N, C_in, D, H, W) or (C_in, D, H, W); weight (C_out, C_in/groups,
    kD, kH, kW). Arguments as in ``conv2d``, with three values per tuple.

    Shape: D_out = floor((D + lo + hi − dilation·(kD − 1) − 1) / stride) + 1, likewise H_out, W_out.
    """
    return conv_nd(3, input, weight, bias, stride, padding, dilation, groups)


def conv_transpose1d(input: Any, weight: Any, bias: Any = None, stride: IntOrTuple = 1, padding: arguments.PaddingArg = 0, output_padding: IntOrTuple = 0, groups: int = 1, dilation: IntOrTuple = 1, output_size: Sequence[int] | None = None) -> Tensor:  # noqa: A002
    """1-d transposed convolution over input (N, C_in, L) or (C_in, L); weight (C_in, C_out/groups, kL).

    Shape: L_out = (L − 1)·stride − 2·padding + dilation·(kL − 1) + output_padding + 1
    (with (lo, hi) padding: − lo − hi; with padding='same': L_out = L·stride). ``output_size`` picks
    output_padding to reach that size, as the modules' ``forward(input, output_size)`` does.
    """
    return conv_transpose_nd(1, input, weight, bias, stride, padding, output_padding, groups, dilation, output_size)


def conv_transpose2d(input: Any, weight: Any, bias: Any = None, stride: IntOrTuple = 1, padding: arguments.PaddingArg = 0, output_padding: IntOrTuple = 0, groups: int = 1, dilation: IntOrTuple = 1, output_size: Sequence[int] | None = None) -> Tensor:  # noqa: A002
    """2-d transposed convolution (the gradient of conv2d with respect to its input).

    Args:
        input: (N, C_in, H, W) or (C_in, H, W).  weight: (C_in, C_out/groups, kH, kW).
        bias: (C_out,) or None.  stride, dilation: int or pair; default 1.
        padding: removes dilation·(k − 1) − padding... from each side: int, pair, (lo, hi) pairs,
            'valid' or 'same' (output = input · stride); default 0.
        output_padding: extra size on the high side, smaller than stride or dilation; default 0.
        output_size: alternatively, the wanted output size (spatial, or including N and C).

    Shape: H_out = (H − 1)·stride[0] − 2·padding[0] + dilation[0]·(kH − 1) + output_padding[0] + 1.

    Example:
        >>> conv_transpose2d(npconv.randn(1, 3, 8, 8), npconv.randn(3, 64, 3, 3), stride=2, padding=1,
        ...                  output_padding=1).shape
        npconv.Size([1, 64, 16, 16])
    """
    return conv_transpose_nd(2, input, weight, bias, stride, padding, output_padding, groups, dilation, output_size)


def conv_transpose3d(input: Any, weight: Any, bias: Any = None, stride: IntOrTuple = 1, padding: arguments.PaddingArg = 0, output_padding: IntOrTuple = 0, groups: int = 1, dilation: IntOrTuple = 1, output_size: Sequence[int] | None = None) -> Tensor:  # noqa: A002
    """3-d transposed convolution over (N, C_in, D, H, W) or (C_in, D, H, W); weight (C_in,
    C_out/groups, kD, kH, kW). Shape per dim as in ``conv_transpose2d``."""
    return conv_transpose_nd(3, input, weight, bias, stride, padding, output_padding, groups, dilation, output_size)


def conv_nd_with_padding_mode(
    ndim: int,
    input: Any,  # noqa: A002
    weight: Any,
    bias: Any,
    stride: IntOrTuple,
    padding: arguments.PaddingArg,
    dilation: IntOrTuple,
    groups: int,
    padding_mode: str,
) -> Tensor:
    """A convolution whose padding is filled by ``padding_mode``: 'zeros' is the plain convolution;
    'reflect', 'replicate' and 'circular' pad with ``F.pad`` first, then run a VALID convolution."""
    if padding_mode == "zeros":
        return conv_nd(ndim, input, weight, bias, stride, padding, dilation, groups)
    op = f"conv{ndim}d"
    x, w = as_input(input, op, "input"), as_input(weight, op, "weight")
    batched = arguments._check_input_rank(op, ndim, x.shape)
    spatial = x.shape[2:] if batched else x.shape[1:]
    kernel = w.shape[2:] if w.ndim == ndim + 2 else (1,) * ndim
    strides = arguments.expand_arg(stride, ndim, "stride", op)
    dilations = arguments.expand_arg(dilation, ndim, "dilation", op)
    pairs = arguments.resolve_conv_padding(
        arguments.normalize_padding(padding, ndim, op), spatial, kernel, strides, dilations
    )
    padded = pad(x, pairs_to_torch_pad(pairs), mode=padding_mode)
    return conv_nd(ndim, padded, w, bias, strides, 0, dilations, groups)
