"""Shared box geometry of the boxes family: formats, corners, and the elementwise maths of every
IoU variant.

Everything below the format helpers is a function of plain tensors (one coordinate each) made
of elementwise operations only: no reductions, no boolean-mask indexing, no host syncs. The
same functions serve paired boxes (``(..., 4)`` vs ``(..., 4)``) and pairwise matrices (the
caller broadcasts ``(N, 1)`` against ``(1, M)``), and they are the reference that fused kernels
must reproduce.

Degenerate boxes are defined, never NaN:

* a box with ``x2 < x1`` (or ``y2 < y1``) has width (height) 0: it is empty;
* every ratio is a *safe division* ``a / b`` that is 0 where ``b == 0`` (``a`` is then 0 too);
  its gradient is finite (the denominator is replaced by 1 in the branch that is not taken);
* the aspect angle ``atan2(w, h)`` of a box with ``w = h = 0`` is ``pi / 4`` (a square);
* Euclidean norms use a safe square root whose gradient at 0 is 0.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from .._core.checks import check_choice, check_tensor, shape_str
from .._core.dtypes import compute_dtype, upcast

FORMATS = ("xyxy", "xywh", "cxcywh")


# --------------------------------------------------------------------------- formats and checks


def check_format(box_format: str, fn: str, name: str = "box_format") -> str:
    """Return ``box_format`` if it is one of ``xyxy | xywh | cxcywh``, else raise ValueError."""
    check_choice(box_format, FORMATS, name, fn)
    return box_format


def check_boxes(boxes: object, name: str, fn: str) -> Tensor:
    """A floating tensor whose last dimension is 4."""
    boxes = check_tensor(boxes, name, fn, floating=True, min_ndim=1)
    if boxes.shape[-1] != 4:
        raise ValueError(
            f"{fn}: expected {name} of shape (..., 4), got {shape_str(boxes)} "
            f"(last dimension {boxes.shape[-1]})"
        )
    return boxes


def corners(boxes: Tensor, box_format: str) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(x1, y1, x2, y2)`` of ``boxes`` (last dimension 4) given in ``box_format``."""
    a, b, c, d = boxes.unbind(-1)
    if box_format == "xyxy":
        return a, b, c, d
    if box_format == "xywh":
        return a, b, a + c, b + d
    half_w, half_h = 0.5 * c, 0.5 * d  # cxcywh
    return a - half_w, b - half_h, a + half_w, b + half_h


def from_corners(x1: Tensor, y1: Tensor, x2: Tensor, y2: Tensor, box_format: str) -> Tensor:
    """Stack corners back into ``box_format`` (last dimension 4)."""
    if box_format == "xyxy":
        parts = (x1, y1, x2, y2)
    elif box_format == "xywh":
        parts = (x1, y1, x2 - x1, y2 - y1)
    else:
        parts = (0.5 * (x1 + x2), 0.5 * (y1 + y2), x2 - x1, y2 - y1)
    return torch.stack(parts, dim=-1)


class Corners(NamedTuple):
    """Corners of a set of boxes, one tensor per coordinate."""

    x1: Tensor
    y1: Tensor
    x2: Tensor
    y2: Tensor


def prepare_pair(pred: object, target: object, box_format: str, fn: str) -> tuple[Corners, Corners]:
    """Check a ``pred, target`` pair of the same shape ``(..., 4)`` and return their corners,
    computed in float32 for fp16/bf16 inputs (float64 stays float64)."""
    check_format(box_format, fn)
    pred = check_boxes(pred, "pred", fn)
    target = check_boxes(target, "target", fn)
    if pred.shape != target.shape:
        raise ValueError(
            f"{fn}: expected target of shape {shape_str(pred)} matching pred, "
            f"got {shape_str(target)}"
        )
    dtype = compute_dtype(pred, target)
    p = Corners(*corners(upcast(pred, dtype), box_format))
    t = Corners(*corners(upcast(target, dtype), box_format))
    return p, t


# ------------------------------------------------------------------------------- safe primitives


def safe_div(num: Tensor, den: Tensor) -> Tensor:
    """``num / den``, and 0 where ``den == 0`` (finite gradient there too)."""
    ok = den != 0
    return torch.where(ok, num / torch.where(ok, den, torch.ones_like(den)), torch.zeros_like(num))


def safe_sqrt(x: Tensor) -> Tensor:
    """``sqrt(x)`` for ``x >= 0`` with gradient 0 (not inf) at ``x == 0``."""
    ok = x > 0
    return torch.where(ok, torch.where(ok, x, torch.ones_like(x)).sqrt(), torch.zeros_like(x))


def safe_pow(x: Tensor, exponent: float) -> Tensor:
    """``x ** exponent`` for ``x >= 0`` and ``exponent > 0``; 0 at ``x == 0`` with gradient 0
    (finite also for ``exponent < 1``)."""
    ok = x > 0
    return torch.where(
        ok, torch.where(ok, x, torch.ones_like(x)).pow(exponent), torch.zeros_like(x)
    )


def aspect_angle(w: Tensor, h: Tensor) -> Tensor:
    """``atan(w / h)`` for ``w, h >= 0`` as ``atan2(w, h)``: ``pi / 2`` for ``h == 0`` and
    ``pi / 4`` for the point box ``w == h == 0`` (with finite gradients everywhere)."""
    point = (w == 0) & (h == 0)
    one = torch.ones_like(w)
    angle = torch.atan2(torch.where(point, one, w), torch.where(point, one, h))
    return torch.where(point, torch.full_like(w, math.pi / 4), angle)


# -------------------------------------------------------------------------- elementwise geometry


def sizes(b: Corners) -> tuple[Tensor, Tensor]:
    """Width and height, 0 for inverted corners."""
    return (b.x2 - b.x1).clamp_min(0), (b.y2 - b.y1).clamp_min(0)


def centre(b: Corners) -> tuple[Tensor, Tensor]:
    """Centre ``((x1 + x2) / 2, (y1 + y2) / 2)``."""
    return 0.5 * (b.x1 + b.x2), 0.5 * (b.y1 + b.y2)


def intersection(p: Corners, t: Corners) -> Tensor:
    """Area of the intersection (0 for disjoint boxes)."""
    iw = (torch.minimum(p.x2, t.x2) - torch.maximum(p.x1, t.x1)).clamp_min(0)
    ih = (torch.minimum(p.y2, t.y2) - torch.maximum(p.y1, t.y1)).clamp_min(0)
    return iw * ih


def enclosing(p: Corners, t: Corners) -> tuple[Tensor, Tensor]:
    """Width and height of the smallest box enclosing both boxes' four corners.

    The extent on each axis is taken over all four coordinates, so an inverted prediction
    (``x2 < x1``, common early in training when corners are regressed directly) still gets an
    enclosing box that contains both centres: the normalised centre distance stays below 1
    and DIoU / CIoU / WIoU stay bounded. For ordered boxes this is the usual
    ``max(x2) - min(x1)``.
    """
    mx, mn = torch.maximum, torch.minimum
    cw = mx(mx(p.x1, p.x2), mx(t.x1, t.x2)) - mn(mn(p.x1, p.x2), mn(t.x1, t.x2))
    ch = mx(mx(p.y1, p.y2), mx(t.y1, t.y2)) - mn(mn(p.y1, p.y2), mn(t.y1, t.y2))
    return cw, ch


def centre_offset(p: Corners, t: Corners) -> tuple[Tensor, Tensor]:
    """``(dx, dy)``: target centre minus pred centre."""
    (pcx, pcy), (tcx, tcy) = centre(p), centre(t)
    return tcx - pcx, tcy - pcy


def scale_about_centre(b: Corners, ratio: float) -> Corners:
    """The auxiliary box of Inner-IoU: same centre, width and height times ``ratio``."""
    cx, cy = centre(b)
    hw, hh = 0.5 * ratio * (b.x2 - b.x1), 0.5 * ratio * (b.y2 - b.y1)
    return Corners(cx - hw, cy - hh, cx + hw, cy + hh)


class Overlap(NamedTuple):
    """The quantities every IoU variant starts from."""

    inter: Tensor
    union: Tensor
    iou: Tensor


def overlap(p: Corners, t: Corners) -> Overlap:
    """Intersection, union and IoU = inter / union (0 where the union is empty)."""
    pw, ph = sizes(p)
    tw, th = sizes(t)
    inter = intersection(p, t)
    union = pw * ph + tw * th - inter
    return Overlap(inter, union, safe_div(inter, union))


# ------------------------------------------------------------------------ penalties of variants
# Each returns the term that the variant adds to ``1 - IoU`` (so the variant's similarity is
# ``IoU - penalty``). They take the corners and reuse ``overlap`` where the paper does.


def giou_penalty(p: Corners, t: Corners, ov: Overlap) -> Tensor:
    """GIoU: ``(|C| - |A u B|) / |C|`` with C the smallest enclosing box, ``max(x2) - min(x1)``
    of the corners as given (as torchvision; an inverted box adds no extent, so the loss stays
    in ``[0, 2]`` and two identical inverted boxes give 1). The distance-based variants use
    :func:`enclosing` instead, which must contain both centres."""
    cw = (torch.maximum(p.x2, t.x2) - torch.minimum(p.x1, t.x1)).clamp_min(0)
    ch = (torch.maximum(p.y2, t.y2) - torch.minimum(p.y1, t.y1)).clamp_min(0)
    area = cw * ch
    return safe_div(area - ov.union, area)


def diou_penalty(p: Corners, t: Corners) -> Tensor:
    """DIoU: ``rho^2(b, b_gt) / c^2``, centre distance over the enclosing diagonal, squared."""
    dx, dy = centre_offset(p, t)
    cw, ch = enclosing(p, t)
    return safe_div(dx.square() + dy.square(), cw.square() + ch.square())


def aspect_term(p: Corners, t: Corners) -> Tensor:
    """CIoU's ``v = 4 / pi^2 (atan(w_gt / h_gt) - atan(w / h))^2``."""
    pw, ph = sizes(p)
    tw, th = sizes(t)
    return (4 / math.pi**2) * (aspect_angle(tw, th) - aspect_angle(pw, ph)).square()


def ciou_alpha(iou: Tensor, v: Tensor, threshold: float | None = None) -> Tensor:
    """CIoU's trade-off ``alpha = v / ((1 - IoU) + v)``, held constant (detached) as in the
    paper; with ``threshold`` (0.5 in Zheng et al. 2021) it is 0 where ``IoU < threshold``."""
    iou, v = iou.detach(), v.detach()
    alpha = safe_div(v, (1 - iou) + v)
    if threshold is not None:
        alpha = torch.where(iou >= threshold, alpha, torch.zeros_like(alpha))
    return alpha


def ciou_penalty(p: Corners, t: Corners, ov: Overlap, threshold: float | None = None) -> Tensor:
    """CIoU: ``rho^2 / c^2 + alpha v``."""
    v = aspect_term(p, t)
    return diou_penalty(p, t) + ciou_alpha(ov.iou, v, threshold) * v


def eiou_penalty(p: Corners, t: Corners) -> Tensor:
    """EIoU (Zhang et al.): ``rho^2 / c^2 + (w - w_gt)^2 / C_w^2 + (h - h_gt)^2 / C_h^2``."""
    pw, ph = sizes(p)
    tw, th = sizes(t)
    cw, ch = enclosing(p, t)
    return (
        diou_penalty(p, t)
        + safe_div((pw - tw).square(), cw.square())
        + safe_div((ph - th).square(), ch.square())
    )


def siou_penalty(p: Corners, t: Corners, theta: float = 4.0) -> Tensor:
    """SIoU (Gevorgyan): ``(Delta + Omega) / 2`` with the paper's signs.

    The angle cost ``Lambda = 1 - 2 sin^2(arcsin(x) - pi/4)``, ``x = |dy| / sigma``, equals
    ``sin(2 alpha) = 2 |dx| |dy| / sigma^2``; that closed form avoids ``arcsin``'s infinite
    slope at ``x = 1``. Distance cost ``Delta = sum_{x,y} 1 - exp(-(2 - Lambda) rho_t)`` with
    ``rho_x = (dx / C_w)^2``; shape cost ``Omega = sum_{w,h} (1 - exp(-omega_t))^theta`` with
    ``omega_w = |w - w_gt| / max(w, w_gt)``.
    """
    dx, dy = centre_offset(p, t)
    cw, ch = enclosing(p, t)
    angle = safe_div(2 * (dx * dy).abs(), dx.square() + dy.square())
    gamma = 2 - angle
    distance = (1 - torch.exp(-gamma * safe_div(dx, cw).square())) + (
        1 - torch.exp(-gamma * safe_div(dy, ch).square())
    )
    pw, ph = sizes(p)
    tw, th = sizes(t)
    omega_w = safe_div((pw - tw).abs(), torch.maximum(pw, tw))
    omega_h = safe_div((ph - th).abs(), torch.maximum(ph, th))
    shape = safe_pow(1 - torch.exp(-omega_w), theta) + safe_pow(1 - torch.exp(-omega_h), theta)
    return 0.5 * (distance + shape)


def cdiou_distance(p: Corners, t: Corners) -> Tensor:
    """CDIoU's ``diou``: mean Euclidean distance of the four corresponding vertices over the
    diagonal of the enclosing box."""
    dx1, dy1 = p.x1 - t.x1, p.y1 - t.y1
    dx2, dy2 = p.x2 - t.x2, p.y2 - t.y2
    total = (
        safe_sqrt(dx1.square() + dy1.square())
        + safe_sqrt(dx1.square() + dy2.square())
        + safe_sqrt(dx2.square() + dy1.square())
        + safe_sqrt(dx2.square() + dy2.square())
    )
    cw, ch = enclosing(p, t)
    return safe_div(total, 4 * safe_sqrt(cw.square() + ch.square()))


def mpdiou_penalty(p: Corners, t: Corners, diag2: Tensor) -> Tensor:
    """MPDIoU: ``(d_1^2 + d_2^2) / (W^2 + H^2)``, squared distances of the top-left and the
    bottom-right corners over the image diagonal squared ``diag2``."""
    d1 = (p.x1 - t.x1).square() + (p.y1 - t.y1).square()
    d2 = (p.x2 - t.x2).square() + (p.y2 - t.y2).square()
    return safe_div(d1 + d2, diag2)


def variant_loss(
    variant: str, p: Corners, t: Corners, ov: Overlap, *, ciou_threshold: float | None = None
) -> Tensor:
    """``1 - IoU + penalty`` of ``variant`` in ``iou | giou | diou | ciou | eiou | siou``."""
    base = 1 - ov.iou
    if variant == "iou":
        return base
    if variant == "giou":
        return base + giou_penalty(p, t, ov)
    if variant == "diou":
        return base + diou_penalty(p, t)
    if variant == "ciou":
        return base + ciou_penalty(p, t, ov, ciou_threshold)
    if variant == "eiou":
        return base + eiou_penalty(p, t)
    if variant == "siou":
        return base + siou_penalty(p, t)
    raise ValueError(f"unknown IoU variant {variant!r}")  # callers validate first


VARIANTS = ("iou", "giou", "diou", "ciou", "eiou", "siou")
