"""A dependency-free progress bar for experiments and benchmarks (writes to stderr)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def progress(
    items: Iterable[T], *, total: int | None = None, desc: str = "", width: int = 28
) -> Iterator[T]:
    """Yield ``items`` while drawing ``desc [#####.....] i/n 1.2s`` on stderr.

    Draws only when stderr is a terminal or ``VISIONLOSS_PROGRESS=1``; otherwise it prints one
    line when done, so logs stay readable.
    """
    import os

    if total is None:
        try:
            total = len(items)  # type: ignore[arg-type]
        except TypeError:
            total = None
    live = sys.stderr.isatty() or os.environ.get("VISIONLOSS_PROGRESS") == "1"
    start = time.perf_counter()
    count = 0
    for count, item in enumerate(items, 1):
        yield item
        if live:
            elapsed = time.perf_counter() - start
            if total:
                filled = int(width * count / total)
                bar = "#" * filled + "." * (width - filled)
                sys.stderr.write(f"\r{desc} [{bar}] {count}/{total} {elapsed:.1f}s")
            else:
                sys.stderr.write(f"\r{desc} {count} {elapsed:.1f}s")
            sys.stderr.flush()
    elapsed = time.perf_counter() - start
    end = "\n" if live else ""
    sys.stderr.write(f"{end if live else ''}{desc} done: {count} steps in {elapsed:.1f}s\n")
    sys.stderr.flush()
