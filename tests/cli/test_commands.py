"""The ``visionloss`` command run as a subprocess: exit codes, tables, PNG files, the tour report
and the benchmark CSV."""

from __future__ import annotations

import csv
import re

import pytest
import torch

import visionloss

# Two tiny experiments registered only in the subprocess that runs the tour (never in the test
# process, where other tests list the experiments): one draws a figure, one raises.
DUMMY_EXPERIMENTS = """
from visionloss.experiments import ExperimentResult, register_experiment
from visionloss.experiments._common import pyplot, save_figure

@register_experiment("tour-dummy-ok", summary="a tiny experiment that draws one figure",
                     family="regression", reference="none", losses=("mse", "smooth_l1"),
                     metric=("score", "max"))
def _ok(quick, out, **options):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1, 2], [2, 0, 1])
    return ExperimentResult(title="dummy comparison of mse and smooth_l1",
                            columns=["loss", "score"], rows=[["mse", 0.5], ["smooth_l1", 0.75]],
                            figures=[save_figure(fig, out / "dummy.png")],
                            notes="quick" if quick else "full")

@register_experiment("tour-dummy-fails", summary="a tiny experiment that raises",
                     family="regression")
def _fails(quick, out, **options):
    raise RuntimeError("dummy failure for the tour test")
"""


def test_help_lists_every_command(cli):
    proc = cli("--help")
    assert proc.returncode == 0, proc.stderr
    for command in ("list", "show", "plot", "bench", "experiment", "tour", "env"):
        assert command in proc.stdout


def test_list_prints_every_registered_loss(cli):
    proc = cli("list", "--width", "240")  # wide enough for every column (narrow: test_front_door)
    assert proc.returncode == 0, proc.stderr
    names = {line.split()[0] for line in proc.stdout.splitlines()[2:] if line.strip()}
    specs = visionloss.list_losses()
    assert {s.name for s in specs} <= names
    assert f"{len(specs)} losses" in proc.stdout
    assert re.match(r"name\s+family\s+formula\s+reference", proc.stdout)


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("show", "smoth_l1"), id="show"),
        pytest.param(("plot", "smoth_l1", "-o", "unused.png"), id="plot"),
        pytest.param(("bench", "--loss", "smoth_l1"), id="bench"),
    ],
)
def test_unknown_loss_exits_2_with_close_matches(cli, args):
    proc = cli(*args)
    assert proc.returncode == 2
    assert "unknown loss 'smoth_l1'" in proc.stderr
    assert "did you mean 'smooth_l1'" in proc.stderr


def test_unknown_experiment_in_tour_exits_2(cli, tmp_path):
    proc = cli("tour", "--only", "no-such-experiment", "--out", str(tmp_path))
    assert proc.returncode == 2
    assert "unknown experiment 'no-such-experiment'" in proc.stderr


def test_plot_writes_a_png_that_is_not_blank(cli, tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    out = tmp_path / "curves.png"
    proc = cli("plot", "l1", "mse", "smooth_l1", "huber", "--grad", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {out} (4 curves)" in proc.stdout
    image = plt.imread(out)
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 200
    assert float(image[..., :3].var()) > 0.0


def test_plot_gives_a_one_line_reason_and_exit_1_when_nothing_fits(cli, tmp_path):
    out = tmp_path / "none.png"
    proc = cli("plot", "l1", "--against", "iou", "-o", str(out))
    assert proc.returncode == 1
    assert "skipped l1: no 'iou' probe for l1 (it has: error)" in proc.stdout
    assert not out.exists()


def _one_line(proc) -> str:
    """The single line a user error prints on stderr (no usage dump, no traceback)."""
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_env_prints_versions_and_devices(cli):
    proc = cli("env")
    assert proc.returncode == 0, proc.stderr
    rows = dict(line.split(None, 1) for line in proc.stdout.splitlines() if line.strip())
    assert rows["torch"].strip() == torch.__version__
    assert rows["python"].strip()[0].isdigit()
    assert "cuda" in rows


def test_list_family_prints_only_that_family(cli):
    proc = cli("list", "--family", "regression")
    assert proc.returncode == 0, proc.stderr
    names = {line.split()[0] for line in proc.stdout.splitlines()[2:-2] if line.strip()}
    expected = {s.name for s in visionloss.list_losses("regression")}
    assert names == expected
    assert f"{len(expected)} losses" in proc.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        pytest.param(
            ("list", "--family", "segmentaton"),
            "visionloss list: argument --family: unknown family 'segmentaton'; "
            "did you mean 'segmentation'?",
            id="list-family",
        ),
        pytest.param(
            ("bench", "--family", "segmentaton"),
            "visionloss bench: argument --family: unknown family 'segmentaton'; "
            "did you mean 'segmentation'?",
            id="bench-family",
        ),
        pytest.param(
            ("plot", "--family", "segmentaton", "-o", "unused.png"),
            "visionloss plot: argument --family: unknown family 'segmentaton'; "
            "did you mean 'segmentation'?",
            id="plot-family",
        ),
        pytest.param(
            ("lst",),
            "visionloss: unknown command 'lst'; did you mean 'list'?",
            id="command",
        ),
        pytest.param(
            ("experiment", "focal-imbalanse"),
            "visionloss experiment: unknown experiment 'focal-imbalanse'; "
            "did you mean 'focal-imbalance'",
            id="experiment",
        ),
        pytest.param(
            ("bench", "--repeat", "0"),
            "visionloss bench: argument --repeat: expected an integer >= 1, got 0",
            id="bench-repeat",
        ),
        pytest.param(
            ("plot", "l1"),
            "visionloss plot: the following arguments are required: -o/--output",
            id="plot-missing-output",
        ),
    ],
)
def test_unknown_names_and_bad_arguments_are_one_line_with_close_matches(cli, args, message):
    proc = cli(*args)
    assert proc.returncode == 2
    assert _one_line(proc).startswith(message)


def test_experiment_help_lists_its_own_options(cli):
    proc = cli("experiment", "focal-imbalance", "--help")
    assert proc.returncode == 0, proc.stderr
    assert "usage: visionloss experiment focal-imbalance" in proc.stdout
    for option in ("--quick", "--out", "--epochs", "--seeds", "--positive"):
        assert option in proc.stdout


def test_experiment_list_names_every_experiment(cli):
    from visionloss.experiments import list_experiments

    proc = cli("experiment", "--list")
    assert proc.returncode == 0, proc.stderr
    names = {line.split()[0] for line in proc.stdout.splitlines()[2:] if line.strip()}
    assert {e.name for e in list_experiments() if not e.name.startswith("_")} <= names


@pytest.mark.parametrize(
    "args, message",
    [
        # the experiment's own check, before any training
        pytest.param(
            ("--epochs", "0"),
            "visionloss experiment: focal-imbalance: expected epochs >= 1",
            id="value",
        ),
        # argparse's check of the declared choices
        pytest.param(
            ("--positive", "11"),
            "visionloss experiment focal-imbalance: argument --positive: invalid choice: 11",
            id="choice",
        ),
        pytest.param(
            ("--nope",),
            "visionloss experiment focal-imbalance: unrecognized arguments: --nope",
            id="unknown-option",
        ),
    ],
)
def test_experiment_bad_option_is_one_line_exit_2(cli, tmp_path, args, message):
    proc = cli("experiment", "focal-imbalance", "--quick", "--out", str(tmp_path), *args)
    assert proc.returncode == 2
    assert _one_line(proc).startswith(message)
    assert not (tmp_path / "results.json").exists()


def test_experiment_output_folder_that_cannot_be_created_is_one_line(cli, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    proc = cli("experiment", "focal-imbalance", "--quick", "--out", str(blocker / "sub"))
    assert proc.returncode == 2
    assert _one_line(proc).startswith(f"visionloss experiment: --out {blocker / 'sub'}: ")


@pytest.mark.parametrize(
    "args, message",
    [
        pytest.param(
            ("l1", "-o", "/nonexistent-visionloss/dir/x.png"),
            "visionloss plot: -o /nonexistent-visionloss/dir/x.png: the folder "
            "/nonexistent-visionloss/dir does not exist",
            id="missing-folder",
        ),
        pytest.param(
            ("l1", "-o", "{tmp}/x.pngg"),
            "visionloss plot: -o {tmp}/x.pngg: unknown image format '.pngg'",
            id="format",
        ),
        pytest.param(
            ("huber", "--set", "delta=-1", "-o", "{tmp}/x.png"),
            "visionloss plot: huber: delta=-1 rejected (ValueError: huber_loss: "
            "expected delta > 0, got -1)",
            id="rejected-value",
        ),
        pytest.param(
            ("huber", "--sweep", "delta=1,-1", "-o", "{tmp}/x.png"),
            "visionloss plot: huber: delta=-1 rejected",
            id="rejected-sweep-value",
        ),
        pytest.param(
            ("--family", "classification", "--set", "gama=2", "-o", "{tmp}/x.png"),
            "visionloss plot: unknown option 'gama' for ",
            id="unknown-option",
        ),
    ],
)
def test_plot_user_errors_are_one_line_exit_2(cli, tmp_path, args, message):
    proc = cli("plot", *(a.format(tmp=tmp_path) for a in args))
    assert proc.returncode == 2
    line = _one_line(proc)
    assert line.startswith(message.format(tmp=tmp_path))
    if "gama" in args:
        assert "did you mean 'gamma'?" in line
    assert not list(tmp_path.glob("*.png*"))


def test_plot_option_of_some_losses_only_is_noted_for_the_others(cli, tmp_path):
    out = tmp_path / "beta.png"
    proc = cli("plot", "l1", "smooth_l1", "--set", "beta=0.5", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "note: l1 does not take beta; drawn without" in proc.stdout
    assert f"wrote {out} (2 curves)" in proc.stdout


def test_a_genuine_bug_keeps_its_traceback(cli):
    # a ValueError that is not about what the user typed is a bug: traceback, exit 1
    prelude = (
        "import visionloss.cli.list_cmd as m\n"
        "def run(args):\n    raise ValueError('internal inconsistency')\n"
        "m.run = run"
    )
    proc = cli("list", prelude=prelude)
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr
    assert "ValueError: internal inconsistency" in proc.stderr


def test_plot_rejects_a_malformed_option(cli, tmp_path):
    proc = cli("plot", "huber", "--set", "delta", "-o", str(tmp_path / "x.png"))
    assert proc.returncode == 2
    assert "--set: expected OPTION=VALUE, got 'delta'" in proc.stderr


def test_tour_writes_one_report_with_a_section_per_experiment(cli, tmp_path):
    proc = cli(
        "tour",
        "--quick",
        "--jobs",  # the dummies are registered in this process only: no worker processes
        "1",
        "--only",
        "tour-dummy-ok",
        "--out",
        str(tmp_path),
        prelude=DUMMY_EXPERIMENTS,
    )
    assert proc.returncode == 0, proc.stderr
    report = tmp_path / "report.html"
    assert f"report: {report.resolve()}" in proc.stdout
    page = report.read_text()
    assert page.count('<section id="exp-') == 1
    assert '<section id="exp-tour-dummy-ok" class="experiment"' in page
    assert "data:image/png;base64," in page  # the figure is embedded, not linked
    assert "dummy comparison of mse and smooth_l1" in page
    assert "<code>(x - y)^2</code>" in page  # mse's formula: the losses it declares
    assert 'id="environment"' in page and torch.__version__ in page
    assert (tmp_path / "tour-dummy-ok" / "results.json").is_file()


def test_tour_shows_a_failing_experiment_and_exits_non_zero(cli, tmp_path):
    proc = cli(
        "tour",
        "--quick",
        "--jobs",  # the dummies are registered in this process only: no worker processes
        "1",
        "--only",
        "tour-dummy-fails,tour-dummy-ok",
        "--out",
        str(tmp_path),
        prelude=DUMMY_EXPERIMENTS,
    )
    assert proc.returncode == 1
    assert "1 experiment(s) failed: tour-dummy-fails" in proc.stdout
    page = (tmp_path / "report.html").read_text()
    assert page.count('<section id="exp-') == 2
    assert '<section id="exp-tour-dummy-fails" class="experiment error"' in page
    assert "RuntimeError: dummy failure for the tour test" in page
    assert '<section id="exp-tour-dummy-ok" class="experiment"' in page


def test_bench_writes_a_csv_and_prints_a_table(cli, tmp_path):
    out = tmp_path / "bench.csv"
    proc = cli(
        "bench",
        "--family",
        "regression",
        "--device",
        "cpu",
        "--quick",
        "--warmup",
        "1",
        "--repeat",
        "3",
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"loss\s+impl\s+shape\s+dtype\s+p50 ms", proc.stdout)
    assert f"csv: {out}" in proc.stdout
    with out.open() as f:
        rows = list(csv.DictReader(f))
    losses = {s.name for s in visionloss.list_losses("regression")}
    assert {r["loss"] for r in rows} == losses
    assert {r["implementation"] for r in rows} == {"ours", "torch"}
    for row in rows:
        assert row["device"].startswith("cpu") and row["dtype"] == "float32"
        assert 0 < float(row["p20_ms"]) <= float(row["p50_ms"]) <= float(row["p80_ms"])
        assert row["peak_extra_mib"] == ""  # not measured on the CPU (documented)
        assert float(row["floor_ms"]) > 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_bench_on_cuda_without_a_gpu_exits_2(cli):
    proc = cli("bench", "--device", "cuda")
    assert proc.returncode == 2
    assert "torch sees no CUDA device" in proc.stderr
