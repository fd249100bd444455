"""``npconv demo``: build the convolutions of a small network, check their shapes and time them."""

from __future__ import annotations

import argparse
import time

import numpy as np


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def run(args: argparse.Namespace) -> int:
    import npconv
    import npconv.nn.functional as F

    npconv.manual_seed(args.seed)
    x = npconv.randn(8, 3, 32, 32)
    layers = [
        ("conv2d 3→16 k3 p1", lambda t: F.conv2d(t, npconv.randn(16, 3, 3, 3), padding=1)),
        ("conv2d 16→32 k3 s2 p1", lambda t: F.conv2d(t, npconv.randn(32, 16, 3, 3), stride=2, padding=1)),
        ("conv_transpose2d 32→16 k4 s2 p1", lambda t: F.conv_transpose2d(t, npconv.randn(32, 16, 4, 4), stride=2, padding=1)),
    ]
    for name, layer in layers:
        start = time.perf_counter()
        y = layer(x)
        elapsed = time.perf_counter() - start
        print(f"{name:34s} {str(tuple(x.shape)):18s} → {str(tuple(y.shape)):18s} {elapsed * 1e3:7.2f} ms")
        x = y
    print("mean |y| =", float(np.abs(x.numpy()).mean()))
    return 0
