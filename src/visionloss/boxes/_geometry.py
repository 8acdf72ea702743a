"""Shared box geometry of the boxes family: formats, the unit frame, and the elementwise maths of
every IoU variant.

Everything below the format helpers is a function of plain tensors (one coordinate each) made
of elementwise operations only: no boolean-mask indexing, no host syncs. The same functions
serve paired boxes (``(..., 4)`` vs ``(..., 4)``) and pairwise matrices (``(N, 1, 4)`` against
``(1, M, 4)``), and they are the reference that fused kernels must reproduce.

The unit frame. Every IoU variant is invariant to scaling both boxes of a pair by the same
factor, so each pair is computed after multiplying its eight numbers by a power of two
(:func:`to_unit`) that brings its largest magnitude below 1/4: corners lie in ``(-1/2, 1/2)``,
sizes, distances and the enclosing box below 1, areas and squared lengths below 2. Scaling by a
power of two is exact, so ordinary boxes give the same bits as without it, while boxes with
subnormal sides (``1e-40`` in fp32) and coordinates near the dtype's maximum (``+-3e38``, whose
differences overflow) give the same values as boxes of size 1. The gradient is scaled back by
the same power of two and clamped to the input dtype's largest finite value, the only place
where it can overflow (the exact gradient of a pair of ``1e-40`` boxes is about ``1e40``).

Inside the frame every ratio is taken with :func:`ratio`: a numerator or denominator below a
floor counts as 0 (the ratio is then 0 with zero gradient), the floor being ``tiny / eps``
(``2^-102`` in fp32, ``2^-970`` in fp64) for areas and squared lengths and its square root
(``2^-51``, ``2^-485``) for lengths. Quantities that small relative to the pair's largest
coordinate are far below the resolution of the coordinates themselves; the floor keeps every
reciprocal below ``2^103`` (fp32), so that no product of the backward pass overflows.

Degenerate boxes are defined, never NaN:

* a box with ``x2 < x1`` (or ``y2 < y1``) has width (height) 0: it is empty;
* a ratio whose denominator is 0 (below the floor) is 0, with zero gradient;
* the aspect angle of a box with ``w = h = 0`` is ``pi / 4`` (a square);
* Euclidean lengths are :func:`~visionloss._core.numerics.norm` (gradient 0 at 0).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor

from .._core import numerics
from .._core.checks import check_broadcastable, check_tensor, shape_str
from .._core.dtypes import compute_dtype
from .._core.numerics import div, norm
from .._core.options import Choice
from ..errors import InputError

FORMATS = ("xyxy", "xywh", "cxcywh")
FORMAT = Choice(*FORMATS)
"""The check of a box format word (the ``BoxFormat`` option type and the box ops)."""


# --------------------------------------------------------------------------- formats and checks


def check_format(box_format: str, fn: str, name: str = "box_format") -> str:
    """Return ``box_format`` if it is one of ``xyxy | xywh | cxcywh``, else raise OptionError
    (for the box ops, which are not declared losses)."""
    value: str = FORMAT(box_format, name, fn)
    return value


def check_boxes(boxes: object, name: str, fn: str, width: int = 4, fields: str = "") -> Tensor:
    """A floating tensor whose last dimension is ``width`` (4; 5 for rotated boxes, whose
    ``fields`` the message names)."""
    boxes = check_tensor(boxes, name, fn, floating=True, min_ndim=1)
    if boxes.shape[-1] != width:
        raise InputError(
            f"{fn}: expected {name} of shape (..., {width}){fields}, got {shape_str(boxes)} "
            f"(last dimension {boxes.shape[-1]})"
        )
    return boxes


def check_pair(
    pred: object, target: object, fn: str, width: int = 4, fields: str = ""
) -> tuple[Tensor, Tensor]:
    """Check a ``pred, target`` pair of the same shape ``(..., width)``."""
    pred = check_boxes(pred, "pred", fn, width, fields)
    target = check_boxes(target, "target", fn, width, fields)
    if pred.shape != target.shape:
        raise InputError(
            f"{fn}: expected target of shape {shape_str(pred)} matching pred, "
            f"got {shape_str(target)}"
        )
    return pred, target


def check_weight(weight: object, shape: torch.Size, dtype: torch.dtype, fn: str) -> Tensor | None:
    """A per-box weight broadcastable to ``shape`` (the leading dims of the boxes), as
    ``dtype``."""
    if weight is None:
        return None
    weight = check_tensor(weight, "weight", fn, floating=True)
    check_broadcastable(weight, shape, "weight", fn)
    return weight.to(dtype)


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


# ------------------------------------------------------------------------------------ unit frame


class _Scale(torch.autograd.Function):
    """``x * f1 * f2`` in ``dtype`` (``f1, f2``: powers of two, no gradient). The backward
    scales by the same factors and clamps to the largest finite value of ``x``'s dtype."""

    @staticmethod
    def forward(x: Tensor, f1: Tensor, f2: Tensor, dtype: torch.dtype) -> Tensor:
        return x.to(dtype) * f1 * f2

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
        x, f1, f2, _ = inputs
        ctx.save_for_backward(f1, f2)
        ctx.shape, ctx.dtype = x.shape, x.dtype

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None, None]:
        f1, f2 = ctx.saved_tensors
        g = grad * f1 * f2
        if g.shape != ctx.shape:
            g = g.sum_to_size(ctx.shape)
        big = torch.finfo(ctx.dtype).max
        return g.clamp(-big, big).to(ctx.dtype), None, None, None


class Scale(NamedTuple):
    """The unit frame of each pair: multiply by ``f1 * f2 = 2^-k`` (two factors, each a
    representable power of two, as ``2^-k`` itself may not be)."""

    f1: Tensor
    f2: Tensor

    def apply(self, x: Tensor) -> Tensor:
        """``x`` (raw units, last dim broadcast against the pair's) in the unit frame, with
        the clamped gradient of :class:`_Scale`."""
        out: Tensor = _Scale.apply(x, self.f1, self.f2, self.f1.dtype)
        return out


def unit_scale(magnitude: Tensor) -> Scale:
    """The power of two ``2^-k`` with ``magnitude * 2^-k < 1/4`` (``k`` = the binary exponent
    of ``magnitude`` plus 2), as two factors with a trailing dim of 1."""
    _, exponent = torch.frexp(magnitude)  # magnitude < 2^exponent
    k = exponent.to(torch.int64) + 2
    k1 = torch.div(k, 2, rounding_mode="floor")
    f1 = torch.exp2((-k1).to(magnitude.dtype)).unsqueeze(-1)
    f2 = torch.exp2((k1 - k).to(magnitude.dtype)).unsqueeze(-1)
    return Scale(f1, f2)


def to_unit(pred: Tensor, target: Tensor, box_format: str) -> tuple[Corners, Corners, Scale]:
    """Corners of ``pred`` and ``target`` (broadcast against each other) in their unit frame,
    computed in float32 for fp16/bf16 inputs (float64 stays float64)."""
    dtype = compute_dtype(pred, target)
    with torch.no_grad():
        magnitude = torch.maximum(
            pred.detach().abs().amax(-1).to(dtype), target.detach().abs().amax(-1).to(dtype)
        )
    scale = unit_scale(magnitude)
    p = Corners(*corners(scale.apply(pred), box_format))
    t = Corners(*corners(scale.apply(target), box_format))
    return p, t, scale


def raw_corners(pred: Tensor, box_format: str) -> Corners:
    """Corners in the input's own units (the coordinate losses), in the compute dtype."""
    return Corners(*corners(pred.to(compute_dtype(pred)), box_format))


# ------------------------------------------------------------------------------ ratios in frame


def floor(x: Tensor, power: int) -> float:
    """The unit frame's floor of a quantity of degree ``power`` in lengths (1: lengths,
    2: areas and squared lengths): ``2^-51`` and ``2^-102`` in fp32."""
    info = torch.finfo(x.dtype)
    exponent = math.ceil(0.5 * math.log2(info.tiny / info.eps))
    return 2.0 ** (power * exponent)


def flush(x: Tensor, power: int) -> Tensor:
    """``x``, and 0 (with zero gradient) where ``|x|`` is below :func:`floor`."""
    return torch.where(x.abs() < floor(x, power), torch.zeros_like(x), x)


def ratio(num: Tensor, den: Tensor, power: int = 2) -> Tensor:
    """``num / den`` of two quantities of degree ``power``; 0 (zero gradient) where either is
    below the floor."""
    return div(flush(num, power), flush(den, power))


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
    """The auxiliary box of Inner-IoU (same centre, sides times ``ratio``), itself scaled by
    ``min(1, 1 / ratio)`` so that it stays in the unit frame (the IoU of two such boxes is that
    of the unscaled ones)."""
    shrink = min(1.0, 1.0 / ratio)
    cx, cy = centre(b)
    half = 0.5 * ratio * shrink
    hw, hh = half * (b.x2 - b.x1), half * (b.y2 - b.y1)
    cx, cy = shrink * cx, shrink * cy
    return Corners(cx - hw, cy - hh, cx + hw, cy + hh)


def _direction(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(a / m, b / m, m < floor)`` for ``a, b >= 0`` and ``m = max(a, b)`` held constant:
    one of the two is 1, so a function of the direction only (``atan2``, ``sin 2 alpha``) sees
    no small numbers. Its gradient is exact for such a function (it is invariant to scaling
    ``a`` and ``b`` together)."""
    m = torch.maximum(a, b).detach()
    return ratio(a, m, 1), ratio(b, m, 1), m < floor(m, 1)


def aspect_angle(w: Tensor, h: Tensor) -> Tensor:
    """``atan(w / h)`` for ``w, h >= 0`` as ``atan2(w, h)``: ``pi / 2`` for ``h == 0`` and
    ``pi / 4`` for a point box (``w`` and ``h`` below the floor), with finite gradients."""
    a, b, point = _direction(w, h)
    one = torch.ones_like(a)
    return torch.atan2(torch.where(point, one, a), torch.where(point, one, b))


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
    return Overlap(inter, union, ratio(inter, union))


# ------------------------------------------------------------------------ penalties of variants
# Each returns the term that the variant adds to ``1 - IoU`` (so the variant's similarity is
# ``IoU - penalty``). They take unit-frame corners and reuse ``overlap`` where the paper does.


def giou_penalty(p: Corners, t: Corners, ov: Overlap) -> Tensor:
    """GIoU: ``(|C| - |A u B|) / |C|`` with C the smallest enclosing box, ``max(x2) - min(x1)``
    of the corners as given (as torchvision; an inverted box adds no extent, so the loss stays
    in ``[0, 2]`` and two identical inverted boxes give 1). The distance-based variants use
    :func:`enclosing` instead, which must contain both centres."""
    cw = (torch.maximum(p.x2, t.x2) - torch.minimum(p.x1, t.x1)).clamp_min(0)
    ch = (torch.maximum(p.y2, t.y2) - torch.minimum(p.y1, t.y1)).clamp_min(0)
    area = cw * ch
    return ratio(area - ov.union, area)


def diou_penalty(p: Corners, t: Corners) -> Tensor:
    """DIoU: ``rho^2(b, b_gt) / c^2``, centre distance over the enclosing diagonal, squared."""
    dx, dy = centre_offset(p, t)
    cw, ch = enclosing(p, t)
    return ratio(dx.square() + dy.square(), cw.square() + ch.square())


def aspect_term(p: Corners, t: Corners) -> Tensor:
    """CIoU's ``v = 4 / pi^2 (atan(w_gt / h_gt) - atan(w / h))^2``."""
    pw, ph = sizes(p)
    tw, th = sizes(t)
    return (4 / math.pi**2) * (aspect_angle(tw, th) - aspect_angle(pw, ph)).square()


def ciou_alpha(iou: Tensor, v: Tensor, threshold: float | None = None) -> Tensor:
    """CIoU's trade-off ``alpha = v / ((1 - IoU) + v)``, held constant (detached) as in the
    paper; with ``threshold`` (0.5 in Zheng et al. 2021) it is 0 where ``IoU < threshold``."""
    iou, v = iou.detach(), v.detach()
    alpha = div(v, (1 - iou) + v)
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
        + ratio((pw - tw).square(), cw.square())
        + ratio((ph - th).square(), ch.square())
    )


def siou_penalty(p: Corners, t: Corners, theta: float = 4.0) -> Tensor:
    """SIoU (Gevorgyan): ``(Delta + Omega) / 2`` with the paper's signs.

    The angle cost ``Lambda = 1 - 2 sin^2(arcsin(x) - pi/4)``, ``x = |dy| / sigma``, equals
    ``sin(2 alpha) = 2 |dx| |dy| / sigma^2``; that closed form avoids ``arcsin``'s infinite
    slope at ``x = 1`` (and is taken on the direction of ``(dx, dy)``, see :func:`_direction`).
    Distance cost ``Delta = sum_{x,y} 1 - exp(-(2 - Lambda) rho_t)`` with ``rho_x = (dx /
    C_w)^2``; shape cost ``Omega = sum_{w,h} (1 - exp(-omega_t))^theta`` with ``omega_w =
    |w - w_gt| / max(w, w_gt)``.
    """
    dx, dy = centre_offset(p, t)
    cw, ch = enclosing(p, t)
    a, b, _ = _direction(dx.abs(), dy.abs())
    angle = div(2 * a * b, a.square() + b.square())
    gamma = 2 - angle
    distance = (1 - torch.exp(-gamma * ratio(dx, cw, 1).square())) + (
        1 - torch.exp(-gamma * ratio(dy, ch, 1).square())
    )
    pw, ph = sizes(p)
    tw, th = sizes(t)
    omega_w = ratio((pw - tw).abs(), torch.maximum(pw, tw), 1)
    omega_h = ratio((ph - th).abs(), torch.maximum(ph, th), 1)
    shape = numerics.pow(1 - torch.exp(-omega_w), theta) + numerics.pow(
        1 - torch.exp(-omega_h), theta
    )
    return 0.5 * (distance + shape)


def cdiou_distance(p: Corners, t: Corners) -> Tensor:
    """CDIoU's ``diou``: mean Euclidean distance of the four corresponding vertices over the
    diagonal of the enclosing box."""
    dx = torch.stack([p.x1 - t.x1, p.x1 - t.x1, p.x2 - t.x2, p.x2 - t.x2], -1)
    dy = torch.stack([p.y1 - t.y1, p.y2 - t.y2, p.y1 - t.y1, p.y2 - t.y2], -1)
    total = norm(torch.stack([dx, dy], -1)).sum(-1)
    cw, ch = enclosing(p, t)
    return ratio(total, 4 * norm(torch.stack([cw, ch], -1)), 1)


def mpdiou_penalty(p: Corners, t: Corners, diagonal: Tensor) -> Tensor:
    """MPDIoU: ``(d_1^2 + d_2^2) / D^2``, squared distances of the top-left and the
    bottom-right corners over the image diagonal ``D`` (in the unit frame, no gradient).

    This term is not scale-invariant: where the boxes are far larger than the image it
    saturates. Each ``(delta / D)^2`` is at most ``C^2 = max / 2^28`` (``2^100`` in fp32): it
    takes that value with zero gradient where ``|delta / D|`` would exceed ``C``, or where its
    gradient would come near the dtype's maximum (``D`` below the smallest normal number, or
    ``2 |delta| / D^2`` beyond ``max / 32`` in the frame)."""
    info = torch.finfo(diagonal.dtype)
    ceiling = math.sqrt(info.max) * 2.0**-14
    diagonal = diagonal.detach()
    cap = (diagonal * (info.max / 64)).clamp(max=ceiling)
    total = diagonal.new_zeros(())
    for delta in (p.x1 - t.x1, p.y1 - t.y1, p.x2 - t.x2, p.y2 - t.y2):
        q = div(delta, diagonal)
        sat = (q.abs() > cap) | ((diagonal < info.tiny) & (delta != 0))
        q = torch.where(sat, torch.zeros_like(q), q)
        total = total + torch.where(sat, torch.full_like(q, ceiling**2), q.square())
    return total


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
    return base + siou_penalty(p, t)  # "siou" (the option type checked the word)


VARIANTS = ("iou", "giou", "diou", "ciou", "eiou", "siou")
