"""``visionloss bench [--family F] [--device cpu|cuda] [--peers]``: the benchmarks, here.

Runs the benchmark suite shipped in the package (``visionloss.bench``: the runner and the
``bench_<family>.py`` cases) on this machine with a progress bar, prints a table of times
(p20 / p50 / p80 ms), peak extra memory and the ratio to the memory-bandwidth floor, and
writes the rows as CSV (default ``out/bench/<family>-<device>.csv``). ``--peers`` runs the
side-by-side suite at realistic sizes with every installed peer (torchvision, MONAI, smp,
kornia, pytorch-metric-learning, plain torch), interleaved; ``--compile`` adds
``torch.compile`` of each; ``--memory`` measures the CPU peak in a fresh process per case;
``--by-predecessor`` adds each implementation's median after each other one.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from types import ModuleType

from .experiment import make_folder
from .main import CommandError


def load_runner() -> ModuleType:
    """The runner module (``visionloss.bench.runner``, part of the package)."""
    return importlib.import_module("visionloss.bench.runner")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``visionloss bench``, shared with ``python -m benchmarks.runner``."""
    from .main import family_help, family_type, int_at_least

    p.add_argument("--family", type=family_type, metavar="F", help=family_help("only this family"))
    p.add_argument(
        "--loss", action="append", default=[], metavar="NAME", help="only this loss (repeatable)"
    )
    p.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default=None,
        help="default: cuda when available, else cpu",
    )
    p.add_argument(
        "--dtype",
        action="append",
        default=[],
        choices=("float32", "float16", "bfloat16", "float64"),
        help="only this dtype (repeatable)",
    )
    p.add_argument(
        "--peers",
        action="store_true",
        help="the side-by-side suite at realistic sizes, with every installed peer library",
    )
    p.add_argument(
        "--compile",
        dest="compile",
        action="store_true",
        default=None,
        help="also time torch.compile (default on CUDA only)",
    )
    p.add_argument("--no-compile", dest="compile", action="store_false")
    p.add_argument(
        "--pass",
        dest="passes",
        action="append",
        default=[],
        choices=("fwd+bwd", "fwd"),
        help="forward+backward (default) and / or forward only under no_grad (repeatable)",
    )
    p.add_argument(
        "--memory",
        action="store_true",
        help="CPU: peak extra memory of each case in a fresh process (CUDA: always measured)",
    )
    p.add_argument(
        "--fresh-heap",
        dest="steady_heap",
        action="store_false",
        help="CPU: leave glibc's heap defaults (large blocks mapped fresh, page faults in the "
        "timings); by default freed memory stays in the heap",
    )
    p.add_argument(
        "--by-predecessor",
        action="store_true",
        help="also each implementation's median after each other one (what the previous "
        "call left in the caches and heap moves a time), written to <out>-after.csv",
    )
    p.add_argument("--quick", action="store_true", help="first shape of each case only")
    p.add_argument(
        "--warmup", type=int_at_least(0), default=None, help="untimed runs (default 3 / 10)"
    )
    p.add_argument(
        "--repeat",
        type=int_at_least(1),
        default=None,
        help="timed runs, at least: rounded up to whole cycles of the balanced order "
        "(default 15 / 50)",
    )
    p.add_argument("--out", default=None, help="CSV file to write")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="benchmark the losses on this machine (ours, torch eager, torch.compile, peers)",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    add_arguments(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from .._core.registry import get_loss

    for name in args.loss:
        get_loss(name)  # unknown names: UnknownNameError with close matches -> exit 2
    if args.device == "cuda" and not torch.cuda.is_available():
        raise CommandError("--device cuda, but torch sees no CUDA device")
    runner = load_runner()
    kind = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    default = Path("out") / "bench" / f"{args.family or 'all'}-{kind}.csv"
    out = Path(args.out) if args.out else default
    if out.is_dir():
        raise CommandError(f"--out {out}: is a folder; expected a CSV file name")
    make_folder(out.parent, "--out")  # before the timings, not after them
    rows, _ = runner.run(args, default)
    return 1 if any(r.note.startswith("failed") for r in rows) else 0
