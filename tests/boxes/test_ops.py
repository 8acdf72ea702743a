"""Box geometry (formats, area, IoU / GIoU / DIoU / CIoU similarities) against torchvision.ops
and the float64 references.

Convention mapping: torchvision's ``box_iou`` family is pairwise ``(N, 4) x (M, 4) -> (N, M)``
on ``xyxy`` boxes, like ours with ``paired=False``; ours also takes ``box_format`` and
``paired=True`` (elementwise). torchvision's ``box_iou`` divides by the union without a guard
(NaN for empty unions), ours returns 0 there.
"""

from __future__ import annotations

import pytest
import torch
import torchvision.ops as tvo

import visionloss as vl
from tests.boxes.cases import DEGENERATE, random_boxes
from tests.helpers import assert_finite_graph
from tests.reference import boxes as ref

SIMILARITIES = [
    pytest.param(vl.box_iou, tvo.box_iou, ref.iou, id="iou"),
    pytest.param(vl.generalized_box_iou, tvo.generalized_box_iou, ref.giou, id="giou"),
    pytest.param(vl.distance_box_iou, tvo.distance_box_iou, ref.diou, id="diou"),
    pytest.param(vl.complete_box_iou, tvo.complete_box_iou, ref.ciou, id="ciou"),
]


@pytest.mark.parametrize("ours, peer, reference", SIMILARITIES)
def test_pairwise_matches_torchvision(ours, peer, reference):
    a, _ = random_boxes(7, seed=1)
    b, _ = random_boxes(5, seed=2)
    torch.testing.assert_close(ours(a, b), peer(a, b))


@pytest.mark.parametrize("ours, peer, reference", SIMILARITIES)
def test_paired_is_the_diagonal_and_matches_reference(ours, peer, reference):
    a, b = random_boxes(9, seed=3)
    paired = ours(a, b, paired=True)
    torch.testing.assert_close(paired, ours(a, b).diagonal())
    torch.testing.assert_close(paired, ref.per_box(reference, a, b))
    assert ours(a.reshape(3, 3, 4), b.reshape(3, 3, 4), paired=True).shape == (3, 3)


@pytest.mark.parametrize("ours, peer, reference", SIMILARITIES)
@pytest.mark.parametrize("box_format", ["xywh", "cxcywh"])
def test_formats(ours, peer, reference, box_format):
    a, b = random_boxes(6, seed=4)
    conv = [vl.box_convert(x, "xyxy", box_format) for x in (a, b)]
    torch.testing.assert_close(ours(*conv, box_format=box_format), ours(a, b))


@pytest.mark.parametrize("ours, peer, reference", SIMILARITIES)
@pytest.mark.parametrize("pred, target", DEGENERATE)
def test_degenerate_pairs_are_finite(ours, peer, reference, pred, target):
    a = torch.tensor([pred], requires_grad=True)
    b = torch.tensor([target], requires_grad=True)
    assert_finite_graph(ours(a, b), a, b)


def test_ciou_of_zero_boxes_is_finite_where_torchvision_is_nan():
    z = torch.zeros(1, 4)
    assert torch.isnan(tvo.complete_box_iou(z, z)).all()  # the peer defect this guards against
    assert vl.complete_box_iou(z, z).item() == 0.0


@pytest.mark.parametrize("in_fmt", ["xyxy", "xywh", "cxcywh"])
@pytest.mark.parametrize("out_fmt", ["xyxy", "xywh", "cxcywh"])
def test_box_convert_matches_torchvision_and_round_trips(in_fmt, out_fmt):
    boxes, _ = random_boxes(10, seed=5)
    boxes = tvo.box_convert(boxes, "xyxy", in_fmt)
    out = vl.box_convert(boxes, in_fmt, out_fmt)
    torch.testing.assert_close(out, tvo.box_convert(boxes, in_fmt, out_fmt))
    torch.testing.assert_close(vl.box_convert(out, out_fmt, in_fmt), boxes)


def test_box_area():
    boxes, _ = random_boxes(10, seed=6)
    torch.testing.assert_close(vl.box_area(boxes), tvo.box_area(boxes))
    torch.testing.assert_close(
        vl.box_area(vl.box_convert(boxes, "xyxy", "cxcywh"), box_format="cxcywh"),
        tvo.box_area(boxes),
    )
    inverted = torch.tensor([[2.0, 2.0, 1.0, 1.0], [0.0, 0.0, 2.0, -1.0]])
    assert vl.box_area(inverted).tolist() == [0.0, 0.0]
    assert vl.box_area(torch.ones(2, 4, dtype=torch.float16)).dtype == torch.float32


@pytest.mark.parametrize(
    "call, error, match",
    [
        pytest.param(
            lambda: vl.box_convert(torch.zeros(3, 5), "xyxy", "xywh"),
            ValueError,
            r"box_convert: expected boxes of shape \(\.\.\., 4\), got \(3, 5\)",
            id="convert-last-dim",
        ),
        pytest.param(
            lambda: vl.box_convert(torch.zeros(3, 4), "xyxy", "yxyx"),
            ValueError,
            "box_convert: expected out_fmt to be one of",
            id="convert-format",
        ),
        pytest.param(
            lambda: vl.box_area(torch.zeros(3, 4), box_format="ltrb"),
            ValueError,
            "box_area: expected box_format",
            id="area-format",
        ),
        pytest.param(
            lambda: vl.box_iou(torch.zeros(2, 2, 4), torch.zeros(3, 4)),
            ValueError,
            r"box_iou: expected boxes1 \(N, 4\) and boxes2 \(M, 4\)",
            id="pairwise-3d",
        ),
        pytest.param(
            lambda: vl.generalized_box_iou(torch.zeros(2, 4), torch.zeros(3, 4), paired=True),
            ValueError,
            r"generalized_box_iou: expected boxes2 of shape \(2, 4\) matching",
            id="paired-mismatch",
        ),
        pytest.param(
            lambda: vl.distance_box_iou(torch.zeros(2, 4, dtype=torch.int64), torch.zeros(3, 4)),
            TypeError,
            "distance_box_iou: expected boxes1 to be a floating-point",
            id="int",
        ),
    ],
)
def test_bad_inputs(call, error, match):
    with pytest.raises(error, match=match):
        call()
