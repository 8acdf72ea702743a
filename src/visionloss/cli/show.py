"""``visionloss show NAME``: formula, arguments and reference of one loss, as plain text."""

from __future__ import annotations

import argparse
import inspect

from .._core.registry import get_loss
from ._text import rst_to_text

# the TorchScript sentence of every loss page (the options are keyword-only)
TORCHSCRIPT = (
    "TorchScript: not supported (torch.jit.script cannot compile keyword-only arguments, "
    "which every option is); use torch.compile, which compiles every loss without graph "
    "breaks, or call the loss outside the scripted model."
)


def add_parser(sub) -> None:
    p = sub.add_parser("show", help="show one loss: formula, arguments, reference")
    p.add_argument(
        "name",
        help="a registry name, alias, function or class name (dice, dice_loss, DiceLoss; "
        "see `visionloss list`)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    spec = get_loss(args.name)
    fn = spec.function
    print(f"{spec.name}  ({spec.family})")
    if spec.aliases:
        print(f"aliases:   {', '.join(spec.aliases)}")
    print(f"function:  visionloss.{fn.__name__}{inspect.signature(fn)}")
    print(f"module:    visionloss.{spec.module.__name__}")
    if spec.formula:
        print(f"formula:   {spec.formula}")
    print(f"reference: {spec.reference}\n")
    print(rst_to_text(inspect.cleandoc(fn.__doc__ or "")))
    print(TORCHSCRIPT)
    return 0
