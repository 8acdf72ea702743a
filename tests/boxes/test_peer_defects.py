"""Defects of the peer box-loss implementations that ours avoids (issue 4), each asserted where
it can be checked on the CPU with what is installed, else demonstrated on the formula the peer
computes (see also ``test_torchvision.py::test_torchvision_defects_we_avoid``)."""

from __future__ import annotations

import pytest
import torch

import visionloss as vl
from tests.helpers import assert_finite_graph


def _naive_giou(pred, target, eps=1e-6):
    """GIoU as mmdetection's ``bbox_overlaps(mode="giou", is_aligned=True)`` and Ultralytics'
    ``bbox_iou(..., GIoU=True)`` compute it: every product (areas, intersection, enclosing
    area) in the input dtype. Written here because neither library is a dependency."""
    area_p = (pred[..., 2] - pred[..., 0]) * (pred[..., 3] - pred[..., 1])
    area_t = (target[..., 2] - target[..., 0]) * (target[..., 3] - target[..., 1])
    lt = torch.maximum(pred[..., :2], target[..., :2])
    rb = torch.minimum(pred[..., 2:], target[..., 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = (area_p + area_t - inter).clamp(min=eps)
    enclose = torch.maximum(pred[..., 2:], target[..., 2:]) - torch.minimum(
        pred[..., :2], target[..., :2]
    )
    c_area = (enclose[..., 0] * enclose[..., 1]).clamp(min=eps)
    return inter / union - (c_area - union) / c_area


def test_fp16_300px_boxes_naive_area_product_is_nan_ours_is_finite():
    """mmdetection and Ultralytics give NaN for ~300 px boxes in fp16 (issue 4; neither is
    installed, so the mechanism is shown on the formula they compute): a 300 x 300 area is
    90,000 > 65,504 (the fp16 maximum), so the areas, the union and the enclosing area are inf
    and ``(c_area - union) / c_area`` is inf / inf = NaN. Ours computes in fp32 for fp16
    inputs and matches float64."""
    pred = torch.tensor([[100.0, 100.0, 400.0, 400.0], [0.0, 0.0, 310.0, 290.0]])
    target = torch.tensor([[120.0, 90.0, 410.0, 380.0], [20.0, 30.0, 330.0, 300.0]])
    exact = 1 - _naive_giou(pred.double(), target.double())
    assert torch.isfinite(exact).all()
    naive_fp16 = 1 - _naive_giou(pred.half(), target.half())
    assert torch.isnan(naive_fp16).all()

    leaf = pred.half().requires_grad_(True)
    ours = vl.giou_loss(leaf, target.half(), reduction="none")
    assert ours.dtype == torch.float32
    torch.testing.assert_close(ours.double(), exact, rtol=1e-3, atol=1e-3)
    assert_finite_graph(ours.sum(), leaf)


def _graph_breaks(fn, pred, target) -> tuple[int, list[str]]:
    torch._dynamo.reset()
    try:
        explained = torch._dynamo.explain(fn)(pred, target)
    finally:
        torch._dynamo.reset()
    return explained.graph_break_count, [str(r.reason) for r in explained.break_reasons]


@pytest.mark.slow  # dynamo's first trace takes a few seconds
def test_torchvision_boolean_mask_indexing_breaks_the_graph_ours_does_not():
    """torchvision's box losses compute the intersection as ``intsctk[mask] = ...`` with a
    boolean mask (``ops._utils._loss_inter_union``): a data-dependent ``nonzero``, which is a
    host sync on CUDA and a graph break under torch.compile. Ours uses ``clamp`` and
    ``where`` only: one graph."""
    tvo = pytest.importorskip("torchvision.ops")
    pred = torch.tensor([[0.0, 0.0, 2.0, 3.0], [1.0, 1.0, 4.0, 4.0]])
    target = torch.tensor([[1.0, 0.5, 3.5, 2.5], [0.0, 0.0, 1.0, 1.0]])
    breaks, reasons = _graph_breaks(
        lambda p, t: tvo.complete_box_iou_loss(p, t, reduction="sum"), pred, target
    )
    assert breaks > 0
    assert any("nonzero" in r or "dynamic shape" in r.lower() for r in reasons), reasons
    ours, _ = _graph_breaks(lambda p, t: vl.ciou_loss(p, t, reduction="sum"), pred, target)
    assert ours == 0


@pytest.mark.gpu
def test_torchvision_boolean_mask_indexing_syncs_on_cuda_ours_does_not():
    """The same defect seen as a host sync: CUDA's sync debug mode raises on torchvision's
    ``nonzero`` and stays silent on ours."""
    tvo = pytest.importorskip("torchvision.ops")
    pred = torch.tensor([[0.0, 0.0, 2.0, 3.0], [1.0, 1.0, 4.0, 4.0]], device="cuda")
    target = torch.tensor([[1.0, 0.5, 3.5, 2.5], [0.0, 0.0, 1.0, 1.0]], device="cuda")
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        vl.ciou_loss(pred, target)
        with pytest.raises(RuntimeError, match="synchroniz"):
            tvo.complete_box_iou_loss(pred, target)
    finally:
        torch.cuda.set_sync_debug_mode("default")
