"""``npconv shape SPEC --input N,C,H,W``: output shapes, output-size formulas, parameters, MACs and
receptive fields of a stack of layers, without running them.

Example::

    npconv shape "Conv2d(3, 64, 7, stride=2, padding=3); MaxPool2d(3, stride=2, padding=1)" --input 1,3,224,224
"""

from __future__ import annotations

import argparse
import sys

from .calculator import LayerError, analyze, known_layers
from .spec import SpecError, parse_spec


def parse_input_shape(text: str) -> tuple[int, ...]:
    """``"1,3,224,224"`` (or with ``x`` / spaces) → (1, 3, 224, 224); every size a positive integer."""
    parts = [part for part in text.replace("x", ",").replace(" ", ",").split(",") if part]
    try:
        shape = tuple(int(part) for part in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--input must be comma-separated integers such as 1,3,224,224, got {text!r}"
        ) from None
    if not shape or any(n <= 0 for n in shape):
        raise argparse.ArgumentTypeError(f"--input needs positive sizes such as 1,3,224,224, got {text!r}")
    return shape


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "spec",
        metavar="SPEC",
        help="layers as npconv constructor calls separated by ';', e.g. "
        '"Conv2d(3, 64, 7, stride=2, padding=3); MaxPool2d(3, stride=2, padding=1)"',
    )
    parser.add_argument(
        "--input",
        required=True,
        type=parse_input_shape,
        metavar="N,C,H,W",
        help="input shape, batch first, e.g. 1,3,224,224 (N,C,L for 1-d layers, N,C,D,H,W for 3-d)",
    )
    parser.add_argument("--brief", action="store_true", help="omit the per-dim formulas and weight shapes")


def run(args: argparse.Namespace) -> int:
    try:
        calls = parse_spec(args.spec, known_layers())
        result = analyze(calls, args.input, show_formulas=not args.brief)
    except (SpecError, LayerError) as error:
        print(f"npconv shape: error: {error}", file=sys.stderr)
        return 2
    print(result)
    return 0
