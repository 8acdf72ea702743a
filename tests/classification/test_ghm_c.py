"""ghm_c_loss and GHMCLoss (with momentum) against mmdetection's GHMC loop
(tests/reference/detection.py)."""

from __future__ import annotations

import pytest
import torch

import visionloss as vl
from tests.reference import detection as ref
from visionloss.errors import InputError, OptionError


def _batch(seed, n=40, c=3):
    g = torch.Generator().manual_seed(seed)
    x = 3 * torch.randn(n, c, generator=g, dtype=torch.float64)
    y = (torch.rand(n, c, generator=g) < 0.2).double()
    w = (torch.rand(n, c, generator=g) < 0.9).double()
    return x, y, w


@pytest.mark.parametrize("bins", [10, 30, 1])
def test_matches_mmdet(bins):
    x, y, w = _batch(0)
    x.requires_grad_(True)
    ours = vl.ghm_c_loss(x, y, bins=bins, mask=w)
    x2 = x.detach().clone().requires_grad_(True)
    theirs = ref.ghmc(x2, y, w, bins=bins)
    torch.testing.assert_close(ours, theirs)
    ours.backward()
    theirs.backward()
    torch.testing.assert_close(x.grad, x2.grad)


def test_module_momentum_matches_mmdet_over_batches():
    crit = vl.GHMCLoss(bins=10, momentum=0.75)
    acc = [0.0] * 10
    for seed in range(4):
        x, y, w = _batch(seed)
        ours = crit(x, y, mask=w)
        theirs = ref.ghmc(x, y, w, bins=10, momentum=0.75, acc_sum=acc)
        torch.testing.assert_close(ours, theirs)
        torch.testing.assert_close(crit.bin_counts, torch.tensor(acc, dtype=torch.float32))
    # the function with the previous counts is the Module's call; eval mode only reads
    crit.eval()
    before = crit.bin_counts.clone()
    x, y, w = _batch(9)
    torch.testing.assert_close(
        crit(x, y, mask=w),
        vl.ghm_c_loss(x, y, mask=w, momentum=0.75, bin_counts=before),
    )
    assert torch.equal(crit.bin_counts, before)
    # state_dict round trip
    other = vl.GHMCLoss(bins=10, momentum=0.75)
    other.load_state_dict(crit.state_dict())
    assert torch.equal(other.bin_counts, crit.bin_counts)


def test_degenerate_and_errors():
    x = torch.tensor([[1e4, -1e4, 0.0]], requires_grad=True)
    out = vl.ghm_c_loss(x, torch.tensor([[1.0, 0.0, 0.0]]))
    (g,) = torch.autograd.grad(out, x)
    assert torch.isfinite(out) and torch.isfinite(g).all()
    none = vl.ghm_c_loss(x, torch.zeros(1, 3), mask=torch.zeros(1, 3))
    assert none == 0 and none.requires_grad
    e = vl.ghm_c_loss(torch.zeros(0, 3, requires_grad=True), torch.zeros(0, 3))
    assert e == 0
    h = vl.ghm_c_loss(torch.randn(6, 3).half(), torch.ones(6, 3).half())
    assert h.dtype == torch.float32 and torch.isfinite(h)
    with pytest.raises(InputError, match=r"bin_counts of shape \(10,\)"):
        vl.ghm_c_loss(torch.zeros(2, 3), torch.zeros(2, 3), bin_counts=torch.zeros(5))
    with pytest.raises(OptionError, match="momentum"):
        vl.GHMCLoss(momentum=1.0)
    xs = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    ys = (torch.rand(4, 3) < 0.5).double()
    assert torch.autograd.gradcheck(lambda v: vl.ghm_c_loss(v, ys, bins=3), (xs,))
