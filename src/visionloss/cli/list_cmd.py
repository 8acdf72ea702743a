"""``visionloss list [--family F]``: the catalogue from the registry, fitted to the terminal."""

from __future__ import annotations

import argparse
import shutil

from .._core.registry import list_losses
from ..experiments import format_table
from .main import family_help, family_type


def add_parser(sub) -> None:
    p = sub.add_parser("list", help="list the registered losses")
    p.add_argument("--family", type=family_type, metavar="F", help=family_help("only this family"))
    p.add_argument(
        "--width",
        type=int,
        default=None,
        help="the line width (default: the terminal's, or $COLUMNS, else 100)",
    )
    p.set_defaults(handler=run)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(1, width - 3)].rstrip() + "..."


def fit(columns: list[str], rows: list[list[str]], width: int) -> tuple[list[str], list[list[str]]]:
    """The table's columns and rows clipped (``...``) so that every line is at most ``width``
    characters: the name and family whole, then the formula (at most 3/5 of what is left, or
    all of it when the reference no longer fits: it is dropped), then the reference."""
    if not rows:
        return columns, rows
    name_w, family_w = (max(len(columns[i]), *(len(r[i]) for r in rows)) for i in (0, 1))
    room = width - name_w - family_w - 4  # two gaps of two spaces
    formula_w = max(len(columns[2]), *(len(r[2]) for r in rows))
    reference_w = max(len(columns[3]), *(len(r[3]) for r in rows))
    if formula_w + 2 + reference_w <= room:
        return columns, rows
    formula = min(formula_w, max(16, room * 3 // 5))
    reference = room - 2 - formula
    if reference < 16:  # no room for a useful reference: the formula takes it all
        return columns[:3], [[r[0], r[1], _clip(r[2], max(8, room))] for r in rows]
    return columns, [[r[0], r[1], _clip(r[2], formula), _clip(r[3], reference)] for r in rows]


def run(args: argparse.Namespace) -> int:
    width = args.width or shutil.get_terminal_size((100, 24)).columns
    columns = ["name", "family", "formula", "reference"]
    rows = [
        [s.name, s.family, s.formula or s.summary, s.reference] for s in list_losses(args.family)
    ]
    print(format_table(*fit(columns, rows, width)))
    print(f"\n{len(rows)} losses (`visionloss show NAME` for one in full)")
    return 0
