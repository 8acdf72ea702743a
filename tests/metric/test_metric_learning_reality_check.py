"""The metric-learning-reality-check experiment runs end to end at a tiny size, and its
retrieval metrics are right on hand-made embeddings."""

from __future__ import annotations

import json

import pytest
import torch

from visionloss import experiments as ex
from visionloss.experiments.metric_learning_reality_check import retrieval_scores

NAME = "metric-learning-reality-check"


def test_quick_run_table_and_figure(tmp_path):
    threads = torch.get_num_threads()
    result = ex.run_experiment(
        NAME,
        quick=True,
        out=tmp_path,
        verbose=False,
        steps=3,
        seeds=2,
        dim=8,
        losses="contrastive,circle,CosFace,ProxyNCA++,softmax",
    )
    assert torch.get_num_threads() == threads
    names = [row[0] for row in result.rows]
    assert names == [
        "contrastive",
        "circle",
        "CosFace",
        "ProxyNCA++",
        "softmax",
        "untrained embedder",
        "raw pixels",
    ]
    for _, p1, r_prec, map_r, std in result.rows:
        # MAP@R <= R-Precision (each term is a precision at a rank <= R, counted on hits only)
        assert 0.0 <= map_r <= r_prec <= 1.0 and 0.0 <= p1 <= 1.0 and std >= 0.0
    assert "gap" in result.notes and "seed spread" in result.notes
    assert result.figures[0].stat().st_size > 1000
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["data"]["seeds"] == 2 and len(data["data"]["per_seed"]["circle"]) == 2
    assert set(ex.get_experiment(NAME).losses) >= {"arcface", "proxy_anchor", "circle"}


def test_retrieval_metrics_by_hand():
    # class 0: two points near (1, 0); class 1: two points near (0, 1) and one near (1, 0)
    z = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [0.95, 0.05]])
    y = torch.tensor([0, 0, 1, 1, 1])
    p1, r_prec, map_r = retrieval_scores(z, y)
    # queries: 0 -> nearest 4 (miss); 1 -> 4 (miss); 2 -> 3 (hit); 3 -> 2 (hit); 4 -> 0/1 miss
    assert p1 == pytest.approx(2 / 5)
    # R: 1, 1, 2, 2, 2. hits within R: 0, 0, 1 (3 then 4/1..), 1, 0
    assert r_prec == pytest.approx((0 + 0 + 0.5 + 0.5 + 0) / 5)
    assert map_r == pytest.approx((0 + 0 + 0.5 + 0.5 + 0) / 5)


def test_rejects_bad_options(tmp_path):
    with pytest.raises(ValueError, match=f"{NAME}: expected steps >= 1"):
        ex.run_experiment(NAME, out=tmp_path, verbose=False, steps=0)
    with pytest.raises(ValueError, match="unknown losses"):
        ex.run_experiment(NAME, out=tmp_path, verbose=False, losses="lifted")
