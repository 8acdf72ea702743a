"""The GIoU / DIoU / CIoU losses against torchvision.ops: its published golden values and
differential tests on random valid boxes (values and gradients).

Convention mapping: torchvision's ``*_box_iou_loss(boxes1, boxes2, reduction, eps)`` take
``xyxy`` boxes and add ``eps`` to the union and the squared diagonal; with ``eps=0`` they are the
same quantities as ours on valid boxes (ours guard empty denominators instead). torchvision's
CIoU also holds alpha constant (it computes it under ``torch.no_grad``). The default reduction
is ``"none"`` there and ``"mean"`` here.
"""

from __future__ import annotations

import pytest
import torch
import torchvision.ops as tvo

import visionloss as vl
from tests.boxes.cases import random_boxes
from tests.helpers import grads

# torchvision's test boxes: test/test_ops.py (TestGeneralizedBoxIouLoss and friends)
BOX1 = [-1.0, -1.0, 1.0, 1.0]
BOX2 = [0.0, 0.0, 1.0, 1.0]
BOX3 = [0.0, 1.0, 1.0, 2.0]
BOX4 = [1.0, 1.0, 2.0, 2.0]
PAIRS = torch.tensor([[BOX1, BOX2], [BOX1, BOX3], [BOX2, BOX3], [BOX2, BOX4]])

PEERS = [
    pytest.param(vl.giou_loss, tvo.generalized_box_iou_loss, id="giou"),
    pytest.param(vl.diou_loss, tvo.distance_box_iou_loss, id="diou"),
    pytest.param(vl.ciou_loss, tvo.complete_box_iou_loss, id="ciou"),
]


@pytest.mark.parametrize(
    "fn, pairs, published",
    [
        pytest.param(
            vl.giou_loss, [(BOX1, BOX2), (BOX2, BOX3), (BOX2, BOX4)], [0.75, 1.0, 1.5], id="giou"
        ),
        pytest.param(
            vl.diou_loss,
            [(BOX1, BOX2), (BOX1, BOX3), (BOX2, BOX4)],
            [0.8125, 1.1923, 1.25],
            id="diou",
        ),
        pytest.param(
            vl.ciou_loss,
            [(BOX1, BOX2), (BOX1, BOX3), (BOX2, BOX4)],
            [0.8125, 1.1923, 1.25],
            id="ciou",
        ),
    ],
)
def test_torchvision_golden_values(fn, pairs, published):
    pred, target = torch.tensor([p for p, _ in pairs]), torch.tensor([t for _, t in pairs])
    out = fn(pred, target, reduction="none")
    torch.testing.assert_close(out, torch.tensor(published), atol=1e-4, rtol=0)


@pytest.mark.parametrize("fn, peer", PEERS)
def test_identical_and_mean_reduction_golden(fn, peer):
    boxes = PAIRS[:, 0]
    assert fn(boxes, boxes, reduction="sum").item() == 0.0
    torch.testing.assert_close(
        fn(PAIRS[:, 0], PAIRS[:, 1]), peer(PAIRS[:, 0], PAIRS[:, 1], reduction="mean", eps=0.0)
    )


@pytest.mark.parametrize("fn, peer", PEERS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_differential_values_and_gradients(fn, peer, seed):
    pred, target = random_boxes(64, seed=seed)
    value, (gp, gt) = grads(fn, pred, target, reduction="none")
    expected, (rp, rt) = grads(lambda a, b: peer(a, b, reduction="none", eps=0.0), pred, target)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(gp, rp)
    torch.testing.assert_close(gt, rt)


def test_torchvision_defects_we_avoid():
    """torchvision: CIoU of [0,0,0,0] with itself is NaN, a zero-height box has a NaN
    gradient. Ours: 1 (IoU of empty boxes is 0) and finite gradients."""
    z = torch.zeros(1, 4)
    assert torch.isnan(tvo.complete_box_iou_loss(z, z)).all()
    assert vl.ciou_loss(z, z).item() == 1.0
    flat = torch.tensor([[0.0, 1.0, 2.0, 1.0]], requires_grad=True)
    target = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    (g_peer,) = torch.autograd.grad(tvo.complete_box_iou_loss(flat, target, reduction="sum"), flat)
    assert torch.isnan(g_peer).any()
    (g,) = torch.autograd.grad(vl.ciou_loss(flat, target), flat)
    assert torch.isfinite(g).all()
