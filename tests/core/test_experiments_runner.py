"""The experiment runner: registration, result table, JSON, CLI options."""

from __future__ import annotations

import json

import pytest

from visionloss import errors
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


# An experiment that checks its option the house way (an ExperimentError naming it, before any
# work), and two kinds of bug: a ValueError from Python itself, and one that carries the
# experiment's name but is a plain ValueError from another module (the type counts, not the text).
_ELSEWHERE: dict = {"__name__": "not_the_experiment_module"}
exec(  # a function whose frame belongs to another module
    "def deep():\n    raise ValueError('_runner-check: raised by a library it calls')\n",
    _ELSEWHERE,
)


@ex.register_experiment(
    "_runner-check",
    summary="a dummy experiment that validates its option",
    family="regression",
    arguments=[
        (("--scale",), {"type": float, "default": 1.0}),
        (("--mode",), {"default": "ok"}),
    ],
)
def _checking(quick, out, scale=1.0, mode="ok"):
    if scale <= 0:
        raise errors.ExperimentError(f"_runner-check: expected scale > 0, got {scale}")
    if mode == "bug":
        int("not a number")  # a ValueError that is nobody's option
    if mode == "deep":
        _ELSEWHERE["deep"]()
    return ex.ExperimentResult(title="check", columns=["scale"], rows=[[scale]])


def test_a_rejected_option_is_an_experiment_option_error(tmp_path):
    with pytest.raises(ex.ExperimentOptionError, match=r"^_runner-check: expected scale > 0") as e:
        ex.run_experiment("_runner-check", out=tmp_path, scale=-1.0)
    assert isinstance(e.value, ValueError)  # callers catching ValueError still do
    assert isinstance(e.value, errors.VisionLossError)  # the command line dispatches on the type


@pytest.mark.parametrize(
    "mode", [pytest.param("bug", id="python"), pytest.param("deep", id="deep")]
)
def test_other_value_errors_stay_bugs(tmp_path, mode):
    with pytest.raises(ValueError) as e:
        ex.run_experiment("_runner-check", out=tmp_path, mode=mode)
    assert not isinstance(e.value, ex.ExperimentOptionError)


def test_cli_rejected_option_is_one_line_exit_2(tmp_path, capsys):
    assert main(["experiment", "_runner-check", "--out", str(tmp_path), "--scale", "-1"]) == 2
    err = capsys.readouterr().err
    assert err == "visionloss experiment: _runner-check: expected scale > 0, got -1.0\n"


def test_cli_bug_keeps_its_traceback(tmp_path):
    with pytest.raises(ValueError, match="invalid literal"):
        main(["experiment", "_runner-check", "--out", str(tmp_path), "--mode", "bug"])


def test_cli_bad_argument_value_is_one_line(capsys):
    assert main(["experiment", "_runner-check", "--scale", "big"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "usage:" not in err
    assert err.startswith("visionloss experiment _runner-check: argument --scale: invalid float")


@pytest.mark.parametrize(
    "argv, message",
    [
        pytest.param(
            ["lst"], "visionloss: unknown command 'lst'; did you mean 'list'?", id="command"
        ),
        pytest.param(
            ["list", "--family", "segmentaton"],
            "visionloss list: argument --family: unknown family 'segmentaton'; "
            "did you mean 'segmentation'?",
            id="family",
        ),
    ],
)
def test_cli_unknown_names_are_one_line_with_close_matches(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(message)
