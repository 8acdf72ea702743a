"""The triplet-digits experiment runs end to end (a few steps) and writes its table and one
scatter per loss."""

from __future__ import annotations

import json

import pytest
import torch

from visionloss import experiments as ex


@pytest.mark.parametrize("dim", [2, 3])
def test_runs_and_writes_a_scatter_per_loss(tmp_path, dim):
    threads = torch.get_num_threads()
    result = ex.run_experiment(
        "triplet-digits", quick=True, out=tmp_path, verbose=False, steps=15, dim=dim
    )
    assert torch.get_num_threads() == threads  # restored
    names = [row[0] for row in result.rows]
    assert names == [
        "batch-hard triplet",
        "semi-hard triplet",
        "contrastive",
        "softmax + center",
        "softmax only",
    ]
    for _, recall1, std, accuracy in result.rows:
        assert 0.0 <= recall1 <= 1.0 and 0.0 <= accuracy <= 1.0 and std == 0.0
    assert len(result.figures) == 5 and all(f.stat().st_size > 1000 for f in result.figures)
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["data"]["steps"] == 15 and data["data"]["dim"] == dim


def test_rejects_bad_options(tmp_path):
    with pytest.raises(ValueError, match="triplet-digits: expected steps >= 1"):
        ex.run_experiment("triplet-digits", out=tmp_path, verbose=False, steps=0)
