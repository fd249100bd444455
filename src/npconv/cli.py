"""The ``npconv`` command: ``npconv demo``, ``npconv bench``, ``npconv shape``, ``npconv viz``.

Each command lives in its own module with ``add_arguments(parser)`` and ``run(args) -> int``; only the
module of the command being run is imported.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMANDS = {
    "demo": ("npconv.demo", "train a LeNet-style CNN and a convolutional autoencoder on handwritten digits"),
    "bench": ("npconv.benchmark", "time npconv's convolutions against PyTorch's on real layer shapes"),
    "shape": ("npconv.explain.shape", "output shapes, formulas, parameters, MACs and receptive fields of layers"),
    "viz": ("npconv.explain.viz", "pictures of what a convolution does"),
}


def _top_level_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="npconv",
        description="PyTorch's convolutions on NumPy.",
        epilog="commands:\n" + "\n".join(f"  {name:8s} {text}" for name, (_, text) in COMMANDS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=sorted(COMMANDS), metavar="COMMAND", help="one of: " + ", ".join(COMMANDS))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        _top_level_parser().parse_args(argv[:1])  # prints usage and exits 2 (or help, exit 0)
        return 2
    name, rest = argv[0], argv[1:]
    module_name, help_text = COMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"npconv {name}", description=help_text)
    module.add_arguments(parser)
    return int(module.run(parser.parse_args(rest)) or 0)


if __name__ == "__main__":
    sys.exit(main())
