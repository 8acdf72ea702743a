"""Moved to :mod:`visionloss.bench.check_cost` (shipped with the package); kept as a thin wrapper so
``python -m benchmarks.check_cost`` and ``from benchmarks.check_cost import ...`` still work."""

from __future__ import annotations

import sys

from visionloss.bench.check_cost import *  # noqa: F403
from visionloss.bench.check_cost import __dict__ as _moved

globals().update({k: v for k, v in _moved.items() if not k.startswith("__")})

if __name__ == "__main__":
    sys.exit(_moved["main"]())
