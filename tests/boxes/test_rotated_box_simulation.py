"""The rotated-box-simulation experiment at a tiny size."""

from __future__ import annotations

import json
import math

import pytest
import torch

from visionloss import experiments as ex
from visionloss.experiments import rotated_box_simulation as rbs

pytest.importorskip("matplotlib")


def test_runs_table_and_sanity(tmp_path):
    result = ex.run_experiment(
        "rotated-box-simulation", quick=True, out=tmp_path, steps=100, angles=8, anchors=4,
        verbose=False,
    )  # fmt: skip
    assert [row[0] for row in result.rows] == list(rbs.LOSSES)
    assert len(result.columns) == 9
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["data"]["cases"] == len(rbs.ASPECTS) * 8 * 4
    initial = data["data"]["initial_error"]
    for row in result.rows:
        assert all(math.isfinite(v) and v >= 0 for v in row[1:])
        assert row[1] < initial  # every loss reduces the corner error
    by_name = {row[0]: row for row in result.rows}
    # the boundary discontinuity: smooth L1 turns some boxes the long way round (> 90
    # degrees) and is further from its targets near +-90 degrees after a quarter of the steps
    # than every Gaussian loss; those never turn the long way
    gaussian = ("gwd", "kld", "probiou")
    assert by_name["smooth_l1"][8] > 0 and all(by_name[n][8] == 0 for n in gaussian)
    assert all(by_name["smooth_l1"][2] > by_name[n][2] for n in gaussian)
    for fig in result.figures:
        assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert ex.get_experiment("rotated-box-simulation").losses == rbs.LOSSES


def test_corner_error_is_convention_free():
    anchor, target = rbs.cases(3, 2)
    assert rbs.corner_error(target, target).abs().max() < 1e-12
    # the same boxes written as (h, w, angle + pi/2) and with angle + pi
    other = target.clone()
    other[:, 2], other[:, 3] = target[:, 3], target[:, 2]
    other[:, 4] += math.pi / 2 + math.pi
    assert rbs.corner_error(other, target).abs().max() < 1e-12
    assert (rbs.corner_error(anchor, target) > 0).all()
    assert torch.isfinite(anchor).all()


def test_bad_values(tmp_path):
    with pytest.raises(ValueError, match="rotated-box-simulation: expected steps"):
        ex.run_experiment("rotated-box-simulation", out=tmp_path, steps=0, verbose=False)
