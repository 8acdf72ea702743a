"""Entry point of the ``visionloss`` command (also ``python -m visionloss``).

Each sub-command lives in its own module of this package and exposes
``add_parser(subparsers)``, which registers its parser with ``handler=run``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# sub-command modules, in the order shown by --help
COMMANDS = ("list_cmd", "show", "plot", "bench", "experiment", "tour", "env")


class CommandError(Exception):
    """A user error: printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="visionloss",
        description="Computer-vision losses for PyTorch: catalogue, plots, benchmarks, "
        "experiments, the tour report, environment.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"visionloss.cli.{name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except CommandError as err:
        print(f"visionloss {args.command}: {err}", file=sys.stderr)
        return 2
    except ValueError as err:
        if str(err).startswith(("unknown loss", "unknown experiment", "unknown family")):
            print(f"visionloss {args.command}: {err}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
