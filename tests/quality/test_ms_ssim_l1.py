"""ms_ssim_l1_loss against the float64 reference of Zhao et al.'s equations and kornia's
MS_SSIMLoss; psnr_loss against piq and torchmetrics.

kornia.losses.MS_SSIMLoss mapping: same per-pixel formula (l_M * prod cs_j, window 2 * int(2
sigma_M) + 1, L1 filtered by G_{sigma_M} and divided by data_range), but it zero-pads (we
reflect, or use "valid"), defaults to alpha=0.025 and multiplies by compensation=200; its map
with alpha=0.84, compensation=1, cropped by int(2 sigma_M) on each side, is our "valid" map.

psnr_loss mapping: piq.psnr = 10 log10(1 / (MSE / L^2 + 1e-8)) per image: our -psnr_loss with
eps=1e-8. torchmetrics' peak_signal_noise_ratio with dim=(1, 2, 3), reduction="none": our
-psnr_loss with a negligible eps.
"""

from __future__ import annotations

import pytest
import torch

import visionloss as vl
from tests.helpers import grads
from tests.reference import quality as ref
from visionloss.errors import InputError, OptionError


def pair(*shape, seed=0, noise=0.2):
    gen = torch.Generator().manual_seed(seed)
    y = torch.rand(*shape, generator=gen, dtype=torch.float64)
    x = (y + noise * torch.randn(*shape, generator=gen, dtype=torch.float64)).clamp(0, 1)
    return x, y


@pytest.mark.parametrize(
    "opts",
    [
        pytest.param({}, id="paper-defaults"),
        pytest.param({"sigmas": (0.5, 1.0, 2.0), "alpha": 0.5, "data_range": 2.0}, id="other"),
    ],
)
def test_mix_matches_the_paper_reference(opts):
    x, y = pair(2, 2, 38, 36)
    value, (gx,) = grads(
        lambda a: vl.ms_ssim_l1_loss(a, y, padding="valid", reduction="none", **opts), x
    )
    expected, (hx,) = grads(lambda a: ref.zhao_mix_valid(a, y, **opts), x)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(gx, hx)


def test_mix_matches_kornia_on_valid_positions():
    kornia = pytest.importorskip("kornia")
    x, y = pair(2, 3, 40, 44, seed=1)
    crit = kornia.losses.MS_SSIMLoss(alpha=0.84, compensation=1.0, reduction="none").double()
    value, (gx,) = grads(lambda a: vl.ms_ssim_l1_loss(a, y, padding="valid", reduction="none"), x)
    theirs, (hx,) = grads(lambda a: crit(a, y)[:, 16:-16, 16:-16].flatten(1).mean(1), x)
    torch.testing.assert_close(value, theirs)
    torch.testing.assert_close(gx, hx)


def test_mix_endpoints_and_degenerate():
    """alpha=1 is 1 - MS-SSIM (per pixel), alpha=0 the Gaussian-filtered L1, whose mean over
    the valid positions of a constant difference d is d; identical images give 0."""
    y = torch.rand(1, 1, 36, 36, dtype=torch.float64)
    torch.testing.assert_close(
        vl.ms_ssim_l1_loss(y + 0.1, y, alpha=0.0, padding="valid"),
        torch.tensor(0.1, dtype=torch.float64),
    )
    x, y = pair(1, 1, 36, 36)
    value, (g,) = grads(lambda a: vl.ms_ssim_l1_loss(a, x.clone()), x)
    assert float(value) == 0.0 and g.abs().max() < 1e-12
    const = torch.full((1, 2, 20, 20), 0.4)
    value, (g,) = grads(lambda a: vl.ms_ssim_l1_loss(a, const * 0.5), const)
    assert torch.isfinite(value) and torch.isfinite(g).all()


def test_mix_half_inputs_and_3d():
    x, y = pair(1, 1, 256, 256, seed=2)
    xh = x.half().requires_grad_(True)
    value = vl.ms_ssim_l1_loss(xh, y.half())
    value.backward()
    assert value.dtype == torch.float32 and torch.isfinite(xh.grad).all()
    torch.testing.assert_close(value, vl.ms_ssim_l1_loss(x.half().float(), y.half().float()))
    v, w = pair(1, 1, 12, 12, 12, seed=3)
    assert torch.isfinite(vl.ms_ssim_l1_loss(v, w, sigmas=(0.5, 1.0, 2.0)))


def test_mix_too_small_and_bad_options():
    x = torch.rand(1, 1, 20, 20)
    with pytest.raises(InputError, match=r"^ms_ssim_l1_loss: expected every spatial size >= 33"):
        vl.ms_ssim_l1_loss(x, x, padding="valid")
    with pytest.raises(InputError, match=r">= 17"):
        vl.ms_ssim_l1_loss(x[..., :16], x[..., :16])
    with pytest.raises(OptionError, match=r"^ms_ssim_l1_loss: expected sigmas > 0"):
        vl.ms_ssim_l1_loss(x, x, sigmas=(1.0, -2.0))
    with pytest.raises(OptionError, match=r"^ms_ssim_l1_loss: expected alpha in \[0, 1\]"):
        vl.ms_ssim_l1_loss(x, x, alpha=1.5)


# ------------------------------------------------------------------------------------ PSNR
def test_psnr_matches_piq_and_torchmetrics():
    piq = pytest.importorskip("piq")
    tmf = pytest.importorskip("torchmetrics.functional")
    x, y = pair(3, 3, 16, 16)
    value, (gx,) = grads(lambda a: -vl.psnr_loss(a, y, eps=1e-8, reduction="none"), x)
    theirs, (hx,) = grads(lambda a: piq.psnr(a, y, data_range=1.0, reduction="none"), x)
    torch.testing.assert_close(value, theirs)
    torch.testing.assert_close(gx, hx)
    tm = tmf.peak_signal_noise_ratio(
        x * 255, y * 255, data_range=255.0, dim=(1, 2, 3), reduction="none"
    )
    torch.testing.assert_close(
        -vl.psnr_loss(x * 255, y * 255, data_range=255.0, reduction="none"), tm
    )
    torch.testing.assert_close(-vl.psnr_loss(x, y, reduction="none"), ref.psnr(x, y))


def test_psnr_by_hand_and_degenerate():
    x = torch.zeros(2, 1, 4, 4)
    torch.testing.assert_close(vl.psnr_loss(x + 0.1, x), torch.tensor(-20.0))
    value, (g,) = grads(lambda a: vl.psnr_loss(a, x.clone()), x)
    torch.testing.assert_close(value, torch.tensor(-100.0))  # eps = 1e-10 caps PSNR at 100 dB
    assert g.abs().max() == 0
    with pytest.raises(OptionError, match=r"^psnr_loss: expected data_range > 0"):
        vl.psnr_loss(x, x, data_range=0.0)
    with pytest.raises(InputError, match=r"^psnr_loss: expected target of shape"):
        vl.psnr_loss(x, x[:1])
