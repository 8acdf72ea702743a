"""Multi-class N-pair loss (Sohn, NeurIPS 2016)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .._core.declare import loss_function
from .._core.options import Bool, Reduction
from .._core.reduction import reduce_loss
from .._core.registry import register_loss
from ..distributed import gather_batch
from ._common import METRIC_DOCS, Gather, check_embeddings_labels, embedding_examples, prepare


def first_two_of_each_class(labels: Tensor) -> tuple[Tensor, Tensor]:
    """For each class with at least two members (in label order), the indices of its first
    and second member in the batch."""
    order = torch.sort(labels, stable=True).indices
    y = labels[order]
    start = torch.ones_like(y, dtype=torch.bool)
    start[1:] = y[1:] != y[:-1]
    firsts = torch.nonzero(start).squeeze(1)
    after = (firsts + 1).clamp(max=max(len(y) - 1, 0))
    keep = (firsts + 1 < len(y)) & ~start[after]
    firsts = firsts[keep]
    return order[firsts], order[firsts + 1]


@loss_function(METRIC_DOCS)
def npair_loss(
    embeddings: Tensor,
    labels: Tensor,
    *,
    normalize: Bool = False,
    gather: Gather = "none",
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Multi-class N-pair loss: one (anchor, positive) pair per class, the other classes'
    positives are the negatives.

    .. math::
        \ell_i = \log\Big(1 + \sum_{j \ne i} e^{f_i^\top f_j^+ - f_i^\top f_i^+}\Big)
        = -\log \operatorname{softmax}_j(f_i^\top f_j^+)_i

    The pair of a class is its first two samples in the batch (as pytorch-metric-learning);
    classes with one sample are left out, and a batch without any pair gives 0 with a graph.
    Sohn's L2 penalty on the embeddings is not included (add ``lambda * (f ** 2).sum(1)
    .mean()`` to the objective). With ``gather`` the pairs are formed from the global batch
    (``"local"`` gathers like ``"global"``).

    pytorch-metric-learning ``NPairsLoss()`` (dot product of L2-normalised embeddings, mean
    over the pairs): ``normalize=True``.

    Args:
        normalize: L2-normalise the embeddings first (default False: Sohn's dot product).

    Shape:
        output: scalar, or ``(P,)`` per-pair losses for ``"none"`` (``P`` the classes with a
        pair).

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Sohn, *Improved Deep Metric Learning with Multi-class N-pair Loss Objective*, NeurIPS
        2016, Eq. (6).

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
        >>> npair_loss(x, torch.tensor([0, 0, 1, 1]))
        tensor(0.3133)
    """
    fn = "npair_loss"
    check_embeddings_labels(embeddings, labels, fn)
    x = prepare(embeddings, normalize)
    mode = "global" if gather != "none" else "none"
    batch = gather_batch(x, labels, gather=mode, fn=fn)
    a, p = first_two_of_each_class(labels if batch.key_labels is None else batch.key_labels)
    keys = batch.keys
    logits = keys[a] @ keys[p].T
    loss = F.cross_entropy(logits, torch.arange(len(a), device=logits.device), reduction="none")
    return reduce_loss(loss, reduction, fn=fn, gather=mode)


NPairLoss = register_loss(
    "npair",
    family="metric",
    function=npair_loss,
    module="NPairLoss",
    formula="CE over classes of f_i . f_j^+, target j = i",
    aliases=("n_pairs",),
    reference="Sohn, NeurIPS 2016",
    examples=embedding_examples,
).module
