"""IoU, GIoU, DIoU and CIoU of ``xyxy`` box pairs for ``torch.compile``: the values and the
hand-derived gradients of :mod:`._fused`, written one coordinate row at a time.

Why a second form. :class:`._fused._PairLoss` is shaped for eager CPUs (x and y together as
``(2, N)`` blocks, temporaries updated in place, intermediates kept for the backward). Under
``torch.compile`` that shape is what slows it down: inductor cannot fuse a ``(2, N)`` pass with
an ``(N,)`` one, so the forward splits into many loops. The plain autograd graph of
:mod:`._geometry` fuses, but its partition saves a byte mask per ``maximum`` and ``minimum``
for the backward, and the frame's ``frexp`` and ``exp2`` keep the loop scalar: it ran at 2-3x
compiled ultralytics. :class:`_RowsPair` instead

* reads the pairs once into planar ``(4, N)`` copies, which the forward saves (a realised
  buffer: every later loop reads contiguous rows and vectorises);
* computes every quantity on ``(N,)`` rows, functionally (one iteration space: one loop);
* saves nothing else: the backward recomputes the frame and the forward's intermediates inside
  its own fused loop, which is cheaper than writing and reading them;
* shares the gradient of ``maximum`` / ``minimum`` as autograd does (all to the larger /
  smaller operand, half each at a tie), with the same guards, floors and unit frame.

Values are the same operations as :mod:`._fused` in the same order; gradients agree to
rounding (tests run both against the plain path). Second derivatives are not offered here:
``torch.compile`` does not differentiate a compiled backward again.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .._core.dtypes import compute_dtype
from . import _geometry as G
from ._fused import _K, _ge, _planar, _pos, _unit_factors

Rows = tuple[Tensor, Tensor, Tensor, Tensor]


def _frame(pp: Tensor, tt: Tensor) -> tuple[Rows, Rows, Tensor]:
    """Rows of the planar ``pp`` and ``tt`` in their unit frame, and ``2^-k`` per pair as the
    product of its two factors is not always representable: the two factors (``(2, N)``)."""
    magnitude = torch.maximum(pp.abs().amax(0), tt.abs().amax(0))
    f1, f2 = _unit_factors(magnitude)
    p = (pp * f1 * f2).unbind(0)
    t = (tt * f1 * f2).unbind(0)
    return (p[0], p[1], p[2], p[3]), (t[0], t[1], t[2], t[3]), torch.stack([f1, f2])


def _angle(w: Tensor, h: Tensor, f1: float, need: bool) -> tuple[Tensor, tuple[Tensor, ...]]:
    """:func:`._fused._angle` on rows: the aspect angle and its derivative w.r.t. ``(w, h)``."""
    m = torch.maximum(w, h)
    ok_w, ok_h = _ge(w, f1), _ge(h, f1)
    point = 1 - _ge(m, f1)
    m_c = m.clamp_min(f1)
    a, b = w / m_c * ok_w + point, h / m_c * ok_h + point
    angle = torch.atan2(a, b)
    if not need:
        return angle, ()
    inv = 1 / ((a * a + b * b) * m_c)
    return angle, (b * inv * ok_w, -a * inv * ok_h)


def _forward(
    p: Rows, t: Rows, variant: str, threshold: float | None, need: bool
) -> tuple[Tensor, dict[str, Any]]:
    """:func:`._fused._forward` on rows (``a`` indexes the axis: rows ``a`` and ``a + 2``)."""
    f2, f1 = G.floor(p[0], 2), G.floor(p[0], 1)
    axes = (0, 1)
    pw = [(p[a + 2] - p[a]).clamp_min(0) for a in axes]
    tw = [(t[a + 2] - t[a]).clamp_min(0) for a in axes]
    iw = [
        (torch.minimum(p[a + 2], t[a + 2]) - torch.maximum(p[a], t[a])).clamp_min(0) for a in axes
    ]
    inter = iw[0] * iw[1]
    union = pw[0] * pw[1] + tw[0] * tw[1] - inter
    ok = _ge(inter, f2)
    union_c = union.clamp_min(f2)
    iou = inter / union_c * ok
    s: dict[str, Any] = {}
    if need:
        s.update(pw=pw, tw=tw, iw=iw, d_inter=ok / union_c, d_union=-iou / union_c)
    if variant == "iou":
        return iou, s
    loss = 1 - iou
    if variant == "giou":
        cw = [
            (torch.maximum(p[a + 2], t[a + 2]) - torch.minimum(p[a], t[a])).clamp_min(0)
            for a in axes
        ]
        area = cw[0] * cw[1]
        num = area - union
        ok_g = _ge(torch.minimum(num.abs(), area), f2)
        area_c = area.clamp_min(f2)
        pen = num / area_c * ok_g
        if need:
            d_num = ok_g / area_c
            s.update(cw=cw, d_num=d_num, d_area=d_num - pen / area_c)
        return loss + pen, s
    dxy = [0.5 * (t[a] + t[a + 2]) - 0.5 * (p[a] + p[a + 2]) for a in axes]
    ext = [
        (torch.maximum(x[a], x[a + 2]), torch.minimum(x[a], x[a + 2])) for a in axes for x in (p, t)
    ]  # (max, min) of p's x, t's x, p's y, t's y
    ewh = [
        torch.maximum(ext[2 * a][0], ext[2 * a + 1][0])
        - torch.minimum(ext[2 * a][1], ext[2 * a + 1][1])
        for a in axes
    ]
    rho2 = dxy[0] * dxy[0] + dxy[1] * dxy[1]
    c2 = ewh[0] * ewh[0] + ewh[1] * ewh[1]
    ok_d = _ge(torch.minimum(rho2, c2), f2)
    c2_c = c2.clamp_min(f2)
    pen = rho2 / c2_c * ok_d
    if need:
        s.update(dxy=dxy, ext=ext, ewh=ewh, d_rho2=ok_d / c2_c, d_c2=-pen / c2_c)
    if variant == "diou":
        return loss + pen, s
    at, dt = _angle(tw[0], tw[1], f1, need)
    ap, dp = _angle(pw[0], pw[1], f1, need)
    diff = at - ap
    v = diff * diff * _K
    den = 1 - iou + v
    tiny = torch.finfo(iou.dtype).tiny
    alpha = _ge(den, tiny) * v / den.clamp_min(tiny)
    if threshold is not None:
        alpha = alpha * _ge(iou, threshold)
    if need:
        g_angle = alpha * diff * (2 * _K)  # d (alpha v) / d at; minus that for ap
        s.update(d_pw=[-dp[a] * g_angle * _pos(pw[a]) for a in axes])
        s.update(d_tw=[dt[a] * g_angle * _pos(tw[a]) for a in axes])
    return loss + (pen + alpha * v), s


def _share_max(g: Tensor, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """The gradient ``g`` of ``maximum(a, b)`` as autograd shares it: ``(to a, to b)``."""
    h = torch.sign(a - b) * g
    return 0.5 * (g + h), 0.5 * (g - h)


def _share_min(g: Tensor, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """The gradient ``g`` of ``minimum(a, b)``: ``(to a, to b)``."""
    return _share_max(g, b, a)


class _Grads:
    """Gradient rows of one box set, accumulated."""

    def __init__(self) -> None:
        self.rows: list[Tensor | float] = [0.0] * 4

    def add(self, i: int, g: Tensor) -> None:
        self.rows[i] = self.rows[i] + g

    def add_pair(self, i: int, j: int, gs: tuple[Tensor, Tensor]) -> None:
        self.add(i, gs[0])
        self.add(j, gs[1])


def _grads(s: dict[str, Any], p: Rows, t: Rows, g: Tensor, variant: str) -> tuple[_Grads, _Grads]:
    """:func:`._fused._grads` on rows: gradients in the frame of ``sum(g * value)``."""
    sg = g if variant == "iou" else -g  # the value is the IoU, or 1 - IoU + ...
    g_inter = sg * s["d_inter"]
    g_union = sg * s["d_union"]
    if variant == "giou":
        g_union = g_union - g * s["d_num"]
    gp, gt = _Grads(), _Grads()
    for a in (0, 1):
        o, lo, hi = 1 - a, a, a + 2
        # sizes: d (w h) = (h, w), from the union (and the aspect angles), where w > 0
        for w, acc, key in ((s["pw"], gp, "d_pw"), (s["tw"], gt, "d_tw")):
            g_size = g_union * w[o] * _pos(w[a])
            if variant == "ciou":
                g_size = g_size + s[key][a] * g
            acc.add(hi, g_size)
            acc.add(lo, -g_size)
        # intersection: iw = min(p_hi, t_hi) - max(p_lo, t_lo) where > 0
        g_iw = (g_inter - g_union) * s["iw"][o] * _pos(s["iw"][a])
        hi_p, hi_t = _share_min(g_iw, p[hi], t[hi])
        lo_p, lo_t = _share_max(-g_iw, p[lo], t[lo])
        gp.add_pair(hi, lo, (hi_p, lo_p))
        gt.add_pair(hi, lo, (hi_t, lo_t))
        if variant == "giou":
            # enclosing box: cw = max(p_hi, t_hi) - min(p_lo, t_lo) where > 0
            g_cw = g * s["d_area"] * s["cw"][o] * _pos(s["cw"][a])
            hi_p, hi_t = _share_max(g_cw, p[hi], t[hi])
            lo_p, lo_t = _share_min(-g_cw, p[lo], t[lo])
            gp.add_pair(hi, lo, (hi_p, lo_p))
            gt.add_pair(hi, lo, (hi_t, lo_t))
        elif variant != "iou":
            # d rho2 / d dxy = 2 dxy, halved by the centres
            half = s["dxy"][a] * g * s["d_rho2"]
            gp.add_pair(lo, hi, (-half, -half))
            gt.add_pair(lo, hi, (half, half))
            # extent: ewh = max(p_max, t_max) - min(p_min, t_min), each over the box's corners
            g_ew = s["ewh"][a] * g * s["d_c2"] * 2
            (p_max, p_min), (t_max, t_min) = s["ext"][2 * a], s["ext"][2 * a + 1]
            g_pmax, g_tmax = _share_max(g_ew, p_max, t_max)
            g_pmin, g_tmin = _share_min(-g_ew, p_min, t_min)
            for x, acc, g_max, g_min in ((p, gp, g_pmax, g_pmin), (t, gt, g_tmax, g_tmin)):
                acc.add_pair(lo, hi, _share_max(g_max, x[lo], x[hi]))
                acc.add_pair(lo, hi, _share_min(g_min, x[lo], x[hi]))
    return gp, gt


class _RowsPair(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, pred: Tensor, target: Tensor, variant: str, threshold: float | None
    ) -> Tensor:
        dtype = compute_dtype(pred, target)
        pp, tt = _planar(pred).to(dtype), _planar(target).to(dtype)
        p, t, _ = _frame(pp, tt)
        value, _ = _forward(p, t, variant, threshold, need=False)
        ctx.save_for_backward(pp, tt)
        ctx.variant, ctx.threshold = variant, threshold
        ctx.shapes = (pred.shape, pred.dtype), (target.shape, target.dtype)
        return value.reshape(pred.shape[:-1])

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor | None, None, None]:
        pp, tt = ctx.saved_tensors
        p, t, f = _frame(pp, tt)
        _, saved = _forward(p, t, ctx.variant, ctx.threshold, need=True)
        grads = _grads(saved, p, t, grad.reshape(-1).to(pp.dtype), ctx.variant)
        out: list[Tensor | None] = []
        for i, (acc, (shape, dtype)) in enumerate(zip(grads, ctx.shapes)):
            if not ctx.needs_input_grad[i]:
                out.append(None)
                continue
            big = torch.finfo(dtype).max
            # back to raw units, clamped, in the (N, 4) layout
            g = torch.stack([torch.as_tensor(r) * f[0] * f[1] for r in acc.rows], -1)
            out.append(g.clamp(-big, big).to(dtype).view(shape))
        return out[0], out[1], None, None


def pair_value(
    pred: Tensor, target: Tensor, variant: str, threshold: float | None = None
) -> Tensor:
    """:func:`._fused.pair_value` for ``torch.compile``."""
    out: Tensor = _RowsPair.apply(pred, target, variant, threshold)
    return out
