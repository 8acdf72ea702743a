"""Multi-similarity loss and its pair mining (Wang et al., CVPR 2019)."""

from __future__ import annotations

import torch
from torch import Tensor

from .._core.declare import loss_function
from .._core.options import Bool, NonNegative, Positive, Reduction
from .._core.reduction import reduce_loss
from .._core.registry import register_loss
from ._common import METRIC_DOCS, Gather, embedding_examples, metric_helper
from ._pairs import Finite, Similarity, masked_logsumexp, pair_batch, propagate_nan_rows


def ms_mining(sim: Tensor, pos: Tensor, neg: Tensor, epsilon: float) -> tuple[Tensor, Tensor]:
    """The informative pairs of Wang et al. (2019), Eq. (8)-(9), from an ``(n, N)``
    similarity matrix: a negative is kept if ``S_an + eps > min_p S_ap``, a positive if
    ``S_ap - eps < max_n S_an`` (an anchor without negatives keeps no positive, one without
    positives keeps no negative). Returns the kept ``(pos, neg)`` masks."""
    s = sim.detach()
    if s.shape[1] == 0:
        return pos, neg
    big = torch.finfo(s.dtype).max
    hardest_pos = torch.where(pos, s, s.new_full((), big)).amin(1, keepdim=True)
    hardest_neg = torch.where(neg, s, s.new_full((), -big)).amax(1, keepdim=True)
    keep_pos = pos & (s - epsilon < hardest_neg) & neg.any(1, keepdim=True)
    keep_neg = neg & (s + epsilon > hardest_pos) & pos.any(1, keepdim=True)
    return keep_pos, keep_neg


@metric_helper
def mine_multi_similarity(
    embeddings: Tensor,
    labels: Tensor,
    *,
    epsilon: NonNegative = 0.1,
    metric: Similarity = "cosine",
    normalize: Bool = True,
) -> tuple[Tensor, Tensor]:
    """The multi-similarity miner: the ``(B, B)`` boolean masks of the positive and negative
    pairs that :func:`multi_similarity_loss` keeps (``mine=True``).

    Args:
        epsilon: the mining margin (default 0.1, as the paper).
        metric: ``"cosine"`` (default) or ``"dot"`` similarity.
        normalize: L2-normalise the embeddings first (default True).

    Returns:
        ``(pos, neg)``: ``pos[a, p]`` is True for a kept positive pair, ``neg[a, n]`` for a kept
        negative pair; pytorch-metric-learning's ``MultiSimilarityMiner(epsilon)`` returns the
        same pairs as index tuples ``(a1, p, a2, n)`` (``pos.nonzero()``, ``neg.nonzero()``).

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.8, 0.6], [0.0, 1.0]])
        >>> pos, neg = mine_multi_similarity(x, torch.tensor([0, 0, 1, 1]))
        >>> pos.nonzero().tolist(), neg.nonzero().tolist()
        ([[0, 1], [1, 0], [2, 3], [3, 2]], [[0, 2], [1, 2], [1, 3], [2, 0], [2, 1], [3, 1]])
    """
    pb = pair_batch(
        embeddings,
        labels,
        metric=metric,
        normalize=normalize,
        gather="none",
        fn="mine_multi_similarity",
    )
    return ms_mining(pb.sim, pb.pos, pb.neg, float(epsilon))


@loss_function(METRIC_DOCS)
def multi_similarity_loss(
    embeddings: Tensor,
    labels: Tensor,
    *,
    alpha: Positive = 2.0,
    beta: Positive = 50.0,
    base: Finite = 0.5,
    mine: Bool = True,
    epsilon: NonNegative = 0.1,
    metric: Similarity = "cosine",
    normalize: Bool = True,
    gather: Gather = "none",
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Multi-similarity loss: soft weighting of every mined positive and negative pair.

    .. math::
        \ell_i = \frac{1}{\alpha} \log\Big[1 + \sum_{p \in P_i} e^{-\alpha (S_{ip} - \lambda)}
        \Big] + \frac{1}{\beta} \log\Big[1 + \sum_{n \in N_i} e^{\beta (S_{in} - \lambda)}\Big]

    With ``mine=True`` (the paper) ``P_i`` and ``N_i`` are the pairs kept by the mining step
    (:func:`mine_multi_similarity`, margin ``epsilon``); with ``mine=False`` every pair of the
    batch. The mean is over all anchors (an anchor without kept pairs adds 0), as the paper's
    ``1/m``.

    pytorch-metric-learning ``MultiSimilarityLoss(alpha, beta, base)`` with
    ``MultiSimilarityMiner(epsilon)``: ``mine=True`` (without the miner: ``mine=False``).
    The authors' code (``research-ms-loss``, ``ms_loss.py``) skips an anchor that keeps no
    positive or no negative pair; the mining keeps an anchor's hardest positive exactly when
    it keeps its hardest negative, so with ``mine=True`` this changes nothing.

    Args:
        alpha: the positive pairs' scale (default 2).
        beta: the negative pairs' scale (default 50).
        base: the similarity offset ``lambda`` (default 0.5).
        mine: keep only the informative pairs (default True).
        epsilon: the mining margin (default 0.1).
        metric: ``"cosine"`` (default) or ``"dot"`` similarity.
        normalize: L2-normalise the embeddings first (default True).

    Shape:
        output: scalar, or ``(B,)`` per-anchor losses for ``"none"`` (``(N,)`` with
        ``gather="global"``).

    Returns:
        the loss; float32 for fp16/bf16 inputs. An empty batch gives 0 with a graph.

    Reference:
        Wang, Han, Huang, Dong and Scott, *Multi-Similarity Loss with General Pair Weighting
        for Deep Metric Learning*, CVPR 2019, arXiv:1904.06627, Eq. (8)-(10).

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.8, 0.6], [0.0, 1.0]])
        >>> multi_similarity_loss(x, torch.tensor([0, 0, 1, 1]))
        tensor(0.6791)
    """
    fn = "multi_similarity_loss"
    pb = pair_batch(embeddings, labels, metric=metric, normalize=normalize, gather=gather, fn=fn)
    pos, neg = pb.pos, pb.neg
    if mine:
        pos, neg = ms_mining(pb.sim, pos, neg, float(epsilon))
    pos_term = masked_logsumexp(-alpha * (pb.sim - base), pos, add_one=True) / alpha
    neg_term = masked_logsumexp(beta * (pb.sim - base), neg, add_one=True) / beta
    loss = propagate_nan_rows(pos_term + neg_term, pb.sim, pb.pos | pb.neg)
    return reduce_loss(loss, reduction, fn=fn, gather=gather)


MultiSimilarityLoss = register_loss(
    "multi_similarity",
    family="metric",
    function=multi_similarity_loss,
    module="MultiSimilarityLoss",
    formula="1/a log(1 + sum_p e^{-a(S_p - l)}) + 1/b log(1 + sum_n e^{b(S_n - l)})",
    aliases=("ms",),
    reference="Wang et al., Multi-Similarity Loss, CVPR 2019, arXiv:1904.06627",
    examples=embedding_examples,
).module
