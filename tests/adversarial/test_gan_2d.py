"""The gan-2d experiment at its smallest size, and its metrics on known point sets."""

from __future__ import annotations

import json

import pytest
import torch

from visionloss import experiments as ex
from visionloss.experiments import gan_2d
from visionloss.experiments._common import cores, default_threads

pytest.importorskip("matplotlib")


def test_runs_and_writes_table_json_and_png(tmp_path, capsys):
    result = ex.run_experiment("gan-2d", quick=True, out=tmp_path, steps=3, workers=2)
    labels = [row[0] for row in result.rows]
    assert labels == [
        "target (floor)",
        "minimax",
        "nonsaturating",
        "lsgan",
        "hinge",
        "wgan (clip)",
        "wgan-gp",
    ]
    for _, modes, quality, distance in result.rows:
        assert 0 <= modes <= 8 and 0.0 <= quality <= 1.0 and distance >= 0.0
    assert result.rows[0][1] == 8 and result.rows[0][2] > 0.95  # the target covers every mode
    data = json.loads((tmp_path / "results.json").read_text())["data"]
    assert data["steps"] == 3 and data["workers"] == 2
    assert (tmp_path / "samples.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "wgan-gp" in capsys.readouterr().out
    # every set-up seeds itself: the same table in one process as in two spawned workers
    alone = ex.run_experiment("gan-2d", quick=True, out=tmp_path / "one", steps=3, workers=1)
    assert alone.rows == result.rows


def test_default_workers_follow_visionloss_threads(monkeypatch):
    monkeypatch.setenv("VISIONLOSS_THREADS", "1")  # the tour, running experiments side by side
    assert default_threads() == 1
    monkeypatch.delenv("VISIONLOSS_THREADS")
    assert default_threads() == cores()


def test_metrics_on_known_point_sets():
    centres = gan_2d.centres()
    assert gan_2d.mode_statistics(centres.repeat(10, 1)) == (8, 1.0)
    assert gan_2d.mode_statistics(centres[:1].repeat(80, 1)) == (1, 1.0)
    assert gan_2d.mode_statistics(torch.zeros(50, 2)) == (0, 0.0)  # the centre of the ring
    a = gan_2d.sample_target(500, torch.Generator().manual_seed(0))
    assert gan_2d.sliced_wasserstein(a, a) == 0.0
    assert gan_2d.sliced_wasserstein(a, a + torch.tensor([1.0, 0.0])) == pytest.approx(
        2 / torch.pi, rel=0.2
    )  # E|cos(theta)| over random directions, for a unit shift


@pytest.mark.parametrize(
    "options, match",
    [
        pytest.param({"steps": 0}, "gan-2d: expected steps >= 1, got 0", id="steps"),
        pytest.param({"workers": 0}, "gan-2d: expected workers >= 1, got 0", id="workers"),
    ],
)
def test_bad_options(tmp_path, options, match):
    with pytest.raises(ex.ExperimentOptionError, match=match):
        ex.run_experiment("gan-2d", quick=True, out=tmp_path, verbose=False, **options)
