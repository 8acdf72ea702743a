"""Wise-IoU: the running mean of 1 - IoU lives in a Module buffer, updated without host syncs."""

from __future__ import annotations

import pytest
import torch

import visionloss as vl
from tests.boxes.cases import random_boxes


def _liou(pred, target):
    return 1 - vl.box_iou(pred, target, paired=True)


def test_buffer_updates_in_training_then_is_used():
    pred, target = random_boxes(8)
    crit = vl.WIoULoss(version="v3", momentum=0.25).double()
    assert crit.iou_mean.item() == 1.0 and "iou_mean" in crit.state_dict()
    out = crit(pred, target)
    expected_mean = 0.75 * 1.0 + 0.25 * _liou(pred, target).mean()
    torch.testing.assert_close(crit.iou_mean, expected_mean)
    torch.testing.assert_close(out, vl.wiou_loss(pred, target, iou_mean=expected_mean))


def test_eval_mode_reads_without_updating():
    pred, target = random_boxes(8)
    crit = vl.WIoULoss(version="v2", momentum=0.5).double().eval()
    crit.iou_mean.fill_(0.3)
    out = crit(pred, target)
    assert crit.iou_mean.item() == 0.3
    torch.testing.assert_close(out, vl.wiou_loss(pred, target, version="v2", iou_mean=0.3))


def test_v1_does_not_touch_the_buffer():
    pred, target = random_boxes(4)
    crit = vl.WIoULoss(version="v1", momentum=0.5)
    torch.testing.assert_close(
        crit(pred, target).double(), vl.wiou_loss(pred, target, version="v1")
    )
    assert crit.iou_mean.item() == 1.0


def test_weighted_batch_mean_ignores_padding_and_empty_batches_keep_the_mean():
    pred, target = random_boxes(6)
    w = torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0, 0.0], dtype=torch.float64)
    crit = vl.WIoULoss(momentum=1.0).double()
    crit(pred, target, weight=w)
    torch.testing.assert_close(crit.iou_mean, _liou(pred[:3], target[:3]).mean())
    crit(pred, target, weight=torch.zeros(6, dtype=torch.float64))
    torch.testing.assert_close(crit.iou_mean, _liou(pred[:3], target[:3]).mean())
    crit(torch.zeros(0, 4), torch.zeros(0, 4))
    torch.testing.assert_close(crit.iou_mean, _liou(pred[:3], target[:3]).mean())


def test_functional_default_is_the_batch_mean():
    pred, target = random_boxes(5)
    mean = _liou(pred, target).mean()
    torch.testing.assert_close(
        vl.wiou_loss(pred, target), vl.wiou_loss(pred, target, iou_mean=mean)
    )


def test_v3_gain_is_non_monotonic_with_maximum_near_delta():
    """r = beta / (delta alpha^(beta - delta)) peaks at beta = 1 / ln(alpha) and equals 1 at
    beta = delta (Tong et al., Fig. 5)."""
    p = torch.tensor([[0.0, 0.0, 1.0, 1.0]], dtype=torch.float64)
    v1 = vl.wiou_loss(p, p + 0.3, version="v1")
    liou = _liou(p, p + 0.3)
    r = vl.wiou_loss(p, p + 0.3, version="v3", iou_mean=liou / 3.0) / v1
    torch.testing.assert_close(r, torch.tensor(1.0, dtype=torch.float64))


@pytest.mark.gpu
def test_module_update_has_no_host_sync_on_cuda():
    pred, target = (x.cuda() for x in random_boxes(64, dtype=torch.float32))
    crit = vl.WIoULoss().cuda()
    torch.cuda.set_sync_debug_mode("error")
    try:
        crit(pred.requires_grad_(True), target).backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")
