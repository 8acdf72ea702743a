"""The README stays true: its loss table matches the registry, its quick start is two commands."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_loss_table_matches_registry():
    proc = subprocess.run(
        [sys.executable, "tools/readme_table.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_quick_start_is_exactly_two_commands():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Quick start\n+```(?:sh|bash)?\n(.*?)```", text, re.S)
    assert block, "README has no quick start code block"
    commands = [line for line in block.group(1).splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]


def test_usage_example_runs():
    text = (ROOT / "README.md").read_text()
    code = re.search(r"## Usage\n+```python\n(.*?)```", text, re.S).group(1)
    exec(compile(code, "README-usage", "exec"), {})
