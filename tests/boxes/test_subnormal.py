"""Boxes at the ends of the floating-point range: sides of 1e-20 to subnormal 1e-40 in fp32
(1e-160, 1e-310 in fp64) and coordinates near the dtype's maximum give finite values and finite
gradients for every box loss; the IoU losses, which do not change when both boxes are scaled
together, give the values of ordinary boxes (they compute each pair in a frame scaled by an
exact power of two). Once their squared sides were subnormal, GIoU and the others returned NaN
gradients (``d(a / b) / db = -a / b^2`` with ``b^2 = 0``)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import visionloss as vl
from tests.boxes.cases import BRANCHES, LOSSES
from tests.helpers import assert_finite_graph

COORDINATE = ("box_l1", "box_smooth_l1")
IOU = [r for r in LOSSES if r[0] not in COORDINATE]
SCALE_FREE = [r for r in IOU if r[0] != "mpdiou"]  # MPDIoU divides by the image size

ALL_ROWS = [pytest.param(r[1], r[3], id=r[0]) for r in LOSSES]
IOU_ROWS = [pytest.param(r[1], r[3], id=r[0]) for r in IOU]
SCALE_FREE_ROWS = [pytest.param(r[1], r[3], id=r[0]) for r in SCALE_FREE]
SIZES = [
    pytest.param(torch.float32, 1e-20, id="fp32-1e-20"),
    pytest.param(torch.float32, 1e-30, id="fp32-1e-30"),
    pytest.param(torch.float32, 1e-40, id="fp32-1e-40-subnormal"),
    pytest.param(torch.float64, 1e-160, id="fp64-1e-160"),
    pytest.param(torch.float64, 1e-310, id="fp64-1e-310-subnormal"),
]


@pytest.fixture(autouse=True)
def _keep_subnormals():
    """Other tests (the DIoU simulation) turn on flush-to-zero for speed: subnormal inputs
    would then read as 0. Subnormals are what this module is about (off is the default)."""
    torch.set_flush_denormal(False)


def _pairs(scale: float, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """The geometric branches of ``cases.BRANCHES`` and a pair sharing a corner, scaled."""
    rows = [(p.values[0], p.values[1]) for p in BRANCHES]
    rows.append(([0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 2.0, 1.5]))
    pred = torch.tensor([r[0] for r in rows], dtype=torch.float64) * scale
    target = torch.tensor([r[1] for r in rows], dtype=torch.float64) * scale
    return pred.to(dtype), target.to(dtype)


def test_reported_giou_case_has_finite_gradient():
    pred = torch.tensor([[0.0, 0, 1e-20, 1e-20]], requires_grad=True)
    out = vl.giou_loss(pred, torch.tensor([[0.0, 0, 2e-20, 1e-20]]))
    assert_finite_graph(out, pred)
    torch.testing.assert_close(out, torch.tensor(0.5))  # IoU 1/2, the enclosing box is the union


@pytest.mark.parametrize("fn, opts", ALL_ROWS)
@pytest.mark.parametrize("dtype, scale", SIZES)
@pytest.mark.parametrize("box_format", ["xyxy", "cxcywh"])
def test_tiny_boxes_finite_values_and_gradients(fn, opts, dtype, scale, box_format):
    pred, target = _pairs(scale, dtype)
    p = vl.box_convert(pred, "xyxy", box_format).requires_grad_(True)
    t = vl.box_convert(target, "xyxy", box_format).requires_grad_(True)
    out = fn(p, t, box_format=box_format, reduction="none", **opts)
    assert out.shape == (pred.shape[0],)
    assert_finite_graph(out, p, t)
    assert_finite_graph(fn(p, t, box_format=box_format, **opts), p, t)


@pytest.mark.parametrize("fn, opts", SCALE_FREE_ROWS)
@pytest.mark.parametrize("dtype, scale", SIZES)
def test_tiny_boxes_give_the_values_of_ordinary_boxes(fn, opts, dtype, scale):
    pred, target = _pairs(scale, dtype)
    expected = fn(*_pairs(1.0, torch.float64), reduction="none", **opts)
    subnormal = scale < torch.finfo(dtype).tiny  # the inputs themselves keep fewer digits
    tol = 1e-4 if subnormal else (1e-5 if dtype == torch.float32 else 1e-12)
    out = fn(pred, target, reduction="none", **opts)
    torch.testing.assert_close(out.double(), expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("fn, opts", SCALE_FREE_ROWS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["fp32", "fp64"])
def test_coordinates_near_the_maximum_give_the_values_of_ordinary_boxes(fn, opts, dtype):
    """``3e38 - (-3e38)`` overflows fp32, yet such boxes are ordinary boxes scaled by 1e38:
    the loss is theirs, with finite gradients (clamped to the dtype's maximum if they
    overflow; here they are about 1e-38)."""
    big = torch.finfo(dtype).max / 4
    pred = torch.tensor([[-3.0, -2.0, 3.0, 3.5], [-3.5, 3.0, -1.0, 3.9]], dtype=torch.float64)
    target = torch.tensor([[-1.0, -3.9, 3.9, 1.0], [2.0, -3.0, 3.0, -1.0]], dtype=torch.float64)
    expected = fn(pred, target, reduction="none", **opts)
    p = (pred * big).to(dtype).requires_grad_(True)
    t = (target * big).to(dtype).requires_grad_(True)
    out = fn(p, t, reduction="none", **opts)
    assert_finite_graph(out, p, t)
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(out.double(), expected, rtol=tol, atol=tol)


def test_mpdiou_far_outside_the_image_saturates_finite():
    """MPDIoU's corner term depends on the image size: for boxes 1e37 apart in a 20 x 30
    image each squared ratio takes its ceiling ``max / 2^28`` (fp32) with zero gradient."""
    info = torch.finfo(torch.float32)
    p = torch.tensor([[-3e38, 0.0, 1e37, 1.0]], requires_grad=True)
    t = torch.tensor([[1e37, 0.0, 3e38, 1.0]], requires_grad=True)
    out = vl.mpdiou_loss(p, t, image_size=(20, 30), reduction="none")
    assert_finite_graph(out, p, t)
    ceiling = info.max / 2**28
    torch.testing.assert_close(out, torch.tensor([1 + 2 * ceiling]))
    many = vl.mpdiou_loss(p.expand(1000, 4), t.expand(1000, 4), image_size=(20, 30))
    assert torch.isfinite(many)  # also the mean of many saturated boxes


_F32 = st.floats(allow_nan=False, allow_infinity=False, width=32)
_F64 = st.floats(allow_nan=False, allow_infinity=False)


def _check_finite(fn, opts, values, dtype, box_format):
    p = torch.tensor([values[:4]], dtype=dtype, requires_grad=True)
    t = torch.tensor([values[4:]], dtype=dtype, requires_grad=True)
    assert_finite_graph(fn(p, t, box_format=box_format, reduction="none", **opts), p, t)


@pytest.mark.parametrize("fn, opts", IOU_ROWS)
@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(_F32, min_size=8, max_size=8),
    box_format=st.sampled_from(["xyxy", "xywh", "cxcywh"]),
)
def test_any_finite_fp32_coordinates_give_finite_values_and_gradients(fn, opts, values, box_format):
    _check_finite(fn, opts, values, torch.float32, box_format)


@pytest.mark.parametrize("fn, opts", IOU_ROWS)
@settings(max_examples=30, deadline=None)
@given(
    values=st.lists(_F64, min_size=8, max_size=8),
    box_format=st.sampled_from(["xyxy", "xywh", "cxcywh"]),
)
def test_any_finite_fp64_coordinates_give_finite_values_and_gradients(fn, opts, values, box_format):
    _check_finite(fn, opts, values, torch.float64, box_format)


@pytest.mark.parametrize("fn, opts", IOU_ROWS)
@settings(max_examples=60, deadline=None)
@given(
    mantissas=st.lists(st.integers(-3, 3), min_size=8, max_size=8),
    exponents=st.lists(st.integers(-45, 37), min_size=8, max_size=8),
)
def test_mixed_magnitudes_give_finite_values_and_gradients(fn, opts, mantissas, exponents):
    """Small integers times independent powers of ten: thin, tiny, huge and degenerate boxes
    side by side (uniform floats rarely draw a side of 1e-30 next to a corner at 1e20)."""
    values = [m * 10.0**e for m, e in zip(mantissas, exponents)]
    assert all(math.isfinite(v) for v in values)
    _check_finite(fn, opts, values, torch.float32, "xyxy")
