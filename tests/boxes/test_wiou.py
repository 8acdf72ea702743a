"""Wise-IoU: the running mean of 1 - IoU lives in a Module buffer, updated without host syncs;
the Module against a float64 transcription of the authors' code (``tests/reference/boxes.py``,
citing its lines), with their constants of March 2023 (our defaults) and of January 2024.

Convention mapping (ours <- the authors' ``IouLoss(ltype="WIoU", monotonous=m)``):
``WIoULoss(version="v3" if m is False else "v2", momentum=momentum, alpha=alpha, delta=delta,
gamma=0.5, reduction="none")`` in training mode (``monotonous=True`` is ``sqrt(beta)``, our
``gamma=0.5``); both update the running mean before using it, both start it at 1.
"""

from __future__ import annotations

import pytest
import torch

import visionloss as vl
from tests.boxes.cases import random_boxes
from tests.reference import boxes as ref


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


@pytest.mark.parametrize(
    "constants",
    [
        pytest.param(ref.WIOU_AUTHORS_2023, id="march-2023-our-defaults"),
        pytest.param(ref.WIOU_AUTHORS_2024, id="january-2024"),
    ],
)
@pytest.mark.parametrize("monotonous", [False, True], ids=["v3", "v2"])
def test_module_matches_the_authors_code(constants, monotonous):
    """Three training steps on different batches: the per-box losses, their gradients and the
    running mean equal the authors'."""
    authors = ref.WIoUAuthors(**constants, monotonous=monotonous)
    crit = vl.WIoULoss(
        version="v2" if monotonous else "v3", gamma=0.5, reduction="none", **constants
    ).double()
    for step in range(3):
        pred, target = random_boxes(8, seed=step)
        pred = pred.requires_grad_(True)
        ours = crit(pred, target)
        (g,) = torch.autograd.grad(ours.sum(), pred)
        theirs = authors(pred, target)
        (rg,) = torch.autograd.grad(theirs.sum(), pred)
        torch.testing.assert_close(ours, theirs)
        torch.testing.assert_close(g, rg)
        torch.testing.assert_close(crit.iou_mean, authors.iou_mean)


def test_defaults_are_the_papers_and_the_authors_code_of_march_2023():
    """alpha = 1.9, delta = 3 (the paper's v3 setting, and the authors' code of March 2023);
    momentum 1 - 0.5^(1/7000) (that code's; the repository now uses 1e-2, 1.7, 2.7)."""
    crit = vl.WIoULoss()
    assert crit.alpha == ref.WIOU_AUTHORS_2023["alpha"]
    assert crit.delta == ref.WIOU_AUTHORS_2023["delta"]
    assert crit.momentum == ref.WIOU_AUTHORS_2023["momentum"]
    assert crit.version == "v3" and crit.gamma == 0.5


def test_a_running_mean_of_zero_is_used_as_the_smallest_normal_float():
    """momentum 1 after a batch of perfect boxes leaves the mean at 0 (beta undefined): the
    Module uses the smallest normal float32 there, the limit of a vanishing mean (v3's gain
    goes to 0), where the function refuses ``iou_mean=0``."""
    pred, target = random_boxes(4)
    crit = vl.WIoULoss(momentum=1.0).double()
    torch.testing.assert_close(crit(target, target), torch.zeros((), dtype=torch.float64))
    assert crit.iou_mean.item() == 0.0
    crit.eval()
    value = crit(pred, target)
    assert torch.isfinite(value) and value.item() == 0.0
    with pytest.raises(ValueError, match=r"wiou_loss: expected iou_mean in \(0, 1\]"):
        vl.wiou_loss(pred, target, iou_mean=0.0)
