"""The tour report: the losses listed are those each experiment declares (no word matching),
the best row of the declared metric is marked, one number format per column, "-" for missing
values and for a standard deviation over one seed, and the page says quick or full."""

from __future__ import annotations

import re

import pytest

import visionloss as vl
from visionloss.cli import _report
from visionloss.experiments import (
    Experiment,
    ExperimentResult,
    column_formats,
    format_cells,
    list_experiments,
)

# the shipped experiments (other tests register throw-away ones named "_...")
EXPERIMENTS = [e for e in list_experiments() if not e.name.startswith("_")]


def _render(sections, quick=True) -> str:
    return _report.render(
        sections, env={"torch": "x"}, quick=quick, total_seconds=1.0, version=vl.__version__
    )


def _section_html(page: str, name: str) -> str:
    start = page.index(f'data-experiment="{name}"')
    return page[start : page.index("</section>", start)]


def _listed_losses(section: str) -> list[str]:
    if "Losses compared" not in section:
        return []
    table = section[section.index("Losses compared") :]
    return re.findall(r"<tr><td><code>([^<]+)</code>", table)


@pytest.mark.parametrize("exp", EXPERIMENTS, ids=[e.name for e in EXPERIMENTS])
def test_listed_losses_are_the_declared_ones(exp):
    assert exp.losses, f"{exp.name} declares no losses (register_experiment(losses=...))"
    for name in exp.losses:
        assert vl.get_loss(name).name == name  # registry names, not aliases
    # a result whose text names other losses (iou, focal): they are not listed
    result = ExperimentResult(
        title="FOCAL and iou in the title, focal in the notes",
        columns=["loss", "score"],
        rows=[["iou", 0.5], ["focal", 0.25]],
        notes="focal giou mse",
    )
    page = _render([_report.Section(exp, 1.0, result)])
    assert _listed_losses(_section_html(page, exp.name)) == list(exp.losses)


def test_existing_experiments_declare_a_metric():
    for exp in EXPERIMENTS:
        if exp.name in {
            "diou-simulation",
            "focal-imbalance",
            "forgery-contrast",
            "gan-2d",
            "segmentation-imbalance",
            "triplet-digits",
            "tv-denoise",
        }:
            assert exp.metric is not None and exp.metric[1] in ("max", "min"), exp.name


def _dummy(metric=("AP", "max"), baselines=()) -> Experiment:
    return Experiment(
        "dummy",
        "a dummy",
        "classification",
        lambda **_: None,
        losses=("focal",),
        metric=metric,
        baselines=baselines,
    )


@pytest.mark.parametrize(
    "metric, baselines, rows, best",
    [
        pytest.param(("AP", "max"), (), [["a", 0.5], ["b", 0.75], ["c", 0.6]], [1], id="max"),
        pytest.param(("AP", "min"), (), [["a", 0.5], ["b", 0.75], ["c", 0.6]], [0], id="min"),
        pytest.param(("AP", "max"), (), [["a", 0.75], ["b", 0.75]], [0, 1], id="tie"),
        pytest.param(
            ("AP", "max"), ("untrained",), [["untrained", 0.9], ["b", 0.75]], [1], id="baseline"
        ),
        pytest.param(("AP", "max"), (), [["a", float("nan")], ["b", 0.1]], [1], id="nan"),
        pytest.param(None, (), [["a", 0.5]], [], id="no-metric"),
    ],
)
def test_best_row_is_marked(metric, baselines, rows, best):
    exp = _dummy(metric, baselines)
    result = ExperimentResult(title="t", columns=["loss", "AP"], rows=rows)
    assert exp.best_rows(result) == best
    page = _render([_report.Section(exp, 1.0, result)])
    marked = page.count('<tr class="best">')
    assert marked == len(best)
    assert page.count('<span class="tag">best</span>') == len(best)


def test_one_format_per_column_and_no_nan_cells():
    columns = ["loss", "AP", "AP std", "count", "tiny", "big"]
    rows = [
        ["bce", 0.871, 0.0, 3, 1e-6, 150.0],
        ["focal", 0.95, 0.0, 12, 0.5, 12.5],
        ["new", float("nan"), 0.0, None, 0.25, 3.0],
    ]
    cells = format_cells(columns, rows)
    assert [r[1] for r in cells] == ["0.8710", "0.9500", "-"]
    assert [r[2] for r in cells] == ["-", "-", "-"]  # a std over one seed
    assert [r[3] for r in cells] == ["3", "12", "-"]
    assert [r[4] for r in cells] == ["1.000e-06", "5.000e-01", "2.500e-01"]
    assert [r[5] for r in cells] == ["150.00", "12.50", "3.00"]
    exp = _dummy()
    result = ExperimentResult(title="t", columns=columns, rows=rows)
    page = _render([_report.Section(exp, 1.0, result)])
    assert not re.search(r">\s*nan\s*<", page, re.I)
    assert "std 0.0000" not in page and ">0.0000<" not in page


def test_a_real_spread_keeps_its_numbers():
    cells = format_cells(["loss", "AP std"], [["a", 0.01], ["b", 0.0]])
    assert [r[1] for r in cells] == ["0.0100", "0.0000"]
    assert len(column_formats([["a", 1.0]])) == 2


@pytest.mark.parametrize("quick, text", [(True, "Quick mode."), (False, "Full mode.")])
def test_the_page_says_quick_or_full(quick, text):
    exp = _dummy()
    result = ExperimentResult(title="t", columns=["loss", "AP"], rows=[["a", 0.5]])
    page = _render([_report.Section(exp, 1.0, result)], quick=quick)
    assert text in page
    assert f"({'quick' if quick else 'full'} run)" in page
    if quick:
        assert "documentation" in page and "--quick" in page
