"""The tv-denoise experiment at its smallest size, and its pieces."""

from __future__ import annotations

import json

import pytest
import torch

from visionloss import experiments as ex
from visionloss.experiments import tv_denoise

pytest.importorskip("matplotlib")


@pytest.mark.parametrize("image", ["synthetic", pytest.param("china", id="sklearn-china")])
def test_runs_and_writes_table_json_and_png(image, tmp_path, capsys):
    if image == "china":
        pytest.importorskip("sklearn")
    result = ex.run_experiment("tv-denoise", quick=True, out=tmp_path, image=image, steps=2)
    assert result.rows[0][0] == "noisy input"
    kinds = {row[1] for row in result.rows[1:]}
    assert kinds == {"anisotropic", "isotropic", "squared"} and len(result.rows) == 10
    assert all(r[3] > 10 for r in result.rows)  # PSNR in dB of a 0.1-noise image: about 20
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["data"]["size"] == [96, 144] and data["data"]["image"] == image
    assert (tmp_path / "denoised.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "PSNR" in capsys.readouterr().out


def test_denoising_raises_the_psnr():
    clean = tv_denoise.synthetic_image(48, 64).unsqueeze(0)
    noisy = clean + 0.1 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))
    before = tv_denoise.psnr(noisy.clamp(0, 1), clean)
    after = tv_denoise.psnr(tv_denoise.denoise(noisy, "isotropic", 0.05, steps=60), clean)
    assert after > before + 2


def test_psnr_by_hand():
    a = torch.zeros(1, 1, 2, 2)
    assert tv_denoise.psnr(a, a + 0.1) == pytest.approx(20.0)  # 10 log10(1 / 0.01)


def test_bad_options(tmp_path):
    with pytest.raises(ValueError, match="tv-denoise: expected steps >= 1 and sigma > 0"):
        ex.run_experiment("tv-denoise", quick=True, out=tmp_path, sigma=0.0, verbose=False)
