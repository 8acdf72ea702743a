"""Options and tensor options of the box losses outside their domain raise (issue "no silent
wrong numbers"): the range of every numeric option is its declared option type, and a tensor
option's values (WIoU's ``iou_mean``, MPDIoU's ``image_size``) are checked with ``require``, an
immediate error on the CPU and a device-side assertion under ``torch.compile`` and on a GPU.

Before: ``wiou_loss(iou_mean=torch.tensor(-1.))`` gave a negative loss, ``iou_mean=0`` a loss
of 0 with zero gradient, ``iou_loss(mode="log", eps=2.0)`` the constant ``-ln 2``,
``ciou_loss(alpha_threshold=2.0)`` a CIoU without its aspect term, ``image_size=(inf, 2)`` an
MPDIoU without its distance term.
"""

from __future__ import annotations

import math

import pytest
import torch

import visionloss as vl
from tests.boxes.cases import IMAGE, random_boxes
from visionloss.errors import OptionError


@pytest.mark.parametrize(
    "fn, options, match",
    [
        pytest.param(vl.wiou_loss, {"iou_mean": -1.0}, r"iou_mean in \(0, 1\]", id="wiou-neg"),
        pytest.param(vl.wiou_loss, {"iou_mean": 0.0}, r"iou_mean in \(0, 1\]", id="wiou-zero"),
        pytest.param(vl.wiou_loss, {"iou_mean": 1.5}, r"iou_mean in \(0, 1\]", id="wiou-above"),
        pytest.param(
            vl.wiou_loss, {"iou_mean": torch.tensor(-1.0)}, "iou_mean, a mean", id="wiou-t-neg"
        ),
        pytest.param(
            vl.wiou_loss, {"iou_mean": torch.tensor(0.0)}, "iou_mean, a mean", id="wiou-t-zero"
        ),
        pytest.param(
            vl.wiou_loss,
            {"iou_mean": torch.full((4,), 0.5).index_fill(0, torch.tensor([2]), 2.0)},
            "iou_mean, a mean",
            id="wiou-t-per-box",
        ),
        pytest.param(vl.wiou_loss, {"momentum": 0.5}, "unexpected keyword", id="wiou-momentum"),
        pytest.param(vl.iou_loss, {"mode": "log", "eps": 2.0}, "eps < 1", id="iou-eps-2"),
        pytest.param(vl.iou_loss, {"eps": 1.0}, "eps < 1", id="iou-eps-1"),
        pytest.param(vl.ciou_loss, {"alpha_threshold": 2.0}, "alpha_threshold <= 1", id="ciou"),
        pytest.param(
            vl.mpdiou_loss,
            {"image_size": (math.inf, 2.0)},
            "finite positive image_size",
            id="mpdiou-inf",
        ),
        pytest.param(
            vl.mpdiou_loss,
            {"image_size": (math.nan, 2.0)},
            "finite positive image_size",
            id="mpdiou-nan",
        ),
        pytest.param(
            vl.mpdiou_loss,
            {"image_size": torch.tensor([-1.0, 2.0])},
            "finite positive image_size",
            id="mpdiou-t-neg",
        ),
        pytest.param(
            vl.mpdiou_loss,
            {"image_size": torch.tensor([[10.0, 12.0]] * 3 + [[math.inf, 12.0]])},
            "finite positive image_size",
            id="mpdiou-t-inf",
        ),
    ],
)
def test_out_of_range_options_raise(fn, options, match):
    pred, target = random_boxes(4)
    error = TypeError if "unexpected" in match else OptionError
    with pytest.raises(error, match=f"{fn.__name__}: .*{match}"):
        fn(pred, target, **options)


@pytest.mark.parametrize(
    "module, options, match",
    [
        pytest.param(vl.IoULoss, {"eps": 1.0}, "IoULoss: expected eps < 1", id="iou"),
        pytest.param(
            vl.CIoULoss, {"alpha_threshold": 1.5}, "CIoULoss: expected alpha_threshold", id="ciou"
        ),
        pytest.param(vl.WIoULoss, {"momentum": 1.5}, "WIoULoss: expected momentum", id="wiou"),
        pytest.param(
            vl.MPDIoULoss, {"image_size": (10.0, -1.0)}, "MPDIoULoss: expected a", id="mpdiou"
        ),
    ],
)
def test_modules_refuse_them_at_construction(module, options, match):
    with pytest.raises(OptionError, match=match):
        module(**options)


def test_in_range_boundaries_are_accepted():
    pred, target = random_boxes(4)
    for value in (
        vl.wiou_loss(pred, target, iou_mean=1.0),
        vl.wiou_loss(pred, target, iou_mean=torch.tensor(1e-3, dtype=torch.float64)),
        vl.ciou_loss(pred, target, alpha_threshold=1.0),
        vl.ciou_loss(pred, target, alpha_threshold=0.0),
        vl.iou_loss(pred, target, mode="log", eps=0.999),
        vl.mpdiou_loss(pred, target, image_size=torch.tensor(IMAGE, dtype=torch.float64)),
    ):
        assert torch.isfinite(value)


@pytest.mark.parametrize(
    "fn, options",
    [
        pytest.param(vl.wiou_loss, {"iou_mean": torch.tensor(-1.0)}, id="wiou-iou_mean"),
        pytest.param(vl.mpdiou_loss, {"image_size": torch.tensor([0.0, 2.0])}, id="mpdiou"),
    ],
)
def test_tensor_option_checks_hold_under_compile(fn, options):
    """``require`` becomes a device-side assertion while ``torch.compile`` traces: the compiled
    call fails instead of returning a number."""
    pred, target = random_boxes(4, dtype=torch.float32)
    torch._dynamo.reset()
    try:
        compiled = torch.compile(lambda p, t: fn(p, t, **options), backend="eager")
        with pytest.raises((RuntimeError, ValueError), match=f"{fn.__name__}: expected"):
            compiled(pred, target)
    finally:
        torch._dynamo.reset()
