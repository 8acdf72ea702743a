"""Regenerate the loss table of README.md from the registry.

Usage: ``python tools/readme_table.py`` rewrites the block between the markers;
``python tools/readme_table.py --check`` exits 1 when the README is out of date (a test runs it).
"""

from __future__ import annotations

import sys
from pathlib import Path

import visionloss

README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN, END = "<!-- losses:begin -->", "<!-- losses:end -->"


def table() -> str:
    lines = ["| name | family | function / Module | paper |", "| --- | --- | --- | --- |"]
    for s in visionloss.list_losses():
        lines.append(
            f"| `{s.name}` | {s.family} | `{s.function.__name__}` / `{s.module.__name__}` "
            f"| {s.reference} |"
        )
    return "\n".join(lines)


def render(text: str) -> str:
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    text = README.read_text()
    new = render(text)
    if "--check" in argv:
        if new != text:
            print("README.md loss table is out of date: run python tools/readme_table.py")
            return 1
        return 0
    README.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
