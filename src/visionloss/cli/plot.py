"""``visionloss plot NAME [NAME ...] [--grad] [--against AXIS] -o FILE.png``: loss curves.

The curves are computed by the library's own functions through autograd (see ``_probes``):
regression losses against the error, classification and segmentation losses against the
probability (or logit) of the true class on one pixel (segmentation losses that see shape,
such as boundary, Hausdorff and clDice, against the shift of a predicted square), box losses
against the centre offset of a unit box (rotated boxes against the rotation, encoded deltas
against the error, distribution focal against the distance its two bins predict), metric
losses against a distance (margin heads and proxies against the angle to the class's weight),
contrastive losses against the cosine similarity of the positive (or, for the dense forgery
losses, the negative) pairs, image-quality losses against the noise level, two-view
self-supervised losses against the noise between the views, GAN objectives against the
discriminator's logit, R1 and the gradient penalty against the slope of a linear
discriminator, total variation against the height of a step edge.
A loss without a meaningful curve is skipped with a one-line reason (a designed one: see
``_probes``), and the command exits with status 1 when nothing could be drawn. A user error is
one line on stderr with exit status 2: an option no named loss takes (with close matches), a
value the loss rejects, an output path that cannot be written.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._core.registry import LossSpec, get_loss, list_losses
from ..errors import did_you_mean
from ..experiments._progress import progress
from . import _probes
from .main import CommandError, family_help, family_type


def add_parser(sub) -> None:
    p = sub.add_parser(
        "plot",
        help="loss (and gradient) curves of registered losses, as a PNG",
        description="Draw loss curves computed by visionloss itself (autograd for --grad). "
        "A single classification loss with a gamma option (focal) is drawn for "
        "gamma = 0, 0.5, 1, 2, 5 as in RetinaNet Fig. 1.",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="registered loss names or aliases")
    p.add_argument(
        "--family", type=family_type, metavar="F", help=family_help("every loss of this family")
    )
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
    p.add_argument(
        "--scale",
        choices=SCALES,
        default="linear",
        help="the y scale: linear (default), log (losses on a log scale; gradients, which "
        "change sign, on symlog) or symlog (linear near 0, logarithmic beyond: one large "
        "gradient no longer flattens the others)",
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


def _check_output(output: str) -> Path:
    """The ``-o`` file, checked before any curve is computed: its folder exists and is
    writable, it is not a folder, and matplotlib knows its format."""
    from ..experiments._common import pyplot

    path = Path(output)
    folder = path.parent
    if path.is_dir():
        raise CommandError(f"-o {output}: is a folder; expected a file such as curves.png")
    if not folder.is_dir():
        raise CommandError(f"-o {output}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise CommandError(f"-o {output}: the folder {folder} is not writable")
    pyplot()  # matplotlib, or a clear error naming the extra to install
    from matplotlib.backend_bases import FigureCanvasBase

    formats = FigureCanvasBase.get_supported_filetypes()
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in formats:
        raise CommandError(
            f"-o {output}: unknown image format {path.suffix or '(none)'!r}; expected .png "
            f"(or .{', .'.join(sorted(f for f in formats if f != 'png'))})"
        )
    return path


def _check_options(specs: list[LossSpec], keys: list[str]) -> None:
    """Each option the user names is taken by at least one of the losses drawn; else a
    one-line error with the close matches among their options."""
    known: set[str] = set()
    for spec in specs:
        known |= _probes.option_names(spec) or set()
    for key in keys:
        if not any(_probes.takes_option(spec, key) for spec in specs):
            names = ", ".join(s.name for s in specs[:4]) + (", ..." if len(specs) > 4 else "")
            raise CommandError(
                f"unknown option {key!r} for {names}{did_you_mean(key, known)} "
                f"(see `visionloss show NAME`)"
            )


def _names(args: argparse.Namespace) -> list[str]:
    names = [get_loss(n).name for n in args.names]  # unknown names: UnknownNameError -> exit 2
    if args.family:
        names += [s.name for s in list_losses(args.family)]
    if args.all:
        names += [s.name for s in list_losses()]
    if not names:
        raise CommandError("name at least one loss (or --family F, --all)")
    return list(dict.fromkeys(names))


STYLES = ("-", "--", "-.", ":")
SCALES = ("linear", "log", "symlog")
MAX_COLUMNS = 3  # panels per row of the grid


def grid_shape(panels: int) -> tuple[int, int]:
    """``(rows, columns)`` of a grid of ``panels`` panels: at most :data:`MAX_COLUMNS` wide,
    so nine panels are 3 x 3, not one row of nine."""
    columns = min(MAX_COLUMNS, max(1, panels))
    return -(-panels // columns), columns


def _set_scale(ax, scale: str, values: list[float], gradient: bool) -> None:
    if scale == "linear":
        return
    if scale == "log" and not gradient and values and min(values) > 0:
        ax.set_yscale("log")
    else:  # gradients change sign, a loss may reach 0: symlog, linear within +-1e-2
        ax.set_yscale("symlog", linthresh=1e-2)


def draw(
    results: list[_probes.ProbeResult], output: str, *, grad: bool, scale: str = "linear"
) -> int:
    """Draw every curve of ``results`` into ``output``: one panel per x axis for the loss and
    (with ``grad``) one beside it for its derivative, laid out in a grid of at most
    :data:`MAX_COLUMNS` columns; ``scale`` is the y scale. Returns the number of curves."""
    from ..experiments._common import pyplot, save_figure

    curves = [c for r in results for c in r.curves]
    axes_used = list(dict.fromkeys((c.axis, c.xlabel) for c in curves))
    panels = [
        (axis, gradient) for axis in axes_used for gradient in ((False, True) if grad else (False,))
    ]
    n_rows, n_cols = grid_shape(len(panels))
    plt = pyplot()
    fig, grid = plt.subplots(n_rows, n_cols, figsize=(5.4 * n_cols, 4.0 * n_rows), squeeze=False)
    for index, ((axis_name, xlabel), gradient) in enumerate(panels):
        ax = grid[index // n_cols][index % n_cols]
        column = [c for c in curves if (c.axis, c.xlabel) == (axis_name, xlabel)]
        for i, curve in enumerate(column):
            # line styles cycle too, so curves that coincide (huber and smooth_l1 at
            # delta = beta = 1) stay visible
            style = {"label": curve.label, "linestyle": STYLES[i % len(STYLES)], "lw": 1.6}
            ax.plot(curve.x, curve.dy if gradient else curve.y, **style)
        axis = _probes.AXES.get(axis_name)
        title = (axis.title if axis else "") or axis_name
        symbol = axis.symbol if axis else "x"
        if gradient:
            ax.set_title(f"gradient against {title}")
            ax.set_ylabel(f"d loss / d {symbol}")
            ax.axhline(0.0, color="0.6", lw=0.6)
        else:
            ax.set_title(f"loss against {title}")
            ax.set_ylabel("loss")
        values = [v for c in column for v in (c.dy if gradient else c.y)]
        _set_scale(ax, scale, values, gradient)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for index in range(len(panels), n_rows * n_cols):  # the grid's unused cells
        grid[index // n_cols][index % n_cols].axis("off")
    fig.tight_layout()
    save_figure(fig, output)
    return len(curves)


def run(args: argparse.Namespace) -> int:
    names = _names(args)
    output = _check_output(args.output)
    options = dict(_key_value(o, "--set") for o in args.options)
    options = {k: _value(v) for k, v in options.items()}
    sweep: tuple[str, Sequence[Any]] | None = None
    if args.sweep:
        key, values = _key_value(args.sweep, "--sweep")
        sweep = (key, [_value(v) for v in values.split(",") if v.strip()])
    specs = [get_loss(n) for n in names]
    _check_options(specs, [*options, *([sweep[0]] if sweep else [])])
    results = []
    # a bar on stderr for long runs (--all, --family): one step per loss
    shown = progress(specs, desc="plot", unit="losses") if len(specs) > 3 else specs
    for spec in shown:
        name = spec.name
        # options another of the losses drawn takes are left out for this one, with a note
        mine = {k: v for k, v in options.items() if _probes.takes_option(spec, k)}
        this_sweep, fixed, preset = sweep, None, False
        dropped = [k for k in options if k not in mine]
        if sweep and not _probes.takes_option(spec, sweep[0]):
            this_sweep = None
            dropped.append(sweep[0])
        if dropped:
            print(f"note: {name} does not take {', '.join(dropped)}; drawn without")
        if sweep is None and len(names) == 1:
            default = _probes.default_sweep(name)
            if default is not None and default[0] not in mine:
                this_sweep, fixed, preset = (default[0], default[1]), default[2], True
        try:
            result = _probes.probe(
                name,
                against=args.against,
                options=mine,
                sweep=this_sweep,
                fixed=fixed,
                preset=preset,
            )
        except _probes.OptionError as err:  # the loss rejects a value the user gave
            raise CommandError(str(err)) from None
        except (_probes.ProbeError, TypeError, ValueError) as err:
            # a loss whose plot layout does not fit it (a bug): alone, its traceback; among
            # several (--all, --family), one line and the others are still drawn
            if len(specs) == 1:
                raise
            text = " ".join(str(err).split())[:160]
            print(f"skipped {name}: {type(err).__name__}: {text} (a plot-layout bug: report it)")
            continue
        for note in result.notes:
            print(f"note: {note}")
        if result.reason:
            print(f"skipped {name}: {result.reason}")
        results.append(result)
    if not any(r.curves for r in results):
        print("nothing to draw")
        return 1
    try:
        count = draw(results, str(output), grad=args.grad, scale=args.scale)
    except OSError as err:  # checked above; the file system may still refuse
        raise CommandError(f"-o {output}: cannot write ({err.strerror or err})") from None
    print(f"wrote {output} ({count} curves)")
    return 0
