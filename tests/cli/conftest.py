"""Run the ``visionloss`` command in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_cli(
    *args: str, prelude: str = "", cwd: Path = ROOT, timeout: float = 120
) -> subprocess.CompletedProcess:
    """``python -m visionloss ARGS`` (or, with ``prelude``, that code then ``main(ARGS)``)."""
    env = {**os.environ, "MPLBACKEND": "Agg", "NO_MKDOCS_2_WARNING": "1"}
    env.pop("VISIONLOSS_PROGRESS", None)
    if prelude:
        code = (
            f"{prelude}\nimport sys\nfrom visionloss.cli.main import main\n"
            "sys.exit(main(sys.argv[1:]))"
        )
        cmd = [sys.executable, "-c", code, *args]
    else:
        cmd = [sys.executable, "-m", "visionloss", *args]
    return subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env=env,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def cli():
    return run_cli
