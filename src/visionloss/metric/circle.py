"""Circle loss (Sun et al., CVPR 2020), pair-wise labels form."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from .._core.declare import loss_function
from .._core.options import Bool, Fraction, Positive, Reduction
from .._core.reduction import reduce_loss
from .._core.registry import register_loss
from ._common import METRIC_DOCS, Gather, embedding_examples
from ._pairs import Similarity, masked_logsumexp, pair_batch


@loss_function(METRIC_DOCS)
def circle_loss(
    embeddings: Tensor,
    labels: Tensor,
    *,
    margin: Fraction = 0.4,
    gamma: Positive = 80.0,
    detach_weights: Bool = True,
    metric: Similarity = "cosine",
    normalize: Bool = True,
    gather: Gather = "none",
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Circle loss: every positive and negative similarity of an anchor, self-paced weights.

    .. math::
        \ell_i = \log\Big[1 + \sum_{n} e^{\gamma \alpha_n (s_n - \Delta_n)}
            \sum_{p} e^{-\gamma \alpha_p (s_p - \Delta_p)}\Big],\quad
        \alpha_p = [1 + m - s_p]_+,\ \alpha_n = [s_n + m]_+,\ \Delta_p = 1 - m,\ \Delta_n = m

    over the anchor's positives ``p`` (same label, not itself) and negatives ``n``; the
    weights ``alpha`` are held constant in the backward pass (``detach_weights=True``, as
    pytorch-metric-learning and the common implementations; the gradient is then not the
    value's derivative). The mean
    is over the anchors with at least one positive and one negative (others give 0 and are
    not counted; a batch without one gives 0 with a graph). Similarities are cosines
    (``metric="cosine"``) or dot products (``"dot"``).

    pytorch-metric-learning ``CircleLoss(m, gamma)`` (the same defaults, cosine similarity,
    ``AvgNonZeroReducer``): the same value, except that it also leaves out an anchor whose
    loss underflows to exactly 0.

    Args:
        margin: the relaxation ``m`` in ``[0, 1]`` (default 0.4).
        gamma: the scale ``gamma`` (default 80).
        detach_weights: hold ``alpha_p``, ``alpha_n`` constant in the backward pass (default
            True).
        metric: ``"cosine"`` (default) or ``"dot"`` similarity.
        normalize: L2-normalise the embeddings first (default True).

    Shape:
        output: scalar, or ``(B,)`` per-anchor losses for ``"none"`` (``(N,)`` over the global
        batch with ``gather="global"``).

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Sun, Cheng, Zhang, Zhang, Zheng, Wang and Wei, *Circle Loss: A Unified Perspective of
        Pair Similarity Optimization*, CVPR 2020, arXiv:2002.10857, Eq. (6)-(8).

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [0.1, 1.0]])
        >>> circle_loss(x, torch.tensor([0, 0, 1, 1]), gamma=1.0)
        tensor(0.9059)
    """
    fn = "circle_loss"
    pb = pair_batch(embeddings, labels, metric=metric, normalize=normalize, gather=gather, fn=fn)
    s = pb.sim
    held = s.detach() if detach_weights else s
    alpha_p = F.relu(1.0 + margin - held)
    alpha_n = F.relu(held + margin)
    logit_p = -gamma * alpha_p * (s - (1.0 - margin))
    logit_n = gamma * alpha_n * (s - margin)
    valid = pb.pos.any(1) & pb.neg.any(1)
    z = masked_logsumexp(logit_p, pb.pos) + masked_logsumexp(logit_n, pb.neg)
    loss = F.softplus(z).where(valid, z.new_zeros(()))
    count = valid.sum()
    return reduce_loss(loss, reduction, fn=fn, denominator=count, gather=gather)


CircleLoss = register_loss(
    "circle",
    family="metric",
    function=circle_loss,
    module="CircleLoss",
    formula="log(1 + sum_n e^{g a_n (s_n - m)} sum_p e^{-g a_p (s_p - 1 + m)})",
    reference="Sun et al., Circle Loss, CVPR 2020, arXiv:2002.10857",
    examples=embedding_examples,
).module
