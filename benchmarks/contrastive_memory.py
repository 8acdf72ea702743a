"""Moved to :mod:`visionloss.bench.contrastive_memory` (shipped with the package); kept as a thin wrapper so
``python -m benchmarks.contrastive_memory`` and ``from benchmarks.contrastive_memory import ...`` still work."""

from __future__ import annotations

import sys

from visionloss.bench.contrastive_memory import *  # noqa: F403
from visionloss.bench.contrastive_memory import __dict__ as _moved

globals().update({k: v for k, v in _moved.items() if not k.startswith("__")})

if __name__ == "__main__":
    sys.exit(_moved["main"]())
