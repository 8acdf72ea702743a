"""The packaged benchmark (``visionloss.bench``): interleaved timing, passes, compiled and
unchecked rows, the CPU memory probe in a fresh process, the CSV, and ``visionloss bench
--peers`` end to end at a tiny size."""

from __future__ import annotations

import csv
import subprocess
import sys
from collections import Counter

import pytest
import torch

from visionloss._core.checks import value_checks_enabled
from visionloss.bench import cases as bench_cases
from visionloss.bench import runner


def _inputs(shape, dtype, device):
    return (torch.randn(shape, device=device).to(dtype).requires_grad_(True),)


def _case(**kw):
    return bench_cases.BenchCase(
        "total_variation",
        _inputs,
        {"cpu": [(2, 3, 8, 8)]},
        reference=lambda x: x.abs().mean(),
        peers={"broken": lambda: lambda x: 1 / 0, "absent": _absent},
        check_cost=True,
        **kw,
    )


def _absent():
    import visionloss_peer_that_is_not_installed  # noqa: F401


def _recording(calls: list[str]):
    """A maker of implementations that record their names in ``calls`` when run."""

    def impl(name):
        def f(x):
            calls.append(name)
            return x.sum()

        return f

    return impl


def test_interleaved_balances_the_predecessors_and_reports_errors():
    calls: list[str] = []
    impl = _recording(calls)

    def bad(x):
        raise RuntimeError("boom")

    x = torch.ones(3, requires_grad=True)
    impls = [impl("a"), bad, impl("b"), impl("c"), impl("d"), impl("e")]
    out = runner.interleaved(impls, (x,), torch.device("cpu"), runner.fwd_bwd, warmup=1, repeat=9)
    assert isinstance(out[1], RuntimeError)
    # five live implementations: a Williams square of size 6, its extra slot skipped; the
    # repeat is rounded up to whole cycles (9 -> 12 rounds)
    assert [len(t) for t in out if isinstance(t, list)] == [12] * 5
    timed = calls[5:]  # after one warm-up of each live implementation
    rounds = [tuple(timed[i : i + 5]) for i in range(0, len(timed), 5)]
    assert all(sorted(r) == list("abcde") for r in rounds)  # each once per round
    # within rounds, every implementation follows every other one, once or twice per cycle
    # (a seeded random order repeated one unbalanced sequence of predecessors)
    follows = Counter((r[i], r[i + 1]) for r in rounds for i in range(4))
    assert set(follows) == {(u, v) for u in "abcde" for v in "abcde" if u != v}
    assert set(follows.values()) <= {2, 4}  # two cycles: once or twice each
    again: list[str] = []
    calls[:] = []
    runner.interleaved(impls, (x,), torch.device("cpu"), runner.fwd_bwd, warmup=1, repeat=9)
    again = calls[5:]
    assert again == timed  # a run is repeatable


def test_interleaved_times_by_predecessor():
    calls: list[str] = []
    impl = _recording(calls)

    x = torch.ones(3, requires_grad=True)
    impls = [impl("a"), impl("b"), impl("c"), impl("d")]
    after: dict[tuple[int, int], list[float]] = {}
    out = runner.interleaved(
        impls, (x,), torch.device("cpu"), runner.fwd_bwd, warmup=1, repeat=4, after=after
    )
    timed = calls[4:]  # after the warm-ups
    # every timed call but the first is filed under its own predecessor, in order
    expected = Counter(zip(timed[1:], timed[:-1]))
    names = "abcd"
    assert Counter({(names[i], names[j]): len(v) for (i, j), v in after.items()}) == expected
    # within rounds every implementation follows every other one
    assert {(u, v) for u in names for v in names if u != v} <= set(expected)
    for (i, _), times in after.items():  # the same measurements as the overall times
        assert set(times) <= set(out[i])
    assert sum(map(len, after.values())) == sum(map(len, out)) - 1


def test_run_tasks_rows_by_predecessor(tmp_path):
    case = bench_cases.BenchCase(
        "total_variation", _inputs, {"cpu": [(2, 3, 8, 8)]}, reference=lambda x: x.abs().mean()
    )
    todo = runner.tasks([case], torch.device("cpu"), peers=False, compile=False, quick=True)
    after_rows: list[runner.AfterRow] = []
    rows = runner.run_tasks(
        todo, torch.device("cpu"), warmup=1, repeat=4, show_progress=False, after_rows=after_rows
    )
    assert {(r.implementation, r.after) for r in after_rows} >= {
        ("ours", "torch"),
        ("torch", "ours"),
    }
    for r in after_rows:
        overall = next(o for o in rows if o.implementation == r.implementation)
        assert r.runs >= 1 and r.p50_ms > 0
        assert r.to_all == pytest.approx(r.p50_ms / overall.p50_ms)
    path = runner.write_after_csv(after_rows, runner.after_path(tmp_path / "r.csv"))
    assert path.name == "r-after.csv"
    with path.open() as f:
        got = list(csv.DictReader(f))
    assert list(got[0]) == runner.AFTER_COLUMNS and len(got) == len(after_rows)
    assert "ours" in runner.after_table(after_rows)


@pytest.mark.parametrize("n", range(1, 13))
def test_balanced_orders_give_every_implementation_every_predecessor(n):
    rows = runner.balanced_orders(n)
    assert all(sorted(row) == list(range(n)) for row in rows)
    follows = Counter((row[i], row[i + 1]) for row in rows for i in range(n - 1))
    pairs = {(a, b) for a in range(n) for b in range(n) if a != b}
    assert set(follows) == pairs
    for b in range(n):  # even n: each predecessor once; odd n: at most one of them twice
        counts = sorted(k for (_, v), k in follows.items() if v == b)
        assert counts[:-1] == [1] * (n - 2) and counts[-1:] in ([], [1], [2])


def test_tasks_and_rows_with_both_passes(tmp_path):
    case = _case()
    todo = runner.tasks(
        [case],
        torch.device("cpu"),
        peers=True,
        compile=False,
        quick=True,
        passes=["fwd+bwd", "fwd"],
    )
    names = [t.implementation for t in todo if t.pass_ == "fwd"]
    assert names == ["ours", "ours[no checks]", "torch", "broken", "absent"]
    rows = runner.run_tasks(todo, torch.device("cpu"), warmup=1, repeat=3, show_progress=False)
    by = {(r.implementation, r.pass_): r for r in rows}
    for impl in ("ours", "ours[no checks]", "torch"):
        for pass_ in ("fwd+bwd", "fwd"):
            r = by[impl, pass_]
            assert 0 < r.p20_ms <= r.p50_ms <= r.p80_ms, r
    assert by["broken", "fwd"].note.startswith("failed: ZeroDivisionError")
    assert by["absent", "fwd"].note.startswith("not installed")
    assert value_checks_enabled()  # restored after the unchecked rows
    path = runner.write_csv(rows, tmp_path / "r.csv")
    with path.open() as f:
        got = list(csv.DictReader(f))
    assert list(got[0]) == runner.COLUMNS
    assert {r["pass"] for r in got} == {"fwd+bwd", "fwd"}
    assert got[0]["torch"] == torch.__version__
    assert "cores" in got[0]["device"]


def test_compiled_rows_are_named_and_skip_the_unchecked_one():
    todo = runner.tasks([_case()], torch.device("cpu"), peers=False, compile=True, quick=True)
    names = [t.implementation for t in todo]
    assert names == ["ours", "ours[no checks]", "torch", "ours+compile", "torch+compile"]


def test_compiled_peers_are_not_capped_at_dynamo_default_graphs():
    """A peer whose graph breaks compiles frames shared by all its cases: with dynamo's
    default of 8 graphs a frame, later cases would run eager under the "+compile" name."""
    import torch._dynamo.config as dynamo

    old = dynamo.recompile_limit
    try:
        dynamo.recompile_limit = 8
        runner._compiled(lambda: lambda x: x.sum())()
        assert dynamo.recompile_limit >= 256
    finally:
        dynamo.recompile_limit = old


def test_half_rows_add_the_reference_under_autocast():
    """fp16 / bf16 rows also time the torch reference inside ``torch.autocast`` of that
    dtype (float32 rows do not): a matmul in it runs in bf16, a cross entropy in float32."""
    seen = {}

    def reference(x):
        y = x.float()
        seen["mm"] = (y @ y.t()).dtype
        seen["ce"] = torch.nn.functional.cross_entropy(
            y, torch.zeros(y.shape[0], dtype=torch.long)
        ).dtype
        return y.abs().mean()

    case = bench_cases.BenchCase(
        "total_variation",
        _inputs,
        {"cpu": [(4, 3)]},
        reference=reference,
        dtypes={"cpu": (torch.float32, torch.bfloat16)},
    )
    todo = runner.tasks([case], torch.device("cpu"), peers=False, compile=False, quick=True)
    names = [(t.implementation, t.dtype) for t in todo]
    assert (runner.AUTOCAST, torch.bfloat16) in names
    assert (runner.AUTOCAST, torch.float32) not in names
    task = next(t for t in todo if t.implementation == runner.AUTOCAST)
    task.make_impl()(*_inputs((4, 3), torch.bfloat16, torch.device("cpu")))
    assert seen == {"mm": torch.bfloat16, "ce": torch.float32}


def test_table_ratio_to_the_autocast_reference():
    from visionloss.bench.make_table import peer_markdown

    def row(impl, ms, dtype="bfloat16"):
        return {
            "device": "cpu",
            "loss": "x",
            "shape": "4",
            "dtype": dtype,
            "pass": "fwd+bwd",
            "implementation": impl,
            "p50_ms": str(ms),
            "peak_extra_mib": "",
        }

    runs = [
        [
            row("ours", 3.0),
            row("torch", 2.0),
            row(runner.AUTOCAST, 1.5),
            row("ours", 1.0, "float32"),
            row("torch", 1.0, "float32"),
        ]
    ]
    lines = peer_markdown(runs).splitlines()
    half = next(line for line in lines if "bfloat16" in line)
    full = next(line for line in lines if "float32 |" in line)
    assert "1.50x vs torch |" in half  # the fastest eager peer (not the autocast column's)
    assert half.rstrip("| ").endswith("2.00x vs torch[autocast]")
    assert "autocast" not in full


def test_peer_suite_is_registered_at_realistic_sizes():
    peers = bench_cases.load(None, "peers")
    losses = {c.loss for c in peers}
    assert {"dice", "dice_ce", "tversky", "focal", "cross_entropy", "nt_xent"} <= losses
    dice = next(c for c in peers if c.loss == "dice" and not c.label)
    assert tuple(dice.shapes["cpu"][0]) == (4, 19, 128, 256)
    assert {"kornia", "monai", "smp"} <= set(dice.peers)
    assert dice.check_cost
    assert all(c.suite == "default" for c in bench_cases.load())


def test_cpu_memory_probe_in_a_fresh_process():
    case = next(c for c in bench_cases.load(None, "peers") if c.loss == "total_variation")
    task = runner.tasks([case], torch.device("cpu"), peers=False, compile=False, quick=True)[0]
    mib = runner.cpu_peak(task)
    assert mib is not None
    x_mib = 8 * 3 * 256 * 256 * 4 / 2**20  # the fp32 input's gradient is at least this
    assert x_mib * 0.9 <= mib < 20 * x_mib


@pytest.mark.slow
def test_cli_peers_end_to_end(tmp_path):
    out = tmp_path / "peers.csv"
    cmd = [
        sys.executable,
        "-m",
        "visionloss",
        "bench",
        "--peers",
        "--loss",
        "total_variation",
        "--dtype",
        "float32",
        "--pass",
        "fwd",
        "--warmup",
        "0",
        "--repeat",
        "1",
        "--by-predecessor",
        "--out",
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "kornia" in proc.stdout
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert {r["implementation"] for r in rows} >= {"ours", "torch", "kornia"}
    assert {r["pass"] for r in rows} == {"fwd"}
    with (tmp_path / "peers-after.csv").open() as f:
        after = list(csv.DictReader(f))
    assert {(r["implementation"], r["after"]) for r in after} >= {("ours", "kornia")}
    assert "by predecessor" in proc.stdout
