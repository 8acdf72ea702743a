"""Shared tables and box generators of the boxes tests."""

from __future__ import annotations

from functools import partial

import pytest
import torch

import visionloss as vl
from tests.reference import boxes as ref

IMAGE = (20.0, 30.0)  # (H, W) for MPDIoU

# (name, function, Module, options, per-box float64 reference taking (pred_row, target_row))
LOSSES = [
    ("iou", vl.iou_loss, vl.IoULoss, {}, ref.iou_loss),
    (
        "iou-square",
        vl.iou_loss,
        vl.IoULoss,
        {"mode": "square"},
        lambda p, t: ref.iou_loss(p, t, "square"),
    ),
    ("iou-log", vl.iou_loss, vl.IoULoss, {"mode": "log"}, lambda p, t: ref.iou_loss(p, t, "log")),
    ("giou", vl.giou_loss, vl.GIoULoss, {}, ref.giou_loss),
    ("diou", vl.diou_loss, vl.DIoULoss, {}, ref.diou_loss),
    ("ciou", vl.ciou_loss, vl.CIoULoss, {}, ref.ciou_loss),
    (
        "ciou-threshold",
        vl.ciou_loss,
        vl.CIoULoss,
        {"alpha_threshold": 0.5},
        lambda p, t: ref.ciou_loss(p, t, 0.5),
    ),
    ("eiou", vl.eiou_loss, vl.EIoULoss, {}, ref.eiou_loss),
    ("focal_eiou", vl.focal_eiou_loss, vl.FocalEIoULoss, {}, ref.focal_eiou_loss),
    (
        "focal_eiou-grad",
        vl.focal_eiou_loss,
        vl.FocalEIoULoss,
        {"gamma": 1.5, "detach_weight": False},
        lambda p, t: ref.focal_eiou_loss(p, t, 1.5, detach_weight=False),
    ),
    ("cdiou", vl.cdiou_loss, vl.CDIoULoss, {"lam": 0.5}, lambda p, t: ref.cdiou_loss(p, t, 0.5)),
    ("siou", vl.siou_loss, vl.SIoULoss, {}, ref.siou_loss),
    ("wiou-v1", vl.wiou_loss, None, {"version": "v1"}, lambda p, t: ref.wiou_loss(p, t, "v1")),
    (
        "wiou-v2",
        vl.wiou_loss,
        None,
        {"version": "v2", "iou_mean": 0.4},
        lambda p, t: ref.wiou_loss(p, t, "v2", 0.4),
    ),
    (
        "wiou-v3",
        vl.wiou_loss,
        None,
        {"version": "v3", "iou_mean": 0.6},
        lambda p, t: ref.wiou_loss(p, t, "v3", 0.6),
    ),
    ("alpha_iou", vl.alpha_iou_loss, vl.AlphaIoULoss, {}, ref.alpha_iou_loss),
    (
        "alpha_giou",
        vl.alpha_iou_loss,
        vl.AlphaIoULoss,
        {"variant": "giou", "alpha": 2.0},
        lambda p, t: ref.alpha_iou_loss(p, t, 2.0, "giou"),
    ),
    (
        "alpha_diou",
        vl.alpha_iou_loss,
        vl.AlphaIoULoss,
        {"variant": "diou", "alpha": 0.5},
        lambda p, t: ref.alpha_iou_loss(p, t, 0.5, "diou"),
    ),
    (
        "alpha_ciou",
        vl.alpha_iou_loss,
        vl.AlphaIoULoss,
        {"variant": "ciou"},
        lambda p, t: ref.alpha_iou_loss(p, t, 3.0, "ciou"),
    ),
    (
        "mpdiou",
        vl.mpdiou_loss,
        vl.MPDIoULoss,
        {"image_size": IMAGE},
        lambda p, t: ref.mpdiou_loss(p, t, IMAGE),
    ),
    *[
        (
            f"inner_{v}",
            vl.inner_iou_loss,
            vl.InnerIoULoss,
            {"variant": v, "ratio": r},
            partial(ref.inner_iou_loss, ratio=r, variant=v),
        )
        for v, r in [
            ("iou", 0.7),
            ("giou", 1.3),
            ("diou", 0.8),
            ("ciou", 1.2),
            ("eiou", 0.75),
            ("siou", 1.1),
        ]
    ],
    ("box_l1", vl.box_l1_loss, vl.BoxL1Loss, {}, lambda p, t: (p - t).abs().sum()),
    (
        "box_smooth_l1",
        vl.box_smooth_l1_loss,
        vl.BoxSmoothL1Loss,
        {"beta": 0.5},
        lambda p, t: torch.nn.functional.smooth_l1_loss(p, t, beta=0.5, reduction="sum"),
    ),
]

# one row per public loss (for Module / registry / compile tests)
DISTINCT = {}
for _name, _fn, _module, _opts, _ref in LOSSES:
    DISTINCT.setdefault(_fn, (_name, _fn, _module, _opts))


def params(rows, n=5):
    return [pytest.param(*row[1:n], id=row[0]) for row in rows]


def random_boxes(n: int = 12, *, seed: int = 0, dtype=torch.float64, scale: float = 10.0):
    """``(n, 4)`` pred and target xyxy boxes, valid, a mix of overlapping and disjoint pairs.

    ``scale`` is the box size: widths and heights are uniform in ``[scale / 2, 3 scale / 2]``
    (``scale=1000`` draws 500 to 1500 px boxes, whose areas overflow fp16 by a factor of up to
    34); the target's corner is shifted by up to ``scale`` on each axis, so about a quarter of
    the pairs are disjoint.
    """
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g, dtype=dtype) * scale
    wh = scale * (0.5 + torch.rand(n, 2, generator=g, dtype=dtype))
    pred = torch.cat([xy, xy + wh], -1)
    shift = (torch.rand(n, 2, generator=g, dtype=dtype) - 0.5) * 2 * scale
    twh = scale * (0.5 + torch.rand(n, 2, generator=g, dtype=dtype))
    target = torch.cat([xy + shift, xy + shift + twh], -1)
    return pred, target


# the geometric branches every loss is gradchecked on (xyxy, float64, no tied edges)
BRANCHES = [
    pytest.param([0.0, 0.0, 2.0, 3.0], [1.0, 0.5, 3.5, 2.5], id="overlapping"),
    pytest.param([0.0, 0.0, 1.0, 2.0], [3.0, 4.0, 5.0, 5.5], id="disjoint"),
    pytest.param([0.0, 0.0, 4.0, 4.5], [1.0, 1.5, 2.0, 3.0], id="pred-contains-target"),
    pytest.param([1.2, 1.5, 2.0, 3.0], [0.0, 0.0, 4.0, 4.5], id="target-contains-pred"),
    pytest.param([0.0, 0.0, 4.0, 2.0], [1.0, -1.0, 3.0, 3.0], id="coincident-centres"),
    pytest.param([0.0, 0.0, 2.0, 1.0], [1.0, 0.5, 5.0, 2.5], id="equal-aspect"),
]

# degenerate pairs: every loss is finite with finite gradients on them
DEGENERATE = [
    pytest.param([0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], id="zero-boxes-identical"),
    pytest.param([2.0, 3.0, 2.0, 3.0], [2.0, 3.0, 2.0, 3.0], id="point-boxes-identical"),
    pytest.param([1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 2.0, 2.0], id="point-pred"),
    pytest.param([0.0, 0.0, 2.0, 2.0], [5.0, 5.0, 5.0, 5.0], id="point-target"),
    pytest.param([0.0, 1.0, 2.0, 1.0], [0.0, 0.0, 2.0, 2.0], id="zero-height-pred"),
    pytest.param([0.0, 0.0, 2.0, 2.0], [1.0, 0.0, 1.0, 3.0], id="zero-width-target"),
    pytest.param([0.0, 1.0, 2.0, 1.0], [0.0, 1.0, 2.0, 1.0], id="zero-height-identical"),
    pytest.param([2.0, 2.0, 1.0, 1.0], [0.0, 0.0, 2.0, 2.0], id="inverted-pred"),
    pytest.param([2.0, 2.0, 1.0, 1.0], [2.0, 2.0, 1.0, 1.0], id="inverted-identical"),
    pytest.param([0.0, 0.0, 1.0, 1.0], [3.0, 0.0, 2.0, 1.0], id="inverted-target"),
]

# Losses that hold a quantity constant (the papers' "*" or CIoU's alpha) are not the exact
# derivative of their value, so torch's gradcheck does not apply. Their gradient is checked
# against central differences of the reference with those quantities frozen at the point:
# name -> (p0, t0) -> reference of (p, t).
FROZEN = {
    "ciou": lambda p0, t0: lambda p, t: ref.ciou_loss(p, t, alpha=ref.ciou_alpha(p0, t0)),
    "ciou-threshold": lambda p0, t0: (
        lambda p, t: ref.ciou_loss(p, t, alpha=ref.ciou_alpha(p0, t0, 0.5))
    ),
    "focal_eiou": lambda p0, t0: (
        lambda p, t: ref.focal_eiou_loss(p, t, focus=ref.iou(p0, t0).detach() ** 0.5)
    ),
    "wiou-v1": lambda p0, t0: lambda p, t: ref.wiou_loss(p, t, "v1", at=(p0, t0)),
    "wiou-v2": lambda p0, t0: lambda p, t: ref.wiou_loss(p, t, "v2", 0.4, at=(p0, t0)),
    "wiou-v3": lambda p0, t0: lambda p, t: ref.wiou_loss(p, t, "v3", 0.6, at=(p0, t0)),
    "alpha_ciou": lambda p0, t0: (
        lambda p, t: ref.alpha_iou_loss(p, t, 3.0, "ciou", beta=ref.ciou_alpha(p0, t0))
    ),
    "inner_ciou": lambda p0, t0: (
        lambda p, t: ref.inner_iou_loss(p, t, 1.2, "ciou", alpha=ref.ciou_alpha(p0, t0))
    ),
}
