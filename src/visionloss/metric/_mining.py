"""Online triplet mining from an ``(n, N)`` distance matrix (anchors x keys), O(n·N) memory.

Every function takes the distances ``D``, the boolean masks ``pos`` (same label, not the
anchor itself) and ``neg`` (different label), and returns per-anchor losses plus the counts a
mean divides by. Nothing here allocates an ``n x N x N`` tensor except the chunked soft
batch-all, whose chunks are bounded by :data:`CHUNK_ELEMENTS`.
"""

from __future__ import annotations

from typing import Annotated, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from .._core.options import Choice
from ._common import rowwise_distance, self_mask

MINING = ("hard", "semihard", "all")
AVERAGES = ("nonzero", "valid")
Mining = Annotated[str, Choice(*MINING)]
# Largest number of elements of one (anchors x positives x negatives) chunk.
CHUNK_ELEMENTS = 1 << 22


class Mined(NamedTuple):
    """Per-anchor loss sums and the two counts a mean can divide by."""

    per_anchor: Tensor  # (n,) sum of the anchor's triplet losses (0 for left-out anchors)
    count_valid: Tensor  # number of triplets (or positive pairs) that entered the loss
    count_nonzero: Tensor  # number of those whose loss is > 0


def triplet_masks(anchor_labels: Tensor, key_labels: Tensor, self_index: Tensor):
    """``pos[i, j]``: same label and ``j`` is not anchor ``i`` itself; ``neg[i, j]``: different
    label."""
    same = anchor_labels[:, None] == key_labels[None, :]
    pos = same & ~self_mask(self_index, key_labels.shape[0])
    return pos, ~same


def hinge(x: Tensor, soft: bool) -> Tensor:
    """``max(0, x)``, or ``log(1 + exp(x))`` for the soft margin."""
    return F.softplus(x) if soft else F.relu(x)


def nonzero(loss: Tensor) -> Tensor:
    """``loss > 0``, and True where the loss is NaN: a NaN term is counted, so a mean over
    the nonzero terms is NaN (never the zero of a mean over nothing)."""
    return ~(loss <= 0)


def propagate_nan(
    per_anchor: Tensor, count: Tensor, D: Tensor, pairs: Tensor
) -> tuple[Tensor, Tensor]:
    """``per_anchor`` NaN for every anchor with a NaN distance among its ``pairs`` (its
    positives and negatives), and ``count`` at least 1 then: a miner compares distances and
    may pass over a NaN one (a NaN negative is never the semi-hard choice), but a NaN input
    must give a NaN loss, also when that anchor itself is left out. The NaN reaches the
    gradient too (a GradScaler skips the step); finite distances add an exact 0."""
    nan = torch.isnan(D) & pairs
    per_anchor = per_anchor + torch.where(nan, D, D.new_zeros(())).sum(1)
    count = count + nan.any(1).sum().to(count.dtype)
    return per_anchor, count


def _empty(D: Tensor) -> Mined:
    zero = D.sum() * 0.0
    return Mined(D.sum(1) * 0.0, zero.detach(), zero.detach())


def hardest(D: Tensor, pos: Tensor, neg: Tensor):
    """Per anchor the farthest positive and the closest negative: values and key indices, and
    which anchors have both."""
    inf = torch.tensor(float("inf"), dtype=D.dtype, device=D.device)
    hp, hp_index = torch.where(pos, D, -inf).max(1)
    hn, hn_index = torch.where(neg, D, inf).min(1)
    valid = pos.any(1) & neg.any(1)
    zero = D.new_zeros(())
    return torch.where(valid, hp, zero), hp_index, torch.where(valid, hn, zero), hn_index, valid


def batch_hard(D: Tensor, pos: Tensor, neg: Tensor, margin: float, soft: bool) -> Mined:
    """Hermans et al. 2017: one triplet per anchor (hardest positive, hardest negative)."""
    if D.shape[1] == 0:
        return _empty(D)
    ap, _, an, _, valid = hardest(D, pos, neg)
    loss = torch.where(valid, hinge(margin + ap - an, soft), D.new_zeros(()))
    return Mined(loss, valid.sum(), (valid & nonzero(loss)).sum())


def batch_hard_rows(
    anchors: Tensor,
    keys: Tensor,
    D: Tensor,
    pos: Tensor,
    neg: Tensor,
    margin: float,
    soft: bool,
    metric: str,
) -> Mined:
    """:func:`batch_hard` with the pairs mined on distances ``D`` computed without a graph and
    the two chosen distances of each anchor computed again from the embeddings (exact
    differences, :func:`._common.rowwise_distance`): the graph holds two ``(n, dim)`` gathers
    instead of the ``(n, N)`` matrix and its intermediates (2048 x 128: 62 MiB peak against
    122, pytorch-metric-learning 119), and the backward has no ``n x N x dim`` products.
    ``max`` / ``min`` send the gradient to the index they return, so the gradients are those
    of the matrix form (the values differ by the rounding of ``|x|^2 + |y|^2 - 2 x.y``)."""
    if D.shape[1] == 0:
        return _empty(anchors.sum(-1, keepdim=True) * D)
    _, hp_index, _, hn_index, valid = hardest(D, pos, neg)
    ap = rowwise_distance(anchors, keys[hp_index], metric)
    an = rowwise_distance(anchors, keys[hn_index], metric)
    loss = torch.where(valid, hinge(margin + ap - an, soft), ap.new_zeros(()))
    return Mined(loss, valid.sum(), (valid & nonzero(loss)).sum())


def semihard_negatives(D: Tensor, pos: Tensor, neg: Tensor):
    """For every anchor-positive pair the TF-Addons semi-hard negative: the closest negative
    strictly farther than the positive, else the farthest negative. Returns its key index
    ``(n, N)`` and the valid pairs (a positive pair whose anchor has a negative).

    Per anchor the negatives' distances are sorted once (``n x N``) and every positive
    distance is located among them with ``searchsorted``: O(n·N log N) time, O(n·N) memory.
    """
    inf = torch.tensor(float("inf"), dtype=D.dtype, device=D.device)
    neg_d = torch.where(neg, D.detach(), inf)
    sorted_d, order = neg_d.sort(dim=1)
    num_neg = neg.sum(1, keepdim=True)
    first_farther = torch.searchsorted(sorted_d, D.detach().contiguous(), right=True)
    last = (num_neg - 1).clamp_min(0)
    choice = torch.where(first_farther < num_neg, first_farther, last)
    neg_index = order.gather(1, choice)
    valid = pos & (num_neg > 0)
    return neg_index, valid


def batch_semihard(D: Tensor, pos: Tensor, neg: Tensor, margin: float, soft: bool) -> Mined:
    """FaceNet semi-hard mining with TF-Addons ``triplet_semihard_loss`` semantics."""
    if D.shape[1] == 0:
        return _empty(D)
    neg_index, valid = semihard_negatives(D, pos, neg)
    zero = D.new_zeros(())
    ap = torch.where(valid, D, zero)
    an = torch.where(valid, D.gather(1, neg_index), zero)
    loss = torch.where(valid, hinge(margin + ap - an, soft), zero)
    return Mined(loss.sum(1), valid.sum(), (valid & nonzero(loss)).sum())


def batch_all(D: Tensor, pos: Tensor, neg: Tensor, margin: float, soft: bool) -> Mined:
    """Every valid triplet (Moindrot's batch-all); see :func:`_batch_all_hinge` and
    :class:`_SoftBatchAll` for how it avoids an ``n x N x N`` tensor."""
    if D.shape[1] == 0:
        return _empty(D)
    num_pos, num_neg = pos.sum(1), neg.sum(1)
    count_valid = (num_pos * num_neg).sum()
    if soft:
        per_anchor = _SoftBatchAll.apply(D, pos, neg, float(margin))
        return Mined(per_anchor, count_valid, count_valid)
    return _batch_all_hinge(D, pos, neg, float(margin), count_valid)


def _batch_all_hinge(
    D: Tensor, pos: Tensor, neg: Tensor, margin: float, count_valid: Tensor
) -> Mined:
    """Sum over negatives of ``max(0, m + d_ap - d_an)`` for every positive pair, exactly,
    without enumerating triplets.

    With the anchor's negative distances sorted, ``t = m + d_ap``, ``c`` the number of
    negatives with ``d_an < t`` and ``S`` the sum of those ``c`` distances, the sum is
    ``c·t - S``. ``c`` comes from ``searchsorted`` and ``S`` from a prefix sum (accumulated in
    float64), so the cost is O(n·N log N) time and O(n·N) memory; autograd gives every
    positive distance the gradient ``c`` and every negative distance minus the number of
    positives it violates, as the triplet sum does.
    """
    n, N = D.shape
    inf = torch.tensor(float("inf"), dtype=D.dtype, device=D.device)
    sorted_d, order = torch.where(neg, D.detach(), inf).sort(dim=1)
    num_neg = neg.sum(1, keepdim=True)
    in_range = torch.arange(N, device=D.device)[None, :] < num_neg
    acc = torch.float64 if D.device.type != "mps" else D.dtype
    sorted_live = torch.where(in_range, D.gather(1, order), D.new_zeros(())).to(acc)
    prefix = torch.cat([sorted_live.new_zeros(n, 1), sorted_live.cumsum(1)], dim=1)
    t = margin + D
    count = torch.searchsorted(sorted_d, t.detach().contiguous(), right=False)
    valid = pos & (num_neg > 0)
    count = torch.where(valid, count, torch.zeros_like(count))
    pair = count.to(acc) * t.to(acc) - prefix.gather(1, count)
    pair = torch.where(valid, pair.clamp_min(0.0), pair.new_zeros(())).to(D.dtype)
    return Mined(pair.sum(1), count_valid, count.sum())


def chunk_rows(n_keys: int) -> int:
    """Anchors per chunk so that one chunk holds at most :data:`CHUNK_ELEMENTS` triplets."""
    return max(1, CHUNK_ELEMENTS // max(1, n_keys * n_keys))


class _SoftBatchAll(torch.autograd.Function):
    """Per-anchor ``sum_{p, n} softplus(m + d_ap - d_an)`` over anchor chunks.

    The gradient with respect to ``D`` is accumulated chunk by chunk in the forward pass
    (``sum_n sigmoid`` for positives, ``-sum_p sigmoid`` for negatives), so memory is
    O(n·N + chunk·N²) in both passes, never ``n x N x N``.
    """

    @staticmethod
    def forward(ctx, D: Tensor, pos: Tensor, neg: Tensor, margin: float) -> Tensor:
        n, N = D.shape
        step = chunk_rows(N)
        need_grad = ctx.needs_input_grad[0]
        per_anchor = D.new_zeros(n)
        grad = torch.zeros_like(D) if need_grad else None
        zero = D.new_zeros(())
        for s in range(0, n, step):
            d = D[s : s + step]
            mask = pos[s : s + step, :, None] & neg[s : s + step, None, :]
            t = margin + d[:, :, None] - d[:, None, :]
            per_anchor[s : s + step] = torch.where(mask, F.softplus(t), zero).sum((1, 2))
            if grad is not None:
                g = torch.where(mask, torch.sigmoid(t), zero)
                grad[s : s + step] = g.sum(2) - g.sum(1)
            del mask, t
        ctx.save_for_backward(grad)
        return per_anchor

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor):
        (grad,) = ctx.saved_tensors
        return grad_out[:, None] * grad, None, None, None


MINERS = {"hard": batch_hard, "semihard": batch_semihard, "all": batch_all}
