"""asymmetric_loss and softmax_asymmetric_loss against timm's AsymmetricLossMultiLabel and
AsymmetricLossSingleLabel (the authors' code)."""

from __future__ import annotations

import math

import pytest
import torch
from timm.loss import AsymmetricLossMultiLabel, AsymmetricLossSingleLabel

import visionloss as vl
from visionloss.errors import InputError


def _multilabel(seed=0, n=8, c=6):
    g = torch.Generator().manual_seed(seed)
    x = 3 * torch.randn(n, c, generator=g)
    y = (torch.rand(n, c, generator=g) < 0.3).float()
    return x, y


@pytest.mark.parametrize(
    "gamma_pos, gamma_neg, clip, detach",
    [(1.0, 4.0, 0.05, False), (0.0, 4.0, 0.05, False), (2.0, 1.0, 0.0, False),
     (1.0, 4.0, 0.2, True)],
)  # fmt: skip
def test_multilabel_matches_timm(gamma_pos, gamma_neg, clip, detach):
    # timm computes in float32, clamps probabilities at eps=1e-8 before the logs (no effect
    # for |logits| < 18) and its "sum" reduction is the authors' (ours reduction="sum")
    x, y = _multilabel()
    x.requires_grad_(True)
    ours = vl.asymmetric_loss(
        x, y, gamma_pos=gamma_pos, gamma_neg=gamma_neg, clip=clip, detach_focusing=detach,
        reduction="sum",
    )  # fmt: skip
    x2 = x.detach().clone().requires_grad_(True)
    peer = AsymmetricLossMultiLabel(
        gamma_neg=gamma_neg, gamma_pos=gamma_pos, clip=clip,
        disable_torch_grad_focal_loss=detach, reduction="sum",
    )  # fmt: skip
    theirs = peer(x2, y)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    ours.backward()
    theirs.backward()
    torch.testing.assert_close(x.grad, x2.grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("gamma_pos, gamma_neg", [(1.0, 4.0), (0.0, 2.0)])
def test_single_label_matches_timm(gamma_pos, gamma_neg, smoothing):
    g = torch.Generator().manual_seed(2)
    x = torch.randn(10, 5, generator=g, requires_grad=True)
    y = torch.randint(0, 5, (10,), generator=g)
    ours = vl.softmax_asymmetric_loss(
        x, y, gamma_pos=gamma_pos, gamma_neg=gamma_neg, label_smoothing=smoothing
    )
    x2 = x.detach().clone().requires_grad_(True)
    theirs = AsymmetricLossSingleLabel(gamma_pos=gamma_pos, gamma_neg=gamma_neg, eps=smoothing)(
        x2, y
    )
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    ours.backward()
    theirs.backward()
    torch.testing.assert_close(x.grad, x2.grad, rtol=1e-4, atol=1e-6)


def test_margin_discards_easy_negatives_and_saturation():
    x = torch.tensor([[-4.0, 60.0, -60.0]], requires_grad=True)
    y = torch.tensor([[0.0, 0.0, 1.0]])
    out = vl.asymmetric_loss(x, y, reduction="none")
    assert out[0, 0] == 0  # p = 0.018 < clip
    # a saturated wrong negative costs p_m^4 (-log(1 - p_m)) with p_m = 1 - clip (the margin
    # bounds it); a saturated wrong positive costs about the logit (timm caps it at -log 1e-8)
    torch.testing.assert_close(out[0, 1], torch.tensor(-(0.95**4) * math.log(0.05)))
    torch.testing.assert_close(out[0, 2], torch.tensor(60.0))
    out.sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad[0, 0] == 0


def test_degenerate_and_errors():
    e = vl.asymmetric_loss(torch.zeros(0, 4, requires_grad=True), torch.zeros(0, 4))
    assert e == 0 and e.requires_grad
    half = vl.asymmetric_loss(torch.randn(4, 3).half(), torch.ones(4, 3).half())
    assert half.dtype == torch.float32 and torch.isfinite(half)
    with pytest.raises(InputError, match="integer class indices"):
        vl.softmax_asymmetric_loss(torch.zeros(2, 3), torch.full((2, 3), 0.5))


def test_gradcheck():
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    y = (torch.rand(3, 4) < 0.5).double()
    assert torch.autograd.gradcheck(lambda v: vl.asymmetric_loss(v, y, clip=0.0), (x,))
    idx = torch.tensor([0, 2, 3])
    assert torch.autograd.gradcheck(
        lambda v: vl.softmax_asymmetric_loss(v, idx, label_smoothing=0.1), (x,)
    )
