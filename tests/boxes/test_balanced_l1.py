"""balanced_l1_loss against mmdetection's formula (tests/reference/detection.py)."""

from __future__ import annotations

import pytest
import torch

import visionloss as vl
from tests.reference import detection as ref
from visionloss.errors import OptionError


@pytest.mark.parametrize("alpha, gamma, beta", [(0.5, 1.5, 1.0), (1.0, 2.0, 0.5), (0.3, 1.0, 2.0)])
def test_matches_mmdet(alpha, gamma, beta):
    # mmdet averages the elementwise loss over the 4 N coordinates: ours (a sum over the four
    # coordinates of a box, averaged over boxes) is 4 times that
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(20, 4, generator=g, dtype=torch.float64, requires_grad=True)
    target = torch.randn(20, 4, generator=g, dtype=torch.float64)
    ours = vl.balanced_l1_loss(pred, target, alpha=alpha, gamma=gamma, beta=beta)
    p2 = pred.detach().clone().requires_grad_(True)
    theirs = ref.balanced_l1_loss(p2, target, beta=beta, alpha=alpha, gamma=gamma).mean()
    torch.testing.assert_close(ours, 4 * theirs)
    ours.backward()
    (4 * theirs).backward()
    torch.testing.assert_close(pred.grad, p2.grad)


def test_continuity_gradients_and_hand_value():
    # value and gradient are continuous at |d| = beta (alpha ln(b + 1) = gamma)
    d = torch.tensor([1.0 - 1e-9, 1.0 + 1e-9], dtype=torch.float64, requires_grad=True)
    z = torch.zeros(2, 3, dtype=torch.float64)
    out = vl.balanced_l1_loss(torch.cat([d[:, None], z], 1), torch.zeros(2, 4).double(),
                              reduction="none")  # fmt: skip
    torch.testing.assert_close(out[0], out[1], atol=1e-8, rtol=0)
    (g,) = torch.autograd.grad(out.sum(), d)
    torch.testing.assert_close(g, torch.full((2,), 1.5, dtype=torch.float64))
    # identical boxes: 0 with a zero gradient (d ln(b d + 1) at 0 is alpha - alpha = 0)
    p = torch.ones(1, 4, requires_grad=True)
    loss = vl.balanced_l1_loss(p, torch.ones(1, 4))
    (gp,) = torch.autograd.grad(loss, p)
    assert loss == 0 and (gp == 0).all()


def test_degenerate_and_errors():
    e = vl.balanced_l1_loss(torch.zeros(0, 4, requires_grad=True), torch.zeros(0, 4))
    assert e == 0 and e.requires_grad
    h = vl.balanced_l1_loss(torch.randn(5, 4).half(), torch.randn(5, 4).half())
    assert h.dtype == torch.float32 and torch.isfinite(h)
    with pytest.raises(OptionError, match="beta > 0"):
        vl.balanced_l1_loss(torch.zeros(1, 4), torch.zeros(1, 4), beta=0.0)
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    t = torch.randn(3, 4, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda v: vl.balanced_l1_loss(v, t, beta=0.7), (x,))
