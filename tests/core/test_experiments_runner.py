"""The experiment runner: registration, result table, JSON, CLI options."""

from __future__ import annotations

import json

import pytest

from visionloss import experiments as ex
from visionloss.cli.main import main


@ex.register_experiment(
    "_runner-test",
    summary="a dummy experiment for the runner's tests",
    family="regression",
    arguments=[(("--scale",), {"type": float, "default": 1.0})],
)
def _dummy(quick, out, scale=1.0):
    (out / "fig.png").write_bytes(b"png")
    return ex.ExperimentResult(
        title="dummy",
        columns=["quick", "value"],
        rows=[[quick, 2.5 * scale]],
        figures=[out / "fig.png"],
    )


def test_run_writes_json_and_prints_table(tmp_path, capsys):
    result = ex.run_experiment("_runner-test", quick=True, out=tmp_path, scale=2.0)
    assert result.rows == [[True, 5.0]]
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["rows"] == [[True, 5.0]] and data["figures"] == [str(tmp_path / "fig.png")]
    printed = capsys.readouterr().out
    assert "quick  value" in printed and "5.0000" in printed


def test_cli_passes_experiment_options(tmp_path, capsys):
    assert (
        main(["experiment", "_runner-test", "--quick", "--out", str(tmp_path), "--scale", "4"]) == 0
    )
    assert json.loads((tmp_path / "results.json").read_text())["rows"] == [[True, 10.0]]


def test_cli_unknown_experiment_exit_2(capsys):
    assert main(["experiment", "_runner-tst"]) == 2
    assert "did you mean '_runner-test'" in capsys.readouterr().err


def test_cli_bad_experiment_option_exit_2(capsys):
    assert main(["experiment", "_runner-test", "--nope"]) == 2


def test_cli_list_show_env(capsys):
    assert main(["list", "--family", "regression"]) == 0
    out = capsys.readouterr().out
    assert "smooth_l1" in out and "Girshick" in out
    assert main(["show", "huber"]) == 0
    assert "delta" in capsys.readouterr().out
    assert main(["show", "hubr"]) == 2
    assert main(["env"]) == 0
    assert "torch" in capsys.readouterr().out
    assert main(["experiment", "--list"]) == 0
    assert "_runner-test" in capsys.readouterr().out


def test_duplicate_experiment_rejected():
    with pytest.raises(ValueError, match="already registered"):
        ex.register_experiment("_runner-test", summary="", family="regression")(_dummy)


def test_format_table_aligns():
    text = ex.format_table(["a", "bb"], [[1, 0.5], ["long", 1e-6]])
    lines = text.splitlines()
    assert lines[0] == "a     bb" and lines[3].endswith("1.000e-06")
