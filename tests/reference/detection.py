"""float64 references of the dense-detection and oriented-box losses, transcribed from the
formulas of the original code (mmdetection 3.x, mmrotate 0.3.x) with their conventions, in
the original's matrix form (2x2 covariances, ``torch.det``, ``bmm``), independent of the
library's closed forms. mmdet and mmrotate need mmcv and are not installed: each function
names the file and function it follows.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


# ------------------------------------------------------------------ GFL (mmdet gfocal_loss.py)
def quality_focal_loss(pred: Tensor, label: Tensor, score: Tensor, beta: float = 2.0) -> Tensor:
    """``mmdet/models/losses/gfocal_loss.py::quality_focal_loss``: every entry first as a
    negative, ``BCE(x, 0) * sigmoid(x)^beta``; the positive entry ``(i, label[i])``
    (``0 <= label < C``; ``C`` is background) replaced by ``BCE(x, score) * |score -
    sigmoid(x)|^beta``; summed over classes -> ``(N,)``."""
    p = pred.sigmoid()
    loss = F.binary_cross_entropy_with_logits(pred, torch.zeros_like(pred), reduction="none")
    loss = loss * p.pow(beta)
    pos = ((label >= 0) & (label < pred.shape[1])).nonzero().squeeze(1)
    lab = label[pos].long()
    scale = score[pos] - p[pos, lab]
    pos_loss = F.binary_cross_entropy_with_logits(pred[pos, lab], score[pos], reduction="none")
    loss = loss.clone()
    loss[pos, lab] = pos_loss * scale.abs().pow(beta)
    return loss.sum(1)


def distribution_focal_loss(pred: Tensor, label: Tensor) -> Tensor:
    """``mmdet/models/losses/gfocal_loss.py::distribution_focal_loss``: ``dis_left =
    label.long()``, ``dis_right = dis_left + 1``, weights ``dis_right - label`` and ``label -
    dis_left``, two cross entropies; ``pred (N, reg_max + 1)``, ``label (N,)`` below
    ``reg_max`` (GFLHead encodes with ``bbox2distance(..., max_dis=reg_max)``, which clamps
    to ``reg_max - 0.01``)."""
    left = label.long()
    right = left + 1
    wl = right.to(label.dtype) - label
    wr = label - left.to(label.dtype)
    return (
        F.cross_entropy(pred, left, reduction="none") * wl
        + F.cross_entropy(pred, right, reduction="none") * wr
    )


# --------------------------------------------------------- VFL (mmdet varifocal_loss.py)
def varifocal_loss(
    pred: Tensor, target: Tensor, alpha: float = 0.75, gamma: float = 2.0, iou_weighted: bool = True
) -> Tensor:
    """``mmdet/models/losses/varifocal_loss.py::varifocal_loss``: ``focal_weight = target *
    (target > 0) + alpha * |sigmoid(pred) - target|^gamma * (target <= 0)`` (``iou_weighted``;
    else ``(target > 0) + ...``), times ``BCE(pred, target)``, elementwise."""
    p = pred.sigmoid()
    pos = (target > 0).to(pred.dtype)
    first = target * pos if iou_weighted else pos
    weight = first + alpha * (p - target).abs().pow(gamma) * (1 - pos)
    return F.binary_cross_entropy_with_logits(pred, target, reduction="none") * weight


# --------------------------------------------------------------------- Poly-1 (the paper)
def poly1_softmax(logits: Tensor, labels: Tensor, epsilon: float) -> Tensor:
    """Leng et al. 2022, Eq. (2) / their Listing 1: ``CE + epsilon * (1 - pt)``, ``pt =
    sum(onehot * softmax)``, per sample."""
    onehot = F.one_hot(labels, logits.shape[1]).to(logits.dtype)
    pt = (onehot * logits.softmax(1)).sum(1)
    return F.cross_entropy(logits, labels, reduction="none") + epsilon * (1 - pt)


def poly1_sigmoid(logits: Tensor, labels: Tensor, epsilon: float, gamma: float = 0.0) -> Tensor:
    """Leng et al. 2022, Listing 2 (Poly-1 focal): ``p = sigmoid(x)``, ``pt = y p + (1-y)(1-p)``,
    ``FL = BCE * (1 - pt)^gamma``, ``FL + epsilon (1 - pt)^(gamma + 1)`` (no alpha)."""
    p = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    pt = labels * p + (1 - labels) * (1 - p)
    return ce * (1 - pt).pow(gamma) + epsilon * (1 - pt).pow(gamma + 1)


# --------------------------------------- Gaussian boxes (mmrotate gaussian_dist_loss.py)
def xy_wh_r_2_xy_sigma(xywhr: Tensor, variance: float = 0.25) -> tuple[Tensor, Tensor]:
    """``mmrotate/models/losses/gaussian_dist_loss.py::xy_wh_r_2_xy_sigma``: ``S = 0.5 diag(wh)``
    (``variance = 1/4``), ``sigma = R S^2 R^T``, ``R = [[cos, -sin], [sin, cos]]``."""
    wh = xywhr[..., 2:4].reshape(-1, 2)
    r = xywhr[..., 4].reshape(-1)
    c, s = torch.cos(r), torch.sin(r)
    rot = torch.stack((c, -s, s, c), -1).reshape(-1, 2, 2)
    scale = math.sqrt(variance) * torch.diag_embed(wh)
    sigma = rot.bmm(scale.square()).bmm(rot.permute(0, 2, 1))
    return xywhr[..., :2].reshape(-1, 2), sigma


def postprocess(distance: Tensor, fun: str = "log1p", tau: float = 1.0) -> Tensor:
    """``gaussian_dist_loss.py::postprocess``: ``f`` then ``1 - 1/(tau + f)`` for
    ``tau >= 1``."""
    if fun == "log1p":
        distance = torch.log1p(distance)
    elif fun == "sqrt":
        distance = torch.sqrt(distance)
    if tau >= 1.0:
        return 1 - 1 / (tau + distance)
    return distance


def gwd_loss(pred: Tensor, target: Tensor, fun: str = "log1p", tau: float = 1.0,
             alpha: float = 1.0, normalize: bool = True) -> Tensor:  # fmt: skip
    """``gaussian_dist_loss.py::gwd_loss`` on ``xy_wh_r_2_xy_sigma`` of both boxes (as
    ``GDLoss.forward``): ``tr(Sp) + tr(St) - 2 sqrt(tr(Sp St) + 2 sqrt(det Sp det St))``,
    ``distance = sqrt(xy + alpha^2 whr)``, normalised by ``2 (det Sp det St)^(1/8)``."""
    xy_p, sp = xy_wh_r_2_xy_sigma(pred)
    xy_t, st = xy_wh_r_2_xy_sigma(target)
    xy = (xy_p - xy_t).square().sum(-1)
    whr = sp.diagonal(dim1=-2, dim2=-1).sum(-1) + st.diagonal(dim1=-2, dim2=-1).sum(-1)
    tr = sp.bmm(st).diagonal(dim1=-2, dim2=-1).sum(-1)
    det_sqrt = (sp.det() * st.det()).clamp(0).sqrt()
    whr = whr - 2 * (tr + 2 * det_sqrt).clamp(0).sqrt()
    distance = (xy + alpha * alpha * whr).clamp(0).sqrt()
    if normalize:
        distance = distance / (2 * det_sqrt.sqrt().sqrt().clamp(1e-7))
    return postprocess(distance, fun, tau).reshape(pred.shape[:-1])


def kld_loss(pred: Tensor, target: Tensor, fun: str = "log1p", tau: float = 1.0,
             alpha: float = 1.0, sqrt: bool = True) -> Tensor:  # fmt: skip
    """``gaussian_dist_loss.py::kld_loss``: ``Sigma_p_inv`` (the adjugate over ``det``) fixes
    the direction KL(N_t || N_p); ``0.5 dxy^T Sp^-1 dxy / alpha^2 + 0.5 tr(Sp^-1 St) + 0.5
    (log det Sp - log det St) - 1``, then ``sqrt`` and ``postprocess``."""
    xy_p, sp = xy_wh_r_2_xy_sigma(pred)
    xy_t, st = xy_wh_r_2_xy_sigma(target)
    inv = torch.linalg.inv(sp)
    d = (xy_p - xy_t).unsqueeze(-1)
    xy = 0.5 * d.transpose(1, 2).bmm(inv).bmm(d).reshape(-1)
    whr = 0.5 * inv.bmm(st).diagonal(dim1=-2, dim2=-1).sum(-1)
    whr = whr + 0.5 * (sp.det().log() - st.det().log()) - 1
    distance = xy / (alpha * alpha) + whr
    if sqrt:
        distance = distance.clamp(0).sqrt()
    return postprocess(distance, fun, tau).reshape(pred.shape[:-1])


def bhattacharyya(pred: Tensor, target: Tensor, variance: float = 1 / 12) -> Tensor:
    """Llerena et al. 2021, Eq. (5): ``1/8 d^T S^-1 d + 1/2 log(det S / sqrt(det Sp det St))``,
    ``S = (Sp + St) / 2``, with the uniform-distribution covariance (``variance = 1/12``)."""
    xy_p, sp = xy_wh_r_2_xy_sigma(pred, variance)
    xy_t, st = xy_wh_r_2_xy_sigma(target, variance)
    s = 0.5 * (sp + st)
    d = (xy_p - xy_t).unsqueeze(-1)
    quad = d.transpose(1, 2).bmm(torch.linalg.inv(s)).bmm(d).reshape(-1)
    bd = quad / 8 + 0.5 * torch.log(s.det() / (sp.det() * st.det()).sqrt())
    return bd.reshape(pred.shape[:-1])


def smooth_l1_rotated(pred: Tensor, target: Tensor, beta: float = 1.0) -> Tensor:
    """Smooth L1 summed over ``(cx, cy, w, h, angle)``: the parameter regression the Gaussian
    losses replace."""
    return F.smooth_l1_loss(pred, target, beta=beta, reduction="none").sum(-1)


# ------------------------------------------------ balanced L1 (mmdet balanced_l1_loss.py)
def balanced_l1_loss(
    pred: Tensor, target: Tensor, beta: float = 1.0, alpha: float = 0.5, gamma: float = 1.5
) -> Tensor:
    """``mmdet/models/losses/balanced_l1_loss.py::balanced_l1_loss``: ``b = e^(gamma/alpha) - 1``;
    ``alpha/b (b d + 1) log(b d / beta + 1) - alpha d`` for ``d < beta``, else ``gamma d +
    gamma/b - alpha beta``; elementwise (``BalancedL1Loss`` then averages over every
    coordinate)."""
    diff = (pred - target).abs()
    b = math.e ** (gamma / alpha) - 1
    return torch.where(
        diff < beta,
        alpha / b * (b * diff + 1) * torch.log(b * diff / beta + 1) - alpha * diff,
        gamma * diff + gamma / b - alpha * beta,
    )


# ------------------------------------------------------------- GHM (mmdet ghm_loss.py)
def ghmc(pred: Tensor, target: Tensor, label_weight: Tensor, bins: int = 10,
         momentum: float = 0.0, acc_sum: list[float] | None = None) -> Tensor:  # fmt: skip
    """``mmdet/models/losses/ghm_loss.py::GHMC.forward`` (``use_sigmoid=True``): edges
    ``arange(bins + 1) / bins`` with ``edges[-1] += 1e-6``, ``g = |sigmoid(pred) - target|``
    (detached), ``tot = max(valid.sum(), 1)``, a Python loop over the bins: ``weights[inds] =
    tot / num_in_bin`` (or ``tot / acc_sum[i]`` after ``acc_sum[i] = mmt acc_sum[i] + (1 - mmt)
    num_in_bin``), ``weights /= n`` (non-empty bins), ``sum(BCE * weights) / tot``.
    ``acc_sum`` (a list) is updated in place, as the Module's attribute."""
    edges = [i / bins for i in range(bins + 1)]
    edges[-1] += 1e-6
    g = (pred.detach().sigmoid() - target).abs()
    valid = label_weight > 0
    tot = max(float(valid.float().sum()), 1.0)
    weights = torch.zeros_like(pred)
    n = 0
    for i in range(bins):
        inds = (g >= edges[i]) & (g < edges[i + 1]) & valid
        num = int(inds.sum())
        if num > 0:
            if momentum > 0 and acc_sum is not None:
                acc_sum[i] = momentum * acc_sum[i] + (1 - momentum) * num
                weights[inds] = tot / acc_sum[i]
            else:
                weights[inds] = tot / num
            n += 1
    if n > 0:
        weights = weights / n
    loss = F.binary_cross_entropy_with_logits(pred, target, reduction="none")
    return (loss * weights).sum() / tot


def ghmr(pred: Tensor, target: Tensor, label_weight: Tensor, mu: float = 0.02, bins: int = 10,
         momentum: float = 0.0, acc_sum: list[float] | None = None) -> Tensor:  # fmt: skip
    """``ghm_loss.py::GHMR.forward``: ``loss = sqrt(d^2 + mu^2) - mu``, ``g = |d| / sqrt(mu^2 +
    d^2)``, edges ``arange(bins + 1) / bins`` with ``edges[-1] = 1e3``, ``tot =
    max(label_weight.sum(), 1)``, the same loop, ``sum(loss * weights) / tot`` over the
    ``(N, 4)`` coordinates."""
    edges = [i / bins for i in range(bins + 1)]
    edges[-1] = 1e3
    diff = pred - target
    loss = torch.sqrt(diff * diff + mu * mu) - mu
    g = (diff / torch.sqrt(mu * mu + diff * diff)).abs().detach()
    valid = label_weight > 0
    tot = max(float(label_weight.float().sum()), 1.0)
    weights = torch.zeros_like(g)
    n = 0
    for i in range(bins):
        inds = (g >= edges[i]) & (g < edges[i + 1]) & valid
        num = int(inds.sum())
        if num > 0:
            n += 1
            if momentum > 0 and acc_sum is not None:
                acc_sum[i] = momentum * acc_sum[i] + (1 - momentum) * num
                weights[inds] = tot / acc_sum[i]
            else:
                weights[inds] = tot / num
    if n > 0:
        weights = weights / n
    return (loss * weights).sum() / tot


# ------------------------------------------------------- Seesaw (mmdet seesaw_loss.py)
def seesaw_ce_loss(cls_score: Tensor, labels: Tensor, cum_samples: Tensor, p: float = 0.8,
                   q: float = 2.0, eps: float = 1e-2) -> Tensor:  # fmt: skip
    """``mmdet/models/losses/seesaw_loss.py::seesaw_ce_loss``: ``sample_ratio_matrix =
    cum[None, :].clamp(1) / cum[:, None].clamp(1)``, mitigation ``ratio^p`` where ``< 1``;
    compensation ``(scores / self_scores.clamp(eps))^q`` where ``> 1`` on the detached softmax;
    ``cls_score + log(seesaw_weights) * (1 - onehot)``, cross entropy per sample."""
    num_classes = cls_score.shape[-1]
    onehot = F.one_hot(labels, num_classes)
    weights = cls_score.new_ones(onehot.shape)
    if p > 0:
        ratio = cum_samples[None, :].clamp(min=1) / cum_samples[:, None].clamp(min=1)
        index = (ratio < 1.0).to(cls_score.dtype)
        sample_weights = ratio.pow(p) * index + (1 - index)
        weights = weights * sample_weights[labels.long(), :]
    if q > 0:
        scores = F.softmax(cls_score.detach(), dim=1)
        self_scores = scores[torch.arange(len(scores)), labels.long()]
        score_matrix = scores / self_scores[:, None].clamp(min=eps)
        index = (score_matrix > 1.0).to(cls_score.dtype)
        weights = weights * (score_matrix.pow(q) * index + (1 - index))
    cls_score = cls_score + weights.log() * (1 - onehot)
    return F.cross_entropy(cls_score, labels, reduction="none")
