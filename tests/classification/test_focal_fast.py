"""The fused sigmoid focal loss (``focal._SigmoidFocal``): gradcheck of its hand-derived
backward, equality with the generic autograd formula (taken under ``torch.compile`` and when
the target needs a gradient) and with torchvision's ``sigmoid_focal_loss``."""

from __future__ import annotations

import pytest
import torch

import visionloss as vl
from visionloss.classification.focal import _SigmoidFocal


@pytest.mark.parametrize("gamma", [0.5, 2.0, 3.0])
@pytest.mark.parametrize("alpha", [None, 0.25, "tensor"])
def test_gradcheck(gamma, alpha):
    gen = torch.Generator().manual_seed(0)
    x = (torch.randn(3, 4, 5, generator=gen, dtype=torch.float64) * 3).requires_grad_(True)
    y = torch.rand(3, 4, 5, generator=gen, dtype=torch.float64)
    a = torch.rand(4, dtype=torch.float64).view(1, 4, 1) if alpha == "tensor" else alpha
    assert torch.autograd.gradcheck(
        lambda x: _SigmoidFocal.apply(x, y, a, gamma, True, False), (x,)
    )


@pytest.mark.parametrize("gamma", [1.0, 2.0])
@pytest.mark.parametrize("alpha", [None, 0.25, [0.1, 0.5, 0.9]])
def test_equals_generic_path(gamma, alpha):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(4, 3, 6, 6, generator=gen) * 4
    y = (torch.rand(4, 3, 6, 6, generator=gen) > 0.7).float()
    y[0, 0] = 0.3  # soft targets too
    a = torch.tensor(alpha) if isinstance(alpha, list) else alpha
    fast_x = x.clone().requires_grad_(True)
    slow_x = x.clone().requires_grad_(True)
    slow_y = y.clone().requires_grad_(True)  # a target that needs a gradient: generic path
    fast = vl.focal_loss(fast_x, y, alpha=a, gamma=gamma, ignore_index=None)
    slow = vl.focal_loss(slow_x, slow_y, alpha=a, gamma=gamma)
    torch.testing.assert_close(fast, slow)
    torch.testing.assert_close(
        torch.autograd.grad(fast, fast_x)[0], torch.autograd.grad(slow, slow_x)[0]
    )


def test_torchvision_peer_and_saturation():
    ops = pytest.importorskip("torchvision.ops")
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(2, 5, 8, 8, generator=gen) * 3
    x[0, 0, 0, :4] = torch.tensor([1e4, -1e4, 80.0, -80.0])
    y = (torch.rand(2, 5, 8, 8, generator=gen) > 0.5).float()
    a = x.clone().requires_grad_(True)
    b = x.clone().requires_grad_(True)
    # same convention on 0/1 targets: alpha on positives, 1 - alpha on negatives, mean
    ours = vl.focal_loss(a, y, alpha=0.25, gamma=2.0)
    peer = ops.sigmoid_focal_loss(b, y, alpha=0.25, gamma=2.0, reduction="mean")
    torch.testing.assert_close(ours, peer, rtol=1e-5, atol=1e-7)
    ga, gb = torch.autograd.grad(ours, a)[0], torch.autograd.grad(peer, b)[0]
    assert torch.isfinite(ga).all()
    torch.testing.assert_close(ga, torch.nan_to_num(gb), rtol=1e-4, atol=1e-8)


def test_bf16_and_ignore_index():
    x = torch.randn(4, 6).bfloat16().requires_grad_(True)
    y = torch.tensor([[1.0, 0.0, -1.0, 1.0, 0.0, 0.0]]).expand(4, 6).contiguous()
    loss = vl.focal_loss(x, y, ignore_index=-1)
    assert loss.dtype == torch.float32
    (g,) = torch.autograd.grad(loss, x)
    assert g.dtype == torch.bfloat16 and (g[:, 2] == 0).all()


# The eager CPU forward runs in flat blocks of ``focal._BLOCK`` elements, upcasting each block
# of the raw (fp16/bf16) input and target itself. A block size of 37 on 5 x 3 x 7 x 11 = 1155
# elements gives 31 full blocks and a partial one; the result must be the one-block result
# to an ulp (the same operations on the same values), the gradient in the input's dtype.
_BLOCK_CASES = [
    pytest.param(torch.float32, None, {}, id="fp32"),
    pytest.param(torch.float64, 0.25, {}, id="fp64-alpha"),
    pytest.param(torch.bfloat16, 0.25, {}, id="bf16"),
    pytest.param(torch.float16, None, {"gamma": 1.5}, id="fp16-gamma"),
    pytest.param(torch.bfloat16, [0.2, 0.5, 0.7], {}, id="bf16-class-alpha"),  # one block
    pytest.param(torch.float32, 0.25, {"ignore_index": -1}, id="ignore"),
    pytest.param(torch.float32, 0.25, {"reduction": "none"}, id="none"),
]


@pytest.mark.parametrize("dtype, alpha, options", _BLOCK_CASES)
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_blocks_equal_one_block(monkeypatch, dtype, alpha, options, layout):
    from visionloss.classification import _blockwise as focal_module

    gen = torch.Generator().manual_seed(3)
    x = (torch.randn(5, 3, 7, 11, generator=gen) * 5).to(dtype)
    y = (torch.rand(5, 3, 7, 11, generator=gen) > 0.6).to(dtype)
    if "ignore_index" in options:
        y[0, 1] = -1
    if layout == "channels_last":  # not contiguous: one block
        x = x.to(memory_format=torch.channels_last)
    a = torch.tensor(alpha) if isinstance(alpha, list) else alpha

    def run(block):
        monkeypatch.setattr(focal_module, "_BLOCK", block)
        xi = x.clone().requires_grad_(True)
        loss = vl.focal_loss(xi, y, alpha=a, **options)
        (grad,) = torch.autograd.grad(loss.sum(), xi)
        return loss, grad

    blocked, one = run(37), run(1 << 40)
    assert blocked[0].dtype == (torch.float64 if dtype == torch.float64 else torch.float32)
    assert blocked[1].dtype == dtype
    # the same operations on the same values; torch's vectorised kernels take the last
    # elements of a block through their scalar tail, which may differ by an ulp (a few after
    # the focal powers)
    ulp = torch.finfo(blocked[0].dtype).eps
    torch.testing.assert_close(blocked[0], one[0], rtol=8 * ulp, atol=1e-12)
    torch.testing.assert_close(blocked[1], one[1], rtol=8 * torch.finfo(dtype).eps, atol=1e-12)
    # and both are the float64 loss of the same values
    xd = x.double().requires_grad_(True)
    ref = vl.focal_loss(
        xd, y.double(), alpha=a if a is None or isinstance(a, float) else a.double(), **options
    )
    torch.testing.assert_close(blocked[0].double(), ref.detach(), rtol=1e-5, atol=1e-6)
