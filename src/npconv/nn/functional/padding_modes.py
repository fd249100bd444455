"""Transposed convolutions with reflect / replicate / circular padding.

torch allows only zero padding in ConvTranspose*d. npconv defines the other modes as the exact adjoint of
the convolution with the same configuration and weight:

    conv(x)            = valid_conv(pad_mode(x, P))
    conv_transpose(y)  = pad_modeᵀ(valid_convᵀ(y))

so ⟨conv(x), y⟩ = ⟨x, conv_transpose(y)⟩ for all x, y. ``valid_convᵀ`` is the zero-padding transposed
convolution with padding 0, and ``pad_modeᵀ`` folds the padded border back onto the positions it was copied
from (the backward of ``F.pad``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ...autograd import Context, Function
from ...conv import arguments
from ...conv.padding import pad_adjoint, pad_array
from ...tensor import Tensor
from .conv import conv_operands, conv_transpose_nd

TORCH_TO_ARRAY_MODE = {"reflect": "reflect", "replicate": "replicate", "circular": "circular"}


class PadAdjoint(Function):
    """``pad_modeᵀ``: the adjoint of padding by mode; its own adjoint (backward) is the padding."""

    @staticmethod
    def forward(ctx: Context, z: np.ndarray, input_shape: tuple[int, ...], pads: Any, mode: str) -> np.ndarray:
        ctx.pads, ctx.mode = pads, mode
        return pad_adjoint(z, input_shape, pads, mode)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        return pad_array(grad, ctx.pads, ctx.mode), None, None, None


def conv_transpose_nd_with_padding_mode(
    ndim: int,
    input: Any,  # noqa: A002
    weight: Any,
    bias: Any,
    stride: Any,
    padding: arguments.PaddingArg,
    output_padding: Any,
    groups: int,
    dilation: Any,
    padding_mode: str,
    output_size: Sequence[int] | None = None,
) -> Tensor:
    """A transposed convolution whose padding follows ``padding_mode``: 'zeros' is torch's; 'reflect',
    'replicate' and 'circular' give the adjoint of the convolution padded that way.

    Shape: as for zero padding, out = (in − 1)·stride − lo − hi + dilation·(k − 1) + output_padding + 1.
    """
    if padding_mode == "zeros":
        return conv_transpose_nd(ndim, input, weight, bias, stride, padding, output_padding, groups, dilation, output_size)
    if padding_mode not in TORCH_TO_ARRAY_MODE:
        raise ValueError(
            f"padding_mode must be one of ['zeros', 'reflect', 'replicate', 'circular'], but got {padding_mode!r}"
        )
    op = f"conv_transpose{ndim}d"
    x, w, b = conv_operands(op, input, weight, bias)
    # Validate the whole call (and learn the output size and the per-side padding) before any work.
    call = arguments.check_conv_transpose(
        op, ndim, x.shape, w.shape, None if b is None else b.shape,
        stride, padding, output_padding, groups, dilation, output_size,
    )
    out_spatial = call.output_shape[-ndim:]
    kernel = w.shape[2:]
    # The primitive's pads are (d·(k − 1) − lo, ...): recover lo. The convolution being adjoined reads
    # padded positions −lo .. full − lo − 1 of its input (full = the zero-padding-free transposed size);
    # the high side is what remains, negative when output_padding leaves trailing positions unread.
    full_sizes = arguments.conv_transpose_output_shape(
        call.input_shape[2:], kernel, call.lhs_dilation, [(0, 0)] * ndim, [0] * ndim, call.dilation
    )
    pairs = []
    for k, d, (primitive_low, _), size, full in zip(kernel, call.dilation, call.padding, out_spatial, full_sizes):
        low = d * (k - 1) - primitive_low
        pairs.append((low, full - size - low))
    _check_fold(op, pairs, out_spatial, padding_mode)
    z = conv_transpose_nd(ndim, x, w, b, call.lhs_dilation, 0, 0, groups, call.dilation)
    leading = tuple(z.shape[: z.ndim - ndim])
    return PadAdjoint.apply(z, (*leading, *out_spatial), pairs, TORCH_TO_ARRAY_MODE[padding_mode])


def _check_fold(op: str, pairs: Sequence[tuple[int, int]], sizes: Sequence[int], mode: str) -> None:
    for axis, ((lo, hi), size) in enumerate(zip(pairs, sizes)):
        if mode == "reflect" and (lo >= size or hi >= size):
            raise ValueError(
                f"{op}: padding_mode='reflect' needs padding smaller than the output size, but spatial dim "
                f"{axis} has padding ({lo}, {hi}) for output size {size}"
            )
        if mode == "circular" and (lo > size or hi > size):
            raise ValueError(
                f"{op}: padding_mode='circular' needs padding at most the output size, but spatial dim "
                f"{axis} has padding ({lo}, {hi}) for output size {size}"
            )
