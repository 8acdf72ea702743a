"""The command line as a newcomer meets it: --version, env (fast, its own version), show by
any name in plain text, list fitted to the terminal, progress units, core-count defaults."""

from __future__ import annotations

import re

import pytest

import visionloss
from visionloss.cli._text import latex_to_text, rst_to_text
from visionloss.cli.main import main


def test_version(cli):
    proc = cli("--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"visionloss {visionloss.__version__}"


def test_env_names_visionloss_and_imports_no_peer(cli):
    # the peers' versions come from their metadata: importing MONAI, kornia or scikit-learn
    # took seconds (7.7 s for env before); the command costs about `import visionloss`
    code = (
        "import sys, io, contextlib\nfrom visionloss.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out: main(['env'])\n"
        "print(out.getvalue())\n"
        "print('imported:', sorted(m for m in ('monai', 'kornia', 'sklearn', "
        "'segmentation_models_pytorch', 'pytorch_metric_learning', 'matplotlib', 'timm') "
        "if m in sys.modules))"
    )
    proc = cli(prelude=code + "\nsys.exit(0)")
    assert proc.returncode == 0, proc.stderr
    assert re.search(rf"^visionloss\s+{re.escape(visionloss.__version__)}$", proc.stdout, re.M)
    assert "imported: []" in proc.stdout


@pytest.mark.parametrize(
    "name, registry",
    [
        pytest.param("ciou_loss", "ciou", id="function-name"),
        pytest.param("DiceLoss", "dice", id="class-name"),
        pytest.param("DiceCELoss", "dice_ce", id="class-name-acronym"),
        pytest.param("simclr", "nt_xent", id="alias"),
    ],
)
def test_show_by_any_name_in_plain_text(capsys, name, registry):
    assert main(["show", name]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{registry}  (")
    for markup in (".. math::", ":func:", ":class:", ":math:", "``", "\\frac", "\\tau"):
        assert markup not in out, markup
    assert "TorchScript: not supported" in out


def test_show_in_a_subprocess_renders_the_formula_as_text(cli):
    proc = cli("show", "NTXentLoss")
    assert proc.returncode == 0, proc.stderr
    assert "ℓ_i,j = -log(" in proc.stdout and "τ" in proc.stdout
    assert "Σ_(k=1)^2N" in proc.stdout


@pytest.mark.parametrize(
    "tex, text",
    [
        pytest.param(r"\frac{a}{b}", "a / b", id="frac"),
        pytest.param(r"\frac{1}{2N}\sum_{i=1}^{N} x_i", "1 / 2N Σ_(i=1)^N x_i", id="sum"),
        pytest.param(r"-\log \frac{e^{s}}{Z}", "-log(e^s / Z)", id="log-frac"),
        pytest.param(r"\sqrt{x^2 + \epsilon^2}", "√(x^2 + ε^2)", id="sqrt"),
        pytest.param(r"\lVert a - b \rVert_2", "‖ a - b ‖_2", id="norm"),
        pytest.param(r"\text{if } x \le \tau", "if x ≤ τ", id="text"),
        pytest.param(r"\unknowncmd{x}", "unknowncmdx", id="unknown-kept"),
    ],
)
def test_latex_to_text(tex, text):
    assert latex_to_text(tex) == text


def test_rst_to_text_roles_and_blocks():
    doc = "Sum.\n\n.. math::\n    \\ell = x^2\n\nSee :func:`~visionloss.dice_loss` and ``y``,\n:math:`\\alpha\n+ 1`."
    assert rst_to_text(doc) == "Sum.\n\n    ℓ = x^2\n\nSee dice_loss and y,\nα + 1.\n"


@pytest.mark.parametrize("width", [60, 100, 160])
def test_list_fits_the_terminal_width(capsys, width):
    assert main(["list", "--width", str(width)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= width
    names = {line.split()[0] for line in lines[2:] if line.strip()}
    assert {s.name for s in visionloss.list_losses()} <= names


def test_list_reads_the_terminal_width_from_columns(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "72")
    proc = cli("list", "--family", "boxes")
    assert max(len(line) for line in proc.stdout.splitlines()) <= 72


def test_progress_says_what_it_counts(monkeypatch, capsys):
    from visionloss.experiments._progress import progress

    monkeypatch.setenv("VISIONLOSS_PROGRESS", "1")
    list(progress(["a", "b"], desc="demo"))
    list(progress(range(3), desc="train"))
    list(progress([1], desc="tour", unit="experiments"))
    err = capsys.readouterr().err
    assert re.search(r"demo: .*2/2 .*runs", err)
    assert re.search(r"train: .*3/3 .*steps", err)
    assert re.search(r"tour: .*1/1 .*experiments", err)


def test_jobs_and_threads_default_to_the_cores(monkeypatch):
    from visionloss.cli import tour
    from visionloss.cli.main import build_parser
    from visionloss.experiments import _common

    monkeypatch.setattr(_common, "cores", lambda: 12)
    monkeypatch.delenv("VISIONLOSS_THREADS", raising=False)
    assert _common.default_threads() == 12
    monkeypatch.setattr(tour, "cores", lambda: 12)
    args = build_parser().parse_args(["tour"])
    assert args.jobs == 12
    monkeypatch.setenv("VISIONLOSS_THREADS", "1")
    assert _common.default_threads() == 1
