"""The ``npconv`` command: ``npconv demo``, ``npconv bench``, ``npconv shape``, ``npconv viz``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# command name → (module implementing it, one-line help). Each module has
# ``add_arguments(parser)`` and ``run(args) -> int``.
COMMANDS = {
    "demo": ("npconv.demo", "train a small CNN and an autoencoder on handwritten digits"),
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="npconv", description="PyTorch's convolutions on NumPy.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        module.add_arguments(commands.add_parser(name, help=help_text, description=help_text))
    args = parser.parse_args(argv)
    module = importlib.import_module(COMMANDS[args.command][0])
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
