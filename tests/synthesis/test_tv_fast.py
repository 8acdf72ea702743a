"""The summed anisotropic total variation (``total_variation._AnisotropicSum``): gradcheck of
its hand-derived backward, and equality with the per-pixel map (``reduction="none"``, the
generic autograd path) and with kornia's ``total_variation``."""

from __future__ import annotations

import pytest
import torch

import visionloss as vl
from visionloss.synthesis.total_variation import _AnisotropicSum


@pytest.mark.parametrize("shape", [(2, 3, 5, 6), (4, 1, 7), (1, 1, 1, 5), (3, 4)])
def test_gradcheck(shape):
    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(_AnisotropicSum.apply, (x,))


@pytest.mark.parametrize("kind", ["anisotropic", "squared", "isotropic"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("per_image", [False, True])
def test_sums_equal_the_per_pixel_map(kind, reduction, per_image):
    x = torch.rand(3, 2, 9, 11)
    a = x.clone().requires_grad_(True)
    b = x.clone().requires_grad_(True)
    fast = vl.total_variation_loss(a, kind=kind, reduction=reduction, per_image=per_image)
    per_pixel = vl.total_variation_loss(b, kind=kind, reduction="none", per_image=per_image)
    ref = per_pixel.sum() if reduction == "sum" else per_pixel.mean()
    torch.testing.assert_close(fast, ref)
    torch.testing.assert_close(torch.autograd.grad(fast, a)[0], torch.autograd.grad(ref, b)[0])


def test_kornia_peer_and_bf16():
    kornia = pytest.importorskip("kornia")
    x = torch.rand(2, 3, 16, 16)
    a = x.clone().requires_grad_(True)
    b = x.clone().requires_grad_(True)
    ours = vl.total_variation_loss(a, reduction="sum")
    peer = kornia.losses.total_variation(b, reduction="sum").sum()
    torch.testing.assert_close(ours, peer)
    torch.testing.assert_close(torch.autograd.grad(ours, a)[0], torch.autograd.grad(peer, b)[0])
    xb = x.bfloat16().requires_grad_(True)
    loss = vl.total_variation_loss(xb)
    assert loss.dtype == torch.float32
    assert torch.autograd.grad(loss, xb)[0].dtype == torch.bfloat16
