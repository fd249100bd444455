"""Differential tests of every algorithm behind the convolution primitive against torch.

Each case is built so that its forward pass and both gradients take known algorithm paths; a spy records
which algorithm functions ran, so a change of dispatch that leaves a path untested fails here. Values are
compared with torch in float64 (tight) and float32 (npconv's error against a float64 reference must stay
within a small multiple of torch's own float32 error). Blocking within ``WORKSPACE_BYTES`` is checked by
shrinking the workspace: results stay equal, the work is split, and the peak scratch memory shrinks.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import gc
import math
import os
import threading
import time
import tracemalloc
import weakref

import numpy as np
import pytest
import torch
import torch.nn.functional as torch_functional

import npconv
import npconv.nn.functional as F
from npconv.conv import algorithms, fft, primitive, winograd, winograd_stride2

ALGORITHM_NAMES = [
    "conv_im2col_small",
    "conv_pointwise",
    "conv_depthwise",
    "depthwise_in_place",
    "depthwise_by_rows",
    "depthwise_by_planes",
    "depthwise_by_phases",
    "PairedPhases",
    "conv_im2col",
    "conv_im2col_by_shares",
    "conv_im2col_by_rows",
    "conv_im2col_by_samples",
    "conv_dense_map",
    "conv_im2col_by_groups",
    "conv_grouped_by_column_shifts",
    "conv_polyphase",
    "conv_col2im",
    "grad_weight_pointwise",
    "grad_weight_depthwise",
    "grad_weight_depthwise_in_place",
    "grad_weight_depthwise_by_rows",
    "grad_weight_im2col",
    "grad_weight_grouped_by_column_shifts",
    "grad_weight_polyphase",
    "conv_winograd",
    "grad_weight_winograd",
    "conv_winograd_dilated",
    "grad_weight_winograd_dilated",
    "_transform_rows",
    "grad_weight_of_stuffed",
    "conv_winograd_upsampling",
    "conv_winograd_downsampling",
    "grad_weight_winograd_downsampling",
    "conv_stacked_phases",
    "conv_fft",
    "grad_weight_fft",
]
WINOGRAD_NAMES = {
    "conv_winograd",
    "grad_weight_winograd",
    "conv_winograd_dilated",
    "grad_weight_winograd_dilated",
    "_transform_rows",
}

MATRIX_PRODUCT_PATHS = {
    "conv_stacked_phases",
    "conv_pointwise",
    "conv_dense_map",
    "conv_im2col",
    "conv_im2col_by_groups",
    "conv_col2im",
    "conv_winograd",
    "grad_weight_winograd",
    "grad_weight_pointwise",
    "grad_weight_im2col",
}

# name, transposed, input shape, weight shape (torch layout), keyword arguments, algorithms expected to run
CASES = [
    ("pointwise", False, (2, 6, 5, 7), (4, 6, 1, 1), {}, {"conv_pointwise", "grad_weight_pointwise"}),
    # ≥ SIDE_BY_SIDE_MAX positions: one product per sample (the other cases' samples go side by side)
    ("pointwise many positions", False, (2, 6, 9, 8), (4, 6, 1, 1), {}, {"conv_pointwise", "grad_weight_pointwise"}),
    # more output than input channels, ≥ SIDE_BY_SIDE_MAX positions: on the pool the bias rides in the
    # product (a row of ones under each sample's copied input)
    (
        "pointwise widening, many positions",
        False,
        (3, 4, 9, 8),
        (10, 4, 1, 1),
        {},
        {"conv_pointwise", "grad_weight_pointwise"},
    ),
    (
        "pointwise widening strided grouped, many positions",
        False,
        (3, 4, 17, 18),
        (10, 2, 1, 1),
        {"stride": 2, "groups": 2},
        {"conv_pointwise", "grad_weight_pointwise"},
    ),
    # strided with ≥ SIDE_BY_SIDE_MAX positions: on the pool each worker gathers its own samples' positions
    (
        "pointwise strided grouped, many positions",
        False,
        (3, 6, 17, 18),
        (4, 3, 1, 1),
        {"stride": 2, "groups": 2},
        {"conv_pointwise", "grad_weight_pointwise"},
    ),
    # taps that read only padding (in float32 dropped: see test_float32_drops_taps_that_read_only_padding)
    ("padding-only taps", False, (3, 8, 1, 2), (5, 8, 3, 3), {"padding": 1}, {"conv_im2col", "grad_weight_im2col"}),
    (
        "pointwise strided padded grouped 1d",
        False,
        (3, 4, 9),
        (6, 2, 1),
        {"stride": 2, "padding": 1, "groups": 2},
        {"conv_pointwise", "conv_col2im", "grad_weight_pointwise"},
    ),
    (
        "depthwise multiplier 2 dilated",
        False,
        (2, 3, 8, 9),
        (6, 1, 3, 2),
        {"padding": (2, 1), "dilation": (2, 1), "groups": 3},
        {"conv_depthwise", "depthwise_by_phases", "grad_weight_depthwise"},
    ),
    (
        "depthwise in place 3d",  # output of x's shape, planes of ≥ IN_PLACE_MIN_PLANE elements: taps read x itself
        False,
        (2, 3, 5, 20, 21),
        (3, 1, 3, 3, 3),
        {"padding": 1, "groups": 3},
        {"conv_depthwise", "depthwise_in_place", "grad_weight_depthwise"},
    ),
    (
        "depthwise by planes multiplier 2 dilated asymmetric",  # one sample, small planes: a product per plane
        False,
        (1, 3, 9, 11),
        (6, 1, 3, 2),
        {"padding": (2, 1), "dilation": (2, 3), "groups": 3},
        {"conv_depthwise", "depthwise_by_planes", "grad_weight_depthwise"},
    ),
    (
        "depthwise by rows single sample",  # one sample a block: the products written into y's rows in place
        False,
        (1, 3, 64, 65),
        (3, 1, 3, 3),
        {"padding": 1, "groups": 3},
        {"conv_depthwise", "depthwise_by_rows", "grad_weight_depthwise_in_place"},
    ),
    (
        "depthwise by rows",  # 2-d, undilated, a batch: each output row one BLAS product; the input gradient too
        False,
        (3, 4, 20, 21),
        (4, 1, 5, 3),
        {"padding": "same", "groups": 4},
        {"conv_depthwise", "depthwise_by_rows", "grad_weight_depthwise"},
    ),
    (
        "depthwise by rows multiplier 2 strided asymmetric",  # a single sample with a stride goes by rows too
        False,
        (1, 2, 11, 12),
        (4, 1, 3, 2),
        {"stride": (2, 1), "padding": (1, 0), "groups": 2},
        {"conv_depthwise", "depthwise_by_rows", "conv_col2im", "grad_weight_depthwise"},
    ),
    (
        "depthwise by rows strided, weight gradient too",  # rows of batch · W_out ≥ ROWS_GRAD_MIN_COLUMNS
        False,
        (4, 2, 12, 100),
        (2, 1, 3, 3),
        {"stride": 2, "padding": 1, "groups": 2},
        {"conv_depthwise", "depthwise_by_rows", "conv_polyphase", "grad_weight_depthwise_by_rows"},
    ),
    (
        "depthwise in place multiplier 2 dilated asymmetric",
        False,
        (1, 2, 40, 110),
        (4, 1, 3, 4),
        {"padding": "same", "dilation": (2, 1), "groups": 2},
        {"conv_depthwise", "depthwise_in_place", "grad_weight_depthwise_in_place"},
    ),
    (
        "depthwise 1d in place",  # g of x's shape, ≥ IN_PLACE_MIN_PLANE: dW straight from x and g, no row wraps
        False,
        (2, 3, 2100),
        (3, 1, 5),
        {"padding": "same", "dilation": 3, "groups": 3},
        {"conv_depthwise", "depthwise_in_place", "grad_weight_depthwise_in_place"},
    ),
    (
        "depthwise strided dilated",
        False,
        (3, 4, 13, 12),
        (4, 1, 3, 3),
        {"stride": 2, "padding": (1, 2), "dilation": (1, 2), "groups": 4},
        {"conv_depthwise", "depthwise_by_phases", "PairedPhases", "conv_polyphase", "grad_weight_depthwise"},
    ),
    (
        "depthwise paired 1d multiplier 2",  # stride 2 along the last axis: rows kept as complex pairs
        False,
        (2, 3, 11),
        (6, 1, 4),
        {"stride": 2, "padding": 2, "groups": 3},
        {"conv_depthwise", "depthwise_by_phases", "PairedPhases", "grad_weight_depthwise"},
    ),
    (
        "depthwise paired 3d odd dilation",  # last-axis taps at offsets 0, 3, 6: real, imaginary, real parts
        False,
        (2, 2, 5, 4, 13),
        (2, 1, 2, 3, 3),
        {"stride": (1, 3, 2), "padding": (0, 1, 3), "dilation": (1, 1, 3), "groups": 2},
        {"conv_depthwise", "depthwise_by_phases", "PairedPhases", "grad_weight_depthwise"},
    ),
    (
        "depthwise paired even dilation unpadded",  # last-axis offsets 0, 2, 4: real parts only
        False,
        (1, 3, 6, 12),
        (3, 1, 2, 3),
        {"stride": 2, "dilation": (1, 2), "groups": 3},
        {"conv_depthwise", "depthwise_by_phases", "PairedPhases", "grad_weight_depthwise"},
    ),
    (
        "depthwise strided 3d",
        False,
        (2, 4, 5, 6, 7),
        (4, 1, 3, 3, 2),
        {"stride": (2, 1, 3), "padding": 1, "groups": 4},
        {"conv_depthwise", "depthwise_by_phases", "conv_polyphase", "grad_weight_depthwise"},
    ),
    (
        "grouped dilated strided",
        False,
        (2, 6, 9, 8),
        (4, 3, 3, 2),
        {"stride": (2, 1), "padding": (1, 0), "dilation": (1, 2), "groups": 2},
        {"conv_grouped_by_column_shifts", "conv_polyphase", "grad_weight_grouped_by_column_shifts"},
    ),
    (
        "grouped 1d",  # 1-d and 3-d grouped convolutions unfold a few groups at a time
        False,
        (2, 6, 11),
        (9, 2, 3),
        {"stride": 2, "padding": 1, "dilation": 2, "groups": 3},
        {"conv_im2col_by_groups", "conv_col2im", "grad_weight_im2col"},
    ),
    # 2-d batches: the forward in F(4×2, 3×3) (``_transform_rows``), the input gradient in F(2×2, 3×3)
    (
        "winograd odd output",
        False,
        (3, 128, 17, 16),
        (136, 128, 3, 3),
        {"padding": 1},
        {"conv_winograd", "_transform_rows", "grad_weight_winograd"},
    ),
    # 144 tiles of 2×2 outputs: the forward by Winograd (≥ winograd.MIN_TILES), the weight gradient by the
    # unfold (< WEIGHT_GRADIENT_MIN_TILES)
    (
        "winograd, few tiles for its weight gradient",
        False,
        (2, 128, 17, 16),
        (136, 128, 3, 3),
        {"padding": 1},
        {"conv_winograd", "_transform_rows", "grad_weight_im2col"},
    ),
    # a single sample of 66 tiles of 4×2 outputs: F(4×2) (winograd.MIXED_MIN_TILES_ONE_SAMPLE)
    (
        "winograd even output",
        False,
        (1, 128, 24, 22),
        (128, 128, 3, 3),
        {"padding": (1, 1)},
        {"conv_winograd", "_transform_rows", "grad_weight_winograd"},
    ),
    # 64 tiles of 2×2 outputs in a batch: fewer than winograd.MIN_TILES, the unfold throughout
    ("3×3 of few tiles", False, (4, 256, 7, 7), (256, 256, 3, 3), {"padding": 1}, {"conv_im2col", "grad_weight_im2col"}),
    (
        "winograd unpadded",
        False,
        (5, 128, 18, 14),
        (128, 128, 3, 3),
        {},
        {"conv_winograd", "_transform_rows", "grad_weight_winograd"},
    ),
    # a batch goes by Winograd from winograd.BATCH_MIN_CHANNELS (32) channels on, a single sample from 64
    (
        "winograd batch of 32 channels",
        False,
        (4, 32, 48, 48),
        (48, 32, 3, 3),
        {"padding": 1},
        {"conv_winograd", "_transform_rows", "grad_weight_winograd"},
    ),
    ("32 channels, a single sample", False, (1, 32, 96, 96), (48, 32, 3, 3), {"padding": 1}, {"conv_im2col", "grad_weight_im2col"}),
    # 36 tiles of 2×2 outputs: enough for a single sample (MIN_TILES_ONE_SAMPLE), not for a batch; 18 of 4×2:
    # F(2×2) throughout
    (
        "winograd single sample",
        False,
        (1, 256, 12, 12),
        (256, 256, 3, 3),
        {"padding": 1},
        {"conv_winograd", "grad_weight_winograd"},
    ),
    (
        "winograd 3d",
        False,
        (2, 16, 12, 11, 13),
        (40, 16, 3, 3, 3),
        {"padding": 1},
        {"conv_winograd", "_transform_rows", "grad_weight_winograd"},
    ),
    (
        "winograd 3d, planes moved first",  # planes of ≥ winograd.PLANE_FIRST elements: two-copy padded block
        False,
        (2, 16, 6, 17, 16),
        (40, 16, 3, 3, 3),
        {"padding": 1},
        {"conv_winograd", "_transform_rows", "grad_weight_winograd"},
    ),
    (
        "winograd dilated by phases",
        False,
        (2, 64, 31, 35),
        (72, 64, 3, 3),
        {"padding": (3, 1), "dilation": (3, 2)},
        {
            "conv_winograd_dilated",
            "conv_winograd",
            "_transform_rows",
            "grad_weight_winograd_dilated",
            "grad_weight_winograd",
        },
    ),
    (
        "winograd dilated by phases 3d",
        False,
        (2, 16, 13, 14, 15),
        (20, 16, 3, 3, 3),
        {"padding": 2, "dilation": 2},
        {"conv_winograd_dilated", "_transform_rows", "grad_weight_winograd_dilated"},
    ),
    ("dilated 1d", False, (2, 3, 40), (5, 3, 3), {"padding": 4, "dilation": 4}, {"conv_im2col", "grad_weight_im2col"}),
    # 17² output positions (≥ GRAD_WEIGHT_TRANSPOSED_MIN): on the pool the weight gradient is contracted
    # transposed and copied into place; the other cases' few positions take the direct orientation
    (
        "strided many positions",
        False,
        (2, 3, 34, 34),
        (4, 3, 3, 3),
        {"stride": 2, "padding": 1},
        {"conv_im2col", "grad_weight_im2col"},
    ),
    ("3d", False, (2, 3, 5, 4, 6), (4, 3, 3, 2, 3), {"padding": 1}, {"conv_im2col", "grad_weight_im2col"}),
    # a batch of few channels and rows of ≥ ROWS_OF_WINDOWS_MIN_COLUMNS positions: on the pool by rows
    # (``conv_im2col_by_rows``; the float32 test's default PARALLEL_WORK puts it there too)
    (
        "few channels, wide rows",
        False,
        (2, 3, 64, 60),
        (8, 3, 7, 5),
        {"stride": (1, 2), "padding": (3, 2)},
        {"conv_im2col", "grad_weight_im2col"},
    ),
    (
        "transposed k4 s2 p1",
        True,
        (2, 6, 5, 4),
        (6, 3, 4, 4),
        {"stride": 2, "padding": 1},
        {"conv_col2im", "conv_im2col", "grad_weight_of_stuffed", "grad_weight_im2col"},
    ),
    (
        "transposed k2 s3 positions no input reaches",
        True,
        (2, 6, 4, 5),
        (6, 3, 2, 2),
        {"stride": 3, "output_padding": (1, 2)},
        {"conv_col2im"},
    ),
    (
        "transposed widening output padding dilation",
        True,
        (2, 2, 5, 4),
        (2, 5, 3, 3),
        {"stride": (2, 3), "padding": (1, 0), "output_padding": (1, 0), "dilation": (1, 2)},
        {"conv_polyphase", "conv_im2col", "grad_weight_of_stuffed"},
    ),
    (
        "transposed k2 s2 1d",
        True,
        (2, 4, 7),
        (4, 3, 2),
        {"stride": 2},
        {"conv_col2im", "conv_im2col", "grad_weight_of_stuffed", "grad_weight_im2col"},
    ),
    (
        "transposed grouped 3d",
        True,
        (1, 4, 3, 4, 3),
        (4, 3, 3, 2, 2),
        {"stride": (2, 1, 2), "padding": (1, 0, 0), "groups": 2},
        {"conv_polyphase", "conv_im2col_by_groups", "grad_weight_of_stuffed"},
    ),
    # tiny calls: the forward (and, with output channels ≤ input channels, the input gradient) take the
    # small path; the other cases here run with it switched off
    (
        "small grouped strided dilated padded",
        False,
        (2, 4, 7, 6),
        (6, 2, 3, 2),
        {"stride": (2, 1), "padding": (2, 1), "dilation": (1, 2), "groups": 2},
        {"conv_im2col_small", "grad_weight_grouped_by_column_shifts"},
    ),
    ("small 1d", False, (1, 2, 9), (3, 2, 4), {"padding": "same"}, {"conv_im2col_small"}),
    ("small 3d cropped", False, (1, 2, 4, 3, 5), (2, 2, 2, 2, 2), {"padding": 1}, {"conv_im2col_small"}),
    (
        "transposed depthwise multiplier 2",
        True,
        (2, 3, 5, 6),
        (3, 2, 3, 3),
        {"stride": 2, "padding": 1, "groups": 3, "output_padding": 1},
        {"conv_polyphase", "depthwise_by_phases", "grad_weight_of_stuffed"},
    ),
    (
        "transposed depthwise",
        True,
        (2, 3, 6, 5),
        (3, 1, 3, 3),
        {"stride": 2, "padding": 1, "groups": 3},
        {"conv_polyphase", "depthwise_by_phases", "grad_weight_of_stuffed", "grad_weight_depthwise"},
    ),
    # tiny planes (no more input positions than kernel taps) in batches of ≥ 16: one dense linear map
    ("dense map", False, (16, 8, 2, 2), (6, 8, 3, 3), {"padding": 1}, {"conv_dense_map"}),
    (
        "dense map strided 3d",
        False,
        (16, 4, 2, 3, 2),
        (5, 4, 3, 3, 3),
        {"stride": (1, 2, 1), "padding": 1},
        {"conv_dense_map"},
    ),
    ("dense map dilated 1d", False, (17, 4, 4), (3, 4, 5), {"padding": 4, "dilation": 2}, {"conv_dense_map"}),
    # 4×4 kernels on inputs stuffed by 2: F(2×2, 2×2) per output phase (winograd_stride2), from 128 tiles
    # of 4×4 outputs in the batch and 16 a sample
    (
        "winograd upsampling",  # DCGAN's k4 s2 p1: 8 × 8 tiles a sample
        True,
        (2, 32, 16, 16),
        (32, 64, 4, 4),
        {"stride": 2, "padding": 1},
        {"conv_winograd_upsampling"},
    ),
    (
        "winograd upsampling odd output",  # 19 × 21 outputs: 5 × 6 tiles, the last ones cropped
        True,
        (5, 36, 9, 10),
        (36, 64, 4, 4),
        {"stride": 2, "padding": 1, "output_padding": 1},
        {"conv_winograd_upsampling"},
    ),
    (
        "winograd upsampling padding 3",  # no low padding left: each phase starts at x's first row
        True,
        (2, 32, 18, 17),
        (32, 64, 4, 4),
        {"stride": 2, "padding": 3},
        {"conv_winograd_upsampling"},
    ),
    # 4×4 kernels at stride 2: F(2×2, 2×2) per input phase, batches of ≥ 64 input and ≥ 128 output channels,
    # ≥ 128 tiles of 2×2 outputs and 16 a sample
    (
        "winograd downsampling",  # a discriminator's k4 s2 p1: 8 × 8 tiles a sample
        False,
        (2, 64, 32, 32),
        (128, 64, 4, 4),
        {"stride": 2, "padding": 1},
        {"conv_winograd_downsampling", "conv_winograd_upsampling", "grad_weight_winograd_downsampling"},
    ),
    (
        "winograd downsampling odd output",  # 9 × 9 outputs: 5 × 5 tiles, the last ones cropped
        False,
        (6, 64, 17, 19),
        (130, 64, 4, 4),
        {"stride": 2, "padding": (2, 1)},
        {"conv_winograd_downsampling", "grad_weight_winograd_downsampling"},
    ),
    (
        # a k4 s2 p1 transposed convolution, 128 → 64 channels: its input gradient and its weight gradient
        # (that of a stride-2 convolution of g, ``primitive.grad_weight_of_stuffed``) by input phases
        "winograd downsampling of a transposed convolution",
        True,
        (8, 128, 9, 7),
        (128, 64, 4, 4),
        {"stride": 2, "padding": 1},
        {"conv_winograd_downsampling", "grad_weight_winograd_downsampling", "grad_weight_of_stuffed"},
    ),
    (
        "winograd upsampling input gradient",  # of a k4 s2 p1 convolution
        False,
        (2, 64, 32, 32),
        (32, 64, 4, 4),
        {"stride": 2, "padding": 1},
        {"conv_winograd_upsampling"},
    ),
    # inputs stuffed by s with kernels a multiple of s (every output phase meets kernel / s taps), a batch,
    # ≥ 64 rows of phases × output channels, the phases' windows ≤ 1.15 times one phase's outputs: all
    # phases as one product
    (
        "stacked phases",  # k4 s2 p1 to 16 channels: 17 × 16 windows for 16 × 15 outputs a phase
        True,
        (3, 8, 16, 15),
        (8, 16, 4, 4),
        {"stride": 2, "padding": 1},
        {"conv_stacked_phases"},
    ),
    (
        "stacked phases 1d",  # k6 s3: three phases of two taps, cropped by the padding
        True,
        (4, 5, 40),
        (5, 24, 6),
        {"stride": 3, "padding": 1},
        {"conv_stacked_phases"},
    ),
    (
        "stacked phases 3d",  # stride 1 along depth (one phase of two taps), 2 along height and width
        True,
        (2, 3, 4, 16, 17),
        (3, 16, 2, 4, 4),
        {"stride": (1, 2, 2), "padding": (0, 1, 1), "output_padding": (0, 1, 0)},
        {"conv_stacked_phases"},
    ),
    (
        "stacked phases input gradient",  # of a k4 s2 p1 convolution of 16 input channels
        False,
        (2, 16, 32, 32),
        (8, 16, 4, 4),
        {"stride": 2, "padding": 1},
        {"conv_stacked_phases"},
    ),
    # by FFT in overlap-save blocks (cases named "fft" take it whatever its estimated cost, see
    # general_paths_unless_small): forward, the input gradient of stride-1 ones and the weight gradient
    ("fft 1d", False, (2, 3, 40), (4, 3, 9), {"padding": 4}, {"conv_fft", "grad_weight_fft"}),
    (
        "fft 1d strided dilated grouped",  # the input gradient, stuffed by the stride, goes by col2im
        False,
        (2, 4, 57),
        (6, 2, 7),
        {"stride": 2, "padding": 3, "dilation": 2, "groups": 2},
        {"conv_fft", "grad_weight_fft", "conv_col2im"},
    ),
    ("fft 2d", False, (2, 3, 20, 17), (5, 3, 6, 5), {"padding": (2, 1)}, {"conv_fft", "grad_weight_fft"}),
    ("fft depthwise 2d", False, (2, 3, 16, 15), (3, 1, 7, 7), {"padding": 3, "groups": 3}, {"conv_fft", "grad_weight_fft"}),
    (
        "fft 3d strided dilated",
        False,
        (1, 2, 9, 8, 7),
        (3, 2, 3, 4, 3),
        {"stride": (1, 2, 1), "padding": 1, "dilation": (1, 1, 2)},
        {"conv_fft", "grad_weight_fft"},
    ),
]


@pytest.fixture(autouse=True)
def general_paths_unless_small(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cases whose name does not start with 'small' run with the small-problem path switched off, so that
    their tiny shapes exercise the algorithms named in them; cases whose name starts with 'fft' go by FFT."""
    callspec = getattr(request.node, "callspec", None)
    case = callspec.params.get("case") if callspec else None
    if not (isinstance(case, tuple) and case[0].startswith("small")):
        monkeypatch.setattr(algorithms, "SMALL_WORK", 0)
    if isinstance(case, tuple) and case[0].startswith("fft"):  # the FFT for any kernel, whatever it costs
        monkeypatch.setattr(fft, "MIN_TAPS", 1)
        monkeypatch.setattr(fft, "MARGIN", 0.0)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Records the names of the algorithm functions that run."""
    called: set[str] = set()
    for name in ALGORITHM_NAMES:
        module = (
            winograd
            if name in WINOGRAD_NAMES
            else primitive
            if name == "grad_weight_of_stuffed"
            else fft
            if name in ("conv_fft", "grad_weight_fft")
            else winograd_stride2
            if name in ("conv_winograd_upsampling", "conv_winograd_downsampling", "grad_weight_winograd_downsampling")
            else algorithms
        )
        original = getattr(module, name)

        def wrapper(*args, _name=name, _original=original, **kwargs):
            called.add(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)
    return called


def functional_name(transposed: bool, ndim: int) -> str:
    return f"{'conv_transpose' if transposed else 'conv'}{ndim}d"


def make_arrays(input_shape, weight_shape, transposed, groups, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(input_shape).astype(dtype)
    w = rng.standard_normal(weight_shape).astype(dtype)
    bias_size = weight_shape[1] * groups if transposed else weight_shape[0]
    b = rng.standard_normal(bias_size).astype(dtype)
    return x, w, b


def torch_run(name, x, w, b, kwargs, grad_seed=1):
    tensors = [torch.tensor(array, requires_grad=True) for array in (x, w, b)]
    y = getattr(torch_functional, name)(*tensors, **kwargs)
    g = np.random.default_rng(grad_seed).standard_normal(tuple(y.shape)).astype(x.dtype)
    y.backward(torch.tensor(g))
    return [y.detach().numpy(), *(t.grad.numpy() for t in tensors)], g


def npconv_run(name, x, w, b, kwargs, g):
    tensors = [npconv.tensor(array, requires_grad=True) for array in (x, w, b)]
    y = getattr(F, name)(*tensors, **kwargs)
    y.backward(npconv.tensor(g))
    return [y.detach().numpy(), *(t.grad.numpy() for t in tensors)]


def relative_error(ours: np.ndarray, reference: np.ndarray) -> float:
    return float(np.abs(ours.astype(np.float64) - reference).max() / max(np.abs(reference).max(), 1e-300))


def on_the_pool() -> bool:
    """Whether a product runs with single-threaded BLAS as part of the pool's work: called within
    ``single_threaded_blas`` (and split over the pool there), by a pool worker itself, or by the calling
    thread while it takes its share of the pool's blocks."""
    blas = algorithms._blas
    return (
        getattr(blas, "limited", False)
        or getattr(blas, "in_block", False)
        or threading.current_thread().name.startswith("npconv")
    )


@pytest.mark.parametrize("threaded", [False, True], ids=["blas-threads", "pool-threads"])
@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_float64_paths_match_torch(case, threaded: bool, spy: set[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Every path against torch; with ``threaded`` the products are split over the pool (single-threaded BLAS)."""
    split_products: list[bool] = []
    if threaded:
        monkeypatch.setattr(algorithms, "PARALLEL_WORK", 0)
        monkeypatch.setattr(algorithms, "THREADS", 2)
        original = algorithms.parallel_matmul

        def recording(*args, **kwargs_):
            split_products.append(on_the_pool())
            return original(*args, **kwargs_)

        monkeypatch.setattr(algorithms, "parallel_matmul", recording)
    _, transposed, input_shape, weight_shape, kwargs, expected = case
    name = functional_name(transposed, len(input_shape) - 2)
    x, w, b = make_arrays(input_shape, weight_shape, transposed, kwargs.get("groups", 1), np.float64)
    reference, g = torch_run(name, x, w, b, kwargs)
    ours = npconv_run(name, x, w, b, kwargs, g)
    for label, mine, theirs in zip(("output", "grad input", "grad weight", "grad bias"), ours, reference):
        assert mine.shape == theirs.shape, label
        assert relative_error(mine, theirs) < 1e-12, label
    assert expected <= spy, f"expected {sorted(expected)} to run, ran {sorted(spy)}"
    if threaded and expected & MATRIX_PRODUCT_PATHS:
        assert split_products and all(split_products)


SMALL_CASES = [
    ((2, 4, 7, 6), (6, 2, 3, 2), {"stride": (2, 1), "padding": (2, 1), "dilation": (1, 2), "groups": 2}),
    ((1, 2, 9), (3, 2, 4), {"padding": "same"}),
    ((1, 2, 4, 3, 5), (2, 2, 2, 2, 2), {"padding": 1}),
    ((1, 3, 6, 5), (2, 3, 3, 3), {}),
]


@pytest.mark.parametrize("gather", [True, False], ids=["gathered", "strided-view"])
@pytest.mark.parametrize(("input_shape", "weight_shape", "kwargs"), SMALL_CASES)
def test_small_path_columns_by_gather_or_view_match_torch(input_shape, weight_shape, kwargs, gather, monkeypatch) -> None:
    """``conv_im2col_small`` builds its column matrix by one gather of flat indices (small matrices) or from a
    strided view (larger ones): both give torch's forward."""
    monkeypatch.setattr(algorithms, "SMALL_WORK", 1 << 30)  # the small path for these shapes
    monkeypatch.setattr(algorithms, "SMALL_GATHER_MAX", 1 << 20 if gather else 0)
    algorithms.small_plan.cache_clear()
    calls: list[bool] = []
    original = algorithms.conv_im2col_small

    def recording(x, w, *args, **kwargs_):
        calls.append(True)
        return original(x, w, *args, **kwargs_)

    monkeypatch.setattr(algorithms, "conv_im2col_small", recording)
    name = functional_name(False, len(input_shape) - 2)
    x, w, b = make_arrays(input_shape, weight_shape, False, kwargs.get("groups", 1), np.float64)
    expected = getattr(torch_functional, name)(torch.tensor(x), torch.tensor(w), torch.tensor(b), **kwargs).numpy()
    ours = getattr(F, name)(npconv.tensor(x), npconv.tensor(w), npconv.tensor(b), **kwargs).numpy()
    algorithms.small_plan.cache_clear()
    assert calls
    assert ours.shape == expected.shape
    assert relative_error(ours, expected) < 1e-12


@pytest.mark.parametrize(
    ("input_shape", "weight_shape", "kwargs", "kept"),
    [
        ((4, 8, 1, 1), (6, 8, 3, 3), {"padding": 1}, (1, 1)),  # the centre tap alone: a 1×1 convolution
        ((3, 5, 2, 7), (4, 5, 5, 5), {"padding": 2, "stride": (1, 2)}, (3, 5)),  # rows 1–3 of 5
        ((2, 4, 1, 1, 2), (3, 4, 3, 3, 3), {"padding": 1}, (1, 1, 3)),
        ((5, 3, 1), (4, 3, 5), {"padding": 2}, (5,)),  # 1-d keeps every tap, as torch's 1-d kernels do
    ],
)
def test_float32_drops_taps_that_read_only_padding(input_shape, weight_shape, kwargs, kept, monkeypatch) -> None:
    """float32 convolutions in 2-d and 3-d whose kernel has taps that read only zero padding compute without
    them: the same values and gradients as torch, and the dropped taps' weight gradients exactly 0."""
    kernels: list[tuple[int, ...]] = []
    contiguous: list[bool] = []
    original = algorithms.valid_conv

    def recording(x, w, *args, **kwargs_):
        kernels.append(tuple(w.shape[2:]))
        contiguous.append(w.flags.c_contiguous)
        return original(x, w, *args, **kwargs_)

    monkeypatch.setattr(algorithms, "SMALL_WORK", 0)
    monkeypatch.setattr(algorithms, "valid_conv", recording)
    name = functional_name(False, len(input_shape) - 2)
    x, w, b = make_arrays(input_shape, weight_shape, False, 1, np.float32)
    reference, g = torch_run(name, x, w, b, kwargs)
    ours = npconv_run(name, x, w, b, kwargs, g)
    assert kernels[0] == kept
    if 1 < math.prod(kept) < math.prod(weight_shape[2:]):  # several live taps: copied tap by tap, contiguous
        assert contiguous[0]
    for mine, theirs in zip(ours, reference):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5 * max(1.0, float(np.abs(theirs).max())))
    if kept != weight_shape[2:]:
        assert ours[2].flat[0] == 0.0  # tap (0, …, 0) reads only padding


def test_float32_weight_on_a_padding_only_tap_leaves_the_output_finite_as_in_torch() -> None:
    """A NaN or inf weight on a tap that reads only padding meets no input: torch's float32 convolution of a
    2-d batch gives finite outputs, and so does npconv, which drops that tap."""
    x, w, b = make_arrays((4, 8, 1, 1), (6, 8, 3, 3), False, 1, np.float32)
    w[0, 0, 0, 0], w[1, 2, 2, 1] = np.inf, np.nan
    expected = torch_functional.conv2d(torch.tensor(x), torch.tensor(w), torch.tensor(b), padding=1).numpy()
    ours = F.conv2d(npconv.tensor(x), npconv.tensor(w), npconv.tensor(b), padding=1).numpy()
    assert np.isfinite(expected).all() and np.isfinite(ours).all()
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_float32_error_within_torchs(case) -> None:
    """npconv's float32 error against a float64 reference is at most a few times torch's own."""
    _, transposed, input_shape, weight_shape, kwargs, _ = case
    name = functional_name(transposed, len(input_shape) - 2)
    x, w, b = make_arrays(input_shape, weight_shape, transposed, kwargs.get("groups", 1), np.float64)
    exact, g = torch_run(name, x, w, b, kwargs)
    arrays32 = [array.astype(np.float32) for array in (x, w, b)]
    theirs, _ = torch_run(name, *arrays32, kwargs)
    ours = npconv_run(name, *arrays32, kwargs, g.astype(np.float32))
    for label, mine, torch_value, reference in zip(
        ("output", "grad input", "grad weight", "grad bias"), ours, theirs, exact
    ):
        assert mine.dtype == np.float32, label
        torch_error = relative_error(torch_value, reference)
        assert relative_error(mine, reference) <= max(4 * torch_error, 1e-6), label


def stuffed_reference(x, w, stride, padding, lhs_dilation, rhs_dilation, groups):
    """torch's convolution of an explicitly zero-stuffed, padded input, with input and weight gradients."""
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    ndim = x.ndim - 2
    size = [(s - 1) * d + 1 for s, d in zip(x.shape[2:], lhs_dilation)]
    stuffed = xt.new_zeros((*x.shape[:2], *size))
    stuffed[(slice(None), slice(None), *(slice(None, None, d) for d in lhs_dilation))] = xt
    flat_pads = [p for pair in reversed(padding) for p in pair]
    padded = torch_functional.pad(stuffed, flat_pads)
    y = getattr(torch_functional, f"conv{ndim}d")(padded, wt, None, stride, 0, rhs_dilation, groups)
    g = np.random.default_rng(5).standard_normal(tuple(y.shape))
    y.backward(torch.tensor(g))
    return y.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), g


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "stride", "padding", "lhs_dilation", "rhs_dilation", "groups"),
    [
        ((2, 4, 5, 6), (3, 4, 3, 2), (2, 3), [(2, 1), (0, -1)], (2, 3), (1, 2), 1),
        ((1, 4, 7), (6, 2, 4), (3,), [(-1, 3)], (2,), (3,), 2),
        ((2, 3, 4, 5), (6, 1, 3, 3), (2, 2), [(1, 2), (2, 0)], (3, 2), (1, 1), 3),
        ((2, 6, 5, 4), (3, 6, 3, 3), (1, 1), [(2, 2), (-1, 1)], (2, 2), (2, 1), 1),
        ((2, 4, 5, 3), (6, 2, 3, 2), (1, 1), [(1, 0), (0, 2)], (3, 2), (1, 2), 2),
    ],
)
def test_primitive_with_stride_and_lhs_dilation(
    x_shape, w_shape, stride, padding, lhs_dilation, rhs_dilation, groups, spy
):
    """Stride and lhs dilation together, crops, and dilation: the primitive's general contract. With stride 1
    the weight gradient is that of a strided convolution of g (``grad_weight_of_stuffed``), else by phases."""
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    y_ref, gx_ref, gw_ref, g = stuffed_reference(x, w, stride, padding, lhs_dilation, rhs_dilation, groups)
    args = (stride, padding, lhs_dilation, rhs_dilation, groups)
    y = primitive.conv_general(x, w, *args)
    gx = primitive.conv_general_grad_input(g, w, x.shape[2:], *args)
    gw = primitive.conv_general_grad_weight(x, g, w.shape[2:], *args)
    for label, mine, theirs in (("output", y, y_ref), ("grad input", gx, gx_ref), ("grad weight", gw, gw_ref)):
        assert mine.shape == theirs.shape, label
        assert relative_error(mine, theirs) < 1e-12, label
    assert ({"grad_weight_polyphase"} if max(stride) > 1 else {"grad_weight_of_stuffed"}) <= spy


WORKSPACE_CASES = [
    # (name, transposed, input, weight, kwargs, a function whose call count shows the blocking)
    ("im2col rows", False, (3, 4, 12, 10), (5, 4, 3, 3), {"padding": 1}, "window_view"),
    ("im2col samples", False, (6, 2, 6, 5), (3, 2, 2, 2), {"padding": 1, "stride": 2}, "window_view"),
    ("depthwise", False, (3, 4, 20, 20), (4, 1, 3, 3), {"padding": 2, "dilation": 2, "groups": 4}, "_run_blocks"),
    ("depthwise in place", False, (1, 3, 30, 31), (3, 1, 3, 3), {"padding": 2, "dilation": 2, "groups": 3}, "_run_blocks"),
    ("depthwise by rows", False, (5, 3, 9, 10), (6, 1, 3, 3), {"padding": (1, 2), "groups": 3}, "_run_blocks"),
    ("col2im", True, (5, 6, 8, 8), (6, 3, 4, 4), {"stride": 2, "padding": 1}, "parallel_matmul"),
    ("winograd", False, (8, 16, 10, 10), (16, 16, 3, 3), {"padding": 1}, "_convolve_block"),
    ("winograd 3d", False, (6, 16, 5, 6, 4), (16, 16, 3, 3, 3), {"padding": 1}, "_convolve_block"),
]


@pytest.mark.parametrize("case", WORKSPACE_CASES, ids=[case[0] for case in WORKSPACE_CASES])
def test_small_workspace_gives_same_results_in_blocks(case, monkeypatch: pytest.MonkeyPatch) -> None:
    case_name, transposed, input_shape, weight_shape, kwargs, counted = case
    name = functional_name(transposed, len(input_shape) - 2)
    x, w, b = make_arrays(input_shape, weight_shape, transposed, kwargs.get("groups", 1), np.float64)
    reference, g = torch_run(name, x, w, b, kwargs)
    whole = npconv_run(name, x, w, b, kwargs, g)
    calls: list[tuple] = []
    module = winograd if counted == "_convolve_block" else algorithms
    original = getattr(module, counted)

    def counting(*args, **kwargs_):
        calls.append(args)
        return original(*args, **kwargs_)

    monkeypatch.setattr(module, counted, counting)
    for threshold in ("MIN_CHANNELS", "MIN_WORK"):  # Winograd for these small shapes too
        monkeypatch.setattr(winograd, threshold, dict.fromkeys(getattr(winograd, threshold), 0))
    monkeypatch.setattr(winograd, "MIN_TILES", dict.fromkeys(winograd.MIN_TILES, 1))
    monkeypatch.setattr(winograd, "WEIGHT_GRADIENT_MIN_TILES", 0)
    # the smallest workspace that still lets one sample go to Winograd, far below the whole batch
    pads = [(1, 1)] * (x.ndim - 2)
    workspace = 2048 if module is algorithms else winograd.block_bytes(x.shape, w.shape, pads, x.dtype)
    monkeypatch.setattr(algorithms, "WORKSPACE_BYTES", workspace)
    monkeypatch.setattr(algorithms, "ELEMENTWISE_BLOCK", 64)
    monkeypatch.setattr(algorithms, "IN_PLACE_BLOCK", 64)
    monkeypatch.setattr(algorithms, "MIN_RUN", 900)  # depthwise: runs of 2 samples of 22² (3 samples: a short block)
    monkeypatch.setattr(algorithms, "IN_PLACE_MIN_PLANE", 900)  # and planes of 30·31 in place
    monkeypatch.setattr(algorithms, "DEPTHWISE_GRAD_BLOCK", 1000)  # 2 samples of 22² padded positions
    monkeypatch.setattr(algorithms, "ROWS_BLOCK", 1000)  # by rows: blocks of 2, 2 and 1 samples of 11·3·12
    blocked = npconv_run(name, x, w, b, kwargs, g)
    for mine, full, theirs in zip(blocked, whole, reference):
        np.testing.assert_allclose(mine, full, rtol=1e-12, atol=1e-12)
        assert relative_error(mine, theirs) < 1e-12
    if case_name == "im2col rows":
        assert len(calls) > input_shape[0]  # a sample's rows split over several unfold steps
    elif counted == "parallel_matmul":  # col2im: one product per block of samples, here one per sample
        calls.clear()
        getattr(F, name)(npconv.tensor(x), npconv.tensor(w), npconv.tensor(b), **kwargs)
        assert len(calls) == input_shape[0]
    elif counted in ("window_view", "_convolve_block"):
        assert len(calls) > 2  # several blocks of samples
    else:
        steps = [args[2] for args in calls]
        totals = [args[1] for args in calls]
        assert any(step < total for step, total in zip(steps, totals)), "work was not split into blocks"


@pytest.mark.parametrize("in_place", [False, True], ids=["samples-side-by-side", "one-sample-a-block"])
@pytest.mark.parametrize("batch", [7, 1])
@pytest.mark.parametrize("block", [100, 1500, 7000, 1 << 18])
def test_depthwise_by_rows_in_blocks_of_samples_and_channels(
    block: int, batch: int, in_place: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``depthwise_by_rows`` and ``grad_weight_depthwise_by_rows`` with blocks that split the batch, the
    channels or (block 100: a sample's channel is 16 rows of 27) the output rows unevenly (the last block of
    each shorter, its scratch reused from a full one), on two pool workers (a batch) or in the calling
    thread with the products written into y in place (a single sample, or a batch of rows of at least
    ROWS_IN_PLACE_WIDTH columns): forward and all gradients (the bias's summed by the weight gradient)
    equal torch's, with a channel multiplier, a stride along one axis and uneven padding."""
    monkeypatch.setattr(algorithms, "THREADS", 2)
    monkeypatch.setattr(algorithms, "ROWS_BLOCK", block)
    monkeypatch.setattr(algorithms, "ROWS_IN_PLACE_WIDTH", 1 if in_place else 1 << 30)
    monkeypatch.setattr(algorithms, "ROWS_GRAD_MIN_COLUMNS", 0)
    blocks: list[str] = []
    for name in ("depthwise_by_rows", "grad_weight_depthwise_by_rows"):
        original = getattr(algorithms, name)

        def counting(*args, _name=name, _original=original, **kwargs):
            blocks.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(algorithms, name, counting)
    kwargs = {"stride": (1, 2), "padding": (2, 1), "groups": 5}
    x, w, b = make_arrays((batch, 5, 12, 17), (10, 1, 4, 3), False, 5, np.float64)
    reference, g = torch_run("conv2d", x, w, b, kwargs)
    ours = npconv_run("conv2d", x, w, b, kwargs, g)
    for label, mine, theirs in zip(("output", "grad input", "grad weight", "grad bias"), ours, reference):
        assert relative_error(mine, theirs) < 1e-12, label
    assert set(blocks) == {"depthwise_by_rows", "grad_weight_depthwise_by_rows"}
    layout = algorithms.ShiftedRows(x.shape, (4, 3), (1, 2), [(2, 2), (1, 1)], (13, 9))
    assert (len(layout.row_blocks) > 1) == (block == 100)
    forward_layout = algorithms.ShiftedRows(x.shape, (4, 3), (1, 2), [(2, 2), (1, 1)], (13, 9), by_sample=True)
    assert (forward_layout.samples == 1) == (in_place or batch == 1 or layout.samples == 1)
    if in_place and batch > 1 and block == 7000:
        assert layout.samples > 1  # the weight gradient's layout keeps samples side by side


def test_depthwise_weight_gradient_by_rows_keeps_an_infinity_in_its_channel(monkeypatch: pytest.MonkeyPatch) -> None:
    """A thread's scratch serves all the blocks it takes: in ``grad_weight_depthwise_by_rows`` a block short
    of samples (batch 3 in blocks of 2) must not contract its missing samples' zero gradients with the
    rows another channel's block left there, or an infinity in that channel turns this one's gradient into
    NaN (0 · inf). Blocks of one channel, all in the calling thread: the short block (samples 2…2, channel
    0) follows the full one of channel 5, whose sample 1 holds the infinity."""
    monkeypatch.setattr(algorithms, "THREADS", 1)
    monkeypatch.setattr(algorithms, "ROWS_BLOCK", 900)
    monkeypatch.setattr(algorithms, "ROWS_GRAD_MIN_COLUMNS", 0)
    layout = algorithms.ShiftedRows((3, 6, 12, 17), (4, 3), (1, 2), [(2, 2), (1, 1)], (13, 9))
    assert (layout.samples, layout.channels) == (2, 1)
    called = []
    original = algorithms.grad_weight_depthwise_by_rows

    def counting(*args, **kwargs):
        called.append(True)
        return original(*args, **kwargs)

    monkeypatch.setattr(algorithms, "grad_weight_depthwise_by_rows", counting)
    kwargs = {"stride": (1, 2), "padding": (2, 1), "groups": 6}
    x, w, b = make_arrays((3, 6, 12, 17), (6, 1, 4, 3), False, 6, np.float64)
    x[1, 5, 6, 8] = np.inf
    reference, g = torch_run("conv2d", x, w, b, kwargs)
    ours = npconv_run("conv2d", x, w, b, kwargs, g)
    assert called
    grad_weight, reference_grad_weight = ours[2], reference[2]
    assert not np.isfinite(reference_grad_weight[5]).all() and np.isfinite(reference_grad_weight[:5]).all()
    np.testing.assert_array_equal(np.isfinite(grad_weight), np.isfinite(reference_grad_weight))
    assert relative_error(grad_weight[:5], reference_grad_weight[:5]) < 1e-12


@pytest.mark.parametrize("block", [900, 2000, 1 << 18])
def test_depthwise_by_planes_in_blocks_of_channels(block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """``depthwise_by_planes`` with blocks of channels that split them unevenly (block 2000: 2 channels of
    9 taps × 4 · 25 positions a block, the last block shorter, its scratch reused from a full one; block
    900: one channel a block) or not at all, for the forward and the input gradient (the flipped kernel of
    its adjoint): results and every gradient equal torch's, with uneven padding."""
    monkeypatch.setattr(algorithms, "PLANES_BLOCK", block)
    x, w, b = make_arrays((1, 5, 4, 21), (5, 1, 3, 3), False, 5, np.float64)
    calls = _planes_calls_equal_to_torch(x, w, b, {"padding": (1, 2), "groups": 5}, monkeypatch)
    assert calls == [5, 5]  # the forward and the input gradient


def _planes_calls_equal_to_torch(x, w, b, kwargs: dict, monkeypatch: pytest.MonkeyPatch) -> list[int]:  # noqa: ANN001
    """conv2d's result and every gradient equal to torch's (float64, within 1e-12); returns the channel
    counts of the calls that went to ``depthwise_by_planes``."""
    calls: list[int] = []
    original = algorithms.depthwise_by_planes

    def counting(*args, **kwargs):
        calls.append(args[0].shape[1])
        return original(*args, **kwargs)

    monkeypatch.setattr(algorithms, "depthwise_by_planes", counting)
    reference, g = torch_run("conv2d", x, w, b, kwargs)
    ours = npconv_run("conv2d", x, w, b, kwargs, g)
    for label, mine, theirs in zip(("output", "grad input", "grad weight", "grad bias"), ours, reference):
        assert relative_error(mine, theirs) < 1e-12, label
    return calls


@pytest.mark.parametrize(
    ("w_shape", "kwargs", "flat"),
    [
        ((5, 1, 3, 3), {"padding": 1, "groups": 5}, True),
        ((10, 1, 3, 3), {"padding": 1, "groups": 5}, True),  # two output channels per input channel
        ((5, 1, 3, 2), {"padding": "same", "groups": 5}, True),  # padding only on the right of each row
        ((5, 1, 2, 3), {"padding": (0, 1), "dilation": (2, 1), "groups": 5}, True),
        ((5, 1, 3, 3), {"padding": 2, "dilation": 2, "groups": 5}, False),  # reads two columns beyond a row
        ((5, 1, 5, 5), {"padding": 2, "groups": 5}, False),
    ],
)
def test_depthwise_by_planes_with_rows_of_the_input_width(
    w_shape: tuple, kwargs: dict, flat: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``depthwise_by_planes`` with the planes' rows W wide (``flat_planes``: the column that a tap reads
    from the neighbouring row zeroed, the products written into y) where each tap reads at most one column
    beyond a row's end, else W_pad wide: forward and every gradient equal torch's, with blocks of channels
    that split them unevenly."""
    monkeypatch.setattr(algorithms, "PLANES_BLOCK", 2000)
    x, w, b = make_arrays((1, 5, 6, 7), w_shape, False, w_shape[0], np.float64)
    dilation = kwargs.get("dilation", (1, 1))
    dilation = (dilation, dilation) if isinstance(dilation, int) else dilation
    out_width = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), **kwargs).shape[-1]
    left = (dilation[1] * (w_shape[3] - 1)) // 2 if kwargs["padding"] == "same" else np.broadcast_to(kwargs["padding"], 2)[1]
    assert algorithms.flat_planes(7, out_width, w_shape[3], int(left), dilation[1]) == flat
    calls = _planes_calls_equal_to_torch(x, w, b, kwargs, monkeypatch)
    assert calls[0] == 5  # the forward went by planes


def test_col2im_reads_a_transposed_convolutions_kernel_in_place() -> None:
    """A transposed convolution's kernel reaches ``conv_col2im`` flipped with its channel axes exchanged (a
    view of the weights): the product reads the weights through that view instead of first copying them
    into place, so the call's scratch stays far below the kernel's size, and the result equals torch's."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 256, 3, 3))
    w = rng.standard_normal((256, 128, 4, 4))  # 4 MiB in float64; the product of one sample is 1.1 MiB
    b = rng.standard_normal(128)
    kernel = primitive.flip_and_swap_channels(w, 1)
    assert any(step < 0 for step in kernel.strides)
    expected = torch_functional.conv_transpose2d(
        torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), stride=2, padding=1
    ).numpy()
    tracemalloc.start()
    tracemalloc.reset_peak()
    y = algorithms.conv_col2im(x, kernel, [(2, 2), (2, 2)], (2, 2), (1, 1), 1, b)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert relative_error(y, expected) < 1e-12
    assert peak < w.nbytes / 2


def test_workspace_bounds_peak_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scratch memory of a forward convolution follows WORKSPACE_BYTES (tracemalloc sees NumPy's buffers)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 16, 48, 48)).astype(np.float32)
    w = rng.standard_normal((16, 16, 3, 3)).astype(np.float32)
    args = ((1, 1), [(1, 1), (1, 1)], (1, 1), (1, 1), 1)
    expected = torch_functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1).numpy()

    def peak_extra() -> int:
        tracemalloc.start()
        tracemalloc.reset_peak()
        y = primitive.conv_general(x, w, *args)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert relative_error(y, expected) < 1e-5
        return peak - y.nbytes

    unfolded_bytes = 4 * 16 * 9 * 48 * 48 * 4  # the whole im2col matrix: 5.3 MB
    assert peak_extra() < 1.5 * unfolded_bytes
    workspace = 256 * 1024
    monkeypatch.setattr(algorithms, "WORKSPACE_BYTES", workspace)
    assert peak_extra() < 3 * workspace


def test_depthwise_by_rows_bounds_its_scratch_on_large_planes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A depthwise convolution by rows of planes too large for one block splits them into blocks of rows:
    with ROWS_BLOCK at 2¹⁶ elements (256 KiB), a 768² plane's kw shifted copies (7 MiB) never sit whole in
    one worker's scratch."""
    monkeypatch.setattr(algorithms, "THREADS", 2)
    monkeypatch.setattr(algorithms, "ROWS_BLOCK", 1 << 16)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2, 768, 768)).astype(np.float32)
    w = rng.standard_normal((2, 1, 3, 3)).astype(np.float32)
    expected = torch_functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1, groups=2).numpy()
    primitive.conv_general(x, w, (1, 1), [(1, 1), (1, 1)], (1, 1), (1, 1), 2)  # the pool started, warmed up
    tracemalloc.start()
    tracemalloc.reset_peak()
    y = primitive.conv_general(x, w, (1, 1), [(1, 1), (1, 1)], (1, 1), (1, 1), 2)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert relative_error(y, expected) < 1e-5
    assert peak - y.nbytes < 4 * (1 << 16) * 4 * 2  # a few blocks' buffers (2 workers), far below 7 MiB


def test_the_pool_warms_up_every_worker_with_single_threaded_blas_before_any_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When the pool starts, each of its THREADS workers runs ``warm_up_blas`` once, with BLAS limited to one
    thread as for the products it will run, and only then does the first work begin."""
    from threadpoolctl import threadpool_info

    events: list[tuple[str, str, list[int]]] = []

    def warm_up() -> None:
        blas = [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]
        events.append(("warm-up", threading.current_thread().name, blas))

    def work(start: int, stop: int) -> None:
        events.append(("work", threading.current_thread().name, []))

    monkeypatch.setattr(algorithms, "THREADS", 3)
    monkeypatch.setattr(algorithms, "warm_up_blas", warm_up)
    monkeypatch.setattr(algorithms, "_pool", None)
    try:
        algorithms._run_blocks(work, 6, 1)
        algorithms._run_blocks(work, 6, 1)
    finally:
        if algorithms._pool is not None:
            algorithms._pool.shutdown()
    kinds = [kind for kind, _, _ in events]
    assert kinds == ["warm-up"] * 3 + ["work"] * 12
    warmed = {name for _, name, _ in events[:3]}
    assert len(warmed) == 3 and all(name.startswith("npconv") for name in warmed)
    # the blocks run in warmed workers and in the calling thread, which takes its share too
    assert {name for _, name, _ in events[3:]} <= warmed | {threading.current_thread().name}
    assert all(blas and set(blas) == {1} for _, _, blas in events[:3])


def test_blocks_run_once_each_in_the_workers_and_the_calling_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """``_run_blocks`` runs every block exactly once, in pool workers and in the calling thread, which
    takes blocks too; a parallel helper inside a block runs whole in that block's thread (no nested split);
    an exception in any block reaches the caller."""
    monkeypatch.setattr(algorithms, "THREADS", 2)
    ran: list[tuple[int, str, list[tuple[int, int]]]] = []
    lock = threading.Lock()

    def block(start: int, stop: int) -> None:
        time.sleep(0.002)  # long enough for both threads to take blocks
        parts: list[tuple[int, int]] = []
        algorithms.parallel_channels(lambda c0, c1: parts.append((c0, c1)), 8)
        with lock:
            ran.append((start, threading.current_thread().name, parts))

    with algorithms.single_threaded_blas(algorithms.PARALLEL_WORK):
        algorithms._run_blocks(block, 20, 1)
    assert sorted(start for start, _, _ in ran) == list(range(20))
    names = {name for _, name, _ in ran}
    assert threading.current_thread().name in names and any(name.startswith("npconv") for name in names)
    assert all(parts == [(0, 8)] for _, _, parts in ran)

    def failing(start: int, stop: int) -> None:
        if start == 7:
            raise ValueError("block 7")

    for _ in range(3):
        with pytest.raises(ValueError, match="block 7"):
            algorithms._run_blocks(failing, 12, 1)
    done: list[int] = []
    algorithms._run_blocks(lambda start, stop: done.append(start), 6, 1)  # the pool still works
    assert sorted(done) == list(range(6))


def test_a_call_does_not_wait_for_busy_workers_once_the_calling_thread_has_run_every_block(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With every pool worker busy elsewhere, the calling thread runs all the blocks itself and returns at
    once: the helpers it handed out, not started yet, are cancelled rather than waited for."""
    monkeypatch.setattr(algorithms, "THREADS", 2)
    algorithms._run_blocks(lambda start, stop: None, 2, 1)  # the pool exists
    release = threading.Event()
    busy = [algorithms._pool.submit(release.wait, 5.0) for _ in range(algorithms._pool._max_workers)]
    done: list[int] = []
    try:
        began = time.perf_counter()
        algorithms._run_blocks(lambda start, stop: done.append(start), 4, 1)
        elapsed = time.perf_counter() - began
    finally:
        release.set()
        for future in busy:
            future.result()
    assert sorted(done) == [0, 1, 2, 3]
    assert elapsed < 1.0
    algorithms._run_blocks(lambda start, stop: done.append(start), 4, 1)  # the pool still works
    assert sorted(done) == [0, 0, 1, 1, 2, 2, 3, 3]


def test_a_call_keeps_nothing_of_its_blocks_once_it_returns(monkeypatch: pytest.MonkeyPatch) -> None:
    """A helper cancelled while every worker was busy stays in the pool's queue until a worker takes it;
    it then holds nothing of the call that handed it out, whose blocks' arrays are freed as the call
    returns."""
    monkeypatch.setattr(algorithms, "THREADS", 2)
    algorithms._run_blocks(lambda start, stop: None, 2, 1)  # the pool exists
    release = threading.Event()
    busy = [algorithms._pool.submit(release.wait, 5.0) for _ in range(algorithms._pool._max_workers)]
    scratch = np.zeros(1000)
    freed = weakref.ref(scratch)
    try:
        algorithms._run_blocks(lambda start, stop, _scratch=scratch: _scratch.sum(), 4, 1)
        del scratch
        assert freed() is None
    finally:
        release.set()
        for future in busy:
            future.result()


class FakeAffinity:
    """os.sched_getaffinity / os.sched_setaffinity over a table of thread ids (0: the calling thread)."""

    def __init__(self, cores: set[int]) -> None:
        self.masks: dict[int, frozenset[int]] = {0: frozenset(cores)}
        self.calls: list[tuple[int, frozenset[int]]] = []

    def get(self, thread: int) -> set[int]:
        return set(self.masks.get(thread, self.masks[0] if thread == 0 else frozenset()))

    def set(self, thread: int, mask) -> None:
        self.calls.append((thread, frozenset(mask)))
        self.masks[thread] = frozenset(mask)


def test_worker_cores_hold_the_caller_and_keep_the_workers_off_its_core(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the process may use exactly THREADS cores, a pool call after a pause holds the calling thread on
    its core and confines every worker to the other cores, and gives the caller its cores back at the end;
    a call right after another one holds nothing, but moves the workers off the caller's core if it is
    theirs; workers already off it stay as they are; a caller whose own set of cores was narrowed is not
    held, a worker's own call moves nothing, and a process with more cores than THREADS is left to the
    scheduler."""
    monkeypatch.setattr(algorithms, "THREADS", 2)
    affinity = FakeAffinity({0, 1})
    monkeypatch.setattr(os, "sched_getaffinity", affinity.get)
    monkeypatch.setattr(os, "sched_setaffinity", affinity.set)
    core = [1]
    monkeypatch.setattr(algorithms, "_current_core_function", lambda: lambda: core[0])
    cores = algorithms.WorkerCores([101, 102])
    assert cores.hold()
    assert affinity.calls == [(0, {1}), (101, {0}), (102, {0})]
    cores.release(True)
    assert affinity.masks[0] == {0, 1}
    affinity.calls.clear()
    assert not cores.hold()  # right after the last call
    cores.release(False)
    assert affinity.calls == []
    cores.last_end -= 2 * algorithms.PAUSE_BEFORE_HOLDING
    assert cores.hold()
    assert affinity.calls == [(0, {1})]  # the workers are off core 1 already
    cores.release(True)
    core[0] = 0  # the caller moved to the workers' core: they move
    cores.last_end = 0.0
    affinity.calls.clear()
    assert cores.hold()
    assert affinity.calls == [(0, {0}), (101, {1}), (102, {1})]
    cores.release(True)
    core[0] = 1  # right after a call, the caller on the workers' core: they move, the caller is not held
    affinity.calls.clear()
    assert not cores.hold()
    assert affinity.calls == [(101, {0}), (102, {0})]
    cores.release(False)
    affinity.calls.clear()
    affinity.masks[0] = frozenset({1})  # narrowed by the user: not held
    cores.last_end = 0.0
    assert not cores.hold()
    cores.release(False)
    assert affinity.calls == [] and affinity.masks[0] == {1}
    affinity.masks[0] = frozenset({0, 1})
    own = algorithms.WorkerCores([threading.get_native_id(), 102])  # a worker's own pool call
    assert not own.hold()
    assert affinity.calls == []
    affinity.masks[0] = frozenset({0, 1, 2})  # more cores than THREADS: nothing is pinned
    wide = algorithms.WorkerCores([101, 102])
    assert not wide.hold()
    assert affinity.calls == []


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="thread affinity exists only on Linux")
def test_a_pool_call_after_a_pause_runs_caller_and_workers_on_separate_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    """On this machine: after a pause, each block of a pool call runs on a core the others' threads are
    kept off (when the process may use exactly THREADS cores; otherwise every thread keeps the whole set),
    and the caller's own set of cores is the same after the call as before."""
    monkeypatch.setattr(algorithms, "THREADS", max(2, algorithms.THREADS))  # a pool even on a single core
    algorithms._run_blocks(lambda start, stop: None, 2, 1)  # the pool exists
    cores = algorithms._cores
    before = os.sched_getaffinity(0)
    seen: list[tuple[bool, frozenset[int]]] = []
    caller = threading.get_ident()
    started = threading.Barrier(2)

    def block(start: int, stop: int) -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            started.wait(timeout=2.0)  # both threads at work at once
        seen.append((threading.get_ident() == caller, frozenset(os.sched_getaffinity(0))))

    cores.last_end = 0.0
    algorithms._run_blocks(block, 2, 1)
    assert os.sched_getaffinity(0) == before
    masks = dict(seen)
    assert set(masks) == {True, False}, "the caller and a worker each ran a block"
    if cores.current_core is not None:
        assert len(masks[True]) == 1 and not masks[True] & masks[False]
    else:
        assert masks[True] == before


def test_threads_making_their_first_parallel_call_at_once_share_one_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two threads that both find no pool start exactly one between them, and both use it."""
    started: list[object] = []

    def slow_start():  # noqa: ANN202 - returns a ThreadPoolExecutor
        time.sleep(0.2)  # long enough for the other thread to arrive while the pool is being made
        pool = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="npconv-test")
        started.append(pool)
        return pool

    monkeypatch.setattr(algorithms, "THREADS", 2)
    monkeypatch.setattr(algorithms, "_pool", None)
    monkeypatch.setattr(algorithms, "_start_pool", slow_start)
    done: list[int] = []
    threads = [
        threading.Thread(target=algorithms._run_blocks, args=(lambda a, b: done.append(b - a), 4, 2)) for _ in range(2)
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        for pool in started:
            pool.shutdown()
    assert len(started) == 1
    assert sorted(done) == [2, 2, 2, 2]


@pytest.mark.parametrize(("batch", "pooled"), [(1, False), (2, True)])
def test_a_single_sample_uses_blas_threads_and_a_batch_the_pool(
    batch: int, pooled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batch 1: the products run on BLAS's own threads (not split over the pool); a batch large enough for
    threads goes through ``single_threaded_blas``, forward and both gradients, so that BLAS's threads are
    never woken to spin beside the pool. Values still match torch."""
    monkeypatch.setattr(algorithms, "THREADS", 2)
    modes: list[bool] = []
    products: list[bool] = []  # every np.matmul, not only those through parallel_matmul
    original, original_matmul = algorithms.parallel_matmul, np.matmul

    def recording(*args, **kwargs):
        modes.append(on_the_pool())
        return original(*args, **kwargs)

    def recording_matmul(*args, **kwargs):
        products.append(on_the_pool())
        return original_matmul(*args, **kwargs)

    monkeypatch.setattr(algorithms, "parallel_matmul", recording)
    monkeypatch.setattr(np, "matmul", recording_matmul)
    x, w, b = make_arrays((batch, 32, 32, 32), (48, 32, 3, 3), False, 1, np.float32)
    assert x[0].size * w.shape[0] * 9 >= algorithms.PARALLEL_WORK // batch
    reference, g = torch_run("conv2d", x, w, b, {"padding": 1, "stride": 2})
    ours = npconv_run("conv2d", x, w, b, {"padding": 1, "stride": 2}, g)
    for mine, theirs in zip(ours, reference):
        assert relative_error(mine, theirs) < 1e-5
    assert modes and all(mode == pooled for mode in modes)
    assert products and all(mode == pooled for mode in products)


def test_repeated_calls_reuse_scratch_memory_instead_of_faulting_in_new_pages() -> None:
    """In a fresh process, a repeated ResNet-sized convolution gets its scratch buffers from memory the
    allocator kept (glibc's raised mmap threshold), not from new pages: almost no page faults per call.
    Without ``keep_scratch_memory_mapped`` this call takes about 2000."""
    import subprocess
    import sys

    script = """
import resource, numpy as np, npconv, npconv.nn.functional as F
x, w = npconv.randn(1, 64, 56, 56), npconv.randn(64, 64, 3, 3)
def faults():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    F.conv2d(x, w, padding=1)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
faults(); faults()
print(faults())
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert int(result.stdout) < 100


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork exists only on POSIX systems")
def test_a_forked_child_runs_batched_convolutions_on_a_pool_of_its_own() -> None:
    """After the parent has used the pool, a child made by fork() (multiprocessing's default start method
    on Linux) computes a batched convolution instead of waiting for worker threads it does not have."""
    import subprocess
    import sys

    script = """
import os, signal, numpy as np, npconv, npconv.nn.functional as F
x, w = npconv.randn(4, 16, 32, 32), npconv.randn(16, 16, 3, 3)
with npconv.no_grad():
    expected = F.conv2d(x, w, padding=1).numpy()
pid = os.fork()
if pid == 0:
    signal.alarm(20)
    with npconv.no_grad():
        y = F.conv2d(x, w, padding=1).numpy()
    os._exit(0 if np.allclose(y, expected, rtol=1e-5, atol=1e-5) else 3)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120)
    assert int(result.stdout) == 0


@pytest.mark.parametrize("m", [2, 4])
def test_winograd_one_dimensional_transforms_compute_the_correlation(m: int) -> None:
    """Each axis's F(m, 3) (m = 2, and m = 4 at the points 0, ±1, 1/2, −2): Aᵀ [(G g) ⊙ (Bᵀ d)] gives the
    m outputs Σ_k d[i + k] · g[k] of an (m + 2)-input window, for random d and g in float64."""
    if m == 2:
        transforms = (
            np.array([[1, 1, 1, 0], [0, 1, -1, -1]]),
            winograd.KERNEL_TRANSFORM,
            np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]),
        )
    else:
        transforms = (winograd.ROWS_OUTPUT_TRANSFORM, winograd.ROWS_KERNEL_TRANSFORM, winograd.ROWS_INPUT_TRANSFORM)
    output, kernel, inputs = transforms
    assert output.shape == (m, m + 2) and kernel.shape == (m + 2, 3) and inputs.shape == (m + 2, m + 2)
    rng = np.random.default_rng(11)
    for _ in range(5):
        d, g = rng.standard_normal(m + 2), rng.standard_normal(3)
        expected = [d[i : i + 3] @ g for i in range(m)]
        np.testing.assert_allclose(output @ ((kernel @ g) * (inputs @ d)), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "shape, flips, outputs",
    [
        ((6, 5, 3, 3), (2, 3), (2, 2)),
        ((6, 5, 3, 3), (3,), (2, 2)),
        ((6, 5, 3, 3), (), (2, 2)),
        ((4, 1, 3, 3), (2, 3), (2, 2)),
        ((6, 5, 3, 3), (2, 3), (4, 2)),
        ((6, 5, 3, 3), (2,), (4, 2)),
        ((6, 5, 3, 3), (), (4, 2)),
        ((3, 4, 3, 3, 3), (2, 3, 4), (2, 2, 2)),
        ((3, 4, 3, 3, 3), (2, 4), (2, 2, 2)),
        ((3, 4, 3, 3, 3), (2, 3, 4), (4, 2, 2)),
    ],
)
@pytest.mark.parametrize("exchanged", [False, True], ids=["channels-in-place", "channels-exchanged"])
def test_winograd_kernel_transform_of_flipped_and_exchanged_views(shape, flips, outputs, exchanged: bool) -> None:
    """A kernel given as a view with flipped axes and/or its channel axes exchanged (as the input gradient
    passes it) transforms to exactly what its contiguous copy does, computed from the definition
    U[ξ₀, ξ₁, …] = Σ_t G₀[ξ₀, t₀] · G₁[ξ₁, t₁] ⋯ w[:, :, t], with each axis's G for its outputs per tile."""
    rng = np.random.default_rng(7)
    base = rng.standard_normal(shape)
    view = np.flip(base, axis=flips) if flips else base
    if exchanged:
        view = view.swapaxes(0, 1)
    copy = np.ascontiguousarray(view)
    expected = copy
    for m in reversed(outputs):  # contract the last tap axis with its G, moving the index to the front
        matrix = winograd.ROWS_KERNEL_TRANSFORM if m == 4 else winograd.KERNEL_TRANSFORM
        expected = np.moveaxis(np.tensordot(expected, matrix, axes=([-1], [1])), -1, 0)
    expected = expected.reshape(-1, *copy.shape[:2])
    result = winograd.transform_kernel(view, outputs)
    assert result.shape == expected.shape == (math.prod(m + 2 for m in outputs), *copy.shape[:2])
    np.testing.assert_allclose(result, expected, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("ndim", [2, 3])
def test_winograd_input_gradient_kernel_is_transformed_without_a_copy_of_the_kernel(ndim: int) -> None:
    """The input gradient's kernel (w flipped, channels exchanged: a view) is transformed reading w in
    place: beyond the result, the transform allocates less than half of w's size (a copy of the view into
    contiguous order would take all of it)."""
    w = np.random.default_rng(8).standard_normal((96, 80) + (3,) * ndim)
    view = primitive.flip_and_swap_channels(w, 1)
    winograd.transform_kernel(view)  # the transform matrices' caches filled
    tracemalloc.start()
    try:
        result = winograd.transform_kernel(view)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.shape == (4**ndim, 80, 96)
    assert peak - result.nbytes < w.nbytes / 2


@pytest.mark.parametrize("pooled", [False, True], ids=["calling-thread", "pool-workers"])
@pytest.mark.parametrize(
    "input_shape, weight_shape, kwargs, mixed",
    [
        ((3, 6, 9, 8), (5, 6, 3, 3), {"padding": 1}, False),
        ((2, 4, 7, 8), (4, 4, 3, 3), {"padding": (0, 2)}, False),
        ((2, 6, 11, 10), (5, 6, 3, 3), {"padding": 2, "dilation": 2}, False),
        ((2, 3, 5, 6, 4), (4, 3, 3, 3, 3), {"padding": 1}, False),
        ((3, 6, 9, 8), (5, 6, 3, 3), {"padding": 1}, True),
        ((2, 6, 11, 10), (5, 6, 3, 3), {"padding": 2, "dilation": 2}, True),
        ((2, 3, 5, 6, 4), (4, 3, 3, 3, 3), {"padding": 1}, True),
    ],
    ids=["2d", "2d uneven padding, square channels", "2d dilated", "3d", "2d F(4×2)", "2d dilated F(4×2)", "3d F(4×2×2)"],
)
def test_winograd_input_gradient_reuses_the_forward_kernel_transform(
    input_shape, weight_shape, kwargs, mixed: bool, pooled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the forward and the input gradient both computed by Winograd, the kernel is transformed once:
    the input gradient (F(2×…×2)) takes the forward's U — after a forward in F(4×2…), its first axis's
    rows picked and scaled — with its channel axes exchanged and transform slots 0 and 3 exchanged.
    Forward and all gradients equal torch's in float64. Without an input gradient to compute, nothing is
    kept."""
    for threshold in ("MIN_CHANNELS", "MIN_WORK"):
        monkeypatch.setattr(winograd, threshold, dict.fromkeys(getattr(winograd, threshold), 0))
    monkeypatch.setattr(winograd, "MIN_TILES", dict.fromkeys(winograd.MIN_TILES, 1))
    monkeypatch.setattr(winograd, "WEIGHT_GRADIENT_MIN_TILES", 0)
    monkeypatch.setattr(winograd, "MIN_TILES_ONE_SAMPLE", 1)
    if not mixed:
        monkeypatch.setattr(winograd, "outputs_per_tile", lambda batch, out: (2,) * len(out))
    if pooled:  # the kernel transforms in column shares too
        monkeypatch.setattr(algorithms, "PARALLEL_WORK", 0)
        monkeypatch.setattr(algorithms, "THREADS", 2)
        monkeypatch.setattr(winograd, "PARALLEL_TRANSFORM", 0)
    transformed: list[tuple[int, ...]] = []
    forms: list[tuple[int, ...]] = []
    reflected: list[bool] = []
    original_transform, original_block = winograd.transform_kernel, winograd._convolve_block

    def counting_transform(w, outputs=None):
        transformed.append(w.shape)
        forms.append(outputs)
        return original_transform(w, outputs)

    def recording_block(padded, kernel, target, bias, slots=winograd.SLOTS, kept=None):
        reflected.append(slots == winograd.REFLECTED_SLOTS)
        forms.append(target.shape[3::2])
        return original_block(padded, kernel, target, bias, slots, kept)

    monkeypatch.setattr(winograd, "transform_kernel", counting_transform)
    monkeypatch.setattr(winograd, "_convolve_block", recording_block)
    name = functional_name(False, len(input_shape) - 2)
    x, w, b = make_arrays(input_shape, weight_shape, False, 1, np.float64)
    reference, g = torch_run(name, x, w, b, kwargs)
    ours = npconv_run(name, x, w, b, kwargs, g)
    for label, mine, theirs in zip(("output", "grad input", "grad weight", "grad bias"), ours, reference):
        assert mine.shape == theirs.shape, label
        assert relative_error(mine, theirs) < 1e-12, label
    ndim = len(input_shape) - 2
    assert transformed == [weight_shape]
    assert True in reflected and False in reflected
    if mixed:
        mixed_form = (4,) + (2,) * (ndim - 1)
        assert forms[0] == mixed_form and set(forms[1:]) == {mixed_form, (2,) * ndim}  # transform; blocks
    else:
        assert set(forms) == {(2,) * ndim}
    # complex: the input gradient's kernel is conjugated, so it transforms its own
    transformed.clear()
    xc, wc, bc = (a + 1j * np.random.default_rng(3).standard_normal(a.shape) for a in (x, w, b))
    reference, gc = torch_run(name, xc, wc, bc, kwargs)
    ours = npconv_run(name, xc, wc, bc, kwargs, gc)
    for label, mine, theirs in zip(("output", "grad input", "grad weight", "grad bias"), ours, reference):
        assert np.abs(mine - theirs).max() < 1e-12 * np.abs(theirs).max(), label
    assert len(transformed) == 2
    # the input needs no gradient: the forward keeps no transform
    tensors = [npconv.tensor(x), npconv.tensor(w, requires_grad=True), npconv.tensor(b, requires_grad=True)]
    y = getattr(F, name)(*tensors, **kwargs)
    assert y.grad_fn is not None and y._node.ctx.transforms is None


def winograd_for_small_shapes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let Winograd take convolutions of a few channels and tiles."""
    for threshold in ("MIN_CHANNELS", "MIN_WORK"):
        monkeypatch.setattr(winograd, threshold, dict.fromkeys(getattr(winograd, threshold), 0))
    monkeypatch.setattr(winograd, "MIN_TILES", dict.fromkeys(winograd.MIN_TILES, 1))
    monkeypatch.setattr(winograd, "MIN_TILES_ONE_SAMPLE", 1)


@pytest.mark.parametrize("pooled", [False, True], ids=["calling-thread", "pool-workers"])
def test_a_kernel_that_needs_no_gradient_keeps_its_winograd_transform_while_unchanged(
    pooled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A forward whose kernel needs no gradient (inference, a frozen layer) transforms a kernel once and
    reuses the transform while the kernel's memory holds the same bits: changed in place by one element,
    it is transformed again; a kernel that needs a gradient is transformed every time and not kept; the
    entries go with the kernel's array and stay within REMEMBERED_BYTES. Every output and gradient equals
    torch's in float64."""
    winograd_for_small_shapes(monkeypatch)
    monkeypatch.setattr(winograd, "REMEMBERED_MIN_PAIRS", dict.fromkeys(winograd.REMEMBERED_MIN_PAIRS, 0))
    remembered = winograd.RememberedTransforms()
    monkeypatch.setattr(winograd, "REMEMBERED", remembered)
    if pooled:
        monkeypatch.setattr(algorithms, "PARALLEL_WORK", 0)
        monkeypatch.setattr(algorithms, "THREADS", 2)
    transformed: list[tuple[int, ...]] = []
    original_transform = winograd.transform_kernel

    def counting_transform(w, outputs=None):
        transformed.append(w.shape)
        return original_transform(w, outputs)

    monkeypatch.setattr(winograd, "transform_kernel", counting_transform)
    kwargs = {"padding": 1}
    x, w, b = make_arrays((2, 6, 9, 8), (5, 6, 3, 3), False, 1, np.float64)
    weight, bias = npconv.tensor(w.copy()), npconv.tensor(b)

    def inference() -> np.ndarray:
        with npconv.no_grad():
            return F.conv2d(npconv.tensor(x), weight, bias, **kwargs).numpy()

    def expected() -> np.ndarray:
        return torch_functional.conv2d(*(torch.tensor(a) for a in (x, weight.numpy(), b)), **kwargs).numpy()

    for calls in (1, 1, 1):
        assert relative_error(inference(), expected()) < 1e-12
        assert len(transformed) == calls
    weight.numpy()[3, 2, 1, 0] += 0.5  # in place, as an optimizer step or ``weight.data[...] = ...`` would
    assert relative_error(inference(), expected()) < 1e-12
    assert len(transformed) == 2 and len(remembered.entries) == 1
    weight.numpy()[3, 2, 1, 0] = -0.0 if weight.numpy()[3, 2, 1, 0] == 0.0 else 0.0  # any bit counts
    inference()
    assert len(transformed) == 3

    # the same values in another array: an entry of its own, and both are kept
    other = npconv.tensor(weight.numpy().copy())
    with npconv.no_grad():
        F.conv2d(npconv.tensor(x), other, bias, **kwargs)
    assert len(transformed) == 4 and len(remembered.entries) == 2
    inference()
    assert len(transformed) == 4

    # a frozen kernel under an input that needs a gradient: kept, and serving the input gradient too
    reference, g = torch_run("conv2d", x, weight.numpy(), b, kwargs)
    inputs = npconv.tensor(x, requires_grad=True)
    y = F.conv2d(inputs, weight, bias, **kwargs)
    y.backward(npconv.tensor(g))
    assert relative_error(y.detach().numpy(), reference[0]) < 1e-12
    assert relative_error(inputs.grad.numpy(), reference[1]) < 1e-12
    assert len(transformed) == 4

    # a kernel that needs a gradient: transformed on every call, nothing kept
    trained = npconv.tensor(weight.numpy().copy(), requires_grad=True)
    for calls in (5, 6):
        ours = npconv_run("conv2d", x, trained.detach().numpy(), b, kwargs, g)
        for mine, theirs in zip(ours, reference):
            assert relative_error(mine, theirs) < 1e-12
        assert len(transformed) == calls
    F.conv2d(npconv.tensor(x), trained, bias, **kwargs)
    assert len(transformed) == 7 and len(remembered.entries) == 2

    # entries go with their kernel's array, or all at once with ``clear``
    del other
    gc.collect()
    assert len(remembered.entries) == 1
    remembered.clear()
    assert not remembered.entries and remembered.bytes == 0
    assert relative_error(inference(), expected()) < 1e-12
    assert len(transformed) == 8 and len(remembered.entries) == 1
    # and stay within REMEMBERED_BYTES: a transform that would go beyond is not kept, the kept one stays
    monkeypatch.setattr(winograd, "REMEMBERED_BYTES", remembered.bytes + 1)
    second = npconv.tensor(w[::-1].copy())
    for kernel, calls in ((second, 9), (weight, 9), (second, 10), (weight, 10)):
        with npconv.no_grad():
            ours = F.conv2d(npconv.tensor(x), kernel, bias, **kwargs).numpy()
        theirs = torch_functional.conv2d(*(torch.tensor(a) for a in (x, kernel.numpy(), b)), **kwargs).numpy()
        assert relative_error(ours, theirs) < 1e-12
        assert len(transformed) == calls
        assert len(remembered.entries) == 1 and remembered.bytes <= winograd.REMEMBERED_BYTES
    # a kernel changed in place gives up its entry's room, which the next transform may take
    weight.numpy()[0, 0, 0, 0] += 1.0
    with npconv.no_grad():
        F.conv2d(npconv.tensor(x), second, bias, **kwargs)
        F.conv2d(npconv.tensor(x), weight, bias, **kwargs)
    assert len(transformed) == 12 and len(remembered.entries) == 1


def test_kept_kernel_transforms_beyond_the_limit_do_not_evict_each_other_in_a_cycle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Layers called in a cycle, as a network's are, whose transforms do not all fit REMEMBERED_BYTES: the
    ones that fit stay kept and serve every later cycle (evicting the least recently used to make room
    would drop each just before its next call, and no call would find its transform), the others are
    transformed on each call; outputs equal torch's in float64."""
    winograd_for_small_shapes(monkeypatch)
    monkeypatch.setattr(winograd, "REMEMBERED_MIN_PAIRS", dict.fromkeys(winograd.REMEMBERED_MIN_PAIRS, 0))
    remembered = winograd.RememberedTransforms()
    monkeypatch.setattr(winograd, "REMEMBERED", remembered)
    transformed: list[int] = []
    original_transform = winograd.transform_kernel

    def counting_transform(w, outputs=None):
        transformed.append(1)
        return original_transform(w, outputs)

    monkeypatch.setattr(winograd, "transform_kernel", counting_transform)
    x, w, b = make_arrays((2, 6, 9, 8), (5, 6, 3, 3), False, 1, np.float64)
    kernels = [npconv.tensor(w * (k + 1)) for k in range(3)]
    with npconv.no_grad():
        F.conv2d(npconv.tensor(x), kernels[0], padding=1)
    entry_bytes = remembered.bytes
    remembered.clear()
    monkeypatch.setattr(winograd, "REMEMBERED_BYTES", 2 * entry_bytes)  # room for two of the three
    transformed.clear()
    for cycle in range(1, 5):
        for kernel in kernels:
            with npconv.no_grad():
                ours = F.conv2d(npconv.tensor(x), kernel, npconv.tensor(b), padding=1).numpy()
            theirs = torch_functional.conv2d(*(torch.tensor(a) for a in (x, kernel.numpy(), b)), padding=1).numpy()
            assert relative_error(ours, theirs) < 1e-12
        assert len(transformed) == 3 + (cycle - 1)  # the first cycle all three, then the third alone
        assert len(remembered.entries) == 2 and remembered.bytes <= winograd.REMEMBERED_BYTES


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "kept"),
    [
        ((2, 32, 8, 8, 8), (32, 32, 3, 3, 3), True),  # 3-d: from 32 × 32 channel pairs on
        ((2, 16, 8, 8, 8), (32, 16, 3, 3, 3), False),
        ((2, 64, 14, 14), (64, 64, 3, 3), False),  # 2-d: from 256 × 256 on
        ((1, 256, 6, 6), (256, 256, 3, 3), True),
    ],
)
def test_kernel_transforms_are_kept_from_each_dimensions_threshold(
    x_shape, w_shape, kept: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An inference forward keeps a kernel's Winograd transform from REMEMBERED_MIN_PAIRS channel pairs on,
    a threshold per number of spatial dims (a 3-d transform is 12 times the work per pair of a 2-d one):
    32 × 32 in 3-d, 256 × 256 in 2-d; the output equals torch's either way."""
    winograd_for_small_shapes(monkeypatch)
    remembered = winograd.RememberedTransforms()
    monkeypatch.setattr(winograd, "REMEMBERED", remembered)
    name = "conv3d" if len(x_shape) == 5 else "conv2d"
    x, w, b = make_arrays(x_shape, w_shape, False, 1, np.float64)
    weight = npconv.tensor(w)
    with npconv.no_grad():
        ours = getattr(F, name)(npconv.tensor(x), weight, npconv.tensor(b), padding=1).numpy()
    theirs = getattr(torch_functional, name)(*(torch.tensor(a) for a in (x, w, b)), padding=1).numpy()
    assert relative_error(ours, theirs) < 1e-12
    assert len(remembered.entries) == (1 if kept else 0)


@pytest.mark.parametrize("direction", ["upsampling", "downsampling"])
def test_stride_2_winograd_keeps_its_kernel_transform_for_inference(direction: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The k4 s2 paths by phases (a transposed convolution's upsampling, a strided convolution's
    downsampling) keep their kernel transform when the kernel needs no gradient, as ``conv_winograd`` does:
    transformed once while the weights are unchanged, again after an in-place change, every call for a
    kernel that needs a gradient; every output equals torch's in float64."""
    remembered = winograd.RememberedTransforms()
    monkeypatch.setattr(winograd, "REMEMBERED", remembered)
    name = f"transform_{direction}_kernel"
    transformed: list[int] = []
    original = getattr(winograd_stride2, name)
    monkeypatch.setattr(winograd_stride2, name, lambda w: transformed.append(1) or original(w))
    transposed = direction == "upsampling"
    function = "conv_transpose2d" if transposed else "conv2d"
    kwargs = {"stride": 2, "padding": 1}
    x_shape, w_shape = ((8, 32, 8, 8), (32, 64, 4, 4)) if transposed else ((8, 64, 16, 16), (128, 64, 4, 4))
    x, w, b = make_arrays(x_shape, w_shape, transposed, 1, np.float64)
    weight = npconv.tensor(w.copy())

    def inference() -> float:
        with npconv.no_grad():
            ours = getattr(F, function)(npconv.tensor(x), weight, npconv.tensor(b), **kwargs).numpy()
        theirs = getattr(torch_functional, function)(*(torch.tensor(a) for a in (x, weight.numpy(), b)), **kwargs)
        return relative_error(ours, theirs.numpy())

    for calls in (1, 1):
        assert inference() < 1e-12
        assert len(transformed) == calls
    assert len(remembered.entries) == 1
    weight.numpy()[1, 2, 3, 0] += 0.5
    assert inference() < 1e-12
    assert len(transformed) == 2
    reference, g = torch_run(function, x, w, b, kwargs)
    for calls in (3, 4):  # a kernel that needs a gradient: transformed every call
        for mine, theirs in zip(npconv_run(function, x, w, b, kwargs, g), reference):
            assert relative_error(mine, theirs) < 1e-12
        assert len(transformed) == calls
    assert len(remembered.entries) == 1


KEPT_TILES_CASES = [
    # (id, transposed, input, weight, kwargs, kept): input and output channels differ, so that the padded
    # blocks of x (the forward's, the weight gradient's) tell themselves apart from those of the gradient
    ("2d batch", False, (4, 8, 9, 8), (6, 8, 3, 3), {"padding": 1}, True),
    ("2d batch in rows of tiles", False, (3, 8, 13, 8), (6, 8, 3, 3), {"padding": (1, 2)}, True),
    ("2d single sample in F(4×2)", False, (1, 8, 12, 10), (6, 8, 3, 3), {"padding": 1}, True),
    ("2d odd output, unpadded", False, (2, 5, 11, 9), (7, 5, 3, 3), {}, True),
    ("2d dilated", False, (2, 6, 11, 10), (5, 6, 3, 3), {"padding": 2, "dilation": 2}, True),
    ("3d single sample in F(2×2×2)", False, (1, 4, 5, 6, 4), (3, 4, 3, 3, 3), {"padding": 1}, True),
    ("3d batch in F(4×2×2): not kept", False, (2, 3, 5, 6, 4), (4, 3, 3, 3, 3), {"padding": 1}, False),
    ("transposed, stride 1", True, (2, 8, 9, 8), (8, 6, 3, 3), {"padding": 1}, True),
]


@pytest.mark.parametrize("pooled", [False, True], ids=["calling-thread", "pool-workers"])
@pytest.mark.parametrize("case", KEPT_TILES_CASES, ids=[case[0] for case in KEPT_TILES_CASES])
def test_winograd_weight_gradient_takes_the_forwards_transformed_input(
    case, pooled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Winograd forward whose kernel needs a gradient keeps its transformed input tiles V, and the weight
    gradient contracts with them instead of padding and transforming x again (but for a 3-d F(4×2×2)); V
    is freed by the backward. Forward and all gradients equal torch's in float64."""
    _, transposed, input_shape, weight_shape, kwargs, kept = case
    winograd_for_small_shapes(monkeypatch)
    monkeypatch.setattr(winograd, "WEIGHT_GRADIENT_MIN_TILES", 0)
    monkeypatch.setattr(winograd, "KEPT", winograd.KeptBytes())
    if pooled:
        monkeypatch.setattr(algorithms, "PARALLEL_WORK", 0)
        monkeypatch.setattr(algorithms, "THREADS", 2)
    channels = input_shape[1]
    padded: list[tuple[str, int]] = []
    phase = ["forward"]
    original_padded, original_weight_gradient = winograd._padded_block, winograd.grad_weight_winograd
    weight_gradient_inputs: list[bool] = []

    def recording_padded(x, *args, **kwargs):
        padded.append((phase[0], x.shape[1]))
        return original_padded(x, *args, **kwargs)

    def recording_weight_gradient(x, g, padding, bias=None, kept_tiles=None):
        weight_gradient_inputs.append(kept_tiles is not None and kept_tiles.matching(x.shape, padding, x.dtype) is not None)
        return original_weight_gradient(x, g, padding, bias, kept_tiles)

    monkeypatch.setattr(winograd, "_padded_block", recording_padded)
    monkeypatch.setattr(winograd, "grad_weight_winograd", recording_weight_gradient)
    name = functional_name(transposed, len(input_shape) - 2)
    x, w, b = make_arrays(input_shape, weight_shape, transposed, 1, np.float64)
    reference, g = torch_run(name, x, w, b, kwargs)
    tensors = [npconv.tensor(array, requires_grad=True) for array in (x, w, b)]
    y = getattr(F, name)(*tensors, **kwargs)
    assert (winograd.KEPT.bytes > 0) == kept
    phase[0] = "backward"
    y.backward(npconv.tensor(g))
    ours = [y.detach().numpy(), *(t.grad.numpy() for t in tensors)]
    for label, mine, theirs in zip(("output", "grad input", "grad weight", "grad bias"), ours, reference):
        assert mine.shape == theirs.shape, label
        assert relative_error(mine, theirs) < 1e-12, label
    assert ("forward", channels) in padded
    assert weight_gradient_inputs == [kept]
    assert (("backward", channels) in padded) == (not kept)  # the weight gradient pads x only without V
    assert winograd.KEPT.bytes == 0


def test_kept_input_tiles_stay_within_their_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tiles kept at once stay within KEPT_TILES_BYTES: a second forward whose V would exceed it keeps
    none (its weight gradient transforms x again), and a backward or a freed graph gives the bytes back.
    A kernel that needs no gradient keeps no tiles."""
    winograd_for_small_shapes(monkeypatch)
    monkeypatch.setattr(winograd, "WEIGHT_GRADIENT_MIN_TILES", 0)
    budget = winograd.KeptBytes()
    monkeypatch.setattr(winograd, "KEPT", budget)
    x, w, b = make_arrays((2, 8, 9, 8), (6, 8, 3, 3), False, 1, np.float64)
    reference, g = torch_run("conv2d", x, w, b, {"padding": 1})

    def forward() -> tuple[npconv.Tensor, list[npconv.Tensor]]:
        tensors = [npconv.tensor(array, requires_grad=True) for array in (x, w, b)]
        return F.conv2d(*tensors, padding=1), tensors

    first, _ = forward()
    one = budget.bytes
    assert one > 0 and first._node.ctx.tiles.tiles is not None
    monkeypatch.setattr(winograd, "KEPT_TILES_BYTES", one)
    second, tensors = forward()
    assert budget.bytes == one and second._node.ctx.tiles.tiles is None
    second.backward(npconv.tensor(g))
    ours = [second.detach().numpy(), *(t.grad.numpy() for t in tensors)]
    for label, mine, theirs in zip(("output", "grad input", "grad weight", "grad bias"), ours, reference):
        assert relative_error(mine, theirs) < 1e-12, label
    assert budget.bytes == one
    del first
    gc.collect()
    assert budget.bytes == 0
    frozen = F.conv2d(npconv.tensor(x, requires_grad=True), npconv.tensor(w), npconv.tensor(b), padding=1)
    assert frozen._node.ctx.tiles is None and budget.bytes == 0


@pytest.mark.parametrize("pooled", [False, True], ids=["calling-thread", "pool-workers"])
@pytest.mark.parametrize("outputs", [(2, 2), (4, 2)], ids=["F(2×2)", "F(4×2)"])
def test_winograd_weight_gradient_in_blocks_of_samples(
    pooled: bool, outputs: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Winograd weight gradient accumulated over blocks of one sample (and, on the pool, over the
    workers' partial sums) equals torch's, whatever the blocking, in either form of tiles."""
    rng = np.random.default_rng(4)
    x, g = rng.standard_normal((5, 16, 9, 10)), rng.standard_normal((5, 20, 9, 10))
    w = np.zeros((20, 16, 3, 3))
    expected = torch.ops.aten.convolution_backward(
        torch.tensor(g),
        torch.tensor(x),
        torch.tensor(w),
        None,
        (1, 1),
        (1, 1),
        (1, 1),
        False,
        (0, 0),
        1,
        (False, True, False),
    )[1].numpy()
    pads = [(1, 1), (1, 1)]
    blocks: list[int] = []
    original = winograd._padded_block

    def counting(x_, start, stop, *args):
        blocks.append(stop - start)
        return original(x_, start, stop, *args)

    monkeypatch.setattr(winograd, "_padded_block", counting)
    monkeypatch.setattr(winograd, "weight_gradient_outputs", lambda batch, out: outputs)
    sample_bytes = winograd.grad_weight_block_bytes(x.shape, 20, pads, x.dtype, outputs)
    monkeypatch.setattr(algorithms, "WORKSPACE_BYTES", sample_bytes)
    monkeypatch.setattr(algorithms, "THREADS", 2)
    monkeypatch.setattr(algorithms, "PARALLEL_WORK", 0)
    with algorithms.single_threaded_blas(1) if pooled else contextlib.nullcontext():
        assert getattr(algorithms._blas, "limited", False) == pooled
        result = winograd.grad_weight_winograd(x, g, pads)
    assert relative_error(result, expected) < 1e-12
    assert blocks == [1] * 5


@pytest.mark.parametrize("pooled", [False, True], ids=["blas-threads", "pool-threads"])
@pytest.mark.parametrize(
    "name, input_shape, weight_shape, kwargs, requires, fused",
    [
        ("conv2d", (3, 4, 9, 8), (5, 4, 3, 3), {"padding": 1}, (True, True, True), True),
        ("conv2d", (3, 4, 9, 8), (6, 2, 1, 1), {"stride": 2, "groups": 2}, (True, True, True), True),
        ("conv2d", (3, 4, 9, 8), (6, 2, 3, 3), {"groups": 2}, (False, True, True), True),
        ("conv3d", (2, 3, 5, 4, 6), (4, 3, 3, 3, 3), {"padding": 1}, (True, True, True), True),
        ("conv1d", (3, 4, 40), (5, 4, 3), {"dilation": 4}, (True, True, True), True),
        ("conv2d", (3, 4, 9, 8), (4, 1, 3, 3), {"padding": 1, "groups": 4}, (True, True, True), False),
        ("conv_transpose2d", (3, 4, 6, 5), (4, 5, 3, 3), {"stride": 2}, (True, True, True), False),
        ("conv2d", (3, 4, 9, 8), (5, 4, 3, 3), {"padding": 1}, (True, False, True), False),
    ],
    ids=["3x3", "1x1 strided grouped", "grouped", "3d", "1d dilated", "depthwise", "transposed", "no weight grad"],
)
def test_bias_gradient_summed_by_the_weight_gradient(
    name, input_shape, weight_shape, kwargs, requires, fused: bool, pooled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bias gradient Σ g over samples and positions is summed block by block in the weight gradient's
    pass over g where that pass is ``sum_over_samples`` (the im2col, pointwise and Winograd paths), and by a
    pass of its own elsewhere (depthwise, lhs dilation, no weight gradient); equal to torch's in float64."""
    if pooled:
        monkeypatch.setattr(algorithms, "PARALLEL_WORK", 0)
        monkeypatch.setattr(algorithms, "THREADS", 2)
    calls: list[bool] = []
    original = algorithms.sum_over_samples

    def recording(*args):
        calls.append(len(args) > 5 and args[5] is not None)
        return original(*args)

    monkeypatch.setattr(algorithms, "sum_over_samples", recording)
    transposed = name.startswith("conv_transpose")
    x, w, b = make_arrays(input_shape, weight_shape, transposed, kwargs.get("groups", 1), np.float64)
    reference, g = torch_run(name, x, w, b, kwargs)
    tensors = [npconv.tensor(a, requires_grad=r) for a, r in zip((x, w, b), requires)]
    y = getattr(F, name)(*tensors, **kwargs)
    y.backward(npconv.tensor(g))
    assert relative_error(tensors[2].grad.numpy(), reference[3]) < 1e-12
    if requires[1]:
        assert relative_error(tensors[1].grad.numpy(), reference[2]) < 1e-12
    assert (True in calls) == fused


@pytest.mark.parametrize(
    ("input_shape", "out_channels", "split"),
    [((4, 8, 5, 6), 3, "samples"), ((3, 8, 5, 6), 4, "channels"), ((2, 8, 5, 6), 2, "channels")],
)
def test_col2im_scatter_splits_over_samples_or_channels(input_shape, out_channels, split, monkeypatch) -> None:
    """On the pool, col2im's scatter is split over the output channels, or over the samples when they
    share out more evenly between the two workers (4 samples rather than 3 channels); the result equals
    torch's either way."""
    monkeypatch.setattr(algorithms, "THREADS", 2)
    monkeypatch.setattr(algorithms, "PARALLEL_WORK", 0)
    x, w, b = make_arrays(input_shape, (input_shape[1], out_channels, 3, 3), True, 1, np.float64)
    kwargs = {"stride": 2, "padding": 1}
    reference, g = torch_run("conv_transpose2d", x, w, b, kwargs)
    splits: list[int] = []
    original = algorithms.parallel_channels

    def recording(function, total):
        splits.append(total)
        return original(function, total)

    monkeypatch.setattr(algorithms, "parallel_channels", recording)
    with algorithms.single_threaded_blas(1):
        y = algorithms.conv_col2im(x, w.swapaxes(0, 1)[:, :, ::-1, ::-1], [(1, 1), (1, 1)], (2, 2), (1, 1), 1, b)
    assert relative_error(y, reference[0]) < 1e-12
    assert splits == [input_shape[0] if split == "samples" else out_channels]


GROUP_TASK_CASES = [
    # (name, input, weight, keyword arguments, groups a task takes (0: one group's matrix exceeds a worker's
    # share of the workspace, so the whole block is unfolded at once instead))
    ("one group a task", (3, 12, 7, 6), (8, 3, 3, 3), {"padding": 1, "groups": 4}, 1),
    ("three groups a task, a short last one", (2, 12, 7, 6), (8, 3, 3, 3), {"padding": 1, "groups": 4}, 3),
    ("all groups in one task", (2, 12, 7, 6), (8, 3, 3, 3), {"padding": 1, "groups": 4}, 4),
    ("strided dilated 1d", (3, 6, 17), (9, 2, 3), {"stride": 2, "dilation": 2, "padding": 2, "groups": 3}, 2),
    ("3d", (2, 4, 5, 4, 6), (6, 2, 2, 3, 2), {"padding": (1, 0, 1), "groups": 2}, 1),
    ("groups too large for a task", (2, 12, 7, 6), (8, 3, 3, 3), {"padding": 1, "groups": 4}, 0),
]


@pytest.mark.parametrize("pooled", [False, True], ids=["blas-threads", "pool-threads"])
@pytest.mark.parametrize("case", GROUP_TASK_CASES, ids=[case[0] for case in GROUP_TASK_CASES])
def test_grouped_convolutions_unfold_a_few_groups_at_a_time(case, pooled: bool, spy: set[str], monkeypatch) -> None:
    """Grouped convolutions unfold one sample's few groups at a time (forward and weight gradient), in tasks
    of as many groups as the scratch size allows: forward and all gradients equal torch's in float64 for any
    number of groups a task, on BLAS's threads and on the pool, and the whole-block unfold takes over when
    one group's matrix is too large. (2-d grouped convolutions go by column shifts, tested below; here they
    are held to the unfold, which 1-d and 3-d ones take.)"""
    _, input_shape, weight_shape, kwargs, per_task = case
    name = functional_name(False, len(input_shape) - 2)
    monkeypatch.setattr(algorithms, "by_column_shifts", lambda *args: False)
    x, w, b = make_arrays(input_shape, weight_shape, False, kwargs["groups"], np.float64)
    reference, g = torch_run(name, x, w, b, kwargs)
    with npconv.no_grad():
        out_shape = getattr(F, name)(npconv.tensor(x), npconv.tensor(w), None, **kwargs).shape
    group_bytes = weight_shape[1] * math.prod(weight_shape[2:]) * math.prod(out_shape[2:]) * x.itemsize
    if per_task:
        monkeypatch.setattr(algorithms, "GROUP_SCRATCH_BYTES", per_task * group_bytes)
    else:
        monkeypatch.setattr(algorithms, "WORKSPACE_BYTES", group_bytes)
    if pooled:
        monkeypatch.setattr(algorithms, "PARALLEL_WORK", 0)
        monkeypatch.setattr(algorithms, "THREADS", 2)
    ours = npconv_run(name, x, w, b, kwargs, g)
    for label, mine, theirs in zip(("output", "grad input", "grad weight", "grad bias"), ours, reference):
        assert mine.shape == theirs.shape, label
        assert relative_error(mine, theirs) < 1e-12, label
    assert "grad_weight_im2col" in spy
    # the forward alone: which unfold, and how many groups each of its products takes
    products: list[int] = []
    original = algorithms.parallel_matmul

    def recording(a, *args, **kwargs_):
        products.append(a.shape[0])
        return original(a, *args, **kwargs_)

    monkeypatch.setattr(algorithms, "parallel_matmul", recording)
    spy.clear()
    with npconv.no_grad():
        getattr(F, name)(npconv.tensor(x), npconv.tensor(w), npconv.tensor(b), **kwargs)
    if per_task:
        assert spy == {"conv_im2col_by_groups"}
        groups = kwargs["groups"]
        expected = [min(per_task, groups - g0) for g0 in range(0, groups, per_task)] * input_shape[0]
        assert sorted(products) == sorted(expected)
    else:  # 42 positions a sample, side by side in blocks (a sample's matrix exceeds a worker's workspace share)
        assert spy == {"conv_im2col"}


# name, input, weight (torch layout), keyword arguments, groups a task takes (0: one group's planes exceed a
# worker's share of the workspace, so the unfold takes the convolution instead)
COLUMN_SHIFT_CASES = [
    ("one group a task", (3, 12, 7, 6), (8, 3, 3, 3), {"padding": 1, "groups": 4}, 1),
    ("three groups a task, a short last one", (2, 12, 7, 6), (8, 3, 3, 3), {"padding": 1, "groups": 4}, 3),
    ("all groups in one task", (2, 12, 7, 6), (8, 3, 3, 3), {"padding": 1, "groups": 4}, 4),
    # row stride 2 with dilation 1: tap rows 0 and 2 in row phase 0 (offsets 0 and 1), tap row 1 in phase 1
    ("strided", (2, 6, 11, 10), (6, 2, 3, 3), {"stride": 2, "padding": 1, "groups": 3}, 2),
    # row stride 3, dilation 2: tap rows at padded offsets 0, 2, 4 → phases 0, 2, 1; columns at stride 2
    ("strided dilated asymmetric", (2, 8, 13, 12), (6, 4, 3, 2), {"stride": (3, 2), "padding": (2, 1), "dilation": 2, "groups": 2}, 1),
    # a kernel wider than the input's columns reach from some outputs: columns of padding only
    ("wide kernel", (1, 6, 5, 4), (9, 2, 2, 5), {"padding": (0, 3), "groups": 3}, 3),
    ("planes too large for a worker", (2, 12, 7, 6), (8, 3, 3, 3), {"padding": 1, "groups": 4}, 0),
]


@pytest.mark.parametrize("pooled", [False, True], ids=["blas-threads", "pool-threads"])
@pytest.mark.parametrize("case", COLUMN_SHIFT_CASES, ids=[case[0] for case in COLUMN_SHIFT_CASES])
def test_grouped_convolutions_by_column_shifts(case, pooled: bool, spy: set[str], monkeypatch) -> None:
    """2-d grouped convolutions copy a few groups of one sample kw times with their columns shifted and take
    one product per tap row (forward and weight gradient): forward and all gradients equal torch's in
    float64 for any number of groups a task, strided and dilated, on BLAS's threads and on the pool; each
    task copies the groups it was given, and a group whose planes exceed a worker's share of the workspace
    goes to the unfold."""
    _, input_shape, weight_shape, kwargs, per_task = case
    groups, kh, kw = kwargs["groups"], *weight_shape[2:]
    x, w, b = make_arrays(input_shape, weight_shape, False, groups, np.float64)
    reference, g = torch_run("conv2d", x, w, b, kwargs)
    with npconv.no_grad():
        out_shape = F.conv2d(npconv.tensor(x), npconv.tensor(w), None, **kwargs).shape
    padding = [kwargs["padding"]] * 2 if isinstance(kwargs["padding"], int) else kwargs["padding"]
    stride = kwargs.get("stride", 1)
    dilation = kwargs.get("dilation", 1)
    layout = algorithms.ColumnShifts(
        input_shape,
        (kh, kw),
        (stride,) * 2 if isinstance(stride, int) else stride,
        [(p, p) for p in padding],
        (dilation,) * 2 if isinstance(dilation, int) else dilation,
        out_shape[2:],
    )
    group_bytes = weight_shape[1] * layout.channel_elements * x.itemsize
    if per_task:
        monkeypatch.setattr(algorithms, "COLUMN_SHIFTS_SCRATCH_BYTES", per_task * group_bytes)
    else:  # too small for one group's planes (padded 9 × 8 · kw · 3 channels), large enough for its unfold
        monkeypatch.setattr(algorithms, "WORKSPACE_BYTES", 9 * 8 * kw * weight_shape[1] * x.itemsize - 8)
    if pooled:
        monkeypatch.setattr(algorithms, "PARALLEL_WORK", 0)
        monkeypatch.setattr(algorithms, "THREADS", 2)
    filled: list[int] = []
    original = algorithms.ColumnShifts.fill

    def recording(self, buffer, source):
        filled.append(source.shape[0])
        return original(self, buffer, source)

    monkeypatch.setattr(algorithms.ColumnShifts, "fill", recording)
    spy.clear()  # (the output shape above came from a call of its own)
    ours = npconv_run("conv2d", x, w, b, kwargs, g)
    for label, mine, theirs in zip(("output", "grad input", "grad weight", "grad bias"), ours, reference):
        assert mine.shape == theirs.shape, label
        assert relative_error(mine, theirs) < 1e-12, label
    if not per_task:
        assert not spy & {"conv_grouped_by_column_shifts", "grad_weight_grouped_by_column_shifts"}
        return
    assert {"conv_grouped_by_column_shifts", "grad_weight_grouped_by_column_shifts"} <= spy
    # the forward alone: each task copies per_task groups of one sample (fewer in the last)
    filled.clear()
    with npconv.no_grad():
        F.conv2d(npconv.tensor(x), npconv.tensor(w), npconv.tensor(b), **kwargs)
    expected = [min(per_task, groups - g0) for g0 in range(0, groups, per_task)] * input_shape[0]
    assert sorted(filled) == sorted(expected)

@pytest.mark.parametrize("per_group", [64, 65])
def test_column_shifts_take_groups_of_few_channels(per_group: int, spy: set[str]) -> None:
    """Groups whose tap-row products would contract over more than COLUMN_SHIFTS_MAX_DEPTH (channel, tap
    column) pairs are unfolded instead; both paths equal torch's in float64."""
    kwargs = {"padding": 1, "groups": 2}
    x, w, b = make_arrays((2, 2 * per_group, 5, 6), (4, per_group, 3, 3), False, 2, np.float64)
    reference, g = torch_run("conv2d", x, w, b, kwargs)
    ours = npconv_run("conv2d", x, w, b, kwargs, g)
    for label, mine, theirs in zip(("output", "grad input", "grad weight", "grad bias"), ours, reference):
        assert relative_error(mine, theirs) < 1e-12, label
    shifts = per_group * 3 <= algorithms.COLUMN_SHIFTS_MAX_DEPTH
    assert ("grad_weight_grouped_by_column_shifts" in spy) == shifts
    spy.clear()  # the forward alone (the input gradient's groups have 2 channels each)
    with npconv.no_grad():
        F.conv2d(npconv.tensor(x), npconv.tensor(w), npconv.tensor(b), **kwargs)
    assert spy == ({"conv_grouped_by_column_shifts"} if shifts else {"conv_im2col_by_groups"})

# name, transposed, input, weight (torch layout), keyword arguments, IM2COL_SHARE_COLUMNS, and the padded
# input rows of each task of a sample: (output rows − 1)·stride + dilation·(k − 1) + 1 of the first axis
# (≥ SIDE_BY_SIDE_MAX positions a sample: fewer go side by side)
IM2COL_SHARE_CASES = [
    # 9 × 8 outputs, 2 rows a task (16 columns): 2, 2, 2, 2, 1 rows
    ("2-d strided, padded", False, (3, 5, 17, 15), (6, 5, 4, 3), {"stride": 2, "padding": (2, 1)}, 16, [6] * 4 + [4]),
    # 12 × 10 outputs, one row a task; a workspace too small for one group's matrix (17280 bytes) a worker,
    # which ``conv_im2col_by_groups`` would otherwise take
    ("2-d grouped dilated", False, (2, 6, 12, 9), (4, 3, 3, 2), {"padding": 2, "dilation": (2, 3), "groups": 2}, 1, [5] * 12),
    # 70 outputs, 24 a task at least: three tasks, 24, 24, 22
    ("1-d", False, (3, 4, 70), (5, 4, 3), {"padding": 8, "dilation": 8}, 24, [40, 40, 38]),
    # 4 × 6 × 6 outputs, 2 rows a task (50 columns, 36 a row)
    ("3-d", False, (2, 3, 7, 6, 5), (4, 3, 2, 3, 2), {"stride": (2, 1, 1), "padding": 1}, 50, [4, 4]),
    # conv_transpose with more padding than the kernel reaches: a convolution that crops every side; 10 × 8
    # outputs, 3 rows a task (24 columns), split evenly: 3, 3, 3, 1
    ("cropping", True, (2, 5, 14, 12), (5, 3, 3, 3), {"padding": 3}, 24, [5, 5, 5, 3]),
    ("whole samples", False, (2, 5, 9, 8), (3, 5, 3, 3), {"padding": 1}, 72, [11]),
    # fewer positions a sample than IM2COL_SHARE_COLUMNS: tasks of whole samples instead
    ("few positions", False, (2, 5, 9, 8), (3, 5, 3, 3), {"padding": 1}, 73, None),
]


@pytest.mark.parametrize("case", IM2COL_SHARE_CASES, ids=[case[0] for case in IM2COL_SHARE_CASES])
def test_im2col_by_shares_matches_torch(case, spy: set[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch's im2col on the pool goes in tasks of a block of one sample's output rows (padded, unfolded
    and multiplied straight into y's rows) when a sample has at least IM2COL_SHARE_COLUMNS positions: the
    forward (with bias) equals torch's in float64 in 1-d, 2-d and 3-d, grouped, strided, dilated and
    cropping, and each task pads the input rows of its block of at least IM2COL_SHARE_COLUMNS positions, the
    rows split evenly."""
    _, transposed, input_shape, weight_shape, kwargs, columns, heights = case
    monkeypatch.setattr(algorithms, "PARALLEL_WORK", 0)
    monkeypatch.setattr(algorithms, "THREADS", 2)
    monkeypatch.setattr(algorithms, "IM2COL_SHARE_BYTES", 0)
    monkeypatch.setattr(algorithms, "IM2COL_SHARE_COLUMNS", columns)
    monkeypatch.setattr(algorithms, "by_rows_of_windows", lambda *args: False)
    if "groups" in kwargs:  # neither by groups (its unfold) nor by column shifts (2-d): a worker's share too small
        monkeypatch.setattr(algorithms, "WORKSPACE_BYTES", 2 * 17280 - 8)
        monkeypatch.setattr(algorithms, "by_column_shifts", lambda *args: False)
    name = functional_name(transposed, len(input_shape) - 2)
    x, w, b = make_arrays(input_shape, weight_shape, transposed, kwargs.get("groups", 1), np.float64)
    expected = getattr(torch_functional, name)(torch.tensor(x), torch.tensor(w), torch.tensor(b), **kwargs).numpy()
    padded_rows: list[int] = []
    original = algorithms.pad_zeros

    def recording(block, padding):
        padded = original(block, padding)
        if threading.current_thread().name.startswith("npconv") or getattr(algorithms._blas, "in_block", False):
            padded_rows.append(padded.shape[2])
        return padded

    monkeypatch.setattr(algorithms, "pad_zeros", recording)
    with npconv.no_grad():
        ours = getattr(F, name)(npconv.tensor(x), npconv.tensor(w), npconv.tensor(b), **kwargs).numpy()
    assert ours.shape == expected.shape
    assert relative_error(ours, expected) < 1e-12
    if heights is None:
        assert "conv_im2col_by_samples" in spy and "conv_im2col_by_shares" not in spy
        return
    assert "conv_im2col_by_shares" in spy
    assert sorted(padded_rows) == sorted(heights * input_shape[0])


# name, transposed, input, weight (torch layout), keyword arguments, output rows a task, and the input rows
# that each task of a sample copies (those of its output rows' reach that lie inside x: the first axis's
# padding rows are zeroed instead)
IM2COL_ROWS_CASES = [
    # 9 × 20 outputs, one row a task: rows 2r − 2 … 2r + 1 of 17
    ("2-d strided, padded", False, (3, 5, 17, 40), (6, 5, 4, 3), {"stride": 2, "padding": (2, 1)}, 1, [2] + [4] * 7 + [3]),
    # 12 × 25 outputs, two rows a task; two groups, dilated columns
    (
        "2-d grouped, dilated columns",
        False,
        (2, 6, 12, 30),
        (4, 3, 3, 2),
        {"padding": (1, 0), "dilation": (1, 5), "groups": 2},
        2,
        [3] + [4] * 4 + [3],
    ),
    # 4 × 6 × 6 outputs (rows of 36 positions), up to three rows a task, split evenly: 2 and 2
    ("3-d", False, (2, 3, 7, 6, 5), (4, 3, 2, 3, 2), {"stride": (2, 1, 1), "padding": 1}, 3, [3, 4]),
    # conv_transpose with more padding than the kernel reaches: a convolution of x cropped by one on every
    # side; 10 × 8 outputs, four rows a task: 4, 4 and 2 (x's rows 1 … 6, 5 … 10, 9 … 12)
    ("cropping", True, (2, 5, 14, 12), (5, 3, 3, 3), {"padding": 3}, 4, [6, 6, 4]),
]


@pytest.mark.parametrize("case", IM2COL_ROWS_CASES, ids=[case[0] for case in IM2COL_ROWS_CASES])
def test_im2col_by_rows_matches_torch(case, spy: set[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch's im2col on the pool with an undilated first axis and rows of enough positions goes by rows
    (``conv_im2col_by_rows``: each input row unfolded along the other axes once, the first axis's taps read
    from consecutive rows): the forward (with bias) equals torch's in float64 in 2-d and 3-d, grouped,
    strided, with dilated columns, padded and cropping; each task copies the input rows its block of output
    rows reads (IM2COL_SHARE_BYTES sets how many), the rows split evenly."""
    _, transposed, input_shape, weight_shape, kwargs, per_task, heights = case
    monkeypatch.setattr(algorithms, "PARALLEL_WORK", 0)
    monkeypatch.setattr(algorithms, "THREADS", 2)
    monkeypatch.setattr(algorithms, "IM2COL_SHARE_COLUMNS", 1)
    monkeypatch.setattr(algorithms, "ROWS_OF_WINDOWS_MIN_COLUMNS", 1)
    monkeypatch.setattr(algorithms, "unfolds_by_groups", lambda *args: False)
    monkeypatch.setattr(algorithms, "by_column_shifts", lambda *args: False)
    name = functional_name(transposed, len(input_shape) - 2)
    x, w, b = make_arrays(input_shape, weight_shape, transposed, kwargs.get("groups", 1), np.float64)
    # buffer bytes per input row: all channels, the kernel's taps and the output positions after the first axis
    kernel, stride = weight_shape[2:], kwargs.get("stride", 1)
    first_stride = stride[0] if isinstance(stride, tuple) else stride
    expected = getattr(torch_functional, name)(torch.tensor(x), torch.tensor(w), torch.tensor(b), **kwargs).numpy()
    row_bytes = input_shape[1] * math.prod(kernel[1:])
    row_bytes *= math.prod(expected.shape[3:]) * 8
    monkeypatch.setattr(algorithms, "IM2COL_SHARE_BYTES", row_bytes * ((per_task - 1) * first_stride + kernel[0]))
    copied_rows: list[int] = []
    original = algorithms.pad_zeros

    def recording(block, padding):
        if threading.current_thread().name.startswith("npconv") or getattr(algorithms._blas, "in_block", False):
            copied_rows.append(block.shape[2])
        return original(block, padding)

    monkeypatch.setattr(algorithms, "pad_zeros", recording)
    with npconv.no_grad():
        ours = getattr(F, name)(npconv.tensor(x), npconv.tensor(w), npconv.tensor(b), **kwargs).numpy()
    assert ours.shape == expected.shape
    assert relative_error(ours, expected) < 1e-12
    assert "conv_im2col_by_rows" in spy and "conv_im2col_by_shares" not in spy
    assert sorted(copied_rows) == sorted(heights * input_shape[0])


def test_im2col_by_rows_needs_an_undilated_first_axis_and_rows_of_positions() -> None:
    """``by_rows_of_windows``: at least two spatial dims, the first undilated (its taps are consecutive
    rows of the buffer only then), at least ROWS_OF_WINDOWS_MIN_COLUMNS positions per output row."""
    wide = algorithms.ROWS_OF_WINDOWS_MIN_COLUMNS
    assert algorithms.by_rows_of_windows((112, 112), (1, 1))
    assert algorithms.by_rows_of_windows((30, wide), (1, 2))
    assert algorithms.by_rows_of_windows((8, 4, -(-wide // 4)), (1, 1, 1))
    assert not algorithms.by_rows_of_windows((112, 112), (2, 1))
    assert not algorithms.by_rows_of_windows((100, wide - 1), (1, 1))
    assert not algorithms.by_rows_of_windows((16000,), (1,))


# name, transposed, input, weight (torch layout), keyword arguments, IM2COL_SAMPLES_COLUMNS, and the samples of
# each task (fewer positions a sample than IM2COL_SHARE_COLUMNS; two workers)
IM2COL_SAMPLES_CASES = [
    # 3 × 4 positions, 30 columns a task: 3 samples
    ("2-d strided, padded", False, (7, 5, 6, 8), (6, 5, 3, 2), {"stride": 2, "padding": (1, 0)}, 30, [3, 3, 1]),
    # one sample a task: its product straight into y
    ("1-d dilated", False, (4, 3, 20), (5, 3, 3), {"padding": 2, "dilation": 2}, 1, [1, 1, 1, 1]),
    # no more than a worker's part of the batch (3 of 5), then split evenly
    ("3-d grouped", False, (5, 4, 3, 4, 2), (6, 2, 2, 3, 2), {"padding": 1, "groups": 2}, 10**6, [3, 2]),
    # conv_transpose with more padding than the kernel reaches: a convolution that crops every side
    ("cropping", True, (3, 5, 6, 5), (5, 3, 3, 3), {"padding": 3}, 10**6, [2, 1]),
]


@pytest.mark.parametrize("case", IM2COL_SAMPLES_CASES, ids=[case[0] for case in IM2COL_SAMPLES_CASES])
def test_im2col_by_samples_matches_torch(case, spy: set[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch's im2col on the pool whose samples have fewer than IM2COL_SHARE_COLUMNS positions goes in
    tasks of several whole samples, padded, unfolded side by side and multiplied in one product (one sample
    a task: straight into y): the forward (with bias) equals torch's in float64 in 1-d, 2-d and 3-d, grouped,
    strided, dilated and cropping, with up to IM2COL_SAMPLES_COLUMNS columns and a worker's part of the
    batch a task."""
    _, transposed, input_shape, weight_shape, kwargs, columns, samples = case
    monkeypatch.setattr(algorithms, "PARALLEL_WORK", 0)
    monkeypatch.setattr(algorithms, "THREADS", 2)
    monkeypatch.setattr(algorithms, "IM2COL_SAMPLES_COLUMNS", columns)
    monkeypatch.setattr(algorithms, "unfolds_by_groups", lambda *args: False)  # the grouped case unfolds whole
    name = functional_name(transposed, len(input_shape) - 2)
    x, w, b = make_arrays(input_shape, weight_shape, transposed, kwargs.get("groups", 1), np.float64)
    expected = getattr(torch_functional, name)(torch.tensor(x), torch.tensor(w), torch.tensor(b), **kwargs).numpy()
    blocks: list[int] = []
    original = algorithms.pad_zeros

    def recording(block, padding):
        if on_the_pool():
            blocks.append(block.shape[0])
        return original(block, padding)

    monkeypatch.setattr(algorithms, "pad_zeros", recording)
    with npconv.no_grad():
        ours = getattr(F, name)(npconv.tensor(x), npconv.tensor(w), npconv.tensor(b), **kwargs).numpy()
    assert "conv_im2col_by_samples" in spy and "conv_im2col_by_shares" not in spy
    assert ours.shape == expected.shape
    assert relative_error(ours, expected) < 1e-12
    assert sorted(blocks) == sorted(samples)


def test_im2col_sample_larger_than_a_workers_workspace_is_split_into_rows(spy: set[str], monkeypatch) -> None:
    """A sample whose unfolded matrix does not fit a worker's part of the workspace is not taken whole by
    ``conv_im2col_by_samples``: the batch goes by blocks of output rows instead, with torch's values."""
    monkeypatch.setattr(algorithms, "PARALLEL_WORK", 0)
    monkeypatch.setattr(algorithms, "THREADS", 2)
    x, w, b = make_arrays((3, 5, 6, 8), (6, 5, 3, 2), False, 1, np.float64)
    kwargs = {"stride": 2, "padding": (1, 0)}  # 3 × 4 positions, 5 · 6 rows of the unfold: 2880 bytes a sample
    monkeypatch.setattr(algorithms, "WORKSPACE_BYTES", 2 * 2880 - 8)
    expected = torch_functional.conv2d(torch.tensor(x), torch.tensor(w), torch.tensor(b), **kwargs).numpy()
    with npconv.no_grad():
        ours = F.conv2d(npconv.tensor(x), npconv.tensor(w), npconv.tensor(b), **kwargs).numpy()
    assert "conv_im2col" in spy and "conv_im2col_by_samples" not in spy
    assert relative_error(ours, expected) < 1e-12


@pytest.mark.parametrize(
    ("transposed_min", "columns", "blocks"),
    [
        (10**6, 30, [3, 1, 3]),  # dW += g (O, n·P) · columnsᵀ; each worker's 4 and 3 samples, 3 at a time
        (1, 30, [3, 1, 3]),  # dWᵀ += columns (C·Πk, n·P) · gᵀ
        (10**6, 1, [1] * 7),
    ],
)
def test_weight_gradient_of_few_positions_takes_samples_side_by_side(
    transposed_min: int, columns: int, blocks: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With fewer than IM2COL_SHARE_COLUMNS positions a sample, the weight gradient on the pool contracts
    over a few samples side by side at a time (up to IM2COL_SAMPLES_COLUMNS columns) in either orientation:
    weight and bias gradients equal torch's in float64."""
    monkeypatch.setattr(algorithms, "PARALLEL_WORK", 0)
    monkeypatch.setattr(algorithms, "THREADS", 2)
    monkeypatch.setattr(algorithms, "IM2COL_SAMPLES_COLUMNS", columns)
    monkeypatch.setattr(algorithms, "GRAD_WEIGHT_TRANSPOSED_MIN", transposed_min)
    x, w, b = make_arrays((7, 5, 6, 8), (6, 5, 3, 2), False, 1, np.float64)
    kwargs = {"stride": 2, "padding": (1, 0)}  # 3 × 4 positions a sample
    reference, g = torch_run("conv2d", x, w, b, kwargs)
    recorded: list[int] = []
    original = algorithms.pad_zeros

    def recording(block, padding):
        recorded.append(block.shape[0])
        return original(block, padding)

    original_grad_weight = algorithms.grad_weight

    def grad_weight(*args, **kwargs_):
        monkeypatch.setattr(algorithms, "pad_zeros", recording)
        try:
            return original_grad_weight(*args, **kwargs_)
        finally:
            monkeypatch.setattr(algorithms, "pad_zeros", original)

    monkeypatch.setattr(algorithms, "grad_weight", grad_weight)
    ours = npconv_run("conv2d", x, w, b, kwargs, g)
    assert sorted(recorded) == sorted(blocks)
    for mine, theirs in zip(ours[2:], reference[2:]):
        assert relative_error(mine, theirs) < 1e-12


@pytest.mark.parametrize(
    ("shape", "dtype", "copied"),
    [
        ((2, 3, 32, 32), np.float32, True),  # 4 KiB planes
        ((2, 3, 16, 32), np.float64, True),
        ((2, 3, 64, 64), np.float32, True),
        ((2, 3, 16, 16), np.float32, False),  # 1 KiB
        ((2, 3, 28, 28), np.float32, False),
        ((2, 1, 32, 32), np.float32, False),  # one channel: nothing read across channels
        ((2, 3, 8, 16, 8), np.float32, True),
    ],
)
def test_without_channel_aliasing_moves_channels_apart(shape, dtype, copied: bool) -> None:
    """Channels a multiple of 4 KiB apart come back as an equal array whose channels are 64 bytes further
    apart; other arrays come back as they are."""
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    result = algorithms.without_channel_aliasing(x)
    np.testing.assert_array_equal(result, x)
    if copied:
        assert not np.shares_memory(result, x)
        assert result.strides[1] == x.strides[1] + 64
        assert result.strides[2:] == x.strides[2:]
    else:
        assert result is x


@pytest.mark.parametrize("pooled", [False, True], ids=["blas-threads", "pool-threads"])
def test_winograd_on_4_kib_planes_matches_torch(pooled: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Winograd's channels-last copies of 32 × 32 float32 planes go through the unaliased copy, forward and
    both gradients equal to torch's (float32 against float64, within the bound of the other cases)."""
    if pooled:
        monkeypatch.setattr(algorithms, "PARALLEL_WORK", 0)
        monkeypatch.setattr(algorithms, "THREADS", 2)
    copies: list[bool] = []
    original = algorithms.without_channel_aliasing

    def recording(x):
        result = original(x)
        copies.append(result is not x)
        return result

    monkeypatch.setattr(algorithms, "without_channel_aliasing", recording)
    kwargs = {"padding": 1}
    x, w, b = make_arrays((3, 64, 32, 32), (64, 64, 3, 3), False, 1, np.float64)
    exact, g = torch_run("conv2d", x, w, b, kwargs)
    arrays32 = [array.astype(np.float32) for array in (x, w, b)]
    theirs, _ = torch_run("conv2d", *arrays32, kwargs)
    ours = npconv_run("conv2d", *arrays32, kwargs, g.astype(np.float32))
    for label, mine, torch_value, reference in zip(
        ("output", "grad input", "grad weight", "grad bias"), ours, theirs, exact
    ):
        assert relative_error(mine, reference) <= max(4 * relative_error(torch_value, reference), 1e-6), label
    assert any(copies)


@pytest.mark.parametrize(
    "x_shape",
    [(2, 32, 4, 16, 32), (2, 32, 8, 16, 16), (1, 32, 5, 16, 32)],
    ids=["4-KiB-planes", "4-KiB-volumes", "one-sample-4-KiB-planes"],
)
@pytest.mark.parametrize("pooled", [False, True], ids=["blas-threads", "pool-threads"])
def test_winograd_3d_copies_planes_first_without_a_copy_against_aliasing(
    x_shape, pooled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In 3-d the padded block is built from a copy of x with whole planes first, (n, d, C, h, w): that one
    copy also moves planes of 4 KiB (here 16 × 32 float64) 64 bytes apart, and volumes a multiple of 4 KiB
    apart (here 8 · 16 · 16 float64) need no extra copy, so ``without_channel_aliasing`` is not called; the
    forward and every gradient equal torch's."""
    if pooled:
        monkeypatch.setattr(algorithms, "PARALLEL_WORK", 0)
        monkeypatch.setattr(algorithms, "THREADS", 2)
    calls: list[int] = []
    original = algorithms.without_channel_aliasing
    monkeypatch.setattr(algorithms, "without_channel_aliasing", lambda x: calls.append(x.ndim) or original(x))
    blocks: list[int] = []
    original_block = winograd._convolve_block
    monkeypatch.setattr(winograd, "_convolve_block", lambda *args, **kwargs: blocks.append(1) or original_block(*args, **kwargs))
    kwargs = {"padding": 1}
    x, w, b = make_arrays(x_shape, (32, 32, 3, 3, 3), False, 1, np.float64)
    reference, g = torch_run("conv3d", x, w, b, kwargs)
    ours = npconv_run("conv3d", x, w, b, kwargs, g)
    for label, mine, theirs in zip(("output", "grad input", "grad weight", "grad bias"), ours, reference):
        assert relative_error(mine, theirs) < 1e-12, label
    assert blocks, "Winograd did not run"
    assert 5 not in calls


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "groups", "out_shape", "taken"),
    [
        ((16, 8, 2, 2), (6, 8, 3, 3), 1, (16, 6, 2, 2), True),
        ((15, 8, 2, 2), (6, 8, 3, 3), 1, (15, 6, 2, 2), False),  # below DENSE_MAP_MIN_BATCH
        ((16, 8, 3, 3), (6, 8, 3, 3), 1, (16, 6, 3, 3), True),  # 9 positions, 9 taps
        ((16, 8, 2, 5), (6, 8, 3, 3), 1, (16, 6, 2, 5), False),  # 10 positions
        ((16, 8, 2, 2), (6, 4, 3, 3), 2, (16, 6, 2, 2), False),
        ((16, 8, 1, 1), (6, 8, 3, 3), 1, (16, 6, 1, 1), False),  # one position: the live taps' pointwise product
        ((16, 4096, 2, 2), (512, 4096, 3, 3), 1, (16, 512, 2, 2), False),  # a 128 MiB map: beyond the workspace
    ],
)
def test_dense_map_takes_tiny_planes_of_a_batch(x_shape, w_shape, groups: int, out_shape, taken: bool) -> None:
    """``by_dense_map``: one group, batches of ≥ 16 samples, 2 … Πk input positions, the map within the
    workspace."""
    assert algorithms.by_dense_map(x_shape, w_shape, groups, out_shape, 4) is taken


# x, w (after the transposed convolution's flip and exchange), stride, padding, lhs and rhs dilation, groups,
# dtype: 8 samples of 4 × 4 tiles (16 × 16 outputs), 128 tiles
UPSAMPLING_BASE = ((8, 32, 8, 8), (64, 32, 4, 4), (1, 1), [(2, 2), (2, 2)], (2, 2), (1, 1), 1, np.float32)


@pytest.mark.parametrize(
    ("change", "applies"),
    [
        ({}, True),
        ({0: (7, 32, 8, 8)}, False),  # 112 tiles
        ({0: (32, 32, 4, 4)}, False),  # 128 tiles, but 4 a sample
        ({0: (8, 31, 8, 8), 1: (64, 31, 4, 4)}, False),  # 31 input channels
        ({1: (63, 32, 4, 4)}, False),  # 63 output channels
        ({1: (64, 32, 3, 3)}, False),
        ({2: (2, 1)}, False),
        ({4: (2, 1)}, False),
        ({4: (3, 3)}, False),
        ({5: (2, 1)}, False),
        ({6: 2}, False),
        ({3: [(1, 2), (2, 2)]}, False),  # odd low padding: the two phases read the same windows
        ({3: [(2, 2), (0, 5)]}, True),
        ({7: np.complex64}, False),
        ({7: np.float64}, True),
    ],
)
def test_upsampling_applies_to_its_shapes_only(change: dict, applies: bool) -> None:
    """``applies_upsampling`` takes 2-d convolutions of inputs stuffed by 2 with 4×4 kernels, stride 1, no
    dilation, one group, even low padding, a real floating dtype, ≥ 32 input and ≥ 64 output channels, ≥ 16
    tiles a sample and ≥ 128 in the batch."""
    arguments = list(UPSAMPLING_BASE)
    for index, value in change.items():
        arguments[index] = value
    assert winograd_stride2.applies_upsampling(*arguments) is applies


# x, w (after the transposed convolution's flip and exchange), stride, padding, lhs and rhs dilation, groups:
# a k4 s2 p1 transposed convolution of 16² inputs to 16 channels (64 rows; 17² windows for 16² outputs a phase)
STACKED_BASE = ((2, 8, 16, 16), (16, 8, 4, 4), (1, 1), [(2, 2), (2, 2)], (2, 2), (1, 1), 1)


@pytest.mark.parametrize(
    ("change", "applies"),
    [
        ({}, True),
        ({0: (1, 8, 16, 16)}, False),  # a single sample
        ({1: (15, 8, 4, 4)}, False),  # 60 rows
        ({0: (2, 8, 7, 16)}, False),  # 8 windows for 7 outputs a phase along the first axis: 1.21 with the other
        ({1: (16, 8, 3, 4)}, False),  # phases of 2 and 1 taps
        ({1: (16, 8, 2, 2)}, False),  # one tap a phase: col2im's case
        ({4: (1, 1)}, False),
        ({2: (2, 1)}, False),
        ({5: (2, 1)}, False),
        ({6: 2, 1: (16, 4, 4, 4)}, False),
        ({1: (16, 8, 6, 4), 4: (3, 2), 3: [(4, 4), (2, 2)]}, True),  # k6 s3 along the first axis
        ({3: [(2, 3), (2, 2)]}, True),  # an output padding row: phase 0 has one output more
    ],
)
def test_stacked_phases_applies_to_its_shapes_only(change: dict, applies: bool) -> None:
    """``applies_stacked_phases`` takes convolutions of stuffed inputs with kernels a multiple of the lhs
    dilation (not equal to it on every axis), stride 1, no rhs dilation, one group, a batch, ≥ 64 rows and
    windows within 1.15 times the outputs a phase needs."""
    arguments = list(STACKED_BASE)
    for index, value in change.items():
        arguments[index] = value
    assert algorithms.applies_stacked_phases(*arguments) is applies


def test_stacked_phase_kernel_reads_flipped_and_exchanged_weights() -> None:
    """The stacked kernel of a transposed convolution's weights as the primitive sees them (flipped, channel
    axes exchanged: a view) equals the one built from a contiguous copy of that view, and each row block
    holds its phase's taps."""
    rng = np.random.default_rng(0)
    weights = rng.standard_normal((6, 5, 4, 4))  # (C, O, 4, 4) of a transposed convolution
    view = primitive.flip_and_swap_channels(weights, 1)  # (O, C, 4, 4), flipped
    phase_taps = [[slice(a, 4, 2), slice(b, 4, 2)] for a in (0, 1) for b in (0, 1)]
    from_view = algorithms.stacked_phase_kernel(view, phase_taps, (2, 2), np.float64)
    from_copy = algorithms.stacked_phase_kernel(np.ascontiguousarray(view), phase_taps, (2, 2), np.float64)
    np.testing.assert_array_equal(from_view, from_copy)
    blocks = from_copy.reshape(4, 5, 6, 2, 2)
    for p, (rows, columns) in enumerate(phase_taps):
        np.testing.assert_array_equal(blocks[p], view[:, :, rows, columns])


def test_stride2_transforms_compute_one_tile_of_each_direction() -> None:
    """The documented 1-d transforms of winograd_stride2 give the direct sums of one tile (float64): stuffed
    by 2, outputs 4m … 4m + 3 of a 4-tap correlation from inputs d₀ … d₃ (the kernel rows meeting input slots
    UPSAMPLING_ROWS, outputs the pairs UPSAMPLING_OUTPUT_ROWS); at stride 2, outputs 2m, 2m + 1 from inputs
    x₀ … x₅, each phase's three (phase, slot) products summed over the phases."""
    rng = np.random.default_rng(0)
    for _ in range(5):
        d, taps = rng.standard_normal(4), rng.standard_normal(4)
        stuffed = np.zeros(8)
        stuffed[0:8:2] = d
        direct = [sum(taps[t] * stuffed[q + t] for t in range(4)) for q in range(4)]
        kernel_rows = winograd_stride2.UPSAMPLING_KERNEL_TRANSFORM @ taps
        slots = winograd_stride2.UPSAMPLING_INPUT_TRANSFORM @ d
        slot_of_row = [i for i, (r0, r1) in enumerate(winograd_stride2.UPSAMPLING_ROWS) for _ in range(r0, r1)]
        products = kernel_rows * slots[slot_of_row]
        outputs = [products[a] + products[b] for a, b in winograd_stride2.UPSAMPLING_OUTPUT_ROWS]
        np.testing.assert_allclose(outputs, direct, rtol=1e-12, atol=1e-12)

        x = rng.standard_normal(6)
        direct = [sum(taps[t] * x[2 * i + t] for t in range(4)) for i in range(2)]
        products = (winograd_stride2.DOWNSAMPLING_KERNEL_TRANSFORM @ taps) * (
            winograd_stride2.DOWNSAMPLING_INPUT_TRANSFORM @ x
        )
        summed = products.reshape(2, 3).sum(axis=0)  # rows in (phase, slot) order
        outputs = [summed[a] + summed[b] for a, b in winograd_stride2.DOWNSAMPLING_OUTPUT_SLOTS]
        np.testing.assert_allclose(outputs, direct, rtol=1e-12, atol=1e-12)


# x, w, stride, padding, dilation, groups, dtype: 2 samples of 8 × 8 tiles (16 × 16 outputs), 128 tiles
DOWNSAMPLING_BASE = ((2, 64, 32, 32), (128, 64, 4, 4), (2, 2), [(1, 1), (1, 1)], (1, 1), 1, np.float32)


@pytest.mark.parametrize(
    ("change", "applies"),
    [
        ({}, True),
        ({0: (1, 64, 32, 32)}, False),  # a single sample: products on BLAS's threads, the unfold as fast
        ({0: (2, 64, 28, 28)}, False),  # 2 × 49 tiles
        ({0: (32, 64, 8, 8)}, False),  # 128 tiles, but 4 a sample
        ({0: (2, 63, 32, 32), 1: (128, 63, 4, 4)}, False),
        ({1: (127, 64, 4, 4)}, False),
        ({1: (128, 64, 3, 3)}, False),
        ({2: (2, 1)}, False),
        ({4: (2, 2)}, False),
        ({5: 2}, False),
        ({3: [(0, 3), (2, 0)]}, True),
        ({6: np.complex64}, False),
        ({6: np.float64}, True),
    ],
)
def test_downsampling_applies_to_its_shapes_only(change: dict, applies: bool) -> None:
    """``applies_downsampling`` takes 2-d batches with 4×4 kernels at stride 2, no dilation, one group, a
    real floating dtype, ≥ 64 input and ≥ 128 output channels, ≥ 16 tiles a sample and ≥ 128 in all."""
    arguments = list(DOWNSAMPLING_BASE)
    for index, value in change.items():
        arguments[index] = value
    assert winograd_stride2.applies_downsampling(*arguments) is applies


@pytest.mark.parametrize("pooled", [False, True], ids=["blas-threads", "pool-threads"])
def test_upsampling_splits_the_batch_within_the_workspace(pooled: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """F(2×2, 2×2) by phases runs whole samples: on the pool in shares of at least SHARE_TILES
    tiles, taken by the workers; otherwise in blocks of as many samples as the workspace holds. Either way
    every sample once, and torch's result in float64."""
    x, w, b = make_arrays((6, 32, 10, 9), (32, 64, 4, 4), True, 1, np.float64)
    expected = torch_functional.conv_transpose2d(
        torch.tensor(x), torch.tensor(w), torch.tensor(b), stride=2, padding=1
    ).numpy()
    tiles = [5, 5]  # 20 × 18 outputs, 150 tiles in the batch
    sample_bytes = winograd_stride2._upsampling_sample_bytes(32, 64, tiles, 8)
    # blocks of two samples; on the pool two a share too (the workspace's half for each of two workers, and
    # 50 tiles a share), the batch in four groups as even as they come so that the workers share them evenly
    monkeypatch.setattr(algorithms, "WORKSPACE_BYTES", (4 if pooled else 2) * sample_bytes)
    monkeypatch.setattr(winograd_stride2, "SHARE_TILES", 50)
    if pooled:
        monkeypatch.setattr(algorithms, "PARALLEL_WORK", 0)
        monkeypatch.setattr(algorithms, "THREADS", 2)
    else:
        monkeypatch.setattr(algorithms, "PARALLEL_WORK", 1 << 60)
    blocks: list[tuple[int, int, bool]] = []
    original = winograd_stride2._upsample_samples

    def recording(x_, kernel, padding, tiles_, bias, y, n0, n1):
        blocks.append((n0, n1, on_the_pool()))
        return original(x_, kernel, padding, tiles_, bias, y, n0, n1)

    monkeypatch.setattr(winograd_stride2, "_upsample_samples", recording)
    with npconv.no_grad():
        ours = F.conv_transpose2d(npconv.tensor(x), npconv.tensor(w), npconv.tensor(b), stride=2, padding=1).numpy()
    assert relative_error(ours, expected) < 1e-12
    expected_blocks = [(0, 1), (1, 3), (3, 4), (4, 6)] if pooled else [(0, 2), (2, 4), (4, 6)]
    assert sorted((n0, n1) for n0, n1, _ in blocks) == expected_blocks
    assert all(pool == pooled for *_, pool in blocks)


SHARE_CASES = [
    # (name, input, weight, padding, workspace in samples' scratch (None: the default), SHARE_TILES,
    # the sample counts of the groups of samples, shares per group, outputs per tile and axis)
    ("whole samples", (4, 16, 9, 10), (20, 16, 3, 3), 1, None, 1, (1, 1, 1, 1), 1, (2, 2)),
    ("odd batch in rows of tiles", (3, 16, 9, 10), (20, 16, 3, 3), 1, None, 1, (1, 1, 1), 2, (2, 2)),
    ("workspace of one sample", (2, 16, 12, 9), (12, 16, 3, 3), 1, 1, 1, (1, 1), 2, (2, 2)),
    # two workers need 2 / 0.35 → 6 parts of a sample: rows of 2 of its 7 rows of tiles, 4 shares
    ("workspace of a third of a sample", (2, 16, 14, 9), (12, 16, 3, 3), 1, 0.35, 1, (1, 1), 4, (2, 2)),
    ("unpadded, wide padding", (3, 16, 11, 8), (12, 16, 3, 3), (3, 0), None, 1, (1, 1, 1), 2, (2, 2)),
    ("3d odd batch", (3, 8, 5, 6, 7), (6, 8, 3, 3, 3), 1, None, 1, (1, 1, 1), 2, (2, 2, 2)),
    ("3d odd batch, 4×2×2 tiles", (3, 8, 9, 6, 7), (6, 8, 3, 3, 3), 1, None, 1, (1, 1, 1), 2, (4, 2, 2)),
    # 9 tiles a sample, at least 20 a share: 3 samples a share, at most half the batch, in as many groups as
    # the two workers share evenly, as even as they come
    ("samples with few tiles together", (6, 16, 6, 5), (20, 16, 3, 3), 1, None, 20, (3, 3), 1, (2, 2)),
    ("samples with few tiles, at most half the batch", (4, 16, 6, 5), (20, 16, 3, 3), 1, None, 20, (2, 2), 1, (2, 2)),
    (
        "samples with few tiles, regrouped for the workers",
        (8, 16, 6, 5),
        (20, 16, 3, 3),
        1,
        None,
        20,
        (2, 2, 2, 2),
        1,
        (2, 2),
    ),
    ("samples with few tiles, odd batch", (5, 16, 6, 5), (20, 16, 3, 3), 1, None, 20, (2, 3), 1, (2, 2)),
    # F(4×2): 17 output rows in 5 rows of tiles, split in rows of 3 and 2 for the odd batch
    ("4×2 tiles, odd batch in rows of tiles", (3, 16, 17, 10), (20, 16, 3, 3), 1, None, 1, (1, 1, 1), 2, (4, 2)),
    # 26 output rows in 7 rows of tiles, 6 parts of a sample needed: rows of 2, 4 shares
    ("4×2 tiles, workspace of a third of a sample", (2, 16, 26, 9), (12, 16, 3, 3), 1, 0.35, 1, (1, 1), 4, (4, 2)),
    ("4×2 tiles, unpadded, wide padding", (3, 16, 11, 8), (12, 16, 3, 3), (3, 0), None, 1, (1, 1, 1), 2, (4, 2)),
    # 6 tiles of 4×2 a sample (9 of 2×2), at least 20 a share: 4 samples a share
    ("4×2 tiles, samples with few tiles together", (8, 16, 6, 5), (20, 16, 3, 3), 1, None, 20, (4, 4), 1, (4, 2)),
]


@pytest.mark.parametrize("case", SHARE_CASES, ids=[case[0] for case in SHARE_CASES])
def test_winograd_forward_in_shares_on_the_pool(case, monkeypatch: pytest.MonkeyPatch) -> None:
    """On the pool, Winograd's forward runs in shares (whole samples, or rows of tiles of one) that each
    pad their own rows and go through the whole pipeline, or several samples with few tiles: results
    (forward and the input gradient, also a Winograd convolution) equal torch's for even and odd batches,
    cropped outputs, wide padding, 3-d and a workspace that holds a sample's scratch only in parts; the
    shares follow the rule."""
    _, input_shape, weight_shape, padding, workspace, share_tiles, groups, per_group, outputs = case
    name = functional_name(False, len(input_shape) - 2)
    x, w, b = make_arrays(input_shape, weight_shape, False, 1, np.float64)
    kwargs = {"padding": padding}
    reference, g = torch_run(name, x, w, b, kwargs)
    for threshold in ("MIN_CHANNELS", "MIN_WORK"):
        monkeypatch.setattr(winograd, threshold, dict.fromkeys(getattr(winograd, threshold), 0))
    monkeypatch.setattr(winograd, "MIN_TILES", dict.fromkeys(winograd.MIN_TILES, 1))
    monkeypatch.setattr(winograd, "WEIGHT_GRADIENT_MIN_TILES", 0)
    monkeypatch.setattr(winograd, "SHARE_TILES", share_tiles)
    monkeypatch.setattr(winograd, "outputs_per_tile", lambda batch, out: outputs)
    monkeypatch.setattr(algorithms, "THREADS", 2)
    monkeypatch.setattr(algorithms, "PARALLEL_WORK", 0)
    pads = [(p, p) for p in ((padding,) * (x.ndim - 2) if isinstance(padding, int) else padding)]
    if workspace is not None:
        sample_bytes = winograd.block_bytes(x.shape, w.shape, pads, x.dtype, outputs)
        monkeypatch.setattr(algorithms, "WORKSPACE_BYTES", int(workspace * sample_bytes))
    shares: list[tuple[int, ...]] = []
    original = winograd._convolve_block

    def counting(padded, kernel, target, *args):
        shares.append(target.shape)
        return original(padded, kernel, target, *args)

    monkeypatch.setattr(winograd, "_convolve_block", counting)
    with algorithms.single_threaded_blas(1):
        y = winograd.conv_winograd(x, w, pads, b)
    assert relative_error(y, reference[0]) < 1e-12
    assert sorted(shape[0] for shape in shares) == sorted(size for size in groups for _ in range(per_group))
    ours = npconv_run(name, x, w, b, kwargs, g)
    for label, mine, theirs in zip(("output", "grad input", "grad weight", "grad bias"), ours, reference):
        assert relative_error(mine, theirs) < 1e-12, label


@pytest.mark.parametrize(
    "input_shape, expected",
    [((2, 16, 9, 10), (4, 2)), ((1, 16, 9, 10), (2, 2)), ((2, 8, 5, 6, 7), (2, 2, 2)), ((2, 16, 4, 10), (2, 2))],
    ids=["2d batch", "2d single sample", "3d batch", "2d batch of 4 output rows"],
)
def test_winograd_weight_gradient_tiles(input_shape, expected, monkeypatch: pytest.MonkeyPatch) -> None:
    """The weight gradient's tiles: 4×2 outputs for a 2-d batch, 2×…×2 for a single sample and in 3-d; the
    result equals torch's in float64 either way."""
    rng = np.random.default_rng(5)
    ndim = len(input_shape) - 2
    x, g = rng.standard_normal(input_shape), rng.standard_normal((input_shape[0], 12, *input_shape[2:]))
    expected_grad = torch.ops.aten.convolution_backward(
        torch.tensor(g),
        torch.tensor(x),
        torch.zeros((12, input_shape[1]) + (3,) * ndim, dtype=torch.float64),
        None,
        (1,) * ndim,
        (1,) * ndim,
        (1,) * ndim,
        False,
        (0,) * ndim,
        1,
        (False, True, False),
    )[1].numpy()
    forms: list[tuple[int, ...]] = []
    original = winograd._output_gradient_tiles

    def recording(g_, tiles, outputs):
        forms.append(tuple(outputs))
        return original(g_, tiles, outputs)

    monkeypatch.setattr(winograd, "_output_gradient_tiles", recording)
    result = winograd.grad_weight_winograd(x, g, [(1, 1)] * ndim)
    assert set(forms) == {expected}
    assert relative_error(result, expected_grad) < 1e-12


@pytest.mark.parametrize(
    "batch, out, expected",
    [
        (2, (16, 16), (4, 2)),
        (2, (5, 3), (4, 2)),
        (2, (4, 16), (2, 2)),  # one row of 4×2 tiles: winograd.MIXED_MIN_ROWS
        (1, (28, 28), (4, 2)),  # 98 tiles of 4×2
        (1, (14, 14), (2, 2)),  # 28: fewer than winograd.MIXED_MIN_TILES_ONE_SAMPLE
        (2, (8, 8, 8), (4, 2, 2)),
        (1, (8, 8, 8), (2, 2, 2)),
    ],
)
def test_winograd_forward_tiles_follow_the_rule(batch: int, out, expected) -> None:
    """The forward's tiles: 4 outputs along the first axis for batches and for 2-d samples with enough
    tiles, as long as there are at least two rows of tiles' worth of output rows; 2 per axis otherwise."""
    assert winograd.outputs_per_tile(batch, out) == expected


@pytest.mark.parametrize("shape", [(5, 4, 3, 3), (3, 2, 3, 3, 3)], ids=["2d", "3d"])
def test_winograd_pairs_transform_from_the_rows_transform(shape) -> None:
    """The F(2×…×2) kernel transform derived from the F(4×2…) one equals the one computed from the kernel."""
    w = np.random.default_rng(9).standard_normal(shape)
    ndim = len(shape) - 2
    rows = winograd.transform_kernel(w, (4,) + (2,) * (ndim - 1))
    np.testing.assert_allclose(winograd._rows_to_pairs(rows), winograd.transform_kernel(w), rtol=1e-13, atol=1e-13)


def test_stacked_phases_match_torch_on_random_configurations(monkeypatch: pytest.MonkeyPatch) -> None:
    """``conv_stacked_phases`` with its size conditions lifted, on random 1-d, 2-d and 3-d transposed
    convolutions (strides 1–3 per axis, kernels of 1–3 taps a phase, paddings that crop, output padding) and on
    the input gradients of random strided convolutions: forward and every gradient equal torch's (float64),
    and most configurations go through it."""
    monkeypatch.setattr(algorithms, "STACKED_PHASES_MIN_ROWS", 1)
    monkeypatch.setattr(algorithms, "STACKED_PHASES_MAX_WASTE", 10.0)
    taken: list[bool] = []
    original = algorithms.conv_stacked_phases

    def recording(*args, **kwargs):
        taken.append(True)
        return original(*args, **kwargs)

    monkeypatch.setattr(algorithms, "conv_stacked_phases", recording)
    rng = np.random.default_rng(5)
    runs = through = 0
    while runs < 60:
        ndim = int(rng.integers(1, 4))
        stride = [int(rng.integers(1, 4)) for _ in range(ndim)]
        stride[int(rng.integers(ndim))] = int(rng.integers(2, 4))
        kernel = [s * int(rng.integers(1, 4)) for s in stride]
        transposed = runs % 2 == 0
        if transposed:
            size = [int(rng.integers(1, 7)) for _ in range(ndim)]
            kwargs = {
                "stride": stride,
                "padding": [int(rng.integers(0, k)) for k in kernel],
                "output_padding": [int(rng.integers(0, s)) for s in stride],
            }
        else:
            size = [k + int(rng.integers(0, 7)) for k in kernel]
            kwargs = {"stride": stride, "padding": [int(rng.integers(0, k // 2 + 1)) for k in kernel]}
        channels, out_channels = int(rng.integers(1, 4)), int(rng.integers(1, 5))
        weight_shape = (channels, out_channels, *kernel) if transposed else (out_channels, channels, *kernel)
        x, w, b = make_arrays((int(rng.integers(2, 4)), channels, *size), weight_shape, transposed, 1, np.float64, seed=runs)
        name = functional_name(transposed, ndim)
        try:
            reference, g = torch_run(name, x, w, b, kwargs)
        except RuntimeError:  # an output padding not smaller than the stride, or an empty output
            continue
        taken.clear()
        ours = npconv_run(name, x, w, b, kwargs, g)
        for label, mine, theirs in zip(("output", "grad input", "grad weight", "grad bias"), ours, reference):
            assert mine.shape == theirs.shape, (label, kwargs)
            assert relative_error(mine, theirs) < 1e-12, (label, kwargs)
        runs += 1
        through += bool(taken)
    assert through >= 40


@pytest.mark.parametrize("n", [*range(1, 130), 250, 251, 1025, 4097, 16255])
def test_fft_sizes_are_the_smallest_products_of_2_3_and_5(n: int) -> None:
    size = fft.fast_size(n)
    assert size >= n
    rest = size
    for factor in (2, 3, 5):
        while rest % factor == 0:
            rest //= factor
    assert rest == 1
    assert all(m > 1 and any(m % f == 0 for f in (7, 11, 13)) or not is_2_3_5(m) for m in range(n, size))


def is_2_3_5(m: int) -> bool:
    for factor in (2, 3, 5):
        while m % factor == 0:
            m //= factor
    return m == 1


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "kwargs", "taken"),
    [
        ((4, 32, 16000), (32, 32, 256), {"padding": 128}, True),  # audio with a long filter
        ((4, 32, 16000), (32, 32, 64), {"padding": 32}, True),
        ((4, 32, 16000), (32, 32, 16), {"padding": 8}, False),  # 1.12–1.34× the direct sum's time
        ((1, 80, 16000), (80, 1, 251), {"padding": 125, "groups": 80}, True),  # a depthwise 1-d filter bank
        ((4, 3, 256, 256), (3, 1, 31, 31), {"padding": 15, "groups": 3}, True),  # a 31×31 blur
        ((8, 64, 56, 56), (64, 64, 11, 11), {"padding": 5}, True),
        ((8, 64, 56, 56), (64, 64, 7, 7), {"padding": 3}, False),  # 1.10–1.25×
        ((8, 64, 56, 56), (64, 64, 3, 3), {"padding": 1}, False),
        ((4, 3, 224, 224), (64, 3, 11, 11), {"stride": 4, "padding": 2}, False),  # AlexNet's stem: 19×
        ((8, 128, 28, 28), (128, 1, 31, 31), {"padding": 15, "groups": 128}, False),  # depthwise by rows: 1.33×
        ((8, 128, 56, 56), (128, 1, 13, 13), {"padding": 6, "groups": 128}, False),
    ],
)
def test_fft_applies_where_it_estimates_a_gain(x_shape, w_shape, kwargs, taken: bool) -> None:
    ndim = len(x_shape) - 2
    stride = (kwargs.get("stride", 1),) * ndim
    padding = [(kwargs.get("padding", 0),) * 2] * ndim
    assert fft.applies(x_shape, w_shape, stride, padding, (1,) * ndim, kwargs.get("groups", 1), np.float32) is taken


@pytest.mark.parametrize("pooled", [False, True], ids=["calling-thread", "pool-workers"])
def test_fft_in_chunks_of_rows_and_output_channels(pooled: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """A workspace too small for all rows and all output channels at once: the plan splits both, and the
    forward and weight gradient still match torch's."""
    monkeypatch.setattr(algorithms, "WORKSPACE_BYTES", 12_000)
    monkeypatch.setattr(algorithms, "THREADS", 2 if pooled else 1)
    x_shape, w_shape, stride, padding, dilation, groups = (3, 4, 200), (6, 2, 20), (2,), [(3, 4)], (2,), 2
    found = fft.plan(x_shape, w_shape, stride, tuple(padding), dilation, groups, 8)
    assert found.row_chunk < found.rows and found.out_chunk < w_shape[0] // groups
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    yt = torch_functional.conv1d(torch_functional.pad(xt, (3, 4)), wt, stride=2, dilation=2, groups=2)
    g = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(g))
    y = fft.conv_fft(x, w, stride, padding, dilation, groups)
    dw = fft.grad_weight_fft(x, g, w_shape[2:], stride, padding, dilation, groups)
    assert relative_error(y, yt.detach().numpy()) < 1e-12
    assert relative_error(dw, wt.grad.numpy()) < 1e-12


def test_fft_of_a_long_filter_stays_within_torchs_float32_error() -> None:
    """A shape the FFT takes on its own estimate (a 255-tap filter over 4000 samples): forward, input and
    weight gradient in float32 within 4× torch's own error against float64."""
    x_shape, w_shape, kwargs = (1, 16, 4000), (16, 16, 255), {"padding": 127}
    assert fft.applies(x_shape, w_shape, (1,), [(127, 127)], (1,), 1, np.float32)
    x, w, b = make_arrays(x_shape, w_shape, False, 1, np.float64)
    exact, g = torch_run("conv1d", x, w, b, kwargs)
    arrays32 = [array.astype(np.float32) for array in (x, w, b)]
    theirs, _ = torch_run("conv1d", *arrays32, kwargs)
    ours = npconv_run("conv1d", *arrays32, kwargs, g.astype(np.float32))
    for label, mine, torch_value, reference in zip(("output", "grad input", "grad weight", "grad bias"), ours, theirs, exact):
        assert mine.dtype == np.float32, label
        assert relative_error(mine, reference) <= max(4 * relative_error(torch_value, reference), 1e-6), label


def test_strided_view_equals_as_strided() -> None:
    """``algorithms.strided_view`` gives as_strided's view (same elements, shape and strides, sharing x's
    memory) for a contiguous x, a view into a contiguous array (an offset into its memory), a view of a view,
    negative strides and an empty x; read-only when asked; a write through it lands in x."""
    from numpy.lib.stride_tricks import as_strided

    base = np.arange(4 * 9 * 9, dtype=np.float32).reshape(4, 81)
    item = base.itemsize
    cases = [
        (base, (4, 3, 3, 63), (81 * item, 9 * item, item, item)),  # a 3×3 tap view of padded 9 × 9 planes
        (base[1:, 2:], (3, 3, 60), (81 * item, 9 * item, item)),  # a view: an offset into base's memory
        (base[::2, 10:][:, 5:], (2, 4), (162 * item, 2 * item)),  # a view of a view
        (base[:, ::-1], (4, 5), (81 * item, -item)),  # a reversed view
        (np.zeros((0, 5), np.float32), (0, 3), (20, 4)),  # empty
    ]
    for x, shape, strides in cases:
        for writeable in (True, False):
            ours = algorithms.strided_view(x, shape, strides, writeable=writeable)
            theirs = as_strided(x, shape, strides, writeable=writeable)
            assert ours.shape == theirs.shape and ours.strides == theirs.strides and ours.dtype == x.dtype
            assert np.array_equal(ours, theirs)
            assert ours.flags.writeable == writeable
            if x.size:
                assert np.shares_memory(ours, x) and ours.__array_interface__["data"] == theirs.__array_interface__["data"]
    target = np.zeros((3, 10), np.float32)
    algorithms.strided_view(target[1:], (2, 2), (40, 4))[...] = 7
    assert target[1:, :2].sum() == 28 and target.sum() == 28
