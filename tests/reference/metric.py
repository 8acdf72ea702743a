"""float64 loop references for the metric family, written from the papers (and, for semi-hard
mining, from TF-Addons' ``triplet_semihard_loss``). Slow on purpose: one pair or one triplet at
a time; autograd flows through every loop, so gradients can be compared too."""

from __future__ import annotations

import torch
from torch import Tensor


def distance(a: Tensor, b: Tensor, metric: str = "euclidean") -> Tensor:
    """One distance between two vectors."""
    if metric == "euclidean":
        return torch.sqrt(((a - b) ** 2).sum())
    if metric == "squared_euclidean":
        return ((a - b) ** 2).sum()
    if metric == "cosine":
        return 1 - (a * b).sum() / (torch.sqrt((a * a).sum()) * torch.sqrt((b * b).sum()))
    if metric == "dot":
        return -(a * b).sum()
    raise ValueError(metric)


def distance_matrix(x: Tensor, y: Tensor, metric: str = "euclidean") -> Tensor:
    return torch.stack([torch.stack([distance(a, b, metric) for b in y]) for a in x])


def _hinge(v: Tensor, soft: bool) -> Tensor:
    return torch.log1p(torch.exp(v)) if soft else torch.clamp(v, min=0)


def contrastive_pair(
    d: Tensor,
    similar: bool,
    margin: float,
    pos_margin: float = 0.0,
    power: int = 2,
    half: bool = True,
) -> Tensor:
    """Hadsell et al. 2006, Eq. (4), for one pair at distance ``d`` (with the variants)."""
    term = torch.clamp(d - pos_margin, min=0) if similar else torch.clamp(margin - d, min=0)
    term = term**power
    return 0.5 * term if half else term


def contrastive_batch(
    x: Tensor,
    labels: Tensor,
    margin: float,
    *,
    metric: str = "euclidean",
    pos_margin: float = 0.0,
    power: int = 2,
    half: bool = True,
    average: str = "pairs",
) -> Tensor:
    """Contrastive loss over every ordered pair i != j."""
    pos, neg = [], []
    for i in range(len(x)):
        for j in range(len(x)):
            if i == j:
                continue
            similar = bool(labels[i] == labels[j])
            value = contrastive_pair(
                distance(x[i], x[j], metric), similar, margin, pos_margin, power, half
            )
            (pos if similar else neg).append(value)
    zero = x.sum() * 0

    def mean(values, nonzero):
        if nonzero:
            values = [v for v in values if v > 0]
        return torch.stack(values).sum() / len(values) if values else zero

    if average == "pairs":
        return mean(pos + neg, False)
    return mean(pos, average == "nonzero") + mean(neg, average == "nonzero")


def batch_hard(
    x: Tensor,
    labels: Tensor,
    margin: float,
    *,
    metric: str = "euclidean",
    soft: bool = False,
    average: str = "valid",
) -> Tensor:
    """Hermans et al. 2017: per anchor the farthest positive and closest negative."""
    losses = []
    for a in range(len(x)):
        pos = [
            distance(x[a], x[p], metric) for p in range(len(x)) if p != a and labels[p] == labels[a]
        ]
        neg = [distance(x[a], x[n], metric) for n in range(len(x)) if labels[n] != labels[a]]
        if pos and neg:
            losses.append(_hinge(margin + max(pos) - min(neg), soft))
    return _mean(losses, average, x)


def batch_semihard(
    x: Tensor,
    labels: Tensor,
    margin: float,
    *,
    metric: str = "euclidean",
    soft: bool = False,
    average: str = "valid",
) -> Tensor:
    """FaceNet semi-hard, TF-Addons semantics: for every pair (a, p), p != a, the smallest
    D_an with D_an > D_ap, else the largest D_an; anchors without a negative are left out."""
    losses = []
    for a in range(len(x)):
        negs = [distance(x[a], x[n], metric) for n in range(len(x)) if labels[n] != labels[a]]
        if not negs:
            continue
        for p in range(len(x)):
            if p == a or labels[p] != labels[a]:
                continue
            d_ap = distance(x[a], x[p], metric)
            outside = [d for d in negs if d > d_ap]
            d_an = min(outside) if outside else max(negs)
            losses.append(_hinge(margin + d_ap - d_an, soft))
    return _mean(losses, average, x)


def batch_all(
    x: Tensor,
    labels: Tensor,
    margin: float,
    *,
    metric: str = "euclidean",
    soft: bool = False,
    average: str = "nonzero",
) -> Tensor:
    """Moindrot's batch-all: every valid triplet (a, p, n)."""
    losses = []
    for a in range(len(x)):
        for p in range(len(x)):
            if p == a or labels[p] != labels[a]:
                continue
            for n in range(len(x)):
                if labels[n] == labels[a]:
                    continue
                v = margin + distance(x[a], x[p], metric) - distance(x[a], x[n], metric)
                losses.append(_hinge(v, soft))
    return _mean(losses, average, x)


def _mean(losses: list, average: str, x: Tensor) -> Tensor:
    if average == "nonzero":
        losses = [v for v in losses if v > 0]
    if not losses:
        return x.sum() * 0
    return torch.stack(losses).sum() / len(losses)


def tfa_semihard(x: Tensor, labels: Tensor, margin: float = 1.0) -> Tensor:
    """A line-by-line torch port of TF-Addons ``triplet_semihard_loss`` (its default
    ``distance_metric="L_2"`` is the *squared* Euclidean distance), tiles and all (B² x B)."""
    sq = (x[:, None, :] - x[None, :, :]).pow(2).sum(-1)
    pdist = sq * (1 - torch.eye(len(x), dtype=x.dtype))
    lab = labels.reshape(-1, 1)
    adjacency = lab == lab.T
    adjacency_not = ~adjacency
    b = len(x)
    pdist_tile = pdist.repeat(b, 1)
    mask = adjacency_not.repeat(b, 1) & (pdist_tile > pdist.T.reshape(-1, 1))
    mask_final = (mask.float().sum(1, keepdim=True) > 0).reshape(b, b).T
    adjacency_not = adjacency_not.to(x.dtype)
    mask = mask.to(x.dtype)

    def masked_minimum(data, m):
        axis_max = data.max(1, keepdim=True).values
        return ((data - axis_max) * m).min(1, keepdim=True).values + axis_max

    def masked_maximum(data, m):
        axis_min = data.min(1, keepdim=True).values
        return ((data - axis_min) * m).max(1, keepdim=True).values + axis_min

    negatives_outside = masked_minimum(pdist_tile, mask).reshape(b, b).T
    negatives_inside = masked_maximum(pdist, adjacency_not).repeat(1, b)
    semi_hard = torch.where(mask_final, negatives_outside, negatives_inside)
    loss_mat = margin + pdist - semi_hard
    mask_positives = adjacency.to(x.dtype) - torch.eye(b, dtype=x.dtype)
    return torch.clamp(loss_mat * mask_positives, min=0).sum() / mask_positives.sum()


def center_update(centers: Tensor, x: Tensor, labels: Tensor, alpha: float) -> Tensor:
    """Wen et al. 2016, Eq. (4): the new centres, class by class."""
    new = centers.clone()
    for j in range(len(centers)):
        members = [i for i in range(len(x)) if labels[i] == j]
        if not members:
            continue
        delta = sum((centers[j] - x[i] for i in members), torch.zeros_like(centers[j]))
        new[j] = centers[j] - alpha * delta / (1 + len(members))
    return new


def center_loss(x: Tensor, labels: Tensor, centers: Tensor) -> Tensor:
    """Wen et al. 2016, Eq. (2), averaged over the batch."""
    terms = [0.5 * ((x[i] - centers[labels[i]]) ** 2).sum() for i in range(len(x))]
    return torch.stack(terms).mean()
