"""The benchmark runner: forward and forward+backward time and peak extra memory of every case.

``python -m visionloss.bench.runner [--family F] [--device cpu|cuda] [--peers] [--out FILE.csv]``
(``visionloss bench`` calls the same code). For each case of ``visionloss/bench/bench_*.py``
(``--peers``: the side-by-side suite of ``bench_peers.py``), each shape, dtype and pass
(``fwd+bwd``: ``loss = impl(*args); torch.autograd.grad(loss, leaves)``; ``fwd``: the call
under ``torch.no_grad()``), it times these implementations:

* ``ours``: the registered function (and ``ours[torch]`` too on CUDA when the function has a
  ``backend`` option); ``ours[no checks]`` with ``visionloss.set_value_checks(False)`` for
  the cases that price the input checks;
* ``torch``: the case's plain-torch eager reference;
* peers (with ``--peers``), when installed;
* with ``--compile`` (default on CUDA): ``torch.compile`` of each of the above, named
  ``<impl>+compile`` (default ``dynamic=None``, compiled once before the timings).

The implementations of one (case, shape, dtype, pass) are timed **interleaved**: after the
warm-up, each round runs every implementation once, so the noise of a shared machine hits
them alike, in the rows of a Williams design in turn (:func:`balanced_orders`): every
implementation follows every other one equally often (the caches and heap that the
previous implementation left changed a compiled loss's time by up to 18%; with a rotating
order each ran after the same predecessor in most rounds, and seeded random orders repeated
one unbalanced sequence in every case and run; ``--by-predecessor`` writes each
implementation's median after each other one). Times are p20 / p50 / p80 over the rounds
(``--repeat``, rounded up to whole cycles); CUDA runs are timed with CUDA events. CPU runs
keep freed memory in the process's heap (:func:`steady_heap`; ``--fresh-heap`` leaves
glibc's defaults). Peak extra memory of one forward+backward: on
CUDA ``torch.cuda.max_memory_allocated()`` minus the memory allocated before it (inputs
excluded, gradients included); on the CPU (``--memory``) a fresh process
per (case, implementation) makes the inputs, resets the kernel's resident-set high-water
mark (``/proc/self/clear_refs``; else ``ru_maxrss``) and reports its rise over one call
(compiled implementations are left blank: the compilation itself dominates). The floor is the
case's bytes (and flops) divided by the copy bandwidth (and matmul rate) measured on the
device at the start of the run.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import gc
import inspect
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from .._core.declare import own_code_object
from . import RESULTS
from .cases import BenchCase, load

COLUMNS = [
    "loss",
    "family",
    "implementation",
    "shape",
    "dtype",
    "pass",
    "device",
    "p20_ms",
    "p50_ms",
    "p80_ms",
    "peak_extra_mib",
    "floor_ms",
    "ratio_to_floor",
    "note",
    "torch",
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
    pass_: str = "fwd+bwd"
    torch_version: str = torch.__version__


@dataclass
class AfterRow:
    """The median time of one implementation over the rounds in which one other ran right
    before it (``--by-predecessor``), and its ratio to the implementation's median over all
    rounds: what the predecessor left behind (caches, heap) moves the time."""

    loss: str
    implementation: str
    after: str
    shape: str
    dtype: str
    pass_: str
    device: str
    runs: int
    p50_ms: float
    to_all: float


AFTER_COLUMNS = [
    "loss",
    "implementation",
    "after",
    "shape",
    "dtype",
    "pass",
    "device",
    "runs",
    "p50_ms",
    "to_all",
]


@dataclass(frozen=True)
class Task:
    """One row to measure: an implementation of a case at one shape and dtype."""

    case: BenchCase
    family: str
    implementation: str
    make_impl: Callable[[], Callable[..., torch.Tensor]]
    shape: tuple[int, ...]
    dtype: torch.dtype
    pass_: str = "fwd+bwd"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def cpu_model() -> str:
    """The processor's model name (``/proc/cpuinfo``), else ``platform.processor()``."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


_STEADY_HEAP = False


def steady_heap() -> bool:
    """Keep freed memory in this process's heap (glibc: no ``mmap`` for large blocks, no
    trimming), so that a tensor allocated in every timed call reuses pages instead of
    faulting in fresh ones. The page faults of a fresh ``mmap`` (about 1 ms per 10 MB here)
    otherwise land on whichever implementation happens to allocate after a trim, and turned
    repeated ratios of equal kernels into anything from 0.4 to 1.2. Every implementation runs
    under the same heap. Returns False where there is no glibc ``mallopt``."""
    global _STEADY_HEAP
    ok = _mallopt(_M_MMAP_MAX, 0) and _mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)
    _STEADY_HEAP = _STEADY_HEAP or ok
    return ok


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_MMAP_MAX = -1, -3, -4


def _mallopt(param: int, value: int) -> bool:
    """glibc's ``mallopt``; False where there is none."""
    try:
        import ctypes

        return bool(ctypes.CDLL("libc.so.6").mallopt(param, value) == 1)
    except (OSError, AttributeError):
        return False


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    heap = ", steady heap" if _STEADY_HEAP else ""
    # ATen's kernel set (AVX512 / AVX2 / ...): which of torch's kernels are vectorised, and
    # how fast, depends on it
    isa = torch.backends.cpu.get_cpu_capability()
    cores, threads = os.cpu_count(), torch.get_num_threads()
    return f"cpu ({cpu_model()}, {isa}, {cores} cores, {threads} threads{heap})"


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


def fwd(impl: Callable[..., torch.Tensor], args: Sequence[Any]) -> None:
    with torch.no_grad():
        impl(*args)


PASSES: dict[str, Callable[[Callable[..., torch.Tensor], Sequence[Any]], None]] = {
    "fwd+bwd": fwd_bwd,
    "fwd": fwd,
}


def cuda_peak(
    impl: Callable[..., torch.Tensor], args: Sequence[Any], device: torch.device
) -> float:
    """Peak extra MiB of one forward+backward (the CUDA allocator's statistics)."""
    _sync(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    fwd_bwd(impl, args)
    _sync(device)
    return (torch.cuda.max_memory_allocated(device) - base) / 2**20


def balanced_orders(n: int) -> list[list[int]]:
    """Orders of ``range(n)``, one per round, in which every implementation directly follows
    every other one equally often: the rows of a Williams square (balanced for first-order
    carryover) of the even size ``m = n`` or ``n + 1``, the extra slot of an odd ``n``
    skipped (the one after it then follows the one before it: an implementation may have one
    predecessor twice per cycle, the others once). What the previous implementation left in
    the caches and the heap moves a time: two compiled losses with identical generated code
    took 2.47 and 2.06 ms when the first always followed kornia's eager total variation, 2.09
    and 2.40 ms with the two swapped; seeded random orders, one sequence for every case,
    carried an unbalanced share of such predecessors into every run (1.07-1.11x between the
    two in three runs). The step from one round's last implementation to the next round's
    first is not balanced (one of ``n`` predecessors)."""
    if n <= 1:
        return [list(range(n))]
    m = n + n % 2
    first, low, high = [0], 1, m - 1
    while len(first) < m:  # 0, 1, m - 1, 2, m - 2, ...
        first.append(low)
        low += 1
        if len(first) < m:
            first.append(high)
            high -= 1
    return [[v for v in ((u + k) % m for u in first) if v < n] for k in range(m)]


def interleaved(
    impls: Sequence[Callable[..., torch.Tensor]],
    args: Sequence[Any],
    device: torch.device,
    step: Callable[[Callable[..., torch.Tensor], Sequence[Any]], None],
    *,
    warmup: int,
    repeat: int,
    after: dict[tuple[int, int], list[float]] | None = None,
) -> list[list[float] | BaseException]:
    """Milliseconds of at least ``repeat`` runs of each implementation, interleaved round by
    round in the orders of :func:`balanced_orders`, in turn, for whole cycles of them
    (``repeat`` rounded up to a multiple of their number); an implementation that raises
    gives its exception instead. ``after``, when given, also receives each time under
    ``(i, j)``: implementation ``i`` timed right after implementation ``j`` (the first
    timed call has no predecessor and is left out; a round's first follows the previous
    round's last)."""
    out: list[list[float] | BaseException] = [[] for _ in impls]
    live = list(range(len(impls)))
    for i in list(live):
        try:
            for _ in range(warmup):
                step(impls[i], args)
            _sync(device)
        except Exception as err:  # noqa: BLE001 - one failing implementation is one row
            out[i] = err
            live.remove(i)
    orders = balanced_orders(len(live))
    cycles = -(-repeat // len(orders))  # whole cycles of the design: ``repeat`` rounded up
    previous: int | None = None
    for r in range(cycles * len(orders)):
        for i in (live[k] for k in orders[r % len(orders)]):
            if device.type == "cuda":
                start = torch.cuda.Event(enable_timing=True)
                end = torch.cuda.Event(enable_timing=True)
                start.record()
                step(impls[i], args)
                end.record()
                end.synchronize()
                ms = start.elapsed_time(end)
            else:
                t0 = time.perf_counter()
                step(impls[i], args)
                ms = (time.perf_counter() - t0) * 1e3
            times = out[i]
            assert isinstance(times, list)
            times.append(ms)
            if after is not None and previous is not None:
                after.setdefault((i, previous), []).append(ms)
            previous = i
    return out


def measure(
    impl: Callable[..., torch.Tensor],
    args: Sequence[Any],
    device: torch.device,
    *,
    warmup: int,
    repeat: int,
) -> tuple[list[float], float | None]:
    """Milliseconds of ``repeat`` forward+backward runs, and the peak extra MiB (CUDA only)."""
    (times,) = interleaved([impl], args, device, fwd_bwd, warmup=warmup, repeat=repeat)
    if isinstance(times, BaseException):
        raise times
    peak = cuda_peak(impl, args, device) if device.type == "cuda" else None
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


def _unchecked(case: BenchCase) -> Callable[[], Callable[..., torch.Tensor]]:
    """``ours`` with the value checks switched off for the call."""
    import visionloss

    def make() -> Callable[..., torch.Tensor]:
        inner = _ours(case)()

        def call(*args: Any) -> torch.Tensor:
            visionloss.set_value_checks(False)
            try:
                return inner(*args)
            finally:
                visionloss.set_value_checks(True)

        return call

    return make


# The plain torch reference of a half-precision case run inside ``torch.autocast`` of that
# dtype: what a mixed-precision user's own code computes (on CPUs and GPUs autocast runs
# ``matmul`` in the half dtype and ``cross_entropy`` in float32), the numerics ours keeps.
AUTOCAST = "torch[autocast]"


def _autocast(
    reference: Callable[..., torch.Tensor], device_type: str, dtype: torch.dtype
) -> Callable[[], Callable[..., torch.Tensor]]:
    def make() -> Callable[..., torch.Tensor]:
        def call(*args: Any) -> torch.Tensor:
            with torch.autocast(device_type, dtype=dtype):
                return reference(*args)

        return call

    return make


def _constant(impl: Callable[..., torch.Tensor]) -> Callable[[], Callable[..., torch.Tensor]]:
    return lambda: impl


def _compiled(make_impl: Callable[[], Callable[..., torch.Tensor]]) -> Callable[[], Any]:
    def make() -> Callable[..., torch.Tensor]:
        impl = make_impl()

        def call(*args: Any) -> torch.Tensor:
            return impl(*args)

        # the implementations of many cases share one code object (the lambda of ``_ours``)
        own_code_object(call, f"compiled_{id(impl):x}")
        # and a peer that breaks its graph has frames below ``call`` that are compiled on
        # their own and shared by every case of that peer (MONAI's losses and the suite's
        # lambda around them): past dynamo's 8 graphs a frame, later cases ran those frames
        # eager under the "+compile" name
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 256)
        torch._dynamo.config.accumulated_recompile_limit = max(
            torch._dynamo.config.accumulated_recompile_limit, 4096
        )
        return torch.compile(call)

    return make


def tasks(
    cases: Iterable[BenchCase],
    device: torch.device,
    *,
    peers: bool,
    compile: bool,
    quick: bool,
    dtypes: Sequence[torch.dtype] | None = None,
    passes: Sequence[str] = ("fwd+bwd",),
) -> list[Task]:
    """Every (case, implementation, shape, dtype, pass) to measure on ``device``."""
    import visionloss

    out = []
    for case in cases:
        spec = visionloss.get_loss(case.loss)
        impls: list[tuple[str, Callable[[], Callable[..., torch.Tensor]]]] = [("ours", _ours(case))]
        if device.type == "cuda" and "backend" in inspect.signature(spec.function).parameters:
            impls.append(("ours[torch]", _ours(case, backend="torch")))
        if case.check_cost:
            impls.append(("ours[no checks]", _unchecked(case)))
        if case.reference is not None:
            impls.append(("torch", _constant(case.reference)))
        if peers:
            impls += list(case.peers.items())
        if compile:
            impls += [
                (f"{name}+compile", _compiled(make))
                for name, make in list(impls)
                if name != "ours[no checks]"
            ]
        shapes = list(case.shapes.get(device.type, ()))[: 1 if quick else None]
        for shape in shapes:
            for dtype in case.dtypes.get(device.type, (torch.float32,)):
                if dtypes and dtype not in dtypes:
                    continue
                extra = []
                if case.reference is not None and dtype in (torch.float16, torch.bfloat16):
                    extra.append((AUTOCAST, _autocast(case.reference, device.type, dtype)))
                for pass_ in passes:
                    for name, make in impls + extra:
                        out.append(Task(case, spec.family, name, make, tuple(shape), dtype, pass_))
    return out


def _floor(
    case: BenchCase,
    task: Task,
    device: torch.device,
    cache: dict[Any, float],
) -> float | None:
    if case.floor is None:
        return None
    need = case.floor(task.shape, task.dtype)
    floor = 0.0
    if need.get("bytes"):
        if "bandwidth" not in cache:
            cache["bandwidth"] = copy_bandwidth(device)
        floor = max(floor, need["bytes"] / cache["bandwidth"])
    if need.get("flops"):
        if task.dtype not in cache:
            cache[task.dtype] = matmul_rate(device, task.dtype)
        floor = max(floor, need["flops"] / cache[task.dtype])
    if task.pass_ == "fwd":
        floor /= 3.0  # a forward reads the inputs once of the forward+backward's three passes
    return floor * 1e3


def _groups(todo: Sequence[Task]) -> list[list[Task]]:
    """Tasks of one (case, shape, dtype, pass), in order: timed together, interleaved."""
    groups: dict[tuple[Any, ...], list[Task]] = {}
    for task in todo:
        key = (id(task.case), task.shape, task.dtype, task.pass_)
        groups.setdefault(key, []).append(task)
    return list(groups.values())


def _error_note(err: BaseException) -> str:
    return f"failed: {type(err).__name__}: {' '.join(str(err).split())[:120]}"


def run_tasks(
    todo: Sequence[Task],
    device: torch.device,
    *,
    warmup: int,
    repeat: int,
    show_progress: bool = True,
    memory: bool = False,
    after_rows: list[AfterRow] | None = None,
) -> list[Row]:
    """Measure every task, the implementations of one (case, shape, dtype, pass) interleaved;
    a failing implementation gives a row with its error as the note. ``memory``: the CPU
    peak extra memory of each (case, implementation), a fresh process each
    (:func:`cpu_peak`). ``after_rows``, when given, receives each implementation's median
    after each predecessor (:class:`AfterRow`)."""
    from visionloss.experiments._progress import progress

    cache: dict[Any, float] = {}
    rows: list[Row] = []
    name = device_name(device)
    groups = _groups(todo)
    items = progress(groups, desc="bench") if show_progress else groups
    for group in items:
        first = group[0]
        case = first.case
        made: list[tuple[Task, Row, Callable[..., torch.Tensor]]] = []
        for task in group:
            row = Row(
                case.title,
                task.family,
                task.implementation,
                "x".join(map(str, task.shape)),
                str(task.dtype).replace("torch.", ""),
                name,
                pass_=task.pass_,
            )
            rows.append(row)
            try:
                made.append((task, row, task.make_impl()))
            except ImportError as err:
                row.note = f"not installed ({err.name or err})"
        torch.manual_seed(0)
        args = case.make_inputs(first.shape, first.dtype, device)
        after: dict[tuple[int, int], list[float]] | None = {} if after_rows is not None else None
        results = interleaved(
            [impl for _, _, impl in made],
            args,
            device,
            PASSES[first.pass_],
            warmup=warmup,
            repeat=repeat,
            after=after,
        )
        if after is not None and after_rows is not None:  # (the one implies the other)
            after_rows += _after_rows([row for _, row, _ in made], results, after)
        for (task, row, impl), times in zip(made, results):
            if isinstance(times, BaseException):
                row.note = _error_note(times)
                continue
            row.p20_ms, row.p50_ms, row.p80_ms = (_quantile(times, q) for q in (0.2, 0.5, 0.8))
            row.floor_ms = _floor(case, task, device, cache)
            if row.floor_ms:
                row.ratio_to_floor = row.p50_ms / row.floor_ms
            if first.pass_ != "fwd+bwd":
                continue
            if device.type == "cuda":
                row.peak_extra_mib = cuda_peak(impl, args, device)
            elif memory and not task.implementation.endswith("+compile"):
                row.peak_extra_mib = cpu_peak(task)
        del args, made
    return rows


def _after_rows(
    rows: Sequence[Row],
    results: Sequence[list[float] | BaseException],
    after: dict[tuple[int, int], list[float]],
) -> list[AfterRow]:
    """:class:`AfterRow` of each (implementation, predecessor) of one group."""
    out = []
    for (i, j), times in sorted(after.items()):
        overall = results[i]
        assert isinstance(overall, list)
        r = rows[i]
        p50 = statistics.median(times)
        out.append(
            AfterRow(
                r.loss,
                r.implementation,
                rows[j].implementation,
                r.shape,
                r.dtype,
                r.pass_,
                r.device,
                len(times),
                p50,
                p50 / statistics.median(overall),
            )
        )
    return out


def write_after_csv(rows: Sequence[AfterRow], path: Path) -> Path:
    """The rows of ``--by-predecessor`` as CSV (:data:`AFTER_COLUMNS`)."""
    return _write(rows, path, AFTER_COLUMNS)


def after_table(rows: Sequence[AfterRow]) -> str:
    """The rows of ``--by-predecessor`` for the console."""
    from visionloss.experiments import format_table

    body = [
        [
            r.loss,
            r.shape,
            r.dtype,
            r.implementation,
            r.after,
            str(r.runs),
            f"{r.p50_ms:.3f}",
            f"{r.to_all:.2f}x",
        ]
        for r in rows
    ]
    head = ["loss", "shape", "dtype", "impl", "after", "runs", "p50 ms", "/ all rounds"]
    return format_table(head, body)


# ------------------------------------------------------------------ CPU memory, one process


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_high_water() -> bool:
    """Reset the resident-set high-water mark (Linux >= 4.0); False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _high_water_bytes(reset: bool) -> int:
    if reset:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _warm_up(impl: Any, task: Any, device: torch.device) -> None:
    """One forward+backward at the measured shape, on other inputs of it: the one-time costs
    of a first call (lazy imports, thread pools, and those of a shape: oneDNN JIT-compiles a
    bf16 GEMM's kernels and keeps their scratchpad, 5.5 MiB for a 512 x 128 x 512 product)
    are paid before the measured call, as in every step of a training loop after the first.
    Blocks of 64 KiB or more are unmapped when freed (:func:`probe_memory`), so the measured
    call's large temporaries are counted whole."""
    torch.manual_seed(1)
    fwd_bwd(impl, task.case.make_inputs(task.shape, task.dtype, device))


def probe_memory(spec: dict[str, Any]) -> float:
    """In this (fresh) process: the peak extra MiB of one forward+backward of the task that
    ``spec`` names (suite, case title, implementation, shape, dtype)."""
    torch.set_num_threads(spec.get("threads", torch.get_num_threads()))
    # every block of 64 KiB or more is mapped when allocated and unmapped when freed, so the
    # resident set follows the live tensors (by default glibc raises that threshold at the
    # first free, after which freed blocks stay resident: peaks then varied by 1.7x)
    _mallopt(_M_MMAP_THRESHOLD, 64 * 1024)
    cases = [c for c in load(None, spec["suite"]) if c.title == spec["case"]]
    device = torch.device("cpu")
    todo = tasks(
        cases,
        device,
        peers=True,
        compile=False,
        quick=False,
        dtypes=[getattr(torch, spec["dtype"])],
    )
    (task,) = [
        t
        for t in todo
        if t.implementation == spec["implementation"]
        and "x".join(map(str, t.shape)) == spec["shape"]
    ]
    impl = task.make_impl()
    # a first call pays the one-time costs that are no part of the loss's memory
    _warm_up(impl, task, device)
    torch.manual_seed(0)
    args = task.case.make_inputs(task.shape, task.dtype, device)
    gc.collect()
    base = _rss_bytes()
    reset = _reset_high_water()
    fwd_bwd(impl, args)
    return max(0, _high_water_bytes(reset) - base) / 2**20


def cpu_peak(task: Task) -> float | None:
    """:func:`probe_memory` of ``task`` in a fresh interpreter (None when it fails)."""
    spec = {
        "suite": task.case.suite,
        "case": task.case.title,
        "implementation": task.implementation,
        "shape": "x".join(map(str, task.shape)),
        "dtype": str(task.dtype).replace("torch.", ""),
        "threads": torch.get_num_threads(),
    }
    cmd = [sys.executable, "-m", "visionloss.bench.runner", "--probe-memory", json.dumps(spec)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return None
    return float(lines[-1])


_CSV_NAMES = {"pass_": "pass", "torch_version": "torch"}


def write_csv(rows: Sequence[Row], path: Path) -> Path:
    return _write(rows, path, COLUMNS)


def _write(rows: Sequence[Row] | Sequence[AfterRow], path: Path, columns: list[str]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    _CSV_NAMES.get(k, k): (
                        "" if v is None else round(v, 4) if isinstance(v, float) else v
                    )
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
            r.pass_,
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
            "pass",
        ],
        body,
    )


def run(args: argparse.Namespace, default_out: Path) -> tuple[list[Row], Path]:
    """Measure what ``args`` select, write the CSV, print the table; return rows and path."""
    if args.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda, but torch sees no CUDA device")
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    compile = args.compile if args.compile is not None else device.type == "cuda"
    suite = "peers" if args.peers else "default"
    cases = [c for c in load(args.family, suite) if not args.loss or c.loss in args.loss]
    dtypes = [getattr(torch, d) for d in args.dtype] or None
    passes = getattr(args, "passes", None) or ["fwd+bwd"]
    todo = tasks(
        cases,
        device,
        peers=args.peers,
        compile=compile,
        quick=args.quick,
        dtypes=dtypes,
        passes=passes,
    )
    gpu = device.type == "cuda"
    if not gpu and getattr(args, "steady_heap", True):
        steady_heap()
    after_rows: list[AfterRow] | None = [] if getattr(args, "by_predecessor", False) else None
    rows = run_tasks(
        todo,
        device,
        warmup=args.warmup if args.warmup is not None else (10 if gpu else 3),
        repeat=args.repeat or (50 if gpu else 15),
        memory=bool(getattr(args, "memory", False)),
        after_rows=after_rows,
    )
    out = Path(args.out) if args.out else default_out
    print(console_table(rows))
    if rows:
        write_csv(rows, out)
        print(f"\n{len(rows)} rows on {device_name(device)}; csv: {out}")
    else:
        print("no benchmark cases selected")
    if after_rows:
        path = write_after_csv(after_rows, after_path(out))
        print(f"\n{after_table(after_rows)}\n\nby predecessor: {path}")
    return rows, out


def after_path(out: Path) -> Path:
    """Where ``--by-predecessor`` writes its rows: ``<name>-after.csv`` next to ``out``."""
    return out.with_name(f"{out.stem}-after{out.suffix or '.csv'}")


def main(argv: Sequence[str] | None = None) -> int:
    from visionloss.cli.bench import add_arguments

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--probe-memory"]:  # the child process of cpu_peak
        print(probe_memory(json.loads(argv[1])))
        return 0
    p = argparse.ArgumentParser(
        prog="python -m visionloss.bench.runner",
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
    folder = RESULTS / "peers" if args.peers else RESULTS
    run(args, folder / f"{args.family or 'all'}-{kind}.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
