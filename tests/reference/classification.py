"""float64 loop references for the classification family, written from the definitions.

Each takes float64 tensors and returns per-location values built element by element (Python
loops over locations and classes), so autograd flows through them and they share no code with
visionloss. Inputs are ``(N, C)``: callers flatten ``(N, C, *)`` with :func:`to_rows`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor


def to_rows(x: Tensor) -> Tensor:
    """``(N, C, *)`` -> ``(N * prod(*), C)``, one row per location."""
    return x.movedim(1, -1).reshape(-1, x.shape[1])


def _softmax_row(row: Tensor) -> list[Tensor]:
    m = max(float(v) for v in row)
    exps = [torch.exp(v - m) for v in row]
    total = sum(exps)
    return [e / total for e in exps]


def cross_entropy(
    x: Tensor,
    q: Tensor,
    weight: Sequence[float] | None = None,
    smoothing: float = 0.0,
    weight_map: Tensor | None = None,
    valid: Sequence[bool] | None = None,
) -> tuple[Tensor, Tensor]:
    """Rows ``x`` (N, C) of logits, ``q`` (N, C) target distributions. Returns the per-row loss
    ``-m_i sum_c w_c q~_ic log p_ic`` (0 for invalid rows) and the mean denominator
    ``sum_valid sum_c w_c q_ic`` (visionloss's convention)."""
    n, c = x.shape
    w = [1.0] * c if weight is None else list(weight)
    losses, denominator = [], 0.0
    for i in range(n):
        if valid is not None and not valid[i]:
            losses.append(x[i, 0] * 0.0)
            continue
        p = _softmax_row(x[i])
        term = 0.0
        for k in range(c):
            qs = (1 - smoothing) * q[i, k] + smoothing / c
            term = term - w[k] * qs * torch.log(p[k])
            denominator += float(w[k]) * float(q[i, k])
        if weight_map is not None:
            term = term * weight_map[i]
        losses.append(term)
    return torch.stack(losses), torch.tensor(denominator, dtype=torch.float64)


def binary_cross_entropy(x: Tensor, y: Tensor, pos_weight: Tensor | None = None) -> Tensor:
    """Elementwise ``-(pw_c y log s(x) + (1 - y) log(1 - s(x)))`` with ``pos_weight`` (C,) read
    along dim 1 of ``x``; the sigmoid written out as 1 / (1 + exp(-x))."""
    inner = int(np.prod(x.shape[2:])) if x.dim() > 2 else 1
    channels = x.shape[1] if x.dim() > 1 else 1
    terms = []
    for j, (xj, yj) in enumerate(zip(x.reshape(-1), y.reshape(-1))):
        pw = 1.0 if pos_weight is None else pos_weight[(j // inner) % channels]
        p = 1.0 / (1.0 + torch.exp(-xj))
        terms.append(-(pw * yj * torch.log(p) + (1 - yj) * torch.log(1 - p)))
    return torch.stack(terms).reshape(x.shape)


def sigmoid_focal(x: Tensor, y: Tensor, alpha: float | None, gamma: float) -> Tensor:
    """The paper's ``-alpha_t (1 - p_t)^gamma log p_t`` for 0/1 targets, elementwise."""
    terms = []
    for xi, yi in zip(x.reshape(-1), y.reshape(-1)):
        p = 1.0 / (1.0 + torch.exp(-xi))
        pt = p if yi == 1 else 1 - p
        at = 1.0 if alpha is None else (alpha if yi == 1 else 1 - alpha)
        terms.append(-at * (1 - pt) ** gamma * torch.log(pt))
    return torch.stack(terms).reshape(x.shape)


def softmax_focal(
    x: Tensor, labels: Sequence[int], alpha: Sequence[float] | None, gamma: float
) -> Tensor:
    """Rows (N, C): ``-alpha_y (1 - p_y)^gamma log p_y`` per row."""
    out = []
    for i, y in enumerate(labels):
        p = _softmax_row(x[i])[int(y)]
        a = 1.0 if alpha is None else alpha[int(y)]
        out.append(-a * (1 - p) ** gamma * torch.log(p))
    return torch.stack(out)


def kl(p_logits: Tensor, q_logits: Tensor) -> Tensor:
    """Rows (N, C): ``KL(softmax(p) || softmax(q))`` per row."""
    out = []
    for a, b in zip(p_logits, q_logits):
        p, q = _softmax_row(a), _softmax_row(b)
        out.append(sum(pi * (torch.log(pi) - torch.log(qi)) for pi, qi in zip(p, q)))
    return torch.stack(out)


def js(a_logits: Tensor, b_logits: Tensor) -> Tensor:
    """Rows (N, C): ``JS(softmax(a), softmax(b))`` per row, from its definition."""
    out = []
    for a, b in zip(a_logits, b_logits):
        p, q = _softmax_row(a), _softmax_row(b)
        m = [(pi + qi) / 2 for pi, qi in zip(p, q)]
        kl_pm = sum(pi * torch.log(pi / mi) for pi, mi in zip(p, m))
        kl_qm = sum(qi * torch.log(qi / mi) for qi, mi in zip(q, m))
        out.append((kl_pm + kl_qm) / 2)
    return torch.stack(out)


def unet_weight_map(
    objects: np.ndarray, w0: float, sigma: float, class_weights: tuple[float, float]
) -> np.ndarray:
    """Brute force: for each background pixel, the Euclidean distance to the nearest pixel of
    every object (objects already numbered 1..K), sorted; ``w_c + w0 exp(-(d1+d2)^2/2s^2)``."""
    h, w = objects.shape
    ids = [k for k in np.unique(objects) if k > 0]
    pixels = {k: np.argwhere(objects == k) for k in ids}
    out = np.zeros((h, w))
    for r in range(h):
        for c in range(w):
            fg = objects[r, c] > 0
            out[r, c] = class_weights[1] if fg else class_weights[0]
            if fg or len(ids) < 2:
                continue
            d = sorted(min(math.hypot(r - pr, c - pc) for pr, pc in pixels[k]) for k in ids)
            out[r, c] += w0 * math.exp(-((d[0] + d[1]) ** 2) / (2 * sigma**2))
    return out
