"""``visionloss plot NAME [NAME ...] [--grad] [--against AXIS] -o FILE.png``: loss curves.

The curves are computed by the library's own functions through autograd (see ``_probes``):
regression losses against the error, classification and segmentation losses against the
probability (or logit) of the true class on one pixel, box losses against the centre offset of
a unit box, metric losses against a distance, contrastive losses against a cosine similarity.
A loss without a meaningful curve is skipped with a one-line reason.
"""

from __future__ import annotations

import argparse
from typing import Any

from .._core.registry import FAMILIES, get_loss, list_losses
from . import _probes
from .main import CommandError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "plot",
        help="loss (and gradient) curves of registered losses, as a PNG",
        description="Draw loss curves computed by visionloss itself (autograd for --grad). "
        "A single classification loss with a gamma option (focal) is drawn for "
        "gamma = 0, 0.5, 1, 2, 5 as in RetinaNet Fig. 1.",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="registered loss names or aliases")
    p.add_argument("--family", choices=FAMILIES, help="every loss of this family")
    p.add_argument("--all", action="store_true", help="every registered loss")
    p.add_argument("--grad", action="store_true", help="also draw d loss / d x")
    p.add_argument(
        "--against",
        choices=sorted(_probes.AXES),
        help="the x axis (default: each family's natural variable, see the docs)",
    )
    p.add_argument(
        "--sweep",
        metavar="OPTION=V1,V2,...",
        help="one curve per value of a keyword option, e.g. gamma=0,1,2",
    )
    p.add_argument(
        "--set",
        dest="options",
        action="append",
        default=[],
        metavar="OPTION=VALUE",
        help="a keyword option passed to every loss (repeatable), e.g. beta=0.5",
    )
    p.add_argument("-o", "--output", required=True, help="the PNG file to write")
    p.set_defaults(handler=run)


def _value(text: str) -> Any:
    """``"none"`` -> None, ``"true"/"false"`` -> bool, numbers -> int/float, else the string."""
    low = text.strip().lower()
    if low in ("none", "null"):
        return None
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _key_value(text: str, flag: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise CommandError(f"{flag}: expected OPTION=VALUE, got {text!r}")
    return key.strip(), value


def _names(args: argparse.Namespace) -> list[str]:
    names = [get_loss(n).name for n in args.names]  # unknown names: ValueError -> exit 2
    if args.family:
        names += [s.name for s in list_losses(args.family)]
    if args.all:
        names += [s.name for s in list_losses()]
    if not names:
        raise CommandError("name at least one loss (or --family F, --all)")
    return list(dict.fromkeys(names))


STYLES = ("-", "--", "-.", ":")


def draw(results: list[_probes.ProbeResult], output: str, *, grad: bool) -> int:
    """Draw every curve of ``results`` into ``output``: one column per x axis, the loss on the
    top row and (with ``grad``) its derivative below. Returns the number of curves."""
    from ..experiments._common import pyplot, save_figure

    curves = [c for r in results for c in r.curves]
    axes_used = list(dict.fromkeys((c.axis, c.xlabel) for c in curves))
    plt = pyplot()
    rows = 2 if grad else 1
    fig, grid = plt.subplots(
        rows, len(axes_used), figsize=(5.2 * len(axes_used), 3.8 * rows), squeeze=False
    )
    for col, (axis_name, xlabel) in enumerate(axes_used):
        column = [c for c in curves if (c.axis, c.xlabel) == (axis_name, xlabel)]
        for i, curve in enumerate(column):
            # line styles cycle too, so curves that coincide (huber and smooth_l1 at
            # delta = beta = 1) stay visible
            style = {"label": curve.label, "linestyle": STYLES[i % len(STYLES)], "lw": 1.6}
            grid[0][col].plot(curve.x, curve.y, **style)
            if grad:
                grid[1][col].plot(curve.x, curve.dy, **style)
        grid[0][col].set_title(f"loss against {axis_name}")
        grid[0][col].set_ylabel("loss")
        if grad:
            grid[1][col].set_title(f"gradient d loss / d {axis_name}")
            grid[1][col].set_ylabel("d loss / dx")
            grid[1][col].axhline(0.0, color="0.6", lw=0.6)
        for row in range(rows):
            grid[row][col].set_xlabel(xlabel)
            grid[row][col].grid(alpha=0.3)
            grid[row][col].legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, output)
    return len(curves)


def run(args: argparse.Namespace) -> int:
    names = _names(args)
    options = dict(_key_value(o, "--set") for o in args.options)
    options = {k: _value(v) for k, v in options.items()}
    sweep = None
    if args.sweep:
        key, values = _key_value(args.sweep, "--sweep")
        sweep = (key, [_value(v) for v in values.split(",") if v.strip()])
    results = []
    for name in names:
        this_sweep, fixed = sweep, None
        if sweep is None and len(names) == 1:
            preset = _probes.default_sweep(name)
            if preset is not None:
                this_sweep, fixed = (preset[0], preset[1]), preset[2]
        result = _probes.probe(
            name, against=args.against, options=options, sweep=this_sweep, fixed=fixed
        )
        for note in result.notes:
            print(f"note: {note}")
        if result.reason:
            print(f"skipped {name}: {result.reason}")
        results.append(result)
    if not any(r.curves for r in results):
        print("nothing to draw")
        return 1
    count = draw(results, args.output, grad=args.grad)
    print(f"wrote {args.output} ({count} curves)")
    return 0
