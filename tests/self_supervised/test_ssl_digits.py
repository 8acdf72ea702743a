"""The ssl-digits experiment runs end to end (a few steps) and writes its table, figure and
per-seed data; bad options are errors naming the experiment."""

from __future__ import annotations

import json

import pytest
import torch

from visionloss import experiments as ex
from visionloss.experiments import ssl_digits


def test_runs_and_reports_every_method(tmp_path):
    threads = torch.get_num_threads()
    result = ex.run_experiment(
        "ssl-digits", quick=True, out=tmp_path, verbose=False, steps=3, seeds=2, batch=16
    )
    assert torch.get_num_threads() == threads  # restored
    assert [row[0] for row in result.rows] == list(ssl_digits.METHODS)
    assert result.columns[0] == "method" and len(result.columns) == 7
    for _, acc, acc_std, few, few_std, spread, rank in result.rows:
        assert 0.1 < acc <= 1.0 and 0.0 < few <= acc + 0.2  # above chance (10 digits)
        assert acc_std >= 0 and few_std >= 0
        assert 0.0 < spread <= 1.0 + 1e-9 and 1.0 <= rank <= ssl_digits.REPR
    assert result.figures[0].stat().st_size > 1000
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["data"]["steps"] == 3 and len(data["data"]["per_seed"]["DINO"]) == 2
    assert ex.get_experiment("ssl-digits").losses == (
        "nt_xent",
        "negative_cosine",
        "vicreg",
        "barlow_twins",
        "swav",
        "dino",
    )


def test_collapse_indicators():
    g = torch.Generator().manual_seed(0)
    spread = torch.randn(500, 16, generator=g)
    assert ssl_digits.effective_rank(spread) > 14
    collapsed = torch.randn(500, 1, generator=g) * torch.ones(1, 16)  # rank one
    assert ssl_digits.effective_rank(collapsed) < 1.01
    assert ssl_digits.normalized_std(torch.ones(50, 16)) < 1e-6  # complete collapse
    assert 0.8 < ssl_digits.normalized_std(spread) <= 1.0


def test_augmentations_keep_shape_and_range():
    x = torch.rand(5, 64)
    out = ssl_digits.augment(x, torch.Generator().manual_seed(0))
    assert out.shape == (5, 64) and out.min() >= 0 and out.max() <= 1
    assert not torch.equal(out, x)


def test_rejects_bad_options(tmp_path):
    with pytest.raises(ValueError, match="ssl-digits: expected steps >= 1"):
        ex.run_experiment("ssl-digits", out=tmp_path, verbose=False, steps=0)
