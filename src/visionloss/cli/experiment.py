"""``visionloss experiment NAME [--quick] [--out DIR] [options]``: run one experiment."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..experiments import format_table, get_experiment, list_experiments, run_experiment
from .main import CommandError, Parser


def add_parser(sub) -> None:
    p = sub.add_parser(
        "experiment",
        help="run a paper reproduction / comparison on embedded data",
        description="Run one experiment; options after NAME are the experiment's own "
        "(see `visionloss experiment NAME --help`).",
    )
    p.add_argument("name", nargs="?", help="experiment name (omit with --list)")
    p.add_argument("--list", action="store_true", help="list the experiments")
    p.add_argument("--quick", action="store_true", help="small, fast version")
    p.add_argument("--out", default=None, help="output folder (default out/NAME)")
    p.add_argument("options", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    p.set_defaults(handler=run)


def make_folder(path: Path, flag: str) -> Path:
    """Create the output folder ``path`` (and its parents) up front, so a path that cannot be
    written is a one-line error before any work, not a traceback after it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CommandError(
            f"{flag} {path}: cannot create the folder ({err.strerror or err})"
        ) from None
    return path


def run(args: argparse.Namespace) -> int:
    if args.list or not args.name:
        rows = [[e.name, e.family, e.summary] for e in list_experiments()]
        print(format_table(["name", "family", "summary"], rows))
        return 0
    exp = get_experiment(args.name)
    extra = Parser(prog=f"visionloss experiment {exp.name}", description=exp.summary)
    extra.add_argument("--quick", action="store_true", help="small, fast version")
    extra.add_argument("--out", default=None, help="output folder (default out/NAME)")
    for flags, kwargs in exp.arguments:
        extra.add_argument(*flags, **kwargs)
    try:
        opts = vars(extra.parse_args(args.options))  # bad options: CommandError, one line
    except SystemExit as stop:  # --help
        return int(stop.code or 0)
    quick = opts.pop("quick") or args.quick
    out = opts.pop("out") or args.out
    folder = make_folder(Path(out) if out else Path("out") / exp.name, "--out")
    # a value the experiment rejects: ExperimentError, one line, exit 2
    run_experiment(exp.name, quick=quick, out=folder, **opts)
    return 0
