"""quality_focal_loss and varifocal_loss against mmdetection's formulas (float64 references
in tests/reference/detection.py) and ultralytics' VarifocalLoss."""

from __future__ import annotations

import pytest
import torch

import visionloss as vl
from tests.reference import detection as ref
from visionloss.errors import InputError, OptionError


def _dense(n: int = 12, c: int = 5, seed: int = 0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = (3 * torch.randn(n, c, generator=g, dtype=torch.float64)).to(dtype)
    label = torch.randint(0, c + 1, (n,), generator=g)  # c: background
    score = torch.rand(n, generator=g, dtype=torch.float64).to(dtype)
    target = torch.zeros(n, c, dtype=dtype)
    pos = label < c
    target[pos.nonzero().squeeze(1), label[pos]] = score[pos]
    return x, label, score, target


@pytest.mark.parametrize("beta", [2.0, 1.0, 0.5])
def test_qfl_matches_mmdet_label_form(beta):
    # mmdet's (label, score) form with background index C == our dense target; its sum over
    # classes per anchor == reduction="none" summed over dim 1
    x, label, score, target = _dense()
    x.requires_grad_(True)
    ours = vl.quality_focal_loss(x, target, beta=beta, reduction="none").sum(1)
    x2 = x.detach().clone().requires_grad_(True)
    theirs = ref.quality_focal_loss(x2, label, score, beta=beta)
    torch.testing.assert_close(ours, theirs)
    ours.sum().backward()
    theirs.sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)


def test_qfl_hand_value_and_target_constant():
    x = torch.tensor([[2.0]], dtype=torch.float64)
    y = torch.tensor([[0.8]], dtype=torch.float64, requires_grad=True)
    p = torch.sigmoid(x)
    bce = -(0.8 * torch.log(p) + 0.2 * torch.log(1 - p))
    expected = (0.8 - p).abs() ** 2 * bce
    out = vl.quality_focal_loss(x, y)
    torch.testing.assert_close(out, expected.reshape(()))
    assert not out.requires_grad  # the target is a constant and x needs no grad


def test_qfl_normalizer_avg_factor():
    x, label, score, target = _dense()
    num_pos = int((label < 5).sum())
    out = vl.quality_focal_loss(x, target, normalizer=num_pos)
    torch.testing.assert_close(out, ref.quality_focal_loss(x, label, score).sum() / num_pos)


@pytest.mark.parametrize("iou_weighted", [True, False])
@pytest.mark.parametrize("alpha, gamma", [(0.75, 2.0), (0.25, 1.5)])
def test_vfl_matches_mmdet(alpha, gamma, iou_weighted):
    x, _, _, target = _dense(seed=1)
    x.requires_grad_(True)
    ours = vl.varifocal_loss(
        x, target, alpha=alpha, gamma=gamma, iou_weighted=iou_weighted, reduction="none"
    )
    x2 = x.detach().clone().requires_grad_(True)
    theirs = ref.varifocal_loss(x2, target, alpha, gamma, iou_weighted)
    torch.testing.assert_close(ours, theirs)
    ours.sum().backward()
    theirs.sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)


def test_vfl_matches_ultralytics():
    from ultralytics.utils.loss import VarifocalLoss

    # ultralytics: forward(pred_score, gt_score, label) with label the one-hot of the positive
    # class (gt_score > 0 there), reduction .mean(1).sum() over (B, Q, C): ours "none" then the
    # same reduction. Both: weight alpha p^gamma (1 - label) + gt_score label, not detached.
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 6, 4, generator=g, dtype=torch.float64, requires_grad=True)
    score = torch.rand(2, 6, 4, generator=g, dtype=torch.float64)
    label = (torch.rand(2, 6, 4, generator=g) < 0.3).to(torch.float64)
    gt = score * label
    ours = vl.varifocal_loss(x, gt, reduction="none").mean(1).sum()
    x2 = x.detach().clone().requires_grad_(True)
    theirs = VarifocalLoss(gamma=2.0, alpha=0.75)(x2, gt, label)
    torch.testing.assert_close(ours, theirs.to(ours.dtype), rtol=1e-6, atol=1e-7)
    ours.backward()
    theirs.backward()
    torch.testing.assert_close(x.grad, x2.grad.to(x.dtype), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("fn", [vl.quality_focal_loss, vl.varifocal_loss], ids=["qfl", "vfl"])
def test_degenerate_no_positive_saturated_fp16_empty(fn):
    x = torch.tensor([[1e4, -1e4, 0.0]], requires_grad=True)
    out = fn(x, torch.zeros_like(x))  # no positive
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(x.grad).all()
    empty = torch.zeros(0, 3, requires_grad=True)
    e = fn(empty, torch.zeros(0, 3))
    assert e == 0 and e.requires_grad
    half = fn(torch.randn(4, 3).half(), torch.rand(4, 3).half())
    assert half.dtype == torch.float32 and torch.isfinite(half)


@pytest.mark.parametrize("fn", [vl.quality_focal_loss, vl.varifocal_loss], ids=["qfl", "vfl"])
def test_bad_inputs(fn):
    with pytest.raises(InputError, match=r"expected target values in \[0, 1\]"):
        fn(torch.zeros(2, 3), torch.full((2, 3), 1.5))
    with pytest.raises(InputError, match="matching input"):
        fn(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(OptionError, match="normalizer"):
        fn(torch.zeros(2, 3), torch.zeros(2, 3), normalizer=2.0, reduction="sum")


def test_gradcheck():
    x, _, _, target = _dense(n=4, c=3)
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda v: vl.quality_focal_loss(v, target, beta=1.5), (x,))
    assert torch.autograd.gradcheck(lambda v: vl.varifocal_loss(v, target), (x,))
