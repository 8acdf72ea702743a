"""Entry point of the ``visionloss`` command (also ``python -m visionloss``).

Each sub-command lives in its own module of this package and exposes
``add_parser(subparsers)``, which registers its parser with ``handler=run``.

User errors are told apart by their type (:mod:`visionloss.errors`), never by their message:
:class:`CommandError` (a bad argument, an output path that cannot be written, an option value
a loss rejects), ``UnknownNameError`` (an unknown loss, family or experiment) and
``ExperimentError`` (an experiment rejects an option) are printed as one line on stderr, with
close matches where there are some, and exit with status 2; anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from ..errors import ExperimentError, UnknownNameError, VisionLossError, did_you_mean

# sub-command modules, in the order shown by --help
COMMANDS = ("list_cmd", "show", "plot", "bench", "experiment", "tour", "env")


class CommandError(VisionLossError):
    """A user error: printed as one line, exit code 2. ``prog`` names the command."""

    def __init__(self, message: str, prog: str | None = None) -> None:
        super().__init__(message)
        self.prog = prog


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (no usage dump): the message, and where to
    read the usage. Its sub-parsers are of the same class."""

    def error(self, message: str) -> NoReturn:
        raise CommandError(f"{message} (see `{self.prog} --help`)", prog=self.prog)


# the errors a user makes on the command line (one line, exit 2); other errors are bugs
USER_ERRORS = (CommandError, UnknownNameError, ExperimentError)


def family_type(value: str) -> str:
    """argparse ``type=`` of a ``--family`` option: a registered family, else a one-line error
    with close matches."""
    from .._core.registry import FAMILIES

    family = value.strip().lower()
    if family not in FAMILIES:
        raise argparse.ArgumentTypeError(
            f"unknown family {value!r}{did_you_mean(family, FAMILIES)} "
            f"(families: {', '.join(FAMILIES)})"
        )
    return family


def family_help(text: str) -> str:
    from .._core.registry import FAMILIES

    return f"{text}: {', '.join(FAMILIES)}"


def int_at_least(low: int) -> Callable[[str], int]:
    """argparse ``type=``: an integer ``>= low`` (e.g. ``--repeat``), else a one-line error."""

    def convert(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {value!r}") from None
        if number < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {number}")
        return number

    convert.__name__ = f"int >= {low}"
    return convert


def version() -> str:
    """visionloss's version (the package's ``__version__``)."""
    from .. import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="visionloss",
        description="Computer-vision losses for PyTorch: catalogue, plots, benchmarks, "
        "experiments, the tour report, environment.",
    )
    parser.add_argument(
        "--version", action="version", version=f"visionloss {version()}", help="print the version"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"visionloss.cli.{name}").add_parser(sub)
    return parser


def _command_names(parser: argparse.ArgumentParser) -> list[str]:
    for action in parser._actions:  # the sub-parsers action holds the names
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices)
    return []


def _check_command(parser: argparse.ArgumentParser, argv: Sequence[str]) -> None:
    """An unknown command is one line with close matches (the top-level parser has no option
    but ``--help``, so the first word that is not an option is the command)."""
    word = next((a for a in argv if not a.startswith("-")), None)
    names = _command_names(parser)
    if word is not None and word not in names:
        raise CommandError(
            f"unknown command {word!r}{did_you_mean(word, names)} (commands: {', '.join(names)})",
            prog="visionloss",
        )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        _check_command(parser, argv)
        args = parser.parse_args(argv)
    except CommandError as err:
        print(f"{err.prog or 'visionloss'}: {err}", file=sys.stderr)
        return 2
    prog = f"visionloss {args.command}"
    try:
        return int(args.handler(args) or 0)
    except USER_ERRORS as err:
        print(f"{getattr(err, 'prog', None) or prog}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
