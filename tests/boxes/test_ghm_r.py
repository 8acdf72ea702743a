"""ghm_r_loss and GHMRLoss (with momentum) against mmdetection's GHMR loop
(tests/reference/detection.py)."""

from __future__ import annotations

import pytest
import torch

import visionloss as vl
from tests.reference import detection as ref
from visionloss.errors import InputError


def _batch(seed, n=30):
    g = torch.Generator().manual_seed(seed)
    p = 0.1 * torch.randn(n, 4, generator=g, dtype=torch.float64)
    t = 0.1 * torch.randn(n, 4, generator=g, dtype=torch.float64)
    m = (torch.rand(n, generator=g) < 0.8).double()
    return p, t, m


@pytest.mark.parametrize("mu, bins", [(0.02, 10), (0.1, 5)])
def test_matches_mmdet(mu, bins):
    # mmdet's mean is over the 4 N coordinates: ours (per box, summed over coordinates) is 4x
    p, t, m = _batch(0)
    p.requires_grad_(True)
    ours = vl.ghm_r_loss(p, t, mu=mu, bins=bins, mask=m)
    p2 = p.detach().clone().requires_grad_(True)
    theirs = 4 * ref.ghmr(p2, t, m[:, None].expand(-1, 4), mu=mu, bins=bins)
    torch.testing.assert_close(ours, theirs)
    ours.backward()
    theirs.backward()
    torch.testing.assert_close(p.grad, p2.grad)


def test_module_momentum_matches_mmdet_over_batches():
    crit = vl.GHMRLoss(momentum=0.5)
    acc = [0.0] * 10
    for seed in range(3):
        p, t, m = _batch(seed)
        ours = crit(p, t, mask=m)
        theirs = 4 * ref.ghmr(p, t, m[:, None].expand(-1, 4), momentum=0.5, acc_sum=acc)
        torch.testing.assert_close(ours, theirs)
        torch.testing.assert_close(crit.bin_counts, torch.tensor(acc, dtype=torch.float32))


def test_degenerate_and_errors():
    p = torch.ones(3, 4, requires_grad=True)
    out = vl.ghm_r_loss(p, torch.ones(3, 4))
    (g,) = torch.autograd.grad(out, p)
    assert out == 0 and (g == 0).all()
    e = vl.ghm_r_loss(torch.zeros(0, 4, requires_grad=True), torch.zeros(0, 4))
    assert e == 0 and e.requires_grad
    h = vl.ghm_r_loss(torch.randn(5, 4).half(), torch.randn(5, 4).half())
    assert h.dtype == torch.float32 and torch.isfinite(h)
    with pytest.raises(InputError, match="mask broadcastable"):
        vl.ghm_r_loss(torch.zeros(2, 4), torch.zeros(2, 4), mask=torch.ones(3))
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    t = torch.randn(3, 4, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda v: vl.ghm_r_loss(v, t, bins=4), (x,))
