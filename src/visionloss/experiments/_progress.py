"""Progress bars of the experiments, the tour and the benchmarks: tqdm, on stderr.

A bar is drawn only when stderr is a terminal or ``VISIONLOSS_PROGRESS=1``, so logs and the
one-line errors of the command line stay clean. tqdm comes with the ``experiments`` extra;
without it the items are yielded with no bar.

The bar names what it counts (``unit``): "runs" (one training run per loss or setting, the
default), "steps" when the items are a ``range`` of step indices, or what the caller says
("experiments", "losses", "chunks").
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def progress(
    items: Iterable[T], *, total: int | None = None, desc: str = "", unit: str | None = None
) -> Iterator[T]:
    """Yield ``items`` while tqdm draws ``desc``, the count and ``unit`` on stderr (see the
    module)."""
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - without the experiments extra: no bar
        yield from items
        return
    if unit is None:
        unit = "steps" if isinstance(items, range) else "runs"
    live = sys.stderr.isatty() or os.environ.get("VISIONLOSS_PROGRESS") == "1"
    yield from tqdm(
        items, total=total, desc=desc, unit=f" {unit}", disable=not live, file=sys.stderr
    )
