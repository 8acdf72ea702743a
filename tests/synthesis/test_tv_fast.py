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


# The input is read in blocks of whole H x W planes (``total_variation._BLOCK`` elements, at
# least one plane), each upcast on its own, and the gradient is written in the input's dtype.
# Blocks of one plane (block size 1) and of two planes (2 * 9 * 11 elements) against one block.
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("block", [1, 2 * 9 * 11])
@pytest.mark.parametrize("layout", ["contiguous", "strided"])
def test_plane_blocks_equal_one_block(monkeypatch, dtype, block, layout):
    from visionloss.synthesis import total_variation as tv_module

    x = torch.randn(3, 5, 9, 11, generator=torch.Generator().manual_seed(0)).to(dtype)
    if layout == "strided":  # a transposed view: read as one block
        x = x.transpose(0, 1)

    def run(size):
        monkeypatch.setattr(tv_module, "_BLOCK", size)
        xi = x.detach().clone().requires_grad_(True)  # clone keeps the strides
        assert xi.is_contiguous() == (layout == "contiguous")
        loss = vl.total_variation_loss(xi, reduction="sum")
        (grad,) = torch.autograd.grad(loss, xi)
        return loss, grad

    blocked, one = run(block), run(1 << 40)
    assert blocked[0].dtype == (torch.float64 if dtype == torch.float64 else torch.float32)
    assert blocked[1].dtype == dtype and blocked[1].shape == x.shape
    torch.testing.assert_close(blocked[1], one[1], rtol=0, atol=0)  # signs: exact
    torch.testing.assert_close(blocked[0], one[0], rtol=1e-6, atol=0)  # summed in pieces
    ref = vl.total_variation_loss(x.double(), reduction="sum", kind="anisotropic")
    torch.testing.assert_close(blocked[0].double(), ref, rtol=1e-6, atol=0)
