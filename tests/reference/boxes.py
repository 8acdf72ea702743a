"""float64 loop references for the boxes family, written from the papers' formulas, one box at a
time (autograd flows through the loop). Boxes are ``xyxy`` rows of valid boxes (x1 < x2,
y1 < y2); degenerate boxes are tested for finiteness elsewhere.

``matlab_direction`` is a line-by-line scalar transcription of the DIoU authors' simulation
code (``dIOU.m``, ``dGIOU.m``, ``dDIOU.m``, ``dCIOU.m`` with their helpers), for checking the
vectorised ``--mode paper`` of the ``diou-simulation`` experiment.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

# ------------------------------------------------------------------------------ per-box terms


def _parts(p: Tensor, t: Tensor) -> dict[str, Tensor]:
    px1, py1, px2, py2 = p
    tx1, ty1, tx2, ty2 = t
    iw = torch.clamp(torch.min(px2, tx2) - torch.max(px1, tx1), min=0)
    ih = torch.clamp(torch.min(py2, ty2) - torch.max(py1, ty1), min=0)
    inter = iw * ih
    pw, ph, tw, th = px2 - px1, py2 - py1, tx2 - tx1, ty2 - ty1
    union = pw * ph + tw * th - inter
    cw = torch.max(px2, tx2) - torch.min(px1, tx1)
    ch = torch.max(py2, ty2) - torch.min(py1, ty1)
    dx = (tx1 + tx2) / 2 - (px1 + px2) / 2
    dy = (ty1 + ty2) / 2 - (py1 + py2) / 2
    return {
        "iou": inter / union,
        "union": union,
        "pw": pw,
        "ph": ph,
        "tw": tw,
        "th": th,
        "cw": cw,
        "ch": ch,
        "dx": dx,
        "dy": dy,
        "rho2": dx**2 + dy**2,
        "c2": cw**2 + ch**2,
    }


def iou(p: Tensor, t: Tensor) -> Tensor:
    return _parts(p, t)["iou"]


def giou(p: Tensor, t: Tensor) -> Tensor:
    """Rezatofighi et al., Alg. 1: IoU - |C \\ (A u B)| / |C|."""
    q = _parts(p, t)
    area_c = q["cw"] * q["ch"]
    return q["iou"] - (area_c - q["union"]) / area_c


def diou(p: Tensor, t: Tensor) -> Tensor:
    """Zheng et al., Eq. (6): IoU - rho^2 / c^2."""
    q = _parts(p, t)
    return q["iou"] - q["rho2"] / q["c2"]


def aspect_v(p: Tensor, t: Tensor) -> Tensor:
    q = _parts(p, t)
    return 4 / math.pi**2 * (torch.atan(q["tw"] / q["th"]) - torch.atan(q["pw"] / q["ph"])) ** 2


def ciou_alpha(p: Tensor, t: Tensor, threshold: float | None = None) -> Tensor:
    """CIoU's trade-off alpha = v / ((1 - IoU) + v) as a constant (0 below ``threshold``)."""
    i, v = iou(p, t).detach(), aspect_v(p, t).detach()
    if float((1 - i) + v) == 0 or (threshold is not None and float(i) < threshold):
        return torch.zeros((), dtype=p.dtype)
    return v / ((1 - i) + v)


def ciou(p: Tensor, t: Tensor, threshold: float | None = None, alpha: Tensor | None = None):
    """Zheng et al., Eqs. (8)-(11), alpha a constant (given, or from detached values)."""
    q = _parts(p, t)
    alpha = ciou_alpha(p, t, threshold) if alpha is None else alpha
    return q["iou"] - q["rho2"] / q["c2"] - alpha * aspect_v(p, t)


# -------------------------------------------------------------------------------- the losses


def iou_loss(p: Tensor, t: Tensor, mode: str = "linear", eps: float = 1e-6) -> Tensor:
    i = iou(p, t)
    if mode == "linear":
        return 1 - i
    if mode == "square":
        return 1 - i**2
    return -torch.log(torch.clamp(i, min=eps))


def giou_loss(p: Tensor, t: Tensor) -> Tensor:
    return 1 - giou(p, t)


def diou_loss(p: Tensor, t: Tensor) -> Tensor:
    return 1 - diou(p, t)


def ciou_loss(
    p: Tensor, t: Tensor, alpha_threshold: float | None = None, alpha: Tensor | None = None
) -> Tensor:
    return 1 - ciou(p, t, alpha_threshold, alpha)


def eiou_loss(p: Tensor, t: Tensor) -> Tensor:
    """Zhang et al., Eq. (10)."""
    q = _parts(p, t)
    return (
        1
        - q["iou"]
        + q["rho2"] / q["c2"]
        + (q["pw"] - q["tw"]) ** 2 / q["cw"] ** 2
        + (q["ph"] - q["th"]) ** 2 / q["ch"] ** 2
    )


def focal_eiou_loss(
    p: Tensor,
    t: Tensor,
    gamma: float = 0.5,
    detach_weight: bool = True,
    focus: Tensor | None = None,
):
    """Zhang et al., Eq. (13); ``focus`` replaces IoU^gamma by a given constant."""
    if focus is None:
        i = iou(p, t)
        focus = (i.detach() if detach_weight else i) ** gamma
    return focus * eiou_loss(p, t)


def cdiou_loss(p: Tensor, t: Tensor, lam: float = 1.0) -> Tensor:
    """Chen & Miao: diou = sum of the 4 vertex distances / (4 * enclosing diagonal)."""
    q = _parts(p, t)
    px1, py1, px2, py2 = p
    tx1, ty1, tx2, ty2 = t
    vertices = [
        ((px1, py1), (tx1, ty1)),
        ((px1, py2), (tx1, ty2)),
        ((px2, py1), (tx2, ty1)),
        ((px2, py2), (tx2, ty2)),
    ]
    total = sum(torch.sqrt((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) for a, b in vertices)
    return 1 - q["iou"] + lam * total / (4 * torch.sqrt(q["c2"]))


def siou_loss(p: Tensor, t: Tensor, theta: float = 4.0) -> Tensor:
    """Gevorgyan, Eqs. (1)-(10), the angle cost in its arcsin form."""
    q = _parts(p, t)
    sigma = torch.sqrt(q["rho2"])
    # coincident centres: the angle is undefined but multiplies rho = 0; take x = 0
    x = torch.abs(q["dy"]) / sigma if float(sigma.detach()) > 0 else torch.zeros((), dtype=p.dtype)
    angle = 1 - 2 * torch.sin(torch.arcsin(x) - math.pi / 4) ** 2
    gamma = 2 - angle
    rho_x, rho_y = (q["dx"] / q["cw"]) ** 2, (q["dy"] / q["ch"]) ** 2
    distance = (1 - torch.exp(-gamma * rho_x)) + (1 - torch.exp(-gamma * rho_y))
    omega_w = torch.abs(q["pw"] - q["tw"]) / torch.max(q["pw"], q["tw"])
    omega_h = torch.abs(q["ph"] - q["th"]) / torch.max(q["ph"], q["th"])
    shape = (1 - torch.exp(-omega_w)) ** theta + (1 - torch.exp(-omega_h)) ** theta
    return 1 - q["iou"] + (distance + shape) / 2


def wiou_loss(
    p: Tensor,
    t: Tensor,
    version: str = "v3",
    iou_mean: float = 0.5,
    alpha: float = 1.9,
    delta: float = 3.0,
    gamma: float = 0.5,
    at: tuple[Tensor, Tensor] | None = None,
) -> Tensor:
    """Tong et al., Eqs. (8), (10), (13)-(14) with a given mean of 1 - IoU; the quantities the
    paper detaches (marked *) are taken at the boxes ``at`` when given."""
    q = _parts(p, t)
    q0 = _parts(*at) if at is not None else {k: v.detach() for k, v in q.items()}
    liou = 1 - q["iou"]
    v1 = torch.exp(q["rho2"] / q0["c2"]) * liou
    if version == "v1":
        return v1
    beta = (1 - q0["iou"]) / iou_mean
    if version == "v2":
        return beta**gamma * v1
    return beta / (delta * alpha ** (beta - delta)) * v1


def alpha_iou_loss(
    p: Tensor, t: Tensor, alpha: float = 3.0, variant: str = "iou", beta: Tensor | None = None
) -> Tensor:
    """He et al., Eqs. (4)-(7); ``beta`` (alpha-CIoU's constant) may be given."""
    q = _parts(p, t)
    # IoU^alpha is locally constant (0) for disjoint boxes: no derivative of the power at 0
    loss = 1 - q["iou"] ** alpha if float(q["iou"].detach()) > 0 else torch.ones((), dtype=p.dtype)
    if variant == "giou":
        area_c = q["cw"] * q["ch"]
        loss = loss + ((area_c - q["union"]) / area_c) ** alpha
    if variant in ("diou", "ciou"):
        loss = loss + q["rho2"] ** alpha / q["c2"] ** alpha
    if variant == "ciou":
        beta = ciou_alpha(p, t) if beta is None else beta
        loss = loss + (beta * aspect_v(p, t)) ** alpha
    return loss


def mpdiou_loss(p: Tensor, t: Tensor, image_size: tuple[float, float]) -> Tensor:
    """Ma & Xu, Eqs. (1)-(3), image_size = (H, W)."""
    h, w = image_size
    d1 = (p[0] - t[0]) ** 2 + (p[1] - t[1]) ** 2
    d2 = (p[2] - t[2]) ** 2 + (p[3] - t[3]) ** 2
    return 1 - iou(p, t) + d1 / (w**2 + h**2) + d2 / (w**2 + h**2)


def _inner_box(b: Tensor, ratio: float) -> Tensor:
    cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
    w, h = b[2] - b[0], b[3] - b[1]
    return torch.stack(
        [cx - w * ratio / 2, cy - h * ratio / 2, cx + w * ratio / 2, cy + h * ratio / 2]
    )


def inner_iou_loss(
    p: Tensor, t: Tensor, ratio: float = 0.7, variant: str = "iou", alpha: Tensor | None = None
) -> Tensor:
    """Zhang et al., Eqs. (10)-(17): L_X + IoU - IoU_inner (``alpha``: CIoU's constant)."""
    base = {
        "iou": iou_loss,
        "giou": giou_loss,
        "diou": diou_loss,
        "ciou": lambda a, b: ciou_loss(a, b, alpha=alpha),
        "eiou": eiou_loss,
        "siou": siou_loss,
    }[variant]
    inner = iou(_inner_box(p, ratio), _inner_box(t, ratio))
    return base(p, t) + iou(p, t) - inner


def per_box(fn: Callable[..., Tensor], pred: Tensor, target: Tensor, **options) -> Tensor:
    """``fn`` applied to each pair of ``(..., 4)`` rows, stacked back to shape ``(...)``."""
    flat_p, flat_t = pred.reshape(-1, 4), target.reshape(-1, 4)
    values = [fn(a, b, **options) for a, b in zip(flat_p, flat_t)]
    return torch.stack(values).reshape(pred.shape[:-1])


# ----------------------------------------------------------- the CDIoU authors' code
# Alan-D-Chen/CDIoU-CDIoUloss at commit b3ddb9208e44d9df50ea075d113bcdfcb28aac06 (not
# installable), atss_core/structures/boxlist_ops.py ``box_dious`` (lines 109-198), for one
# pair of xyxy boxes (their function is pairwise, ``(N, 4) x (M, 4)``). Their ATSS loss,
# atss_core/modeling/rpn/atss/loss.py lines 70-77, adds ``0.001 * box_dious(anchor, target)``
# to a GIoU loss.


def cdiou_authors_distance(p: Tensor, t: Tensor) -> Tensor:
    """The diagonal of the enclosing box (lines 130-147); the four vertices ``(x1, y1), (x2,
    y2), (x1, y2)`` and ``(y1, x2)`` (lines 155-169: ``cat(box, box[[0, 3]], box[[1, 2]])``
    read in pairs; the last pair swaps x and y, the same distance as vertex ``(x2, y1)``);
    their distances averaged and divided by 4 again (line 192), over the diagonal (line
    197)."""
    lo = torch.minimum(p, t)
    hi = torch.maximum(p, t)
    diagonal = ((hi[2] - lo[0]) ** 2 + (hi[3] - lo[1]) ** 2).sqrt()
    ps = torch.cat([p, p[[0, 3]], p[[1, 2]]])
    ts = torch.cat([t, t[[0, 3]], t[[1, 2]]])
    squared = (ps - ts) ** 2
    distances = (squared[0::2] + squared[1::2]).sqrt()
    return distances.mean() / 4 / diagonal


# ------------------------------------------------------------ the WIoU authors' code
# A float64 transcription of the Wise-IoU authors' ``IouLoss`` (Instinct323/wiou, iou.py; not
# installable) for ``ltype="WIoU"``, vectorised over the boxes as theirs is. At commit
# ca97fc047ddeecbd6397245020d938ef719d8e06 (January 2024): the constants ``momentum = 1e-2,
# alpha = 1.7, delta = 2.7`` (lines 13-15), the buffer ``iou_mean`` initialised to 1 (line 22),
# ``iou = 1 - s_inter / s_union`` (line 56, their name for the IoU loss), the running mean
# updated in training before it is used (lines 59-61), the focusing factor ``beta / (delta *
# alpha^(beta - delta))`` or ``sqrt(beta)`` for ``monotonous=True`` (lines 67-76) on the v1
# loss ``exp(l2_center / l2_box.detach()) * iou`` (lines 81-83). At commit
# a7386de (March 2023) the same formulas had ``momentum = 1 - 0.5^(1/7000)`` (line 16) and
# ``_scaled_loss(loss, alpha=1.9, delta=3)`` (line 77).

WIOU_AUTHORS_2023 = {"momentum": 1 - 0.5 ** (1 / 7000), "alpha": 1.9, "delta": 3.0}
WIOU_AUTHORS_2024 = {"momentum": 1e-2, "alpha": 1.7, "delta": 2.7}


class WIoUAuthors:
    """The authors' ``IouLoss(ltype="WIoU", monotonous=...)`` with given constants."""

    def __init__(self, momentum: float, alpha: float, delta: float, monotonous: bool = False):
        self.momentum, self.alpha, self.delta = momentum, alpha, delta
        self.monotonous = monotonous
        self.iou_mean = torch.tensor(1.0, dtype=torch.float64)
        self.training = True

    def __call__(self, pred: Tensor, target: Tensor) -> Tensor:
        pred_xy = (pred[..., :2] + pred[..., 2:4]) / 2
        pred_wh = pred[..., 2:4] - pred[..., :2]
        target_xy = (target[..., :2] + target[..., 2:4]) / 2
        target_wh = target[..., 2:4] - target[..., :2]
        min_coord = torch.minimum(pred[..., :4], target[..., :4])
        max_coord = torch.maximum(pred[..., :4], target[..., :4])
        wh_inter = torch.relu(min_coord[..., 2:4] - max_coord[..., :2])
        s_inter = torch.prod(wh_inter, dim=-1)
        s_union = torch.prod(pred_wh, dim=-1) + torch.prod(target_wh, dim=-1) - s_inter
        wh_box = max_coord[..., 2:4] - min_coord[..., :2]
        l2_box = torch.square(wh_box).sum(dim=-1)
        l2_center = torch.square(pred_xy - target_xy).sum(dim=-1)
        iou = 1 - s_inter / s_union
        if self.training:
            self.iou_mean = self.iou_mean * (1 - self.momentum)
            self.iou_mean = self.iou_mean + self.momentum * iou.detach().mean()
        loss = torch.exp(l2_center / l2_box.detach()) * iou
        beta = iou.detach() / self.iou_mean
        if self.monotonous:
            return loss * beta.sqrt()
        return loss * (beta / (self.delta * torch.pow(self.alpha, beta - self.delta)))


# ------------------------------------------------------- the DIoU authors' simulation (MATLAB)


def _tblr(b):
    x, y, w, h = b
    return {"t": y - h / 2, "b": y + h / 2, "l": x - w / 2, "r": x + w / 2}


def _inter_box(a, b):
    return {
        "t": max(a["t"], b["t"]),
        "b": min(a["b"], b["b"]),
        "l": max(a["l"], b["l"]),
        "r": min(a["r"], b["r"]),
    }


def _cover(a, b):
    return {
        "t": min(a["t"], b["t"]),
        "b": max(a["b"], b["b"]),
        "l": min(a["l"], b["l"]),
        "r": max(a["r"], b["r"]),
    }


def _d_ibox(p, g):
    i = _inter_box(p, g)
    return {
        "t": -(i["r"] - i["l"]) if p["t"] > g["t"] else 0.0,
        "b": (i["r"] - i["l"]) if p["b"] < g["b"] else 0.0,
        "l": -(i["b"] - i["t"]) if p["l"] > g["l"] else 0.0,
        "r": (i["b"] - i["t"]) if p["r"] < g["r"] else 0.0,
    }


def _d_ubox(p, g):
    di = _d_ibox(p, g)
    dx = {
        "t": -(p["r"] - p["l"]),
        "b": p["r"] - p["l"],
        "l": -(p["b"] - p["t"]),
        "r": p["b"] - p["t"],
    }
    return {k: dx[k] - di[k] for k in "tblr"}


def _i_u(p, g):
    i = _inter_box(p, g)
    inter = (i["b"] - i["t"]) * (i["r"] - i["l"])
    union = (p["b"] - p["t"]) * (p["r"] - p["l"]) + (g["b"] - g["t"]) * (g["r"] - g["l"]) - inter
    return i, inter, union


def matlab_iou(pred, gt) -> float:
    p, g = _tblr(pred), _tblr(gt)
    i, inter, union = _i_u(p, g)
    return inter / union if (i["t"] < i["b"] and i["l"] < i["r"]) else 0.0


def _d_iou(p, g):
    i, inter, union = _i_u(p, g)
    di, du = _d_ibox(p, g), _d_ubox(p, g)
    s = {k: 0.0 for k in "tblr"}
    if i["t"] < i["b"] and i["l"] < i["r"] and union > 0:
        s = {k: (union * di[k] - inter * du[k]) / union**2 for k in "tblr"}
    if not p["t"] < p["b"]:
        s["t"] = s["b"]  # MATLAB: s.dt=s.db; s.db=s.dt;
    if not p["l"] < p["r"]:
        s["l"] = s["r"]
    return s


def _d_giou(p, g):
    i, inter, union = _i_u(p, g)
    du = _d_ubox(p, g)
    c = _cover(p, g)
    dc = {
        "t": -(c["r"] - c["l"]) if p["t"] < g["t"] else 0.0,
        "b": (c["r"] - c["l"]) if p["b"] > g["b"] else 0.0,
        "l": -(c["b"] - c["t"]) if p["l"] < g["l"] else 0.0,
        "r": (c["b"] - c["t"]) if p["r"] > g["r"] else 0.0,
    }
    area = (c["b"] - c["t"]) * (c["r"] - c["l"])
    if i["t"] < i["b"] and i["l"] < i["r"]:
        s = _d_iou(p, g)
        if area > 0:
            s = {k: s[k] + (area * du[k] - union * dc[k]) / area**2 for k in "tblr"}
        return s
    return {k: (area * du[k] - union * dc[k]) / area**2 for k in "tblr"}


def _xywh(s):
    return [s["l"] + s["r"], s["t"] + s["b"], s["r"] - s["l"], s["b"] - s["t"]]


def _d_diou(a, b, aspect):
    p, g = _tblr(a), _tblr(b)
    c = _cover(p, g)
    cc = (c["b"] - c["t"]) ** 2 + (c["r"] - c["l"]) ** 2
    ccw, cch = c["r"] - c["l"], c["b"] - c["t"]
    ct = (0, 1, 0, -0.5) if p["t"] < g["t"] else (0, 0, 0, 0)
    cb = (0, 1, 0, 0.5) if p["b"] > g["b"] else (0, 0, 0, 0)
    cl = (1, 0, -0.5, 0) if p["l"] < g["l"] else (0, 0, 0, 0)
    cr = (1, 0, 0.5, 0) if p["r"] > g["r"] else (0, 0, 0, 0)
    cw = [cr[0] - cl[0], cb[1] - ct[1], cr[2] - cl[2], cb[3] - ct[3]]
    chh = [cr[0] - cl[0], cb[1] - ct[1], cr[2] - cl[2], cb[3] - ct[3]]
    if p["l"] < g["l"] and p["r"] > g["r"]:
        cw[2] = -1
    if p["t"] < g["t"] and p["b"] > g["b"]:
        chh[3] = -1
    d = (a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2
    s = [
        (2 * (b[0] - a[0]) * cc - (2 * ccw * cw[0] + 2 * cch * chh[0]) * d) / (cc * cc),
        (2 * (b[1] - a[1]) * cc - (2 * ccw * cw[1] + 2 * cch * chh[1]) * d) / (cc * cc),
        (2 * ccw * cw[2] + 2 * cch * chh[2]) * d / (cc * cc),
        (2 * ccw * cw[3] + 2 * cch * chh[3]) * d / (cc * cc),
    ]
    if aspect:
        diff = math.atan(b[2] / b[3]) - math.atan(a[2] / a[3])
        v = 4 / math.pi**2 * diff**2
        alpha = v / (1 - matlab_iou(a, b) + v + 0.0000001)
        s[2] += alpha * 8 / math.pi**2 * diff * a[3]
        s[3] += alpha * -8 / math.pi**2 * diff * a[2]
    q = _xywh(_d_iou(p, g))
    return [q[k] + s[k] for k in range(4)]


def matlab_direction(loss: str, pred, gt) -> list[float]:
    """The authors' ``D = (dx, dy, dw, dh)`` for one case (``pred``, ``gt`` in x, y, w, h)."""
    pred, gt = [float(v) for v in pred], [float(v) for v in gt]
    if loss == "iou":
        return _xywh(_d_iou(_tblr(pred), _tblr(gt)))
    if loss == "giou":
        return _xywh(_d_giou(_tblr(pred), _tblr(gt)))
    return _d_diou(pred, gt, aspect=(loss == "ciou"))
