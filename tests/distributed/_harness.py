"""The multi-process harness shared by the gloo tests (``test_gather.py``, ``test_ssl.py``,
``test_metric_breadth.py``, ``tests/adversarial/test_penalties.py``).

One spawn starts the largest world's processes; each process joins one process group per
world size it belongs to (``rank < world``) and runs a test module's ``checks(rank, world)``,
an iterable of ``(label, actual, expected)``. Every collective runs while the checks are
produced, before any comparison, so a failing check cannot leave the other processes waiting.
Each process writes its report (``{world: {"checks": labels, "failures": messages}}``) to
``rank<r>.json`` in the output folder, then exits at once (``os._exit``), skipping the
interpreter's finalization, where leftover gloo threads once aborted a process in CI.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import socket
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

Checks = Callable[[int, int], Iterable[tuple[str, Any, Any]]]

gloo_only = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()), reason="needs torch.distributed gloo"
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def gloo_group(rank: int, world: int, port: int, timeout: float = 120.0) -> Iterator[None]:
    """A ``world``-process gloo group on ``127.0.0.1:port`` for the ``with`` block; on the way
    out, whatever still holds it (a DDP model's reducer sits in reference cycles) is collected
    while the group is alive, not in the interpreter's finalization."""
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=timedelta(seconds=timeout))
    try:
        yield
    finally:
        gc.collect()
        dist.destroy_process_group()


def leave() -> None:
    """End a spawned worker now, once its report is written, skipping the interpreter's
    finalization: gloo threads that outlive it can abort the process there ("terminate called
    without an active exception", SIGABRT; cf. pytorch#179291), which once failed CI."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def run_checks(
    rank: int, world: int, port: int, checks: Checks, rtol: float = 1e-7, atol: float = 1e-9
) -> dict:
    """Run ``checks(rank, world)`` in a ``world``-process gloo group, then compare."""
    results: list[tuple[str, Any, Any]] = []
    failures: list[str] = []
    with gloo_group(rank, world, port):
        try:
            for result in checks(rank, world):
                results.append(result)
        except Exception:
            failures.append(traceback.format_exc())
    for label, actual, expected in results:  # comparisons only after every collective
        try:
            torch.testing.assert_close(actual, expected, rtol=rtol, atol=atol)
        except AssertionError as err:
            failures.append(f"{label}: {err}")
    return {"checks": [r[0] for r in results], "failures": failures}


def _worker(rank: int, checks: Checks, worlds: Sequence[tuple[int, int]], out_dir: str) -> None:
    torch.set_num_threads(1)
    report = {}
    for world, port in worlds:
        if rank < world:
            report[world] = run_checks(rank, world, port, checks)
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(report))
    leave()


def spawn(
    checks: Checks, out_dir: Path, worlds: Sequence[int] = (3, 2), timeout: float = 240.0
) -> list[dict]:
    """Start ``max(worlds)`` processes (one spawn: starting a process and importing torch is the
    slow part) that run ``checks`` for every world size in turn; return each rank's report.

    ``checks`` must be a module-level function (the spawned processes import it by name)."""
    nprocs = max(worlds)
    pairs = [(world, free_port()) for world in worlds]
    ctx = mp.start_processes(
        _worker, args=(checks, pairs, str(out_dir)), nprocs=nprocs, join=False, start_method="spawn"
    )
    deadline = time.monotonic() + timeout
    while not ctx.join(timeout=1.0):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail(f"the processes did not finish within {timeout}s")
    return [json.loads(Path(out_dir, f"rank{r}.json").read_text()) for r in range(nprocs)]


def passed(reports: list[dict], worlds: Sequence[int] = (3, 2)) -> list[dict]:
    """Assert that every rank reported each world it belongs to, without failures; return the
    ``{"checks", "failures"}`` results (rank by rank, in the report's order)."""
    results = []
    for rank, report in enumerate(reports):
        assert sorted(report) == sorted(str(w) for w in worlds if rank < w)
        for world, result in report.items():
            assert not result["failures"], f"{world} processes, rank {rank}:\n" + "\n".join(
                result["failures"]
            )
            results.append(result)
    return results
