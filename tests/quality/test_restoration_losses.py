"""The restoration-losses experiment at its smallest size, and its pieces."""

from __future__ import annotations

import json

import pytest
import torch

from visionloss import experiments as ex
from visionloss import get_loss
from visionloss.experiments import restoration_losses as rl

pytest.importorskip("matplotlib")
pytest.importorskip("skimage")
pytest.importorskip("sklearn")


def test_quick_run_writes_table_json_and_png(tmp_path, capsys):
    result = ex.run_experiment("restoration-losses", quick=True, out=tmp_path, steps=3, seeds=2)
    assert [r[0] for r in result.rows] == [
        "noisy input",
        "L2",
        "L1",
        "SSIM",
        "MS-SSIM",
        "MS-SSIM + L1",
    ]
    assert result.columns[1] == "PSNR (dB)" and len(result.columns) == 7
    noisy_psnr = result.rows[0][1]
    assert 19 < noisy_psnr < 22  # sigma 0.1 on [0, 1] images: about 20 dB
    for row in result.rows[1:]:
        assert all(isinstance(v, float) for v in row[1:])
        assert 0 <= row[3] <= 1 and 0 <= row[5] <= 1 and row[2] >= 0  # SSIMs, a spread
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["data"]["seeds"] == 2 and len(data["data"]["scores"]["l1"]) == 2
    assert (tmp_path / "crops.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "MS-SSIM" in capsys.readouterr().out


def test_declares_registered_losses():
    exp = ex.get_experiment("restoration-losses")
    assert exp.family == "quality" and exp.losses == rl.LOSSES
    for name in exp.losses:
        get_loss(name)


def test_every_loss_fits_the_training_patches():
    images = [torch.rand(1, 1, 48, 48, generator=torch.Generator().manual_seed(0))]
    gen = torch.Generator().manual_seed(1)
    noisy, clean = rl.sample_batch(images, 4, 32, 0.1, gen)
    assert noisy.shape == clean.shape == (4, 1, 32, 32)
    for name in rl.LOSSES:
        assert torch.isfinite(rl.training_loss(name, noisy, clean))
    model = rl.Denoiser(8, 3)
    assert model(noisy).shape == noisy.shape


def test_bad_options(tmp_path):
    with pytest.raises(ValueError, match="restoration-losses: expected steps >= 1"):
        ex.run_experiment("restoration-losses", quick=True, out=tmp_path, steps=0, verbose=False)
