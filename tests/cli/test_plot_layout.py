"""``visionloss plot``: panels in a grid, the options in force in the legends, the gradient
axis named after the x variable, a log / symlog y scale, progress on long runs."""

from __future__ import annotations

import pytest

from visionloss.cli import _probes, plot
from visionloss.cli.main import main
from visionloss.experiments import _common


@pytest.fixture
def figures(monkeypatch):
    """The matplotlib figures ``plot`` saves, kept open for inspection (nothing is written)."""
    saved = []

    def keep(fig, path):
        saved.append(fig)
        return path

    monkeypatch.setattr(_common, "save_figure", keep)
    monkeypatch.setattr(
        _probes.Axis,
        "grid",
        lambda self: [self.start + i * (self.stop - self.start) / 8 for i in range(9)],
    )
    yield saved
    _common.pyplot().close("all")


@pytest.mark.parametrize(
    "panels, shape",
    [(1, (1, 1)), (2, (1, 2)), (3, (1, 3)), (4, (2, 3)), (9, (3, 3)), (18, (6, 3))],
)
def test_grid_shape(panels, shape):
    assert plot.grid_shape(panels) == shape


def _visible(fig):
    return [ax for ax in fig.axes if ax.axison]


def test_gradient_panel_is_labelled_with_the_x_variable(figures, tmp_path):
    out = tmp_path / "iou.png"
    assert main(["plot", "ciou", "giou", "--against", "iou", "--grad", "-o", str(out)]) == 0
    (fig,) = figures
    loss_ax, grad_ax = _visible(fig)
    assert loss_ax.get_ylabel() == "loss" and grad_ax.get_ylabel() == "d loss / d IoU"
    assert grad_ax.get_title() == "gradient against iou"
    assert "IoU with the target box" in grad_ax.get_xlabel()


def test_grid_not_one_row(figures, tmp_path):
    out = tmp_path / "many.png"
    args = ["plot", "huber", "focal", "ciou", "batch_triplet", "info_nce", "--grad"]
    assert main([*args, "-o", str(out)]) == 0
    (fig,) = figures
    visible = _visible(fig)
    assert len(visible) == 10  # five axes, loss and gradient each
    rows = {round(ax.get_position().y0, 3) for ax in visible}
    columns = {round(ax.get_position().x0, 3) for ax in visible}
    assert len(columns) == plot.MAX_COLUMNS and len(rows) == 4


def test_legends_show_the_options_in_force(figures, tmp_path):
    out = tmp_path / "legend.png"
    assert main(["plot", "focal", "info_nce", "nt_xent", "-o", str(out), "--set", "gamma=1"]) == 0
    labels = {
        t.get_text()
        for ax in figures[0].axes
        if ax.get_legend()
        for t in ax.get_legend().get_texts()
    }
    assert "focal (alpha=0.25, gamma=1)" in labels
    assert "info_nce (temperature=0.07)" in labels and "nt_xent (temperature=0.5)" in labels


def test_a_single_focal_sweep_names_gamma_first(figures, tmp_path):
    assert main(["plot", "focal", "-o", str(tmp_path / "f.png")]) == 0
    labels = [t.get_text() for t in figures[0].axes[0].get_legend().get_texts()]
    assert labels[0] == "focal (gamma=0, alpha=None)"


@pytest.mark.parametrize(
    "scale, loss_scale, grad_scale",
    [
        ("linear", "linear", "linear"),
        ("log", "log", "symlog"),
        ("symlog", "symlog", "symlog"),
    ],
)
def test_scale(figures, tmp_path, scale, loss_scale, grad_scale):
    out = tmp_path / "s.png"
    assert main(["plot", "mse", "--grad", "--scale", scale, "-o", str(out)]) == 0
    loss_ax, grad_ax = _visible(figures[0])
    # mse reaches 0 at d = 0 on this grid: log falls back to symlog there
    expected = "symlog" if scale == "log" else loss_scale
    assert loss_ax.get_yscale() == expected and grad_ax.get_yscale() == grad_scale


def test_log_scale_of_a_positive_loss(figures, tmp_path):
    assert main(["plot", "focal", "--scale", "log", "-o", str(tmp_path / "l.png")]) == 0
    assert _visible(figures[0])[0].get_yscale() == "log"


def test_progress_on_long_runs(figures, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VISIONLOSS_PROGRESS", "1")
    assert main(["plot", "--family", "regression", "-o", str(tmp_path / "r.png")]) == 0
    err = capsys.readouterr().err
    assert "plot: " in err and "losses" in err
