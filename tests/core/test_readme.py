"""The README stays true: its loss table matches the registry, its intro is three sentences, its
quick start is two commands, and what it tells contributors to run exists on any clone."""

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


def _intro(text: str) -> str:
    """The prose between the title and the first section."""
    body = text.split("\n", 1)[1]
    return " ".join(body.split("\n## ", 1)[0].split())


def test_intro_is_three_sentences_saying_what_visionloss_is():
    intro = _intro((ROOT / "README.md").read_text())
    # a sentence ends with . ! or ? followed by a space and a capital (not "torch.nn," or "e.g.")
    sentences = re.split(r"(?<=[.!?])\s+(?=[A-Z])", intro)
    assert len(sentences) == 3, sentences
    assert all(s.endswith(".") for s in sentences), sentences
    assert sentences[0].startswith("visionloss is a PyTorch library")


def test_make_targets_named_in_readme_exist():
    text = (ROOT / "README.md").read_text()
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([A-Za-z][\w-]*):", makefile, re.M))
    named = set(re.findall(r"`make ([a-z][\w-]*)", text)) | set(
        re.findall(r"^make ([a-z][\w-]*)$", text, re.M)
    )
    assert {"demo", "test", "lint"} <= named
    assert named <= targets, named - targets


def test_contributing_names_only_commands_any_contributor_has():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Contributing", 1)[1]
    commands = re.findall(r"`([^`]+)`", section)
    runnable = [c for c in commands if c.split()[0] in ("make", "python", "pytest", "ruff")]
    assert "make lint" in runnable and "make test" in runnable
    assert "duplicates" not in section  # a tool of one development machine, not of a clone
