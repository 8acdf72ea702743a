"""The benchmark runner: forward+backward time and peak extra memory of every case.

``python -m benchmarks.runner [--family F] [--device cpu|cuda] [--peers] [--out FILE.csv]``
(``visionloss bench`` calls the same code). For each case of ``benchmarks/bench_*.py``, each
shape and dtype, it times these implementations of one forward+backward
(``loss = impl(*args); torch.autograd.grad(loss, leaves)``):

* ``ours``: the registered function (and ``ours[torch]`` too on CUDA when the function has a
  ``backend`` option, so the Triton path is compared with our own torch path);
* ``torch``: the case's plain-torch eager reference;
* ``torch.compile``: ``torch.compile(ours)`` (on CUDA by default; on the CPU only with
  ``--compile``, since inductor's C++ compile takes longer than the whole CPU benchmark);
* peers (with ``--peers``), when installed.

Times are p20 / p50 / p80 over ``--repeat`` runs after ``--warmup`` runs; CUDA runs are timed
with CUDA events. Peak extra memory is ``torch.cuda.max_memory_allocated()`` during one run minus
the memory allocated before it (inputs excluded, gradients included). On the CPU it is left
blank: torch's CPU allocator keeps no peak statistics and ``tracemalloc`` does not see it.
The floor is the case's bytes (and flops) divided by the copy bandwidth (and matmul rate)
measured on the device at the start of the run.
"""

from __future__ import annotations

import argparse
import csv
import inspect
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from .cases import BenchCase, load

RESULTS = Path(__file__).resolve().parent / "results"
COLUMNS = [
    "loss",
    "family",
    "implementation",
    "shape",
    "dtype",
    "device",
    "p20_ms",
    "p50_ms",
    "p80_ms",
    "peak_extra_mib",
    "floor_ms",
    "ratio_to_floor",
    "note",
]


@dataclass
class Row:
    loss: str
    family: str
    implementation: str
    shape: str
    dtype: str
    device: str
    p20_ms: float | None = None
    p50_ms: float | None = None
    p80_ms: float | None = None
    peak_extra_mib: float | None = None
    floor_ms: float | None = None
    ratio_to_floor: float | None = None
    note: str = ""


@dataclass(frozen=True)
class Task:
    """One row to measure: an implementation of a case at one shape and dtype."""

    case: BenchCase
    family: str
    implementation: str
    make_impl: Callable[[], Callable[..., torch.Tensor]]
    shape: tuple[int, ...]
    dtype: torch.dtype


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads)"


def copy_bandwidth(device: torch.device) -> float:
    """Bytes per second of a large device-to-device copy (read + write), median of 5."""
    numel = (256 if device.type == "cuda" else 32) * 2**20 // 4
    src = torch.empty(numel, device=device).normal_()
    dst = torch.empty_like(src)
    times = []
    for _ in range(6):
        _sync(device)
        t0 = time.perf_counter()
        dst.copy_(src)
        _sync(device)
        times.append(time.perf_counter() - t0)
    return 2 * numel * 4 / statistics.median(times[1:])


def matmul_rate(device: torch.device, dtype: torch.dtype) -> float:
    """Flops per second of a square matmul in ``dtype`` (bf16 on CUDA: the tensor-core rate)."""
    n = 8192 if device.type == "cuda" else 1024
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    times = []
    for _ in range(4):
        _sync(device)
        t0 = time.perf_counter()
        a @ b
        _sync(device)
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / statistics.median(times[1:])


def _leaves(args: Sequence[Any]) -> list[torch.Tensor]:
    return [a for a in args if isinstance(a, torch.Tensor) and a.requires_grad]


def fwd_bwd(impl: Callable[..., torch.Tensor], args: Sequence[Any]) -> None:
    loss = impl(*args)
    leaves = _leaves(args)
    if leaves:
        torch.autograd.grad(loss, leaves)


def measure(
    impl: Callable[..., torch.Tensor],
    args: Sequence[Any],
    device: torch.device,
    *,
    warmup: int,
    repeat: int,
) -> tuple[list[float], float | None]:
    """Milliseconds of ``repeat`` forward+backward runs, and the peak extra MiB (CUDA only)."""
    for _ in range(warmup):
        fwd_bwd(impl, args)
    _sync(device)
    peak = None
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        fwd_bwd(impl, args)
        _sync(device)
        peak = (torch.cuda.max_memory_allocated(device) - base) / 2**20
        starts = [torch.cuda.Event(enable_timing=True) for _ in range(repeat)]
        ends = [torch.cuda.Event(enable_timing=True) for _ in range(repeat)]
        for start, end in zip(starts, ends):
            start.record()
            fwd_bwd(impl, args)
            end.record()
        _sync(device)
        return [s.elapsed_time(e) for s, e in zip(starts, ends)], peak
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fwd_bwd(impl, args)
        times.append((time.perf_counter() - t0) * 1e3)
    return times, peak


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _ours(case: BenchCase, **extra: Any) -> Callable[[], Callable[..., torch.Tensor]]:
    import visionloss

    fn = visionloss.get_loss(case.loss).function
    options = {**case.options, **extra}
    return lambda: lambda *args: fn(*args, **options)


def _compiled(case: BenchCase) -> Callable[[], Callable[..., torch.Tensor]]:
    def make() -> Callable[..., torch.Tensor]:
        torch._dynamo.reset()
        return torch.compile(_ours(case)(), dynamic=False)

    return make


def tasks(
    cases: Iterable[BenchCase],
    device: torch.device,
    *,
    peers: bool,
    compile: bool,
    quick: bool,
    dtypes: Sequence[torch.dtype] | None = None,
) -> list[Task]:
    """Every (case, implementation, shape, dtype) to measure on ``device``."""
    import visionloss

    out = []
    for case in cases:
        spec = visionloss.get_loss(case.loss)
        impls: list[tuple[str, Callable[[], Callable[..., torch.Tensor]]]] = [("ours", _ours(case))]
        if device.type == "cuda" and "backend" in inspect.signature(spec.function).parameters:
            impls.append(("ours[torch]", _ours(case, backend="torch")))
        if case.reference is not None:
            impls.append(("torch", lambda ref=case.reference: ref))
        if compile:
            impls.append(("torch.compile", _compiled(case)))
        if peers:
            impls += list(case.peers.items())
        shapes = list(case.shapes.get(device.type, ()))[: 1 if quick else None]
        for shape in shapes:
            for dtype in case.dtypes.get(device.type, (torch.float32,)):
                if dtypes and dtype not in dtypes:
                    continue
                for name, make in impls:
                    out.append(Task(case, spec.family, name, make, tuple(shape), dtype))
    return out


def run_tasks(
    todo: Sequence[Task],
    device: torch.device,
    *,
    warmup: int,
    repeat: int,
    show_progress: bool = True,
) -> list[Row]:
    """Measure every task; a failing implementation gives a row with its error as the note."""
    from visionloss.experiments._progress import progress

    bandwidth: float | None = None
    rates: dict[torch.dtype, float] = {}
    rows = []
    name = device_name(device)
    items = progress(todo, desc="bench") if show_progress else todo
    for task in items:
        case = task.case
        row = Row(
            case.title,
            task.family,
            task.implementation,
            "x".join(map(str, task.shape)),
            str(task.dtype).replace("torch.", ""),
            name,
        )
        try:
            impl = task.make_impl()
        except ImportError as err:
            row.note = f"not installed ({err.name or err})"
            rows.append(row)
            continue
        torch.manual_seed(0)
        args = case.make_inputs(task.shape, task.dtype, device)
        try:
            times, peak = measure(impl, args, device, warmup=warmup, repeat=repeat)
        except Exception as err:  # noqa: BLE001 - one failing implementation is one row
            row.note = f"failed: {type(err).__name__}: {' '.join(str(err).split())[:120]}"
            rows.append(row)
            continue
        row.p20_ms, row.p50_ms, row.p80_ms = (_quantile(times, q) for q in (0.2, 0.5, 0.8))
        row.peak_extra_mib = peak
        if case.floor is not None:
            need = case.floor(task.shape, task.dtype)
            floor = 0.0
            if need.get("bytes"):
                bandwidth = bandwidth or copy_bandwidth(device)
                floor = max(floor, need["bytes"] / bandwidth)
            if need.get("flops"):
                if task.dtype not in rates:
                    rates[task.dtype] = matmul_rate(device, task.dtype)
                floor = max(floor, need["flops"] / rates[task.dtype])
            row.floor_ms = floor * 1e3
            row.ratio_to_floor = row.p50_ms / row.floor_ms if floor > 0 else None
        rows.append(row)
        del args
    return rows


def write_csv(rows: Sequence[Row], path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    k: ("" if v is None else round(v, 4) if isinstance(v, float) else v)
                    for k, v in asdict(row).items()
                }
            )
    return path


def console_table(rows: Sequence[Row]) -> str:
    from visionloss.experiments import format_table

    def ms(v: float | None, fmt: str = ".3f") -> str:
        return "" if v is None else format(v, fmt)

    body = [
        [
            r.loss,
            r.implementation,
            r.shape,
            r.dtype,
            ms(r.p50_ms),
            "" if r.p20_ms is None else f"{r.p20_ms:.3f}-{r.p80_ms:.3f}",
            "" if r.peak_extra_mib is None else f"{r.peak_extra_mib:.1f}",
            ms(r.floor_ms, ".3g"),
            "" if r.ratio_to_floor is None else f"{r.ratio_to_floor:.1f}",
            r.note,
        ]
        for r in rows
    ]
    return format_table(
        [
            "loss",
            "impl",
            "shape",
            "dtype",
            "p50 ms",
            "p20-p80",
            "extra MiB",
            "floor ms",
            "x floor",
            "note",
        ],
        body,
    )


def run(args: argparse.Namespace, default_out: Path) -> tuple[list[Row], Path]:
    """Measure what ``args`` select, write the CSV, print the table; return rows and path."""
    if args.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda, but torch sees no CUDA device")
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    compile = args.compile if args.compile is not None else device.type == "cuda"
    cases = [c for c in load(args.family) if not args.loss or c.loss in args.loss]
    dtypes = [getattr(torch, d) for d in args.dtype] or None
    todo = tasks(cases, device, peers=args.peers, compile=compile, quick=args.quick, dtypes=dtypes)
    gpu = device.type == "cuda"
    rows = run_tasks(
        todo,
        device,
        warmup=args.warmup or (10 if gpu else 3),
        repeat=args.repeat or (50 if gpu else 15),
    )
    out = Path(args.out) if args.out else default_out
    print(console_table(rows))
    if rows:
        write_csv(rows, out)
        print(f"\n{len(rows)} rows on {device_name(device)}; csv: {out}")
    else:
        print("no benchmark cases selected")
    return rows, out


def main(argv: Sequence[str] | None = None) -> int:
    from visionloss.cli.bench import add_arguments

    p = argparse.ArgumentParser(
        prog="python -m benchmarks.runner",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(p)
    args = p.parse_args(argv)
    kind = (
        "cuda"
        if (args.device or ("cuda" if torch.cuda.is_available() else "cpu")) == "cuda"
        else "cpu"
    )
    run(args, RESULTS / f"{args.family or 'all'}-{kind}.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
