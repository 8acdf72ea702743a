"""focal_tversky_loss: the paper's conventions, and smp's exponent placement.

No peer ships the paper's loss. smp's ``TverskyLoss(gamma=g)`` raises the class-mean Tversky
loss to ``g`` (``loss.mean() ** gamma`` in ``aggregate_loss``): that equals ours only with a
single class; with several it is another loss (a defect against Abraham and Khan, who apply
the exponent to each class before summing). Where they differ we test against the float64
reference.
"""

from __future__ import annotations

import pytest
import torch
from segmentation_models_pytorch.losses import TverskyLoss as SmpTversky

import visionloss as vl
from tests.helpers import grads
from tests.reference import segmentation as ref
from tests.segmentation.cases import labels, logits


def test_matches_smp_with_one_class():
    """smp binary mode has one class, where the mean and the per-class exponent commute."""
    x = logits((2, 1, 4, 5))
    t = labels(num_classes=2, absent=False).unsqueeze(1).double()
    peer = SmpTversky("binary", alpha=0.3, beta=0.7, gamma=0.75)
    v, (g,) = grads(lambda a: vl.focal_tversky_loss(a, t, activation="sigmoid", per_image=False), x)
    pv, (pg,) = grads(lambda a: peer(a, t), x)
    torch.testing.assert_close(v, pv)
    torch.testing.assert_close(g, pg)


def test_smp_multiclass_exponent_after_the_mean_is_a_different_loss():
    x, t = logits(), labels()
    ours = vl.focal_tversky_loss(x, t, per_image=False)
    expected = ref.overlap(x, t, ref.tversky(0.3, 0.7), exponent=0.75, per_image=False)
    torch.testing.assert_close(ours, expected)
    smp = SmpTversky("multiclass", alpha=0.3, beta=0.7, gamma=0.75)(x, t)
    # mean(l)^0.75 >= mean(l^0.75) (concavity), equality only if all classes have equal loss
    assert smp > ours


def test_paper_setting_and_mapping():
    """Abraham and Khan: FTL = sum_c (1 - TI_c)^(1/gamma) with gamma = 4/3, alpha = 0.7 on the
    false negatives. Here: exponent gamma = 0.75 and beta = 0.7 on the false negatives."""
    p = torch.tensor([[[[1.0, 1.0, 0.0, 0.0]]]])
    t = torch.tensor([[[1, 0, 1, 1]]])  # TP 1, FP 1, FN 2
    paper_ti = 1 / (1 + 0.7 * 2 + 0.3 * 1)  # paper: alpha (0.7) on FN, beta (0.3) on FP
    out = vl.focal_tversky_loss(p, t, activation="none")
    torch.testing.assert_close(out, torch.tensor((1 - paper_ti) ** (1 / (4 / 3))))


def test_gamma_one_is_tversky_and_gamma_below_one_raises_small_losses():
    x, t = logits(), labels()
    torch.testing.assert_close(vl.focal_tversky_loss(x, t, gamma=1.0), vl.tversky_loss(x, t))
    per_pair = vl.tversky_loss(x, t, reduction="none")
    focal = vl.focal_tversky_loss(x, t, gamma=0.5, reduction="none")
    torch.testing.assert_close(focal, per_pair.sqrt())


def test_perfect_prediction_gradient_is_zero_not_nan():
    t = labels(absent=False)
    p = torch.nn.functional.one_hot(t, 3).movedim(-1, 1).double().requires_grad_()
    out = vl.focal_tversky_loss(p, t, activation="none", gamma=0.5)
    (g,) = torch.autograd.grad(out, p)
    assert out.item() == 0.0 and torch.equal(g, torch.zeros_like(g))


@pytest.mark.parametrize("gamma", [0.0, -1.0])
def test_gamma_must_be_positive(gamma):
    with pytest.raises(ValueError, match="focal_tversky_loss: expected gamma > 0"):
        vl.focal_tversky_loss(logits(), labels(), gamma=gamma)
    with pytest.raises(ValueError, match="FocalTverskyLoss: expected gamma > 0"):
        vl.FocalTverskyLoss(gamma=gamma)
