"""Moved to :mod:`visionloss.bench.runner` (shipped with the package); kept as a thin wrapper so
``python -m benchmarks.runner`` and ``from benchmarks.runner import ...`` still work."""

from __future__ import annotations

import sys

from visionloss.bench.runner import *  # noqa: F403
from visionloss.bench.runner import __dict__ as _moved

globals().update({k: v for k, v in _moved.items() if not k.startswith("__")})

if __name__ == "__main__":
    sys.exit(_moved["main"]())
