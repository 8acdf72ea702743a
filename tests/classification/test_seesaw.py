"""seesaw_loss and SeesawLoss against mmdetection's seesaw_ce_loss
(tests/reference/detection.py)."""

from __future__ import annotations

import pytest
import torch

import visionloss as vl
from tests.reference import detection as ref
from visionloss.errors import InputError, OptionError


def _case(seed=0, n=20, c=6):
    g = torch.Generator().manual_seed(seed)
    x = 2 * torch.randn(n, c, generator=g, dtype=torch.float64)
    y = torch.randint(0, c, (n,), generator=g)
    counts = torch.tensor([1000.0, 300.0, 50.0, 5.0, 0.0, 20.0], dtype=torch.float64)[:c]
    return x, y, counts


@pytest.mark.parametrize("p, q", [(0.8, 2.0), (0.8, 0.0), (0.0, 2.0), (1.5, 1.0)])
def test_matches_mmdet(p, q):
    x, y, counts = _case()
    x.requires_grad_(True)
    ours = vl.seesaw_loss(x, y, p=p, q=q, class_counts=counts, reduction="none")
    x2 = x.detach().clone().requires_grad_(True)
    theirs = ref.seesaw_ce_loss(x2, y, counts, p=p, q=q)
    torch.testing.assert_close(ours, theirs)
    ours.sum().backward()
    theirs.sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)


def test_zero_exponents_are_cross_entropy_and_batch_counts():
    x, y, counts = _case(1)
    torch.testing.assert_close(
        vl.seesaw_loss(x, y, p=0.0, q=0.0, class_counts=counts), vl.cross_entropy_loss(x, y)
    )
    batch = torch.bincount(y, minlength=6).double()
    torch.testing.assert_close(vl.seesaw_loss(x, y), vl.seesaw_loss(x, y, class_counts=batch))


def test_module_accumulates_counts_like_mmdet():
    # mmdet's SeesawLoss adds the batch's labels to cum_samples before the loss
    crit = vl.SeesawLoss(num_classes=6)
    cum = torch.zeros(6, dtype=torch.float64)
    for seed in range(3):
        x, y, _ = _case(seed)
        cum += torch.bincount(y, minlength=6).double()
        torch.testing.assert_close(crit(x, y), ref.seesaw_ce_loss(x, y, cum).mean())
    torch.testing.assert_close(crit.class_counts, cum.float())
    crit.eval()
    before = crit.class_counts.clone()
    crit(*_case(5)[:2])
    assert torch.equal(crit.class_counts, before)
    other = vl.SeesawLoss(num_classes=6)
    other.load_state_dict(crit.state_dict())
    assert torch.equal(other.class_counts, before)


def test_degenerate_and_errors():
    x = torch.tensor([[1e4, -1e4, 0.0]], requires_grad=True)
    out = vl.seesaw_loss(x, torch.tensor([1]), class_counts=torch.tensor([5.0, 1.0, 0.0]))
    (g,) = torch.autograd.grad(out, x)
    assert torch.isfinite(out) and torch.isfinite(g).all()
    ign = vl.seesaw_loss(x, torch.tensor([-1]), ignore_index=-1)
    assert ign == 0 and ign.requires_grad
    with pytest.raises(InputError, match=r"class_counts of shape \(3,\)"):
        vl.seesaw_loss(x, torch.tensor([0]), class_counts=torch.ones(4))
    with pytest.raises(InputError, match="num_classes=4"):
        vl.seesaw_loss(x, torch.tensor([0]), num_classes=4)
    with pytest.raises(OptionError, match="num_classes >= 1"):
        vl.SeesawLoss(num_classes=0)
    xs, ys, counts = _case(2, n=4, c=4)
    xs.requires_grad_(True)
    # the compensation factor is a constant of the loss (detached, as mmdet's): gradcheck of the
    # differentiable part, q = 0
    assert torch.autograd.gradcheck(
        lambda v: vl.seesaw_loss(v, ys, q=0.0, class_counts=counts), (xs,)
    )
