"""float64 loop references for the regression family, written from the definitions and, for
peers that cannot be installed here (LapSRN's MatConvNet code, mmdetection), from the cited
lines of their code."""

from __future__ import annotations

import torch
from torch import Tensor


def charbonnier(x: Tensor, y: Tensor, eps: float) -> Tensor:
    """sqrt((x - y)^2 + eps^2) element by element (autograd flows through the loop)."""
    terms = [torch.sqrt((a - b) ** 2 + eps**2) for a, b in zip(x.flatten(), y.flatten())]
    return torch.stack(terms).reshape(x.shape)


def lapsrn_charbonnier(x: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
    """LapSRN's "L1 (Charbonnier)" loss and its hand-written gradient, element by element, from
    ``vllab_nn_L1_loss.m`` of phoenix104104/LapSRN (commit 43847a9), lines 27-35::

        eps = 1e-6;                 % 27: under the root, i.e. epsilon^2 with epsilon = 1e-3
        d = X - Z;                  % 28
        e = sqrt( d.^2 + eps );     % 29
        Y = sum(e(:));              % 32: forward, a sum over all elements
        Y = d ./ e;                 % 34: backward (times dzdy)

    Returns ``(loss, gradient with respect to x)``."""
    eps = 1e-6
    values, grads = [], []
    for a, b in zip(x.flatten().tolist(), z.flatten().tolist()):
        d = a - b
        e = (d * d + eps) ** 0.5
        values.append(e)
        grads.append(d / e)
    loss = torch.tensor(sum(values), dtype=torch.float64)
    return loss, torch.tensor(grads, dtype=torch.float64).reshape(x.shape)


def mmdet_smooth_l1(
    pred: Tensor, target: Tensor, beta: float, weight: Tensor | None, reduction: str
) -> Tensor:
    """mmdetection's weighted smooth L1, element by element (autograd flows through the loop).

    The elementwise loss, ``mmdet/models/losses/smooth_l1_loss.py`` of open-mmlab/mmdetection
    (commit 030b568), lines 25-27::

        diff = torch.abs(pred - target)
        loss = torch.where(diff < beta, 0.5 * diff * diff / beta, diff - 0.5 * beta)

    and its reduction, ``weight_reduce_loss`` without ``avg_factor``, ``mmdet/models/losses/
    utils.py`` (commit 96eea76), lines 42-47 with ``reduce_loss`` lines 20-25::

        if weight is not None:
            loss = loss * weight          # the elementwise weight multiplies each term
        ...
        return loss.mean()                # "mean": divided by the number of elements
        return loss.sum()                 # "sum"

    so the mean divides by the element count, not by the sum of the weights."""
    w = torch.ones_like(pred) if weight is None else torch.broadcast_to(weight, pred.shape)
    terms = []
    for p, t, wi in zip(pred.flatten(), target.flatten(), w.flatten()):
        diff = torch.abs(p - t)
        loss = 0.5 * diff * diff / beta if diff < beta else diff - 0.5 * beta
        terms.append(loss * wi)
    out = torch.stack(terms).reshape(pred.shape)
    if reduction == "none":
        return out
    total = sum(terms, torch.zeros((), dtype=pred.dtype))
    return total / len(terms) if reduction == "mean" else total
