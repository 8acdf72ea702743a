"""float64 loop references for the margin-softmax, pair and proxy losses, written from the
papers' equations (one sample, one pair at a time; autograd flows through, so gradients can
be compared). Where a convention is fixed by the authors' code, the line is cited."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def _cos(a: Tensor, b: Tensor) -> Tensor:
    return (a * b).sum() / (a.norm() * b.norm())


def _lse1(terms: list[Tensor]) -> Tensor:
    """log(1 + sum exp(t))."""
    return torch.log(1 + sum((torch.exp(t) for t in terms), torch.tensor(0.0, dtype=torch.float64)))


def arcface(x: Tensor, y: Tensor, w: Tensor, margin: float, scale: float, easy: bool = False):
    """ArcFace, Deng et al. 2019 Eq. (3), with insightface arcface_torch/losses.py ArcFace's
    fallback (``th = cos(pi - m)``, ``mm = sin(pi - m) * m``; ``easy_margin``: ``cos > 0``)."""
    out = []
    for xi, yi in zip(x, y):
        cos = [_cos(xi, wj) for wj in w]
        c = cos[yi]
        theta = torch.acos(c)
        phi = torch.cos(theta + margin)
        if easy:
            t = phi if c > 0 else c
        else:
            t = phi if c > math.cos(math.pi - margin) else c - math.sin(math.pi - margin) * margin
        logits = torch.stack([t if j == yi else cj for j, cj in enumerate(cos)]) * scale
        out.append(-torch.log_softmax(logits, 0)[yi])
    return torch.stack(out).mean()


def cosface(x: Tensor, y: Tensor, w: Tensor, margin: float, scale: float):
    """CosFace, Wang et al. 2018 Eq. (4)."""
    out = []
    for xi, yi in zip(x, y):
        cos = [_cos(xi, wj) for wj in w]
        logits = torch.stack([c - margin if j == yi else c for j, c in enumerate(cos)]) * scale
        out.append(-torch.log_softmax(logits, 0)[yi])
    return torch.stack(out).mean()


def circle(x: Tensor, y: Tensor, m: float, gamma: float):
    """Circle loss, Sun et al. 2020 Eq. (6) with Eq. (8) (O_p = 1 + m, O_n = -m,
    Delta_p = 1 - m, Delta_n = m), alpha held constant; mean over anchors with a positive
    and a negative."""
    out = []
    for i in range(len(x)):
        sp = [_cos(x[i], x[j]) for j in range(len(x)) if j != i and y[j] == y[i]]
        sn = [_cos(x[i], x[j]) for j in range(len(x)) if y[j] != y[i]]
        if not sp or not sn:
            continue
        lp = [-gamma * torch.relu(1 + m - s.detach()) * (s - (1 - m)) for s in sp]
        ln = [gamma * torch.relu(s.detach() + m) * (s - m) for s in sn]
        out.append(torch.log1p(sum(torch.exp(a + b) for a in lp for b in ln)))
    return torch.stack(out).mean() if out else x.sum() * 0


def multi_similarity(
    x: Tensor, y: Tensor, alpha: float, beta: float, base: float, eps: float | None, drop=False
):
    """MS loss, Wang et al. 2019 Eq. (10) over the pairs mined by Eq. (8)-(9) (``eps=None``:
    every pair). ``drop=True``: the authors' research-ms-loss ms_loss.py, which skips an anchor
    that keeps no positive or no negative pair (``if len(neg_pair) < 1 or len(pos_pair) < 1:
    continue``) and divides by the batch size."""
    out = []
    for i in range(len(x)):
        sp = [_cos(x[i], x[j]) for j in range(len(x)) if j != i and y[j] == y[i]]
        sn = [_cos(x[i], x[j]) for j in range(len(x)) if y[j] != y[i]]
        if eps is not None:
            if not sp or not sn:
                sp, sn = [], []
            else:
                lo, hi = min(float(s) for s in sp), max(float(s) for s in sn)
                sp, sn = [s for s in sp if s - eps < hi], [s for s in sn if s + eps > lo]
        if drop and (not sp or not sn):
            out.append(x.sum() * 0)
            continue
        out.append(
            _lse1([-alpha * (s - base) for s in sp]) / alpha
            + _lse1([beta * (s - base) for s in sn]) / beta
        )
    return torch.stack(out).mean()


def proxy_anchor(x: Tensor, y: Tensor, p: Tensor, margin: float, alpha: float):
    """Proxy-Anchor, Kim et al. 2020 Eq. (4)."""
    pos_terms, neg_terms = [], []
    for c in range(len(p)):
        sp = [_cos(xi, p[c]) for xi, yi in zip(x, y) if yi == c]
        sn = [_cos(xi, p[c]) for xi, yi in zip(x, y) if yi != c]
        if sp:
            pos_terms.append(_lse1([-alpha * (s - margin) for s in sp]))
        neg_terms.append(_lse1([alpha * (s + margin) for s in sn]))
    return sum(pos_terms) / len(pos_terms) + sum(neg_terms) / len(p)


def proxy_nca(x: Tensor, y: Tensor, p: Tensor, temperature: float, exclude: bool):
    """ProxyNCA, Movshovitz-Attias et al. 2017 Eq. (8) (``exclude``: the positive proxy is
    not in the denominator) and ProxyNCA++, Teh et al. 2020 Eq. (5) (it is; temperature T)."""
    out = []
    for xi, yi in zip(x, y):
        xn = xi / xi.norm()
        d = [((xn - pj / pj.norm()) ** 2).sum() for pj in p]
        num = torch.exp(-d[yi] / temperature)
        den = sum(
            torch.exp(-dj / temperature) for j, dj in enumerate(d) if not (exclude and j == yi)
        )
        out.append(-torch.log(num / den))
    return torch.stack(out).mean()


def adaface(x: Tensor, y: Tensor, w: Tensor, mu: float, sigma: float, m: float, h: float, s: float):
    """AdaFace, the authors' head.py ``AdaFace.forward`` (mk-minchul/AdaFace): cosine clamped
    to [-1 + eps, 1 - eps], ``safe_norms = clip(norms, 0.001, 100)``, ``margin_scaler =
    clip((safe_norms - batch_mean) / (batch_std + eps) * h, -1, 1)``, ``g_angular = -m *
    margin_scaler`` on the target's ``acos``, the angle clipped to [eps, pi - eps],
    ``g_add = m * margin_scaler + m`` subtracted, times ``s``; eps = 1e-3."""
    eps = 1e-3
    out = []
    for xi, yi in zip(x, y):
        cos = [torch.clamp(_cos(xi, wj), -1 + eps, 1 - eps) for wj in w]
        z = torch.clamp(
            (torch.clamp(xi.norm(), 0.001, 100).detach() - mu) / (sigma + eps) * h, -1, 1
        )
        theta = torch.clamp(torch.acos(cos[yi]) - m * z, eps, math.pi - eps)
        t = torch.cos(theta) - (m * z + m)
        logits = torch.stack([t if j == yi else c for j, c in enumerate(cos)]) * s
        out.append(-torch.log_softmax(logits, 0)[yi])
    return torch.stack(out).mean()
