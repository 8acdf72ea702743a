"""``visionloss list [--family F]``: the catalogue from the registry."""

from __future__ import annotations

import argparse

from .._core.registry import list_losses
from ..experiments import format_table
from .main import family_help, family_type


def add_parser(sub) -> None:
    p = sub.add_parser("list", help="list the registered losses")
    p.add_argument("--family", type=family_type, metavar="F", help=family_help("only this family"))
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    rows = [
        [s.name, s.family, s.formula or s.summary, s.reference] for s in list_losses(args.family)
    ]
    print(format_table(["name", "family", "formula", "reference"], rows))
    print(f"\n{len(rows)} losses")
    return 0
