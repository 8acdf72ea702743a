"""One-pass IoU, GIoU, DIoU and CIoU of ``xyxy`` box pairs, with a hand-derived backward.

The plain path of :mod:`._geometry` builds each loss from guarded elementwise operations
(:func:`~visionloss._core.numerics.div` per ratio, :func:`._geometry.flush` per operand, a
``_Scale`` Function per box set, ``unbind`` into eight coordinate tensors), and autograd then
records and replays about two hundred passes over the pairs. :class:`_PairLoss` computes the
same values with the same guards, in the same unit frame and with the same operations in the
same order (so ordinary boxes give the same values), but on ``(..., 2)`` views holding x and y
together, with each guard a single comparison per ratio, and returns the gradient of the
corners directly:

* a ratio of the frame (:func:`._geometry.ratio`) is ``num / den`` where neither is below the
  floor, else 0; its derivative is ``1 / den`` for the numerator and ``-ratio / den`` for
  the denominator there, 0 elsewhere (inside the frame ``den`` is either 0 or at least the
  floor, so no quotient overflows and the ``div`` clamp never acts);
* ``clamp_min(0)`` passes the gradient where its argument is ``>= 0``; ``maximum`` and
  ``minimum`` pass it to the larger (smaller) operand and split it in half at a tie, as
  autograd does (``(1 + sign(a - b)) / 2``), so identical and touching boxes get the gradient
  of the plain path;
* the aspect angle ``atan2(w / m, h / m)`` (``m = max(w, h)`` held constant) differentiates to
  ``(h / m, -w / m) / ((w / m)^2 + (h / m)^2) / m``, with the flushes of the plain path;
* the gradient in raw units is the frame's times the pair's power of two, clamped to the
  input dtype's largest finite value.

Under ``create_graph=True`` the backward differentiates the plain path instead
(:func:`~visionloss._core.autograd.differentiable_grad`), so second derivatives stay exact.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from .._core.autograd import differentiable_grad, double_backward
from .._core.dtypes import compute_dtype
from .._core.numerics import div
from . import _geometry as G

FUSED = ("iou", "giou", "diou", "ciou")
_K = 4 / math.pi**2


def _frame(pred: Tensor, target: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor, Tensor]:
    """``pred`` and ``target`` in their unit frame (as :func:`._geometry.to_unit`), and the
    factor ``2^-k`` of each pair (trailing dim 1)."""
    magnitude = torch.maximum(pred.abs().amax(-1), target.abs().amax(-1)).to(dtype)
    scale = G.unit_scale(magnitude)
    f = scale.f1 * scale.f2
    p = pred.to(dtype) * scale.f1 * scale.f2
    t = target.to(dtype) * scale.f1 * scale.f2
    return p, t, f


def _split(a: Tensor, b: Tensor) -> Tensor:
    """Share of ``maximum(a, b)``'s gradient that goes to ``a``: 1, 1/2 at a tie, 0."""
    return 0.5 * (1 + torch.sign(a - b))


def _angle(wh: Tensor, f1: float) -> tuple[Tensor, Tensor]:
    """:func:`._geometry.aspect_angle` of ``wh`` (``(..., 2)``, ``>= 0``) and its derivative
    with respect to ``(w, h)``."""
    m = wh.amax(-1, keepdim=True)
    ok = ~(wh < f1) & ~(m < f1)
    point = (m < f1).squeeze(-1)
    q = torch.where(ok, wh / m, torch.zeros_like(wh))
    a, b = q.unbind(-1)
    one = torch.ones_like(a)
    angle = torch.atan2(torch.where(point, one, a), torch.where(point, one, b))
    # d atan2(a, b) = (b, -a) / (a^2 + b^2); one of a, b is 1 off the point boxes
    den = torch.where(point, one, a.square() + b.square()).unsqueeze(-1) * m
    d = torch.where(ok, q.flip(-1) / den, torch.zeros_like(q))
    return angle, d * torch.tensor([1.0, -1.0], dtype=d.dtype, device=d.device)


def _forward(
    p: Tensor, t: Tensor, variant: str, threshold: float | None, need: bool
) -> tuple[Tensor, dict[str, Tensor]]:
    """The per-pair value of ``variant`` in the frame (the IoU itself for ``"iou"``, else the
    loss) and, with ``need``, the per-pair derivatives of it with respect to the pieces."""
    f2, f1 = G.floor(p, 2), G.floor(p, 1)
    pl, ph, tl, th = p[..., :2], p[..., 2:], t[..., :2], t[..., 2:]
    pwh_raw, twh_raw = ph - pl, th - tl
    pwh, twh = pwh_raw.clamp_min(0), twh_raw.clamp_min(0)
    hi, lo = torch.minimum(ph, th), torch.maximum(pl, tl)
    iwh_raw = hi - lo
    iwh = iwh_raw.clamp_min(0)
    inter = iwh[..., 0] * iwh[..., 1]
    union = pwh[..., 0] * pwh[..., 1] + twh[..., 0] * twh[..., 1] - inter
    ok = ~(inter < f2) & ~(union < f2)
    safe_union = torch.where(ok, union, torch.ones_like(union))
    iou = torch.where(ok, inter / safe_union, torch.zeros_like(inter))
    saved: dict[str, Tensor] = {}
    if need:
        inv_union = torch.where(ok, 1 / safe_union, torch.zeros_like(union))
        saved.update(pwh=pwh, twh=twh, iwh=iwh, pm=pwh_raw >= 0, tm=twh_raw >= 0)
        saved.update(im=iwh_raw >= 0, hi=hi, lo=lo)
        # d iou / d inter and d iou / d union
        saved.update(d_inter=inv_union, d_union=-iou * inv_union)
    if variant == "iou":
        return iou, saved
    loss = 1 - iou
    if variant == "giou":
        chi, clo = torch.maximum(ph, th), torch.minimum(pl, tl)
        cwh_raw = chi - clo
        cwh = cwh_raw.clamp_min(0)
        area = cwh[..., 0] * cwh[..., 1]
        num = area - union
        ok_g = ~(num.abs() < f2) & ~(area < f2)
        safe_area = torch.where(ok_g, area, torch.ones_like(area))
        pen = torch.where(ok_g, num / safe_area, torch.zeros_like(num))
        if need:
            area_ok = ~(area < f2)
            inv_area = 1 / torch.where(area_ok, area, torch.ones_like(area))
            d_num = torch.where(ok_g, inv_area, torch.zeros_like(area))
            d_area = d_num - torch.where(area_ok, pen * inv_area, torch.zeros_like(area))
            saved.update(chi=chi, clo=clo, cwh=cwh, cm=cwh_raw >= 0, d_area=d_area, d_num=d_num)
        return loss + pen, saved
    # DIoU's distance term (and CIoU's)
    dxy = 0.5 * (tl + th) - 0.5 * (pl + ph)
    pmax, pmin = torch.maximum(pl, ph), torch.minimum(pl, ph)
    tmax, tmin = torch.maximum(tl, th), torch.minimum(tl, th)
    emax, emin = torch.maximum(pmax, tmax), torch.minimum(pmin, tmin)
    ewh = emax - emin
    sq = dxy.square()
    rho2 = sq[..., 0] + sq[..., 1]
    esq = ewh.square()
    c2 = esq[..., 0] + esq[..., 1]
    ok_d = ~(rho2 < f2) & ~(c2 < f2)
    safe_c2 = torch.where(ok_d, c2, torch.ones_like(c2))
    pen = torch.where(ok_d, rho2 / safe_c2, torch.zeros_like(rho2))
    if need:
        c2_ok = ~(c2 < f2)
        inv_c2 = 1 / torch.where(c2_ok, c2, torch.ones_like(c2))
        d_rho2 = torch.where(ok_d, inv_c2, torch.zeros_like(c2))
        d_c2 = -torch.where(c2_ok, pen * inv_c2, torch.zeros_like(c2))
        saved.update(dxy=dxy, ewh=ewh, d_rho2=d_rho2, d_c2=d_c2)
        saved.update(pmax=pmax, pmin=pmin, tmax=tmax, tmin=tmin, emax=emax, emin=emin)
    if variant == "diou":
        return loss + pen, saved
    at, dt = _angle(twh, f1)
    ap, dp = _angle(pwh, f1)
    diff = at - ap
    v = _K * diff.square()
    alpha = div(v, (1 - iou) + v)
    if threshold is not None:
        alpha = torch.where(iou >= threshold, alpha, torch.zeros_like(alpha))
    if need:
        g_angle = (2 * _K) * alpha * diff  # d (alpha v) / d at; minus that for ap
        saved.update(d_pwh=-g_angle.unsqueeze(-1) * dp, d_twh=g_angle.unsqueeze(-1) * dt)
    return loss + (pen + alpha * v), saved


def _corner_grads(
    s: dict[str, Tensor], g: Tensor, variant: str, side: int
) -> tuple[Tensor, Tensor]:
    """The gradient of ``g * value`` with respect to the low and the high corners (``(..., 2)``
    each) of the prediction (``side`` 0) or the target (``side`` 1)."""
    sign = 1.0 if variant == "iou" else -1.0  # the value is the IoU, or 1 - IoU + ...
    g_inter = (sign * g) * s["d_inter"]
    g_union = (sign * g) * s["d_union"]
    if variant == "giou":
        g_union = g_union - g * s["d_num"]
    wh, mask = (s["pwh"], s["pm"]) if side == 0 else (s["twh"], s["tm"])
    # sizes: d (w h) = (h, w), from the union (and the aspect angles)
    g_wh = g_union.unsqueeze(-1) * wh.flip(-1)
    if variant == "ciou":
        g_wh = g_wh + g.unsqueeze(-1) * s["d_pwh" if side == 0 else "d_twh"]
    g_wh = torch.where(mask, g_wh, torch.zeros_like(g_wh))
    g_hi, g_lo = g_wh, -g_wh
    # intersection: inter = iw ih, iw = min(hi) - max(lo), clamped
    g_iwh = (g_inter - g_union).unsqueeze(-1) * s["iwh"].flip(-1)
    g_iwh = torch.where(s["im"], g_iwh, torch.zeros_like(g_iwh))
    own = (s["pwh"] if side == 0 else s["twh"]) if False else None  # noqa: F841
    return g_lo, g_hi, g_iwh  # type: ignore[return-value]


def _grads(
    s: dict[str, Tensor], p: Tensor, t: Tensor, g: Tensor, variant: str, need: tuple[bool, bool]
) -> tuple[Tensor | None, Tensor | None]:
    """Gradients in the frame of ``g * value`` with respect to ``p`` and ``t`` (``(..., 4)``)."""
    pl, ph, tl, th = p[..., :2], p[..., 2:], t[..., :2], t[..., 2:]
    sign = 1.0 if variant == "iou" else -1.0  # the value is the IoU, or 1 - IoU + ...
    g_inter = (sign * g) * s["d_inter"]
    g_union = (sign * g) * s["d_union"]
    if variant == "giou":
        g_union = g_union - g * s["d_num"]
    ge = g.unsqueeze(-1)
    # intersection: inter = iw ih with iwh = relu(min(ph, th) - max(pl, tl))
    g_iwh = (g_inter - g_union).unsqueeze(-1) * s["iwh"].flip(-1)
    g_iwh = torch.where(s["im"], g_iwh, torch.zeros_like(g_iwh))
    share_hi = _split(th, ph)  # share of minimum(ph, th) going to ph
    share_lo = _split(pl, tl)  # share of maximum(pl, tl) going to pl
    if variant == "giou":
        g_cwh = (ge * s["d_area"].unsqueeze(-1)) * s["cwh"].flip(-1)
        g_cwh = torch.where(s["cm"], g_cwh, torch.zeros_like(g_cwh))
        share_chi = _split(ph, th)  # maximum(ph, th) to ph
        share_clo = _split(tl, pl)  # minimum(pl, tl) to pl
    if variant in ("diou", "ciou"):
        g_dxy = (ge * s["d_rho2"].unsqueeze(-1)) * (2 * s["dxy"])
        g_ewh = (ge * s["d_c2"].unsqueeze(-1)) * (2 * s["ewh"])
        share_emax = _split(s["pmax"], s["tmax"])  # to the prediction's max
        share_emin = _split(s["tmin"], s["pmin"])  # to the prediction's min
    out: list[Tensor | None] = []
    for side, (lo, hi) in enumerate(((pl, ph), (tl, th))):
        if not need[side]:
            out.append(None)
            continue
        first = side == 0
        wh, mask = (s["pwh"], s["pm"]) if first else (s["twh"], s["tm"])
        g_wh = g_union.unsqueeze(-1) * wh.flip(-1)
        if variant == "ciou":
            g_wh = g_wh + ge * s["d_pwh" if first else "d_twh"]
        g_wh = torch.where(mask, g_wh, torch.zeros_like(g_wh))
        g_hi = g_wh + g_iwh * (share_hi if first else 1 - share_hi)
        g_lo = (g_iwh * (share_lo if first else 1 - share_lo)).sub_(g_wh)
        if variant == "giou":
            g_hi = g_hi + g_cwh * (share_chi if first else 1 - share_chi)
            g_lo = g_lo - g_cwh * (share_clo if first else 1 - share_clo)
        elif variant != "iou":
            half = 0.5 * g_dxy
            g_hi = g_hi - half if first else g_hi + half
            g_lo = g_lo - half if first else g_lo + half
            g_max = g_ewh * (share_emax if first else 1 - share_emax)
            g_min = g_ewh * (share_emin if first else 1 - share_emin)
            # inner maximum(lo, hi) and minimum(lo, hi) of the box itself
            to_hi = _split(hi, lo)
            g_hi = g_hi + g_max * to_hi - g_min * (1 - to_hi)
            g_lo = g_lo + g_max * (1 - to_hi) - g_min * to_hi
        out.append(torch.cat([g_lo, g_hi], -1))
    return out[0], out[1]


def _plain(pred: Tensor, target: Tensor, variant: str, threshold: float | None) -> Tensor:
    """The same value through the plain path of :mod:`._geometry` (double backward)."""
    p, t, _ = G.to_unit(pred, target, "xyxy")
    ov = G.overlap(p, t)
    if variant == "iou":
        return ov.iou
    return G.variant_loss(variant, p, t, ov, ciou_threshold=threshold)


class _PairLoss(torch.autograd.Function):
    @staticmethod
    def forward(pred: Tensor, target: Tensor, variant: str, threshold: float | None) -> Tensor:
        dtype = compute_dtype(pred, target)
        p, t, _ = _frame(pred, target, dtype)
        value, _ = _forward(p, t, variant, threshold, need=False)
        return value

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
        pred, target, variant, threshold = inputs
        ctx.save_for_backward(pred, target)
        ctx.variant, ctx.threshold = variant, threshold

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor | None, None, None]:
        pred, target = ctx.saved_tensors
        need = (bool(ctx.needs_input_grad[0]), bool(ctx.needs_input_grad[1]))
        if double_backward():
            gp, gt = differentiable_grad(
                lambda a, b: _plain(a, b, ctx.variant, ctx.threshold), (pred, target), (grad,)
            )
            return gp, gt, None, None
        dtype = compute_dtype(pred, target)
        p, t, f = _frame(pred, target, dtype)
        s, _ = _forward(p, t, ctx.variant, ctx.threshold, need=True)[::-1]
        g = grad.to(dtype)
        grads = _grads(s, p, t, g, ctx.variant, need)
        out: list[Tensor | None] = []
        for x, gx in zip((pred, target), grads):
            if gx is None:
                out.append(None)
                continue
            big = torch.finfo(x.dtype).max
            out.append((gx * f).clamp_(-big, big).to(x.dtype))
        return out[0], out[1], None, None


def pair_value(
    pred: Tensor, target: Tensor, variant: str, threshold: float | None = None
) -> Tensor:
    """Per-pair IoU (``variant == "iou"``) or loss ``1 - IoU + penalty`` of ``xyxy`` boxes of
    the same shape ``(..., 4)``, in the compute dtype."""
    out: Tensor = _PairLoss.apply(pred, target, variant, threshold)
    return out
