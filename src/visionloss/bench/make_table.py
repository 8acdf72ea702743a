"""Turn benchmark CSVs into the markdown tables of the documentation.

``python -m visionloss.bench.make_table [FILE.csv ...] [-o FILE.md]`` (default: every CSV of
``benchmarks/results/``, printed). One table per device, rows in the CSV's order.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from . import RESULTS


def read_rows(paths: Sequence[Path]) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for path in paths:
        with Path(path).open(newline="") as f:
            rows.extend(csv.DictReader(f))
    return rows


def _num(text: str, digits: int) -> str:
    return "" if not text else f"{float(text):.{digits}f}"


def _sig(text: str) -> str:
    return "" if not text else f"{float(text):.3g}"


def markdown(rows: Sequence[dict[str, str]]) -> str:
    """One markdown table per device (with a heading naming it)."""
    devices = list(dict.fromkeys(r["device"] for r in rows))
    out = []
    for device in devices:
        out += [
            f"### {device}",
            "",
            "| loss | implementation | shape | dtype | p50 ms | p20–p80 ms | peak extra MiB "
            "| floor ms | × floor | note |",
            "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        for r in (r for r in rows if r["device"] == device):
            spread = f"{_num(r['p20_ms'], 3)}–{_num(r['p80_ms'], 3)}" if r["p20_ms"] else ""
            note = r.get("note", "").replace("|", "\\|")
            out.append(
                f"| `{r['loss']}` | {r['implementation']} | {r['shape']} | {r['dtype']} "
                f"| {_num(r['p50_ms'], 3)} | {spread} | {_num(r['peak_extra_mib'], 1)} "
                f"| {_sig(r['floor_ms'])} | {_num(r['ratio_to_floor'], 1)} | {note} |"
            )
        out.append("")
    return "\n".join(out)


def _is_ours(impl: str) -> bool:
    return impl == "ours" or impl.startswith("ours[") or impl.startswith("ours+")


def _ratios(rows: Sequence[dict[str, str]]) -> dict[str, tuple[float, str] | None]:
    """Of one (case, shape, dtype, pass) in one run: ours / the fastest eager peer, ours
    compiled / the fastest compiled peer, ours' peak memory / the lowest peer's, ours / ours
    without the value checks, and (half precision) ours / the torch reference under
    ``torch.autocast``; each with the peer's name (None where a side is missing)."""

    def best(key: str, pick: Callable[[str], bool]) -> tuple[float, str] | None:
        vals = [
            (float(r[key]), r["implementation"])
            for r in rows
            if r.get(key) and pick(r["implementation"])
        ]
        return min(vals) if vals else None

    def ratio(key: str, ours: str, peers: Callable[[str], bool]) -> tuple[float, str] | None:
        mine = next(
            (float(r[key]) for r in rows if r["implementation"] == ours and r.get(key)), None
        )
        other = best(key, peers)
        if mine is None or other is None or other[0] <= 0:
            return None
        return mine / other[0], other[1]

    def eager(i: str) -> bool:
        # (the reference under autocast is torch's own code again, timed for its own column)
        return not _is_ours(i) and not i.endswith("+compile") and i != "torch[autocast]"

    def compiled(i: str) -> bool:
        return not _is_ours(i) and i.endswith("+compile")

    return {
        "eager": ratio("p50_ms", "ours", eager),
        "compiled": ratio("p50_ms", "ours+compile", compiled),
        "memory": ratio("peak_extra_mib", "ours", eager),
        "checks": ratio("p50_ms", "ours", lambda i: i == "ours[no checks]"),
        "autocast": ratio("p50_ms", "ours", lambda i: i == "torch[autocast]"),
    }


def peer_markdown(runs: Sequence[Sequence[dict[str, str]]]) -> str:
    """The side-by-side table of ``visionloss bench --peers`` runs (one CSV each): per case,
    ours / the fastest eager peer, compiled ours / the fastest compiled peer, ours' peak
    memory / the lowest peer's, the cost of the input checks (ours / ours without them) and,
    for fp16 / bf16 rows, ours / the plain torch reference under ``torch.autocast`` (the same
    numerics: products in the half dtype, cross entropy in float32); the median over the
    runs with the min–max spread."""
    keys: dict[tuple[str, ...], list[list[dict[str, str]]]] = {}
    for rows in runs:
        groups: dict[tuple[str, ...], list[dict[str, str]]] = {}
        for r in rows:
            found: tuple[str, ...] = (
                r["device"],
                r["loss"],
                r["shape"],
                r["dtype"],
                r.get("pass", "fwd+bwd"),
            )
            groups.setdefault(found, []).append(r)
        for found, group in groups.items():
            keys.setdefault(found, []).append(group)

    def cell(values: list[tuple[float, str] | None]) -> str:
        got = [v for v in values if v is not None]
        if not got:
            return ""
        nums = sorted(v[0] for v in got)
        mid = (
            nums[len(nums) // 2]
            if len(nums) % 2
            else (nums[len(nums) // 2 - 1] + nums[len(nums) // 2]) / 2
        )
        names = sorted({v[1] for v in got})
        spread = f" ({nums[0]:.2f}–{nums[-1]:.2f})" if len(nums) > 1 else ""
        return f"{mid:.2f}x{spread} vs {', '.join(names)}"

    out = []
    for device in dict.fromkeys(k[0] for k in keys):
        out += [
            f"### {device}",
            "",
            f"{len(runs)} run(s); each cell: the median ratio ours / peer over the runs "
            "(min–max), and the peer it is measured against (the fastest, or lowest-memory).",
            "",
            "| loss | shape | dtype | pass | ours / fastest eager peer | compiled / fastest "
            "compiled peer | peak memory / lowest peer | checks on / off | half: ours / torch "
            "under autocast |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for case, runs_of_case in keys.items():
            if case[0] != device:
                continue
            ratios = [_ratios(g) for g in runs_of_case]
            out.append(
                f"| `{case[1]}` | {case[2]} | {case[3]} | {case[4]} "
                + "".join(
                    f"| {cell([r[k] for r in ratios])} "
                    for k in ("eager", "compiled", "memory", "checks", "autocast")
                )
                + "|"
            )
        out.append("")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m visionloss.bench.make_table", description=__doc__)
    p.add_argument("csv", nargs="*", help="CSV files (default: benchmarks/results/*.csv)")
    p.add_argument("-o", "--output", help="markdown file to write (default: print)")
    p.add_argument(
        "--peers",
        action="store_true",
        help="the side-by-side ratios of `bench --peers` runs (default: benchmarks/results/peers)",
    )
    args = p.parse_args(argv)
    if args.peers:
        paths = [Path(c) for c in args.csv] or sorted((RESULTS / "peers").glob("*.csv"))
        text = peer_markdown([read_rows([path]) for path in paths])
    else:
        paths = [Path(c) for c in args.csv] or sorted(RESULTS.glob("*.csv"))
        text = markdown(read_rows(paths))
    if args.output:
        Path(args.output).write_text(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
