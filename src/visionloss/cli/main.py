"""Entry point of the ``visionloss`` command (also ``python -m visionloss``).

Each sub-command lives in its own module of this package and exposes
``add_parser(subparsers)``, which registers its parser with ``handler=run``.

User errors (an unknown command, loss, family or experiment, a bad option value, an output path
that cannot be written) are printed as one line on stderr, with close matches where there are
some, and exit with status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import NoReturn

# sub-command modules, in the order shown by --help
COMMANDS = ("list_cmd", "show", "plot", "bench", "experiment", "tour", "env")

# ValueErrors of the library that are about a name the user typed (they carry close matches)
USER_VALUE_ERRORS = ("unknown loss", "unknown experiment", "unknown family")


class CommandError(Exception):
    """A user error: printed as one line, exit code 2. ``prog`` names the command."""

    def __init__(self, message: str, prog: str | None = None) -> None:
        super().__init__(message)
        self.prog = prog


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (no usage dump): the message, and where to
    read the usage. Its sub-parsers are of the same class."""

    def error(self, message: str) -> NoReturn:
        raise CommandError(f"{message} (see `{self.prog} --help`)", prog=self.prog)


def close_matches(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'a', 'b'?"`` for the choices close to ``word``, else ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=3, cutoff=0.6)
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def family_type(value: str) -> str:
    """argparse ``type=`` of a ``--family`` option: a registered family, else a one-line error
    with close matches."""
    from .._core.registry import FAMILIES

    family = value.strip().lower()
    if family not in FAMILIES:
        raise argparse.ArgumentTypeError(
            f"unknown family {value!r}{close_matches(family, FAMILIES)} "
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


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="visionloss",
        description="Computer-vision losses for PyTorch: catalogue, plots, benchmarks, "
        "experiments, the tour report, environment.",
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
            f"unknown command {word!r}{close_matches(word, names)} (commands: {', '.join(names)})",
            prog="visionloss",
        )


def main(argv: Sequence[str] | None = None) -> int:
    from ..experiments import ExperimentOptionError

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
    except CommandError as err:
        print(f"{err.prog or prog}: {err}", file=sys.stderr)
        return 2
    except ExperimentOptionError as err:
        print(f"{prog}: {err}", file=sys.stderr)
        return 2
    except ValueError as err:
        if str(err).startswith(USER_VALUE_ERRORS):
            print(f"{prog}: {err}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
