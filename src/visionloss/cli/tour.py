"""``visionloss tour [--out DIR] [--quick] [--only NAME[,NAME]]``: every experiment, one report.

Runs each registered experiment (``visionloss.experiments``) in turn, writes its usual outputs to
``DIR/NAME/`` and one self-contained HTML report, ``DIR/report.html``, with every table, the
figures embedded, the formulas of the losses involved and the environment. An experiment that
raises gets a section showing its error; the command then exits with status 1 at the end.
"""

from __future__ import annotations

import argparse
import os
import time
import traceback
from pathlib import Path

from ..experiments import format_table, get_experiment, list_experiments, run_experiment
from ..experiments._common import cores, side_by_side
from ..experiments._progress import progress
from . import _report
from .env import environment
from .experiment import make_folder
from .main import int_at_least


def add_parser(sub) -> None:
    p = sub.add_parser(
        "tour",
        help="run every experiment and write one self-contained HTML report",
        description="Run every registered experiment and write DIR/report.html.",
    )
    p.add_argument("--out", default="tour-report", help="output folder (default tour-report)")
    p.add_argument("--quick", action="store_true", help="the small, fast version of each")
    p.add_argument("--only", metavar="NAME[,NAME]", help="only these experiments")
    p.add_argument(
        "--jobs",
        type=int_at_least(1),
        default=cores(),
        help="experiments run at once, each in its own process with one torch thread "
        f"(default: the number of cores, {cores()} here)",
    )
    p.set_defaults(handler=run)


def _run_one(name: str, quick: bool, out: Path, threads: int):
    """Run one experiment; returns (name, result or None, error text, seconds)."""
    if threads:
        os.environ["VISIONLOSS_THREADS"] = str(threads)
    t0 = time.perf_counter()
    try:
        result = run_experiment(name, quick=quick, out=out, verbose=False)
        error = ""
    except Exception:  # noqa: BLE001 - reported in its section, exit status 1 at the end
        result, error = None, traceback.format_exc()
    return name, result, error, time.perf_counter() - t0


def _run_all(experiments, quick: bool, out: Path, jobs: int):
    """Yield ``(experiment, result, error, seconds)`` as experiments finish."""
    by_name = {exp.name: exp for exp in experiments}
    threads = 1 if jobs > 1 and len(experiments) > 1 else 0  # one torch thread per process
    calls = [(exp.name, quick, out / exp.name, threads) for exp in experiments]
    for name, *rest in side_by_side(_run_one, calls, jobs, who="visionloss tour"):
        yield (by_name[name], *rest)


def run(args: argparse.Namespace) -> int:
    import visionloss

    if args.only:
        experiments = [get_experiment(n.strip()) for n in args.only.split(",") if n.strip()]
    else:
        experiments = list_experiments()
    if not experiments:
        print("no experiments are registered")
    out = make_folder(Path(args.out), "--out")
    sections: list[_report.Section] = []
    start = time.perf_counter()
    finished = {}
    runs = _run_all(experiments, args.quick, out, args.jobs)
    for exp, result, error, seconds in progress(
        runs, total=len(experiments), desc="tour", unit="experiments"
    ):
        status = "failed: " + error.strip().splitlines()[-1] if error else "ok"
        print(f"{exp.name}: {status} ({seconds:.1f}s)", flush=True)
        finished[exp.name] = (result, error, seconds)
    for exp in experiments:
        result, error, seconds = finished[exp.name]
        # the losses listed are those the experiment declares (register_experiment(losses=))
        sections.append(_report.Section(exp, seconds, result, error))
    total = time.perf_counter() - start
    page = _report.render(
        sections,
        env=environment(),
        quick=args.quick,
        total_seconds=total,
        version=visionloss.__version__,
    )
    report = out / "report.html"
    report.write_text(page, encoding="utf-8")
    rows = [
        [
            s.experiment.name,
            "failed" if s.error else "ok",
            f"{s.seconds:.1f}",
            s.result.title if s.result else s.error.strip().splitlines()[-1],
        ]
        for s in sections
    ]
    print(format_table(["experiment", "status", "seconds", "result"], rows))
    print(f"\ntotal wall time {total:.1f}s")
    print(f"report: {report.resolve()}")
    failed = [s.experiment.name for s in sections if s.error]
    if failed:
        print(f"{len(failed)} experiment(s) failed: {', '.join(failed)}")
        return 1
    return 0
