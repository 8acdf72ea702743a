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


# ---------------------------------------------------------------------------- TF-Addons
# Ports of tensorflow/addons (commit d208d752, the last release line; the losses are unchanged
# since v0.11.0), float64 and line by line. The distance convention is fixed by
# tensorflow_addons/losses/triplet.py: the default ``distance_metric="L2"`` (line 75) maps to
# ``pairwise_distance(..., squared=False)``, the plain Euclidean distance (lines 124-127),
# ``"squared-L2"`` to ``squared=True`` (lines 129-132) and ``"angular"`` to
# ``angular_distance`` (lines 134-135). Before v0.11 (commit d981b0f1, PR #1966, July 2020)
# the same default string "L2" meant ``squared=True``.
TFA_METRICS = ("L2", "squared-L2", "angular")


def tfa_pairwise_distance(x: Tensor, squared: bool) -> Tensor:
    """tensorflow_addons/losses/metric_learning.py ``pairwise_distance``, lines 34-66: the
    squared distances through ``|a|^2 + |b|^2 - 2 a.b`` clamped at 0, a square root with
    ``1e-16`` added where the distance is 0 (then zeroed), and a zero diagonal."""
    sq = (x * x).sum(1, keepdim=True) + (x * x).sum(1)[None, :] - 2.0 * x @ x.T
    sq = torch.clamp(sq, min=0.0)
    error_mask = sq <= 0.0
    d = sq if squared else torch.sqrt(sq + error_mask.to(x.dtype) * 1e-16)
    d = d * (~error_mask).to(x.dtype)
    return d * (1 - torch.eye(len(x), dtype=x.dtype))


def tfa_angular_distance(x: Tensor) -> Tensor:
    """metric_learning.py ``angular_distance``, lines 82-89: ``1 - cos``, clamped at 0."""
    u = x / torch.sqrt((x * x).sum(1, keepdim=True))
    return torch.clamp(1 - u @ u.T, min=0.0)


def _tfa_distances(x: Tensor, distance_metric: str) -> Tensor:
    """triplet.py lines 124-135 (semi-hard) and 260-271 (hard)."""
    if distance_metric == "L2":
        return tfa_pairwise_distance(x, squared=False)
    if distance_metric == "squared-L2":
        return tfa_pairwise_distance(x, squared=True)
    if distance_metric == "angular":
        return tfa_angular_distance(x)
    raise ValueError(distance_metric)


def _tfa_masked_minimum(data: Tensor, mask: Tensor) -> Tensor:
    """triplet.py ``_masked_minimum``, lines 59-66."""
    axis_max = data.max(1, keepdim=True).values
    return ((data - axis_max) * mask).min(1, keepdim=True).values + axis_max


def _tfa_masked_maximum(data: Tensor, mask: Tensor) -> Tensor:
    """triplet.py ``_masked_maximum``, lines 37-44."""
    axis_min = data.min(1, keepdim=True).values
    return ((data - axis_min) * mask).max(1, keepdim=True).values + axis_min


def tfa_triplet_semihard_loss(
    labels: Tensor, x: Tensor, margin: float = 1.0, distance_metric: str = "L2"
) -> Tensor:
    """``tfa.losses.triplet_semihard_loss(y_true, y_pred, margin, distance_metric)``,
    triplet.py lines 71-196, tiles and all (B² x B): for every positive pair the smallest
    negative distance strictly greater than the positive one (lines 148-173), else the
    largest negative distance (lines 176-179), hinge (lines 181, 191-196), mean over every
    positive pair (lines 183-189), anchors without negatives included."""
    pdist = _tfa_distances(x, distance_metric)
    lab = labels.reshape(-1, 1)
    adjacency = lab == lab.T
    adjacency_not = ~adjacency
    b = len(x)
    pdist_tile = pdist.repeat(b, 1)
    mask = adjacency_not.repeat(b, 1) & (pdist_tile > pdist.T.reshape(-1, 1))
    mask_final = (mask.to(x.dtype).sum(1, keepdim=True) > 0).reshape(b, b).T
    negatives_outside = _tfa_masked_minimum(pdist_tile, mask.to(x.dtype)).reshape(b, b).T
    negatives_inside = _tfa_masked_maximum(pdist, adjacency_not.to(x.dtype)).repeat(1, b)
    semi_hard = torch.where(mask_final, negatives_outside, negatives_inside)
    loss_mat = margin + pdist - semi_hard
    mask_positives = adjacency.to(x.dtype) - torch.eye(b, dtype=x.dtype)
    return torch.clamp(loss_mat * mask_positives, min=0).sum() / mask_positives.sum()


def tfa_triplet_hard_loss(
    labels: Tensor, x: Tensor, margin: float = 1.0, soft: bool = False, distance_metric: str = "L2"
) -> Tensor:
    """``tfa.losses.triplet_hard_loss``, triplet.py lines 206-307: per anchor the largest
    positive and the smallest negative distance (lines 283, 289-294), ``max(hp - hn + m, 0)``
    or, with ``soft``, ``log1p(exp(hp - hn))`` without the margin (lines 296-299), the mean
    over every anchor (line 302)."""
    pdist = _tfa_distances(x, distance_metric)
    lab = labels.reshape(-1, 1)
    adjacency = (lab == lab.T).to(x.dtype)
    hard_negatives = _tfa_masked_minimum(pdist, 1 - adjacency)
    mask_positives = adjacency - torch.eye(len(x), dtype=x.dtype)
    hard_positives = _tfa_masked_maximum(pdist, mask_positives)
    if soft:
        loss = torch.log1p(torch.exp(hard_positives - hard_negatives))
    else:
        loss = torch.clamp(hard_positives - hard_negatives + margin, min=0.0)
    return loss.mean()


def tfa_semihard(x: Tensor, labels: Tensor, margin: float = 1.0) -> Tensor:
    """TF-Addons ``triplet_semihard_loss`` with ``distance_metric="squared-L2"`` (the squared
    Euclidean distance; the meaning of its default "L2" before v0.11 only): see
    :func:`tfa_triplet_semihard_loss`."""
    return tfa_triplet_semihard_loss(labels, x, margin, distance_metric="squared-L2")


def tfa_contrastive_loss(y_true: Tensor, y_pred: Tensor, margin: float = 1.0) -> Tensor:
    """``tfa.losses.contrastive_loss(y_true, y_pred, margin)`` of
    tensorflow_addons/losses/contrastive.py, lines 65-69: per pair, ``y_pred`` the distance and
    ``y_true`` 1 for a similar pair, ``y d^2 + (1 - y) max(m - d, 0)^2`` (no 1/2; Keras'
    ``ContrastiveLoss`` wrapper then takes the mean)."""
    y = y_true.to(y_pred.dtype)
    return y * y_pred**2 + (1.0 - y) * torch.clamp(margin - y_pred, min=0.0) ** 2


# -------------------------------------------------------------------------------- Caffe
def caffe_contrastive_loss(
    a: Tensor, b: Tensor, similar: Tensor, margin: float = 1.0, legacy_version: bool = False
) -> Tensor:
    """Caffe's ``ContrastiveLossLayer::Forward_cpu`` (BVLC/caffe master,
    src/caffe/layers/contrastive_loss_layer.cpp, lines 44-60), one pair at a time: a similar
    pair adds ``d^2``, a dissimilar one ``max(m - d, 0)^2``, or with ``legacy_version``
    ``max(m - d^2, 0)``; the sum is divided by the number of pairs and by 2."""
    loss = a.new_zeros(())
    for i in range(len(a)):
        dist_sq = ((a[i] - b[i]) ** 2).sum()
        if bool(similar[i]):
            loss = loss + dist_sq
        elif legacy_version:
            loss = loss + torch.clamp(margin - dist_sq, min=0.0)
        else:
            loss = loss + torch.clamp(margin - torch.sqrt(dist_sq), min=0.0) ** 2
    return loss / len(a) / 2


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


def kaiyangzhou_center_loss(x: Tensor, labels: Tensor, centers: Tensor) -> Tensor:
    """``CenterLoss.forward`` of KaiyangZhou/pytorch-center-loss (center_loss.py, lines 31-44,
    commit 082ffa2): the ``B x C`` matrix of squared distances to every centre, masked to
    each sample's own class, every entry clamped to ``[1e-12, 1e12]`` (the masked-out zeros
    too), summed and divided by the batch size: no 1/2."""
    b, c = len(x), len(centers)
    distmat = (x**2).sum(1, keepdim=True).expand(b, c) + (centers**2).sum(1, keepdim=True).expand(
        c, b
    ).T
    distmat = distmat - 2 * x @ centers.T
    mask = labels[:, None] == torch.arange(c)[None, :]
    dist = distmat * mask.to(x.dtype)
    return dist.clamp(min=1e-12, max=1e12).sum() / b


def caffe_face_center_loss(x: Tensor, labels: Tensor, centers: Tensor) -> Tensor:
    """The authors' ``CenterLossLayer::Forward_cpu`` (ydwen/caffe, the Caffe of caffe-face,
    commit 48ff38e3, src/caffe/layers/center_loss_layer.cpp lines 61-68): ``x_i - c_{y_i}``,
    their summed squares over the ``M`` samples, divided by ``M`` and by 2."""
    distance = torch.stack([x[i] - centers[labels[i]] for i in range(len(x))])
    return (distance * distance).sum() / len(x) / 2


def caffe_face_center_update(centers: Tensor, x: Tensor, labels: Tensor, lr: float) -> Tensor:
    """The centres after one SGD step of learning rate ``lr`` on the diff the authors'
    ``Backward_cpu`` writes for them (same file, lines 83-95): per class ``n``,
    ``-sum_{y_m = n} (x_m - c_n) / (count + 1)``, 0 for a class absent from the batch."""
    new = centers.clone()
    for n in range(len(centers)):
        variation_sum = torch.zeros_like(centers[n])
        count = 0
        for m in range(len(x)):
            if int(labels[m]) == n:
                count += 1
                variation_sum = variation_sum - (x[m] - centers[n])
        new[n] = centers[n] - lr * variation_sum / (count + 1.0)
    return new
