"""``mine_triplets``: the triplets that :func:`batch_triplet_loss` uses, as index tensors."""

from __future__ import annotations

from typing import Annotated

import torch
from torch import Tensor

from .._core.checks import check_choice
from .._core.options import Bool, Number
from ._common import Metric, check_embeddings_labels, distance_matrix, metric_helper, prepare
from ._mining import MINING, chunk_rows, hardest, semihard_negatives, triplet_masks


@metric_helper
@torch.no_grad()
def mine_triplets(
    embeddings: Tensor,
    labels: Tensor,
    strategy: str = "hard",
    *,
    margin: Annotated[float | None, Number(0, optional=True)] = None,
    metric: Metric = "euclidean",
    normalize: Bool = False,
) -> tuple[Tensor, Tensor, Tensor]:
    r"""Mine triplets inside a batch; return their ``(anchor, positive, negative)`` indices.

    .. math::
        \{(a, p, n) : y_p = y_a,\ p \ne a,\ y_n \ne y_a\}

    * ``"hard"``: one triplet per anchor, the farthest positive and the closest negative
      (Hermans et al. 2017);
    * ``"semihard"``: one triplet per anchor-positive pair, the closest negative strictly
      farther than the positive, else the farthest negative (FaceNet, TF-Addons semantics);
    * ``"all"``: every valid triplet, or with ``margin`` only those with
      :math:`D_{an} < D_{ap} + m` (a positive hinge loss), anchor by anchor in chunks.

    Anchors without a positive or a negative give no triplet. With ``margin``, ``"hard"`` and
    ``"semihard"`` also drop their triplets whose hinge loss is 0. The triplets are those
    :func:`batch_triplet_loss` sums, so ``triplet_margin_loss(x[a], x[p], x[n],
    reduction="sum")`` equals ``batch_triplet_loss(x, y, mining=strategy,
    reduction="sum")`` (with the same margin and metric).

    It runs without gradient and returns index tensors whose length depends on the data (one
    host synchronisation, as any variable-length result); pytorch-metric-learning's miners
    return the same ``(anchor, positive, negative)`` triple.

    Args:
        strategy: ``"hard"`` (default), ``"semihard"`` or ``"all"``.
        margin: optional ``m >= 0``: keep only triplets with ``m + D_ap - D_an > 0``.

    Returns:
        ``(anchor, positive, negative)``: three int64 tensors of equal length ``T``, sorted by
        anchor (then positive, then negative).

    Reference:
        Schroff et al., *FaceNet*, arXiv:1503.03832 (semi-hard); Hermans et al.,
        arXiv:1703.07737 (batch hard); Moindrot 2018 (batch all).

    Example:
        >>> import torch
        >>> x = torch.tensor([[0.0], [1.0], [3.0], [3.5]])
        >>> a, p, n = mine_triplets(x, torch.tensor([0, 0, 1, 1]), "hard")
        >>> torch.stack([a, p, n]).tolist()
        [[0, 1, 2, 3], [1, 0, 3, 2], [2, 2, 1, 1]]
    """
    fn = "mine_triplets"
    check_choice(strategy, MINING, "strategy", fn)  # positional: not a declared option
    check_embeddings_labels(embeddings, labels, fn)
    x = prepare(embeddings, normalize)
    B = x.shape[0]
    index = torch.arange(B, device=x.device)
    D = distance_matrix(x, x, metric, self_index=index)
    pos, neg = triplet_masks(labels, labels, index)
    if B == 0:
        empty = index.new_zeros(0)
        return empty, empty.clone(), empty.clone()
    if strategy == "hard":
        ap, p, an, n, valid = hardest(D, pos, neg)
        if margin is not None:
            valid &= margin + ap - an > 0
        return index[valid], p[valid], n[valid]
    if strategy == "semihard":
        neg_index, valid = semihard_negatives(D, pos, neg)
        if margin is not None:
            valid &= margin + D - D.gather(1, neg_index) > 0
        a, p = valid.nonzero(as_tuple=True)
        return a, p, neg_index[a, p]
    parts = []
    step = chunk_rows(B)
    for s in range(0, B, step):
        d = D[s : s + step]
        mask = pos[s : s + step, :, None] & neg[s : s + step, None, :]
        if margin is not None:
            mask &= margin + d[:, :, None] - d[:, None, :] > 0
        a, p, n = mask.nonzero(as_tuple=True)
        parts.append(torch.stack([a + s, p, n]))
    a, p, n = torch.cat(parts, dim=1)
    return a, p, n
