"""Shared maths of the metric family: input checks, distances through matrix products, and the
reductions of batch losses whose anchors may be split over processes."""

from __future__ import annotations

import torch
from torch import Tensor

from .. import distributed as vdist
from .._core.checks import check_choice, check_labels, check_tensor, shape_str
from .._core.dtypes import compute_dtype, upcast
from .._core.vectors import normalize as unit

METRICS = ("euclidean", "squared_euclidean", "cosine", "dot")


# ----------------------------------------------------------------------------------- checks
def check_embeddings(embeddings: object, fn: str, name: str = "embeddings") -> Tensor:
    """A floating ``(B, D)`` tensor."""
    return check_tensor(embeddings, name, fn, floating=True, ndim=2)


def check_embeddings_labels(embeddings: object, labels: object, fn: str) -> None:
    """``embeddings`` of shape ``(B, D)`` and integer ``labels`` of shape ``(B,)``."""
    check_embeddings(embeddings, fn)
    check_tensor(labels, "labels", fn, ndim=1)
    check_labels(labels, None, fn, name="labels")
    if labels.shape[0] != embeddings.shape[0]:
        raise ValueError(
            f"{fn}: expected labels of shape ({embeddings.shape[0]},) matching embeddings "
            f"{shape_str(embeddings)}, got {shape_str(labels)}"
        )


def check_metric(metric: str, fn: str, choices: tuple[str, ...] = METRICS) -> str:
    check_choice(metric, choices, "metric", fn)
    return metric


# -------------------------------------------------------------------------------- distances
def safe_sqrt(sq: Tensor) -> Tensor:
    """``sqrt(sq)`` for ``sq >= 0`` whose gradient is 0 (not inf/NaN) where ``sq`` is 0."""
    positive = sq > 0
    return torch.where(positive, sq.clamp_min(torch.finfo(sq.dtype).tiny).sqrt(), sq.new_zeros(()))


def prepare(x: Tensor, normalize: bool, dtype: torch.dtype | None = None) -> Tensor:
    """``x`` in ``dtype`` (default its compute dtype: float32 for half inputs), L2-normalised
    if asked (a zero vector stays zero, with a zero gradient)."""
    x = upcast(x, dtype or compute_dtype(x))
    return unit(x) if normalize else x


def self_mask(self_index: Tensor, num_keys: int) -> Tensor:
    """``(n, N)`` bool mask, True at ``(i, self_index[i])``."""
    keys = torch.arange(num_keys, device=self_index.device)
    return self_index[:, None] == keys[None, :]


def distance_matrix(
    x: Tensor, y: Tensor, metric: str, *, self_index: Tensor | None = None
) -> Tensor:
    """``(n, N)`` distances between the rows of ``x`` and ``y`` through one matrix product.

    Euclidean distances are computed from ``|x|^2 + |y|^2 - 2 x.y`` after subtracting a common
    centre (distances do not change, the cancellation does), clamped at 0, with a square root
    whose gradient is 0 at 0. Entries ``(i, self_index[i])`` are set to exactly 0 (a sample and
    itself); for "dot" they are left as they are. Inputs must already be in the compute dtype.
    """
    if metric in ("euclidean", "squared_euclidean"):
        center = 0.5 * (x.detach().mean(0, keepdim=True) + y.detach().mean(0, keepdim=True))
        if x.shape[0] == 0 or y.shape[0] == 0:
            center = torch.zeros_like(center)
        xc, yc = x - center, y - center
        x2 = xc.square().sum(-1, keepdim=True)
        y2 = yc.square().sum(-1)
        sq = torch.addmm(x2 + y2[None, :], xc, yc.T, alpha=-2.0).clamp_min(0.0)
        if self_index is not None:
            sq = torch.where(self_mask(self_index, y.shape[0]), sq.new_zeros(()), sq)
        return sq if metric == "squared_euclidean" else safe_sqrt(sq)
    if metric == "cosine":
        d = 1.0 - unit(x) @ unit(y).T
        d = d.clamp(0.0, 2.0)
        if self_index is not None:
            d = torch.where(self_mask(self_index, y.shape[0]), d.new_zeros(()), d)
        return d
    return -(x @ y.T)


def rowwise_distance(x: Tensor, y: Tensor, metric: str) -> Tensor:
    """``(B,)`` distances between matching rows of ``x`` and ``y`` (exact differences)."""
    if metric in ("euclidean", "squared_euclidean"):
        sq = (x - y).square().sum(-1)
        return sq if metric == "squared_euclidean" else safe_sqrt(sq)
    if metric == "cosine":
        return (1.0 - (unit(x) * unit(y)).sum(-1)).clamp(0.0, 2.0)
    return -(x * y).sum(-1)


# ------------------------------------------------------------------------------- reductions
def reduce_anchors(per_anchor: Tensor, count: Tensor, reduction: str, *, gather: str) -> Tensor:
    """``"none"``: ``per_anchor``; ``"sum"``: its (global) sum; ``"mean"``: the (global) sum
    divided by the (global) ``count``; zero with a graph when the count is zero."""
    if reduction == "none":
        return per_anchor
    total = per_anchor.sum()
    if reduction == "sum":
        return vdist.global_sum(total, gather=gather)
    return vdist.global_mean(total, count, gather=gather)
