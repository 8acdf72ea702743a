"""Proxy-Anchor loss (Kim et al., CVPR 2020)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .._core.declare import loss_function
from .._core.numerics import div
from .._core.options import NonNegative, Positive, Reduction
from .._core.reduction import reduce_loss
from ..distributed import gather_batch
from ._common import Gather, batch_labels
from ._margin import (
    HEAD_DOCS,
    check_class_matrix,
    compute_in,
    cosine_to,
    proxy_examples,
    register_head,
)
from ._pairs import masked_logsumexp


@loss_function(HEAD_DOCS)
def proxy_anchor_loss(
    embeddings: Tensor,
    labels: Tensor,
    proxies: Tensor,
    *,
    margin: NonNegative = 0.1,
    alpha: Positive = 32.0,
    gather: Gather = "none",
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Proxy-Anchor loss: each class proxy is an anchor against the batch's embeddings.

    .. math::
        \ell = \frac{1}{|P^+|} \sum_{p \in P^+} \log\Big(1 + \sum_{x \in X_p^+}
            e^{-\alpha (s(x, p) - \delta)}\Big)
        + \frac{1}{|P|} \sum_{p \in P} \log\Big(1 + \sum_{x \in X_p^-}
            e^{\alpha (s(x, p) + \delta)}\Big)

    with cosine similarities ``s``, ``P^+`` the proxies of the classes present in the batch,
    ``X_p^+`` the embeddings of class ``p`` and ``X_p^-`` the others. The loss couples the
    batch's samples through each proxy's sums: ``gather="global"`` and ``"local"`` both gather
    every process's embeddings (the value is the single-process loss of the concatenated
    batch; the proxies receive the single-process gradient on every process).

    pytorch-metric-learning ``ProxyAnchorLoss(num_classes, embedding_size, margin, alpha)``
    (the same defaults; its ``DivisorReducer`` divides the two sums by ``|P^+|`` and ``C``):
    the same value with ``proxies=loss.proxies``.

    Args:
        margin: ``delta`` (default 0.1).
        alpha: the scale (default 32).

    Shape:
        output: scalar, or for ``"none"`` the ``(C,)`` per-proxy terms
        ``C pos_p / |P^+| + neg_p``, whose mean is the loss (so ``"sum"`` is ``C`` times it).

    Returns:
        the loss; float32 for fp16/bf16 inputs. A batch of one class has no negatives (the
        second sum is 0); an empty batch gives 0 with a graph.

    Reference:
        Kim, Kim, Cho and Kwak, *Proxy Anchor Loss for Deep Metric Learning*, CVPR 2020,
        arXiv:2003.13911, Eq. (4).

    Example:
        >>> import torch
        >>> proxies = torch.eye(2)
        >>> proxy_anchor_loss(torch.eye(2), torch.tensor([0, 1]), proxies, alpha=1.0)
        tensor(1.0856)
    """
    fn = "proxy_anchor_loss"
    num_classes = check_class_matrix(embeddings, labels, proxies, fn, "proxies")
    dtype = compute_in(embeddings, proxies)
    batch = gather_batch(embeddings, labels, gather="global" if gather != "none" else gather, fn=fn)
    x, y = batch.keys, batch_labels(batch)[1]
    s = cosine_to(x, proxies, dtype).T  # (C, N)
    pos = F.one_hot(y, num_classes).T.to(torch.bool)
    pos_term = masked_logsumexp(-alpha * (s - margin), pos, add_one=True)
    neg_term = masked_logsumexp(alpha * (s + margin), ~pos, add_one=True)
    with_pos = pos.any(1).sum().to(dtype)
    per_proxy = div(num_classes * pos_term, with_pos) + neg_term
    return reduce_loss(per_proxy, reduction, fn=fn)


ProxyAnchorLoss = register_head(
    "proxy_anchor",
    proxy_anchor_loss,
    "ProxyAnchorLoss",
    formula="mean_{p in P+} log(1 + sum e^{-a(s - d)}) + mean_p log(1 + sum e^{a(s + d)})",
    reference="Kim et al., Proxy Anchor Loss, CVPR 2020, arXiv:2003.13911",
    examples=proxy_examples,
    matrix="proxies",
)
