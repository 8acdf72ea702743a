"""Turn benchmark CSVs into the markdown tables of the documentation.

``python -m benchmarks.make_table [FILE.csv ...] [-o FILE.md]`` (default: every CSV of
``benchmarks/results/``, printed). One table per device, rows in the CSV's order.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def read_rows(paths: Sequence[Path]) -> list[dict[str, str]]:
    rows = []
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


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.make_table", description=__doc__)
    p.add_argument("csv", nargs="*", help="CSV files (default: benchmarks/results/*.csv)")
    p.add_argument("-o", "--output", help="markdown file to write (default: print)")
    args = p.parse_args(argv)
    paths = [Path(c) for c in args.csv] or sorted(RESULTS.glob("*.csv"))
    text = markdown(read_rows(paths))
    if args.output:
        Path(args.output).write_text(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
