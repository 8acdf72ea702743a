"""The segmentation-imbalance experiment, at its smallest size, and its generated data."""

from __future__ import annotations

import json

import pytest
import torch

from visionloss import experiments as ex
from visionloss.cli.main import main
from visionloss.experiments.segmentation_imbalance import make_images, scores

pytest.importorskip("matplotlib")


def test_data_has_about_two_percent_foreground_and_some_empty_images():
    images, masks = make_images(200, 32, seed=0)
    assert images.shape == (200, 1, 32, 32) and masks.shape == (200, 32, 32)
    assert 0.01 < masks.float().mean().item() < 0.035
    empty = (masks.flatten(1).sum(1) == 0).float().mean().item()
    assert 0.03 < empty < 0.2
    assert images[masks.unsqueeze(1) == 1].mean() > images[masks.unsqueeze(1) == 0].mean() + 0.5
    again, _ = make_images(200, 32, seed=0)
    assert torch.equal(images, again)


def test_scores_by_hand():
    masks = torch.tensor([[[1, 1, 0, 0]], [[0, 0, 0, 0]]])
    pred = torch.tensor([[[1, 0, 1, 0]], [[1, 1, 0, 0]]])  # TP 1, FP 3 (2 on the empty image)
    s = scores(pred, masks)
    assert s["dice"] == pytest.approx(2 / (2 + 3 + 1)) and s["iou"] == pytest.approx(1 / 5)
    assert s["recall"] == 0.5 and s["precision"] == 0.25 and s["fp_per_empty_image"] == 2.0


def test_runs_and_writes_table_json_and_png(tmp_path, capsys):
    result = ex.run_experiment("segmentation-imbalance", quick=True, out=tmp_path, steps=2, seeds=1)
    names = [row[0] for row in result.rows]
    assert names == ["CE", "Dice", "Dice+CE", "Tversky 0.3/0.7", "focal Tversky", "Lovasz"]
    for _, dice, std, iou, recall, precision, fp in result.rows:
        assert 0 <= iou <= dice <= 1 and std == 0 and 0 <= recall <= 1 and 0 <= precision <= 1
        assert fp >= 0
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["data"]["steps"] == 2 and 0.01 < data["data"]["foreground_fraction"] < 0.035
    assert (tmp_path / "predictions.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "fg Dice" in printed and "focal Tversky" in printed


def test_is_deterministic(tmp_path):
    a = ex.run_experiment(
        "segmentation-imbalance", quick=True, out=tmp_path / "a", steps=2, seeds=1, verbose=False
    )
    b = ex.run_experiment(
        "segmentation-imbalance", quick=True, out=tmp_path / "b", steps=2, seeds=1, verbose=False
    )
    assert a.rows == b.rows


def test_cli_options_and_bad_values(tmp_path):
    args = [
        "experiment",
        "segmentation-imbalance",
        "--quick",
        "--out",
        str(tmp_path),
        "--steps",
        "1",
        "--seeds",
        "1",
    ]
    assert main(args) == 0
    assert json.loads((tmp_path / "results.json").read_text())["data"]["steps"] == 1
    with pytest.raises(ValueError, match="segmentation-imbalance: expected steps >= 1"):
        ex.run_experiment("segmentation-imbalance", out=tmp_path, steps=0, verbose=False)
