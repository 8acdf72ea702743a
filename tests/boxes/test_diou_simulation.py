"""The ``diou-simulation`` experiment: its data match the authors' script, its paper mode is
their MATLAB code (checked against a line-by-line scalar transcription in tests/reference), and
a small run reproduces the paper's ordering."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import visionloss as vl
from tests.reference import boxes as ref
from visionloss.cli.main import main
from visionloss.experiments import diou_simulation as sim
from visionloss.experiments import run_experiment


def test_anchor_centres_use_matlabs_default_stream():
    # MATLAB's first rand after `rng default` is 0.8147236863931789 (then 0.9057919370756192)
    pts = sim.anchor_centres()
    assert pts.shape == (5000, 2)
    r = np.hypot(pts[:, 0] - 10, pts[:, 1] - 10)
    assert r[0] == pytest.approx(3 * math.sqrt(0.8147236863931789), abs=1e-12)
    assert r[1] == pytest.approx(3 * math.sqrt(0.9057919370756192), abs=1e-12)
    assert r.max() <= 3
    np.testing.assert_array_equal(sim.anchor_centres(7), pts[:7])


def test_cases_follow_the_authors_order():
    anchors, targets = sim.regression_cases(2)
    assert anchors.shape == targets.shape == (2 * 343, 4) and anchors.dtype == torch.float64
    a = anchors.reshape(2, 7, 7, 7, 4)
    t = targets.reshape(2, 7, 7, 7, 4)
    torch.testing.assert_close(t[..., 2] * t[..., 3], torch.ones(2, 7, 7, 7, dtype=torch.float64))
    assert (t[..., :2] == 10).all()
    assert t[0, 0, 0, 0, 2:].tolist() == [0.5, 2.0]  # 1:4 target first
    areas = (a[..., 2] * a[..., 3])[0, 0, :, 0]
    torch.testing.assert_close(areas, torch.tensor(sim.SCALES, dtype=torch.float64))
    torch.testing.assert_close(
        a[0, 0, 0, :, 2] / a[0, 0, 0, :, 3], t[0, :, 0, 0, 2] / t[0, :, 0, 0, 3]
    )


def test_learning_rate_schedule():
    assert [sim.learning_rate(s) for s in (1, 160, 161, 180, 181, 200)] == [
        0.1,
        0.1,
        0.01,
        0.01,
        0.001,
        0.001,
    ]


def _varied_cases(n: int = 400):
    g = torch.Generator().manual_seed(0)
    centre = 10 + (torch.rand(n, 2, generator=g, dtype=torch.float64) - 0.5) * 6
    wh = 0.2 + torch.rand(n, 2, generator=g, dtype=torch.float64) * 2.5
    wh[:20, 0] *= -1  # a few inverted boxes (their dIOU swaps edge derivatives)
    aspects = torch.tensor(sim.ASPECTS, dtype=torch.float64)
    gt_wh = aspects[torch.randint(0, 7, (n,), generator=g)]
    gt = torch.cat([torch.full((n, 2), 10.0, dtype=torch.float64), gt_wh], -1)
    return torch.cat([centre, wh], -1), gt


@pytest.mark.parametrize("loss", sim.PAPER_LOSSES)
def test_paper_directions_equal_the_matlab_transcription(loss):
    pred, gt = _varied_cases()
    ours = sim.paper_direction(loss)(pred, gt)
    expected = torch.tensor(
        [ref.matlab_direction(loss, p, g) for p, g in zip(pred, gt)], dtype=torch.float64
    )
    torch.testing.assert_close(ours, expected, rtol=1e-10, atol=1e-12)
    iou = torch.tensor(
        [ref.matlab_iou(p.tolist(), g.tolist()) for p, g in zip(pred, gt)], dtype=torch.float64
    )
    torch.testing.assert_close(sim.paper_iou(pred, gt), iou)


def test_paper_iou_direction_is_twice_the_exact_width_gradient():
    """Their dw = dr - dl is twice d IoU / dw (w enters as r = x + w/2, l = x - w/2)."""
    pred = torch.tensor([[10.3, 9.6, 1.4, 0.9]], dtype=torch.float64)
    gt = torch.tensor([[10.0, 10.0, 1.0, 1.0]], dtype=torch.float64)
    paper = sim.paper_direction("iou")(pred, gt)
    exact = sim.autograd_direction("iou")(pred, gt)  # -d(1 - IoU) = d IoU
    torch.testing.assert_close(paper[:, :2], exact[:, :2])
    torch.testing.assert_close(paper[:, 2:], 2 * exact[:, 2:])


def test_small_paper_run_reproduces_the_papers_ordering():
    anchors, targets = sim.regression_cases(4)
    final = {}
    for loss in sim.PAPER_LOSSES:
        curve, _ = sim.simulate(anchors, targets, sim.paper_direction(loss), sim.paper_iou)
        final[loss] = curve
    # IoU barely moves; GIoU ends far above DIoU and CIoU, which approach 0
    assert final["iou"][-1] > 0.8 * final["iou"][0]
    assert final["giou"][-1] > 20 * max(final["diou"][-1], final["ciou"][-1])
    assert final["diou"][-1] < 0.01 * final["diou"][0]
    assert final["ciou"][-1] < 0.01 * final["ciou"][0]


def test_autograd_mode_decreases_the_error_for_every_loss():
    anchors, targets = sim.regression_cases(1)
    for loss in ("giou", "diou", "ciou", "eiou", "siou", "cdiou", "mpdiou", "wiou"):
        curve, final = sim.simulate(
            anchors, targets, sim.autograd_direction(loss), sim._exact_iou, steps=40
        )
        assert np.isfinite(curve).all() and torch.isfinite(final).all()
        assert curve[-1] < (0.99 if loss == "mpdiou" else 0.9) * curve[0], loss


def test_run_writes_table_json_and_figures(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sim, "QUICK_POINTS", 2)
    result = run_experiment(
        "diou-simulation", quick=True, out=tmp_path, mode="paper", losses="iou,diou"
    )
    assert result.columns == ["loss", "E(1)", "E(20)", "E(40)", "E(160)", "E(200)", "sum_t E(t)"]
    assert [r[0] for r in result.rows] == ["iou", "diou"]
    assert all(f.exists() and f.stat().st_size > 0 for f in result.figures)
    data = json.loads((tmp_path / "results.json").read_text())
    assert len(data["data"]["curves"]["diou"]) == 200 and data["data"]["cases"] == 686
    assert result.rows[1][-1] == pytest.approx(sum(data["data"]["curves"]["diou"]))
    assert "paper gradients" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, message",
    [
        pytest.param(
            ["--mode", "paper", "--losses", "siou"],
            "unknown loss 'siou' for --mode paper",
            id="paper-only-four",
        ),
        pytest.param(["--losses", "ioux"], "unknown loss 'ioux'", id="unknown"),
        pytest.param(["--losses", "l1"], "not a box loss", id="not-boxes"),
    ],
)
def test_cli_rejects_bad_losses_before_running(args, message, capsys, tmp_path):
    code = main(["experiment", "diou-simulation", "--quick", "--out", str(tmp_path), *args])
    assert code == 2
    assert message in capsys.readouterr().err


def test_cli_rejects_bad_mode(capsys):
    assert main(["experiment", "diou-simulation", "--mode", "exact"]) == 2


def test_parallel_chunks_give_the_same_result():
    anchors, targets = sim.regression_cases(1)
    args = (anchors, targets, sim.paper_direction("ciou"), sim.paper_iou)
    one, final_one = sim.simulate(*args, steps=5, chunk=100)
    two, final_two = sim.simulate(*args, steps=5, chunk=100, workers=2)
    np.testing.assert_array_equal(one, two)
    torch.testing.assert_close(final_one, final_two, rtol=0, atol=0)


@pytest.mark.parametrize(
    "direction, iou",
    [
        pytest.param(lambda: sim.autograd_direction("wiou"), sim._exact_iou, id="wiou-autograd"),
        pytest.param(lambda: sim.paper_direction("ciou"), sim.paper_iou, id="ciou-paper"),
    ],
)
def test_numbers_do_not_depend_on_chunk_or_workers(direction, iou):
    """The command picks chunk and workers from os.cpu_count(): every setting gives the same
    bits. (WIoU scales by a mean of 1 - IoU: with a per-chunk mean it depended on the
    machine; sums added per chunk depended on the chunk size in their last bits.)"""
    anchors, targets = sim.regression_cases(3)
    args = (anchors, targets, direction(), iou)
    runs = [
        sim.simulate(*args, steps=6, chunk=chunk, workers=workers)
        for chunk, workers in [(343, 1), (686, 2), (sim.CHUNK, 1)]
    ]
    for curve, final in runs[1:]:
        np.testing.assert_array_equal(curve, runs[0][0])
        torch.testing.assert_close(final, runs[0][1], rtol=0, atol=0)


def _wiou_step(anchors, targets):
    """One step of B <- B + 0.1 (2 - IoU) (-grad) with wiou_loss's own mean (the call's)."""
    leaf = anchors.clone().requires_grad_(True)
    loss = vl.wiou_loss(leaf, targets, box_format="cxcywh", reduction="sum")
    (grad,) = torch.autograd.grad(loss, leaf)
    return anchors - 0.1 * (2 - sim._exact_iou(anchors, targets))[:, None] * grad


def test_wiou_steps_use_the_mean_over_all_cases():
    """Step 1 run in three chunks equals one step of wiou_loss on all cases at once."""
    anchors, targets = sim.regression_cases(3)
    direction = sim.autograd_direction("wiou")
    assert direction.uses_iou_mean and not sim.autograd_direction("ciou").uses_iou_mean
    curve, _ = sim.simulate(anchors, targets, direction, sim._exact_iou, steps=1, chunk=343)
    expected = (_wiou_step(anchors, targets) - targets).abs().sum()
    torch.testing.assert_close(torch.tensor(curve[0]), expected, rtol=1e-12, atol=0)
    # per-chunk means (the old behaviour) move the boxes differently: the check can fail
    chunked = torch.cat(
        [_wiou_step(anchors[s : s + 343], targets[s : s + 343]) for s in (0, 343, 686)]
    )
    assert abs(float((chunked - targets).abs().sum()) - float(expected)) > 1e-6


def test_final_error_maps_have_one_colour_scale_per_panel(tmp_path, monkeypatch):
    """Each loss's panel spans its own errors (with its own colorbar): a shared scale left
    every panel but IoU's uniformly dark."""
    figures = []
    monkeypatch.setattr(sim, "save_figure", lambda fig, path: figures.append(fig) or path)
    rng = np.random.default_rng(0)
    finals = {"iou": 2000 * rng.random(5), "giou": 40 * rng.random(5), "ciou": np.zeros(5)}
    curves = {name: np.ones(sim.STEPS) for name in finals}
    sim._figures(tmp_path, "autograd", list(finals), curves, finals, rng.random((5, 2)))
    maps = figures[-1]
    scatters = [ax.collections[0] for ax in maps.axes if ax.get_title().endswith("final error")]
    assert len(scatters) == 3
    assert [c.norm.vmax for c in scatters[:2]] == pytest.approx(
        [finals["iou"].max(), finals["giou"].max()]
    )
    assert all(np.isfinite([c.norm.vmin, c.norm.vmax]).all() for c in scatters)
    colorbars = [ax for ax in maps.axes if ax.get_label() == "<colorbar>"]
    assert len(colorbars) == 3
