"""The forgery-contrast experiment: its data generator, its 2-means localisation and a run of a
few steps end to end."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from visionloss import experiments as ex
from visionloss.experiments import forgery_contrast as fc

pytest.importorskip("matplotlib")


def test_generated_forgeries_are_images_with_two_class_masks():
    images, masks = fc.make_forgeries(12, seed=1)
    assert images.shape == (12, 3, fc.SIZE, fc.SIZE) and masks.shape == (12, fc.SIZE, fc.SIZE)
    assert images.min() >= 0 and images.max() <= 1
    fraction = masks.flatten(1).float().mean(1)
    assert (fraction > 0.03).all() and (fraction < 0.6).all()
    again, _ = fc.make_forgeries(12, seed=1)
    assert torch.equal(images, again)


def test_two_means_finds_two_separated_groups_and_calls_the_smaller_forged():
    g = torch.Generator().manual_seed(0)
    truth = torch.zeros(2, 50, dtype=torch.bool)
    truth[0, :10] = True
    truth[1, 30:] = True
    x = torch.where(truth[..., None], torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0]))
    x = F.normalize(x + 0.1 * torch.randn(2, 50, 3, generator=g), dim=-1)
    assert torch.equal(fc.two_means(x), truth)


def test_runs_end_to_end(tmp_path, capsys):
    result = ex.run_experiment(
        "forgery-contrast", quick=True, out=tmp_path, steps=3, train_images=16
    )
    names = [row[0] for row in result.rows]
    assert names == ["untrained", *fc.METHODS]
    for _, loss, roughness, test_loss, iou, f1 in result.rows[1:]:
        assert loss > 0 and roughness >= 0 and test_loss > 0
        assert 0 <= iou <= 1 and 0 <= f1 <= 1
    for figure in result.figures:
        assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["data"]["steps"] == 3 and len(data["data"]["curves"]["InfoNCE++ batch-level"]) == 3
    assert "IoU" in capsys.readouterr().out


def test_rejects_bad_options(tmp_path):
    with pytest.raises(ValueError, match="forgery-contrast: expected steps >= 1"):
        ex.run_experiment("forgery-contrast", out=tmp_path, steps=0, verbose=False)
