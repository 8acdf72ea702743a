"""The focal-imbalance experiment (``make demo``), at its smallest size."""

from __future__ import annotations

import json

import pytest

from visionloss import experiments as ex
from visionloss.cli.main import main

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")


def test_runs_and_writes_table_json_and_png(tmp_path, capsys):
    result = ex.run_experiment("focal-imbalance", quick=True, out=tmp_path, epochs=1, seeds=1)
    names = [row[0] for row in result.rows]
    assert names[:2] == ["BCE", names[1]] and names[1].startswith("BCE, pos_weight=")
    assert sum(name.startswith("focal") for name in names) == 4
    for _, ap, ap_std, recall, precision in result.rows:
        assert 0.0 < ap <= 1.0 and ap_std == 0.0 and 0 <= recall <= 1 and 0 <= precision <= 1
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["data"]["epochs"] == 1 and len(data["data"]["per_seed"]["BCE"]) == 1
    assert 0.05 < data["data"]["test_positive_rate"] < 0.15  # about 1 in 10
    png = tmp_path / "pr_curves.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "recall@0.5" in printed and "focal gamma=2" in printed


def test_is_deterministic(tmp_path):
    a = ex.run_experiment("focal-imbalance", out=tmp_path / "a", epochs=1, seeds=1, verbose=False)
    b = ex.run_experiment("focal-imbalance", out=tmp_path / "b", epochs=1, seeds=1, verbose=False)
    assert a.rows == b.rows


def test_cli_options_and_bad_values(tmp_path, capsys):
    assert (
        main(
            [
                "experiment",
                "focal-imbalance",
                "--quick",
                "--out",
                str(tmp_path),
                "--epochs",
                "1",
                "--seeds",
                "1",
                "--positive",
                "3",
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "results.json").read_text())["data"]["positive_digit"] == 3
    assert main(["experiment", "focal-imbalance", "--positive", "12"]) == 2
    with pytest.raises(ValueError, match="epochs >= 1"):
        ex.run_experiment("focal-imbalance", out=tmp_path, epochs=0, verbose=False)
