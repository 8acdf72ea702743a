"""The thin-structures experiment at a tiny size, and its metrics on masks worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from visionloss.errors import ExperimentError
from visionloss.experiments import get_experiment, list_experiments
from visionloss.experiments import thin_structures as T


def test_registered_with_its_losses():
    exp = get_experiment("thin-structures")
    assert exp in list_experiments()
    assert set(exp.losses) == {"dice", "dice_ce", "dice_cldice", "boundary", "hausdorff_dt"}
    import visionloss as vl

    for name in exp.losses:
        vl.get_loss(name)


def test_tiny_run(tmp_path):
    result = T.thin_structures(True, tmp_path, steps=3, seeds=2, size=16)
    assert [r[0] for r in result.rows] == [name for name, _ in T.LOSSES]
    assert len(result.columns) == len(result.rows[0]) == 8
    for row in result.rows:
        dice, cldice, b0, b1, hd = row[1], row[3], row[4], row[6], row[7]
        assert 0.0 <= dice <= 1.0 and 0.0 <= cldice <= 1.0
        assert b0 >= 0 and b1 >= 0 and 0.0 <= hd <= 16 * 2**0.5
    assert all(len(v) == 2 for v in result.data["per_seed"].values())
    assert result.figures[0].exists()
    assert "clDice's claim" in result.notes


def test_images_hold_thin_curves():
    x, y = T.make_images(4, 32, seed=0)
    assert x.shape == (4, 1, 32, 32) and y.shape == (4, 32, 32)
    fg = y.float().mean().item()
    assert 0.03 < fg < 0.3
    # thin: a 5x5 all-foreground window is rare
    windows = torch.nn.functional.avg_pool2d(y[:, None].float(), 5, 1)
    assert (windows == 1).float().mean() < 0.01


def test_metrics_by_hand():
    ring = np.zeros((9, 9), bool)
    ring[2:7, 2:7] = True
    ring[3:6, 3:6] = False
    assert T.betti(ring) == (1, 1)
    two = np.zeros((9, 9), bool)
    two[1, 1:4] = True
    two[6, 2:8] = True
    assert T.betti(two) == (2, 0)
    assert T.cldice_metric(two, two) == 1.0
    assert T.hd95(two, two) == 0.0
    assert T.hd95(np.zeros_like(two), two) == pytest.approx(9 * 2**0.5)
    shifted = np.roll(two, 1, axis=0)
    assert T.hd95(shifted, two) == pytest.approx(1.0)
    s = T.scores(torch.from_numpy(shifted)[None].long(), torch.from_numpy(two)[None].long())
    assert s["betti0_error"] == 0 and s["dice"] == 0.0


@pytest.mark.parametrize("options", [{"steps": 0}, {"seeds": 0}, {"size": 18}])
def test_bad_options(tmp_path, options):
    with pytest.raises(ExperimentError, match="^thin-structures: "):
        T.thin_structures(True, tmp_path, **options)
