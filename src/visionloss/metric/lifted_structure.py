"""Lifted structured loss (Oh Song et al., CVPR 2016) and its generalized form (Hermans et
al., 2017)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .._core.declare import loss_function
from .._core.options import Bool, NonNegative, Reduction
from .._core.reduction import reduce_loss
from .._core.registry import register_loss
from ..distributed import gather_batch
from ._common import (
    METRIC_DOCS,
    Gather,
    Metric,
    batch_labels,
    check_embeddings_labels,
    distance_matrix,
    embedding_examples,
    prepare,
)
from ._mining import triplet_masks
from ._pairs import batch_or_memory, masked_logsumexp


@loss_function(METRIC_DOCS)
def lifted_structure_loss(
    embeddings: Tensor,
    labels: Tensor,
    *,
    margin: NonNegative = 1.0,
    pos_margin: NonNegative = 0.0,
    generalized: Bool = False,
    metric: Metric = "euclidean",
    normalize: Bool = False,
    gather: Gather = "none",
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Lifted structured loss: every positive pair against all negatives of both its ends.

    .. math::
        J_{ij} = \log\Big(\sum_{k \in N_i} e^{m - D_{ik}} + \sum_{l \in N_j} e^{m - D_{jl}}
        \Big) + D_{ij} - m_p, \qquad
        \ell = \frac{1}{2|P|} \sum_{(i, j) \in P} [J_{ij}]_+^2

    over the positive pairs ``P`` (Oh Song et al., Eq. (4), with ``m_p = pos_margin``).
    ``generalized=True`` is Hermans et al.'s form, one term per anchor, averaged over the
    batch:

    .. math::
        \ell_a = \Big[\log \sum_{p} e^{D_{ap} - m_p} + \log \sum_{n} e^{m - D_{an}}\Big]_+

    (an empty sum's log counts as 0, as pytorch-metric-learning does). The pair form needs
    every pair's negatives, so ``gather="local"`` gathers like ``"global"``.

    pytorch-metric-learning ``LiftedStructureLoss(neg_margin=m, pos_margin=m_p)`` and
    ``GeneralizedLiftedStructureLoss(neg_margin=m, pos_margin=m_p)`` (L2-normalised
    Euclidean distances): ``normalize=True`` and ``generalized=False`` / ``True``. The pair
    form is 0 on a batch without negatives (PML's too).

    Args:
        margin: ``m``, the negatives' margin (default 1.0).
        pos_margin: ``m_p`` (default 0).
        generalized: Hermans et al.'s per-anchor form (default False).

    Shape:
        output: scalar, or for ``"none"`` the ``(B,)`` per-anchor sums (pair form: of
        ``[J_ij]_+^2 / 2`` over the anchor's positives; ``(N,)`` when gathering).

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Oh Song, Xiang, Jegelka and Savarese, *Deep Metric Learning via Lifted Structured
        Feature Embedding*, CVPR 2016, arXiv:1511.06452, Eq. (4); Hermans, Beyer and Leibe,
        *In Defense of the Triplet Loss for Person Re-Identification*, arXiv:1703.07737,
        Sec. 2 (generalized lifted embedding).

    Example:
        >>> import torch
        >>> x = torch.tensor([[0.0], [0.5], [3.0], [3.5]])
        >>> lifted_structure_loss(x, torch.tensor([0, 0, 1, 1]), margin=4.0)
        tensor(4.3458)
    """
    fn = "lifted_structure_loss"
    check_embeddings_labels(embeddings, labels, fn)
    x = prepare(embeddings, normalize)
    mode = gather if generalized else ("global" if gather != "none" else "none")
    if generalized:  # a cross-batch memory can supply the keys
        batch = batch_or_memory(x, labels, normalize=normalize, gather=mode, fn=fn)
    else:
        batch = gather_batch(x, labels, gather=mode, fn=fn)
    D = distance_matrix(batch.anchors, batch.keys, metric, self_index=batch.anchor_index)
    pos, neg = triplet_masks(*batch_labels(batch), batch.anchor_index)
    if generalized:
        loss = F.relu(masked_logsumexp(D - pos_margin, pos) + masked_logsumexp(margin - D, neg))
        return reduce_loss(loss, reduction, fn=fn, gather=mode)
    # anchors are the keys here (no "local" split): row i of the negatives' log-sum-exp
    has_neg = neg.any(1)
    lse = masked_logsumexp(margin - D, neg)
    lse = torch.where(has_neg, lse, lse.new_full((), torch.finfo(lse.dtype).min))
    J = torch.logaddexp(lse[:, None], lse[None, :]) + D - pos_margin
    per_pair = torch.where(pos & has_neg[:, None], F.relu(J).square() / 2, J.new_zeros(()))
    count = (pos & neg.any()).sum()
    return reduce_loss(per_pair.sum(1), reduction, fn=fn, denominator=count, gather=mode)


LiftedStructureLoss = register_loss(
    "lifted_structure",
    family="metric",
    function=lifted_structure_loss,
    module="LiftedStructureLoss",
    formula="1/2|P| sum_P [log(sum_Ni e^{m-D} + sum_Nj e^{m-D}) + D_ij]_+^2",
    aliases=("lifted",),
    reference="Oh Song et al., CVPR 2016, arXiv:1511.06452; Hermans et al., arXiv:1703.07737",
    examples=embedding_examples,
).module
