"""The one N-d convolution primitive and its two gradients.

    conv_general(x, w, stride, padding, lhs_dilation, rhs_dilation, groups)

x is (N, C, *spatial), w is (O, C // groups, *kernel), ``padding`` one (lo, hi) pair per spatial dim
(negative values crop), ``lhs_dilation`` inserts lhs_dilation − 1 zeros between input elements (a
transposed convolution is a convolution of such a zero-stuffed input) and ``rhs_dilation`` spreads the
kernel taps. Per spatial dim the output extent is

    out = floor((lo + (size − 1)·lhs_dilation + 1 + hi − rhs_dilation·(k − 1) − 1) / stride) + 1

Convolutions, transposed convolutions and input gradients go through ``conv_general``; the weight gradient
is the same contraction taken over batch and positions (``conv_general_grad_weight``). Which algorithm
computes a call (Winograd, im2col, pointwise GEMM, depthwise taps, stacked phases, polyphase or col2im for
lhs dilation, Winograd by phases for 4×4 kernels at stride 2 or lhs dilation 2 in ``winograd_stride2``,
FFT for large kernels in ``fft``) is chosen by the shapes in ``algorithms``; all give the same result.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from . import algorithms, winograd, winograd_stride2

Pairs = Sequence[tuple[int, int]]


def dilate_and_pad(x: np.ndarray, lhs_dilation: Sequence[int], padding: Pairs) -> np.ndarray:
    """Insert lhs_dilation − 1 zeros between elements of each spatial dim, then pad (lo, hi) with zeros
    (negative values crop). Returns ``x`` itself when there is nothing to do."""
    if all(d == 1 for d in lhs_dilation) and all(lo == 0 and hi == 0 for lo, hi in padding):
        return x
    spatial = x.shape[2:]
    dilated = [(size - 1) * d + 1 if size else 0 for size, d in zip(spatial, lhs_dilation)]
    final = [max(lo + size + hi, 0) for size, (lo, hi) in zip(dilated, padding)]
    out = np.zeros((*x.shape[:2], *final), dtype=x.dtype)
    source, target = [slice(None)] * 2, [slice(None)] * 2
    for size, d, (lo, _), length in zip(spatial, lhs_dilation, padding, final):
        first = -(lo // d) if lo < 0 else 0  # first input index that lands at position >= 0
        last = min(size, (length - 1 - lo) // d + 1) if length else 0  # one past the last that fits
        if last <= first:
            return out
        source.append(slice(first, last))
        target.append(slice(lo + first * d, lo + (last - 1) * d + 1, d))
    out[tuple(target)] = x[tuple(source)]
    return out


def _pool_work(x: np.ndarray, w: np.ndarray, groups: int) -> int:
    """Rough multiply-add count of a convolution if it is to run on the thread pool with single-threaded
    BLAS (``algorithms.single_threaded_blas``), else 0. A single sample runs best as few large products on
    BLAS's own threads (forward on this project's benchmark machine, BLAS threads against everything on the
    pool: ResNet 3×3 28² b1 3.12 against 3.38 ms, 14² b1 3.91 against 4.18, 1×1 256→64 at 56² 1.59 against
    1.83; 56² b1 was the exception, 4.69 against 4.06); a batch gains from the pool, which runs the
    transforms and copies around its products on both cores too. The choice follows the batch alone, so
    that a training loop does not alternate between the two: after a call, OpenBLAS's threads spin for
    about 0.14 s and would compete with the pool's."""
    if x.shape[0] == 1:
        return 0
    return x.size * (w.shape[0] // groups) * math.prod(w.shape[2:])


FLOAT32 = np.dtype(np.float32)


def live_taps_of_float32(x: np.ndarray, kernel: Sequence[int], stride, padding: Pairs, dilation):  # noqa: ANN201
    """``algorithms.without_padding_taps`` for a float32 convolution in 2-d or 3-d, else None: the taps that
    only ever read zero padding are dropped, their products being zeros (3×3, 512 channels, batch 32 on 1²
    inputs, in-process: forward 4.6 → 1.6 ms, weight gradient 11.7 → 4.3, input gradient 10.8 → 1.8). Only
    a NaN or ±inf weight on such a tap tells the difference: its outputs stay finite, as in torch's float32
    2-d and 3-d convolutions of a batch; torch's float64 and 1-d kernels multiply the padding, and npconv
    keeps it there."""
    if x.ndim < 4 or x.dtype != FLOAT32:
        return None
    for lo, hi in padding:
        if lo > 0 or hi > 0:
            break
    else:
        return None  # without padding no tap reads only padding
    try:  # the call's own settings are tuples already: no conversion on this per-call path
        return algorithms.without_padding_taps(x.shape, kernel, stride, padding, dilation)
    except TypeError:  # settings given as lists
        pads = tuple(tuple(pair) for pair in padding)
        return algorithms.without_padding_taps(x.shape, tuple(kernel), tuple(stride), pads, tuple(dilation))


def copy_by_taps(target: np.ndarray, source: np.ndarray) -> np.ndarray:
    """target[...] = source for two (O, C, *taps) kernels, one tap at a time; returns target. Either may be
    a view of a larger kernel's live taps, whose last axis holds only a few of them: one copy of the whole
    would run NumPy's inner loop over those few elements at a time, each tap's copy runs it along the
    channels ((512, 256) channels, 2×2 of a 3×3 kernel's taps: 2.0 → 0.44 ms)."""
    for tap in np.ndindex(*source.shape[2:]):
        index = (slice(None), slice(None), *tap)
        target[index] = source[index]
    return target


def conv_general(
    x: np.ndarray,
    w: np.ndarray,
    stride: Sequence[int],
    padding: Pairs,
    lhs_dilation: Sequence[int],
    rhs_dilation: Sequence[int],
    groups: int,
    bias: np.ndarray | None = None,
    transforms: winograd.KernelTransforms | None = None,
    kept_tiles: winograd.InputTiles | None = None,
) -> np.ndarray:
    """Convolution (cross-correlation, as in torch) of x with w, plus ``bias`` (O,) per output channel when
    given; shapes as in the module docstring. Every algorithm adds the bias to its blocks of output while
    they are in cache, instead of one more pass over the whole output. ``transforms`` (Winograd only, no
    lhs dilation) keeps the kernel's transform of a forward pass for its input gradient, ``kept_tiles`` its
    transformed input for its weight gradient.

    float16 is computed in float32 and rounded once at the end, as torch accumulates it."""
    compute_dtype = np.float32 if x.dtype == np.float16 else None
    if compute_dtype is not None:
        x, w = x.astype(compute_dtype), w.astype(compute_dtype)
        bias = None if bias is None else bias.astype(compute_dtype)
        if transforms is not None:  # w is a copy made for this call: nothing to remember it by
            transforms.remember = False
    elif lhs_dilation.count(1) == len(lhs_dilation):  # no lhs dilation (the cheapest test on this per-call path)
        live = live_taps_of_float32(x, w.shape[2:], stride, padding, rhs_dilation)
        if live is not None:
            w, padding = w[(slice(None), slice(None), *live[0])], live[1]
            if math.prod(w.shape[2:]) > 1:  # (one tap left copies along the channels wherever it is needed)
                w = copy_by_taps(np.empty(w.shape, dtype=w.dtype), w)
        if x.size * w.size <= algorithms.SMALL_WORK * w.shape[0]:
            return algorithms.conv_im2col_small(x, w, tuple(stride), tuple(padding), tuple(rhs_dilation), groups, bias)
    stride, rhs_dilation = tuple(stride), tuple(rhs_dilation)
    padding = [tuple(pair) for pair in padding]
    with algorithms.single_threaded_blas(_pool_work(x, w, groups)):
        dtype = np.result_type(x, w)
        if winograd_stride2.applies_upsampling(
            x.shape, w.shape, stride, padding, lhs_dilation, rhs_dilation, groups, dtype
        ):
            remember = transforms is not None and transforms.remember
            y = winograd_stride2.conv_winograd_upsampling(x, w, padding, bias, remember)
        elif algorithms.applies_stacked_phases(x.shape, w.shape, stride, padding, lhs_dilation, rhs_dilation, groups):
            y = algorithms.conv_stacked_phases(x, w, padding, tuple(lhs_dilation), bias)
        elif any(d != 1 for d in lhs_dilation) and algorithms.prefers_col2im(x.shape, w.shape, stride, groups):
            y = algorithms.conv_col2im(x, w, padding, tuple(lhs_dilation), rhs_dilation, groups, bias)
        elif any(d != 1 for d in lhs_dilation):
            y = algorithms.conv_polyphase(x, w, stride, padding, tuple(lhs_dilation), rhs_dilation, groups, bias)
        else:
            y = algorithms.valid_conv(x, w, stride, rhs_dilation, groups, padding, bias, transforms, kept_tiles)
    return y.astype(np.float16) if compute_dtype is not None else y


# The two gradients, by the matrix analogy y = x·W:
#   * dL/dx = g·Wᵀ — a convolution of the upstream gradient g with the kernel flipped in space and with
#     in/out channels swapped within each group; the forward stride becomes g's lhs dilation and the
#     forward lhs dilation becomes the stride, and ``grad_input_padding`` lines the taps up again.
#   * dL/dW = xᵀ·g — a convolution of x (batch and channel axes swapped) with g as the kernel; the forward
#     stride becomes the kernel dilation and the forward kernel dilation becomes the stride. It is computed
#     as exactly that contraction, without swapping axes: the unfolded (im2col) x of each sample times gᵀ,
#     summed over the batch (``algorithms.grad_weight``); with lhs dilation, phase by phase.


def flip_and_swap_channels(w: np.ndarray, groups: int) -> np.ndarray:
    """(O, C/G, *k) → (C, O/G, *k), flipped along every spatial axis: the kernel of the adjoint."""
    out_channels, per_group, *kernel = w.shape
    grouped = w.reshape(groups, out_channels // groups, per_group, *kernel).swapaxes(1, 2)
    flipped = np.flip(grouped, axis=tuple(range(3, 3 + len(kernel))))
    return flipped.reshape(groups * per_group, out_channels // groups, *kernel)


def grad_input_padding(
    input_spatial: Sequence[int],
    output_spatial: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    padding: Pairs,
    lhs_dilation: Sequence[int],
    rhs_dilation: Sequence[int],
) -> list[tuple[int, int]]:
    """Pads of the gradient-as-convolution so that its output lands exactly on the input positions."""
    pairs = []
    for size, out, k, s, (lo, _), ld, rd in zip(
        input_spatial, output_spatial, kernel, stride, padding, lhs_dilation, rhs_dilation
    ):
        low = rd * (k - 1) - lo
        stuffed = s * (out - 1) + 1
        high = ld * (size - 1) + rd * (k - 1) + 1 - low - stuffed
        pairs.append((low, high))
    return pairs


def conv_general_grad_input(
    grad_output: np.ndarray,
    w: np.ndarray,
    input_spatial: Sequence[int],
    stride: Sequence[int],
    padding: Pairs,
    lhs_dilation: Sequence[int],
    rhs_dilation: Sequence[int],
    groups: int,
    transforms: winograd.KernelTransforms | None = None,
) -> np.ndarray:
    """dL/dx for y = conv_general(x, w, ...), given dL/dy; ``transforms``: those kept by the forward pass."""
    kernel = w.shape[2:]
    pads = grad_input_padding(input_spatial, grad_output.shape[2:], kernel, stride, padding, lhs_dilation, rhs_dilation)
    adjoint = None if transforms is None else transforms.for_input_gradient()
    return conv_general(
        grad_output, flip_and_swap_channels(w, groups), lhs_dilation, pads, stride, rhs_dilation, groups, None, adjoint
    )


def grad_weight_of_stuffed(
    x: np.ndarray,
    grad_output: np.ndarray,
    kernel: Sequence[int],
    padding: Pairs,
    lhs_dilation: Sequence[int],
    rhs_dilation: Sequence[int],
    groups: int,
) -> np.ndarray:
    """dL/dw for y = conv_general(x, w) with lhs dilation s and stride 1 (a transposed convolution), as the
    weight gradient of an ordinary convolution with the roles exchanged: g is its input, read with stride s,
    and x its output gradient. dw[o, c, t] = Σ_n Σ_i x[n, c, i] · g[n, o, s·i + lo − d·t], which with
    t' = k − 1 − t is R[c, o, t'] = Σ x[n, c, i] · g_padded[n, o, s·i + d·t'] for g padded by
    lo' = d·(k − 1) − lo: R's channels swapped and its taps flipped. One strided unfold of g replaces the
    Πs phases of ``grad_weight_polyphase``."""
    # the pads that line g's taps up with x's positions are those of the input gradient (stride 1)
    stride = (1,) * len(kernel)
    pads = grad_input_padding(x.shape[2:], grad_output.shape[2:], kernel, stride, padding, lhs_dilation, rhs_dilation)
    swapped = algorithms.grad_weight(grad_output, x, kernel, lhs_dilation, pads, rhs_dilation, groups)
    return flip_and_swap_channels(swapped, groups)


def conv_general_grad_weight(
    x: np.ndarray,
    grad_output: np.ndarray,
    kernel: Sequence[int],
    stride: Sequence[int],
    padding: Pairs,
    lhs_dilation: Sequence[int],
    rhs_dilation: Sequence[int],
    groups: int,
    bias: np.ndarray | None = None,
    kept_tiles: winograd.InputTiles | None = None,
) -> np.ndarray:
    """dL/dw for y = conv_general(x, w, ...), given dL/dy; returns (O, C/G, *kernel). With ``bias`` ((O,),
    written) also dL/db = Σ dL/dy over samples and positions, summed while the weight gradient has dL/dy's
    blocks in cache where its algorithm allows; ``kept_tiles``: those the forward pass kept."""
    compute_dtype = np.float32 if x.dtype == np.float16 else None
    if compute_dtype is not None:
        x, grad_output = x.astype(compute_dtype), grad_output.astype(compute_dtype)
    sums = None if bias is None else np.empty(grad_output.shape[1], dtype=grad_output.dtype)
    padding = [tuple(pair) for pair in padding]
    # as in conv_general: the pool for a batch, BLAS's own threads for a single sample
    work = x.size * grad_output.shape[1] // groups * math.prod(kernel) if x.shape[0] > 1 else 0
    with algorithms.single_threaded_blas(work):
        if any(d != 1 for d in lhs_dilation) and all(s == 1 for s in stride):
            result = grad_weight_of_stuffed(x, grad_output, kernel, padding, lhs_dilation, rhs_dilation, groups)
        elif any(d != 1 for d in lhs_dilation):
            result = algorithms.grad_weight_polyphase(
                x, grad_output, kernel, stride, padding, lhs_dilation, rhs_dilation, groups
            )
        else:
            live = live_taps_of_float32(x, kernel, stride, padding, rhs_dilation) if compute_dtype is None else None
            if live is None:
                result = algorithms.grad_weight(
                    x, grad_output, kernel, stride, padding, rhs_dilation, groups, sums, kept_tiles
                )
            else:  # the taps that read only padding have zero gradients
                taps = [part.stop - part.start for part in live[0]]
                kept = algorithms.grad_weight(x, grad_output, taps, stride, live[1], rhs_dilation, groups, sums)
                result = np.zeros((*kept.shape[:2], *kernel), dtype=kept.dtype)
                copy_by_taps(result[(slice(None), slice(None), *live[0])], kept)
            if sums is not None:
                bias[...] = sums
                sums = None
    if sums is not None:  # the paths with lhs dilation: a pass of its own
        bias[...] = grad_output.sum(axis=(0, *range(2, grad_output.ndim)))
    return result.astype(np.float16) if compute_dtype is not None else result
