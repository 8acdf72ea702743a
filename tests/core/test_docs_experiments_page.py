"""The docs' experiments page reads the results where the commands it names write them: the hint
it gives for an experiment without results, run from the repository root, makes them appear."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

from visionloss import experiments as ex
from visionloss.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
NAME = "_docs-page-test"


@ex.register_experiment(NAME, summary="a dummy experiment for the docs page", family="regression")
def _dummy(quick, out):
    return ex.ExperimentResult(title="dummy title", columns=["loss", "AP"], rows=[["focal", 0.5]])


@pytest.fixture
def gen(tmp_path, monkeypatch):
    """docs/gen_pages.py with its repository root at ``tmp_path`` and no $VISIONLOSS_RESULTS."""
    spec = importlib.util.spec_from_file_location("_gen_pages_test", ROOT / "docs" / "gen_pages.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "ROOT", tmp_path)
    monkeypatch.delenv("VISIONLOSS_RESULTS", raising=False)
    return module


def _section(text: str) -> str:
    return text.split(f"## {NAME}\n", 1)[1].split("\n## ", 1)[0]


def test_the_hint_names_the_command_and_the_folder_the_page_reads(gen):
    text, _ = gen.experiments_page()
    hint = _section(text)
    assert f"`visionloss experiment {NAME} --quick` (it writes `out/{NAME}/`)" in hint
    assert "`visionloss tour --quick` (it writes `tour-report/`)" in hint


@pytest.mark.parametrize(
    "argv, folder",
    [
        pytest.param(["experiment", NAME, "--quick"], f"out/{NAME}", id="experiment"),
        pytest.param(
            ["tour", "--quick", "--jobs", "1", "--only", NAME], f"tour-report/{NAME}", id="tour"
        ),
    ],
)
def test_following_the_hint_from_the_root_puts_the_results_on_the_page(
    gen, tmp_path, monkeypatch, capsys, argv, folder
):
    monkeypatch.chdir(tmp_path)  # the repository root of the generator
    assert main(argv) == 0
    text, _ = gen.experiments_page()
    section = _section(text)
    assert "No results here yet" not in section
    assert "**dummy title** (quick run, " in section
    assert f"from `{folder}/results.json`" in section
    assert "| focal | 0.5000 |" in section


def test_the_newer_of_the_two_folders_wins(gen, tmp_path):
    for folder, title, age in (("out", "old", 100), ("tour-report", "new", 0)):
        path = tmp_path / folder / NAME / "results.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"title": title, "columns": [], "rows": [], "quick": False}))
        os.utime(path, (path.stat().st_atime - age, path.stat().st_mtime - age))
    section = _section(gen.experiments_page()[0])
    assert "**new** (full run, " in section and "**old**" not in section
