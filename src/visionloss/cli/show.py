"""``visionloss show NAME``: formula, arguments and reference of one loss."""

from __future__ import annotations

import argparse
import inspect

from .._core.registry import get_loss


def add_parser(sub) -> None:
    p = sub.add_parser("show", help="show one loss: formula, arguments, reference")
    p.add_argument("name", help="a registered loss name or alias (see `visionloss list`)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    spec = get_loss(args.name)
    fn = spec.function
    print(f"{spec.name}  ({spec.family})")
    if spec.aliases:
        print(f"aliases: {', '.join(spec.aliases)}")
    print(f"function: visionloss.{fn.__name__}{inspect.signature(fn)}")
    print(f"module:   visionloss.{spec.module.__name__}")
    if spec.formula:
        print(f"formula:  {spec.formula}")
    print(f"reference: {spec.reference}\n")
    print(inspect.cleandoc(fn.__doc__ or ""))
    return 0
