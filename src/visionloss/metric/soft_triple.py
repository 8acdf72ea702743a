"""SoftTriple loss (Qian et al., ICCV 2019): several centres per class."""

from __future__ import annotations

import torch
from torch import Tensor

from .._core.declare import loss_function
from .._core.options import NonNegative, Positive, Reduction
from .._core.reduction import reduce_loss
from .._core.registry import register_loss
from ._margin import (
    HEAD_DOCS,
    check_class_matrix,
    compute_in,
    cosine_to,
    head_module,
    replace_target,
    soft_triple_examples,
    softmax_head,
    target_column,
)


@loss_function(HEAD_DOCS)
def soft_triple_loss(
    embeddings: Tensor,
    labels: Tensor,
    proxies: Tensor,
    *,
    scale: Positive = 20.0,
    gamma: Positive = 0.1,
    margin: NonNegative = 0.01,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""SoftTriple: softmax over classes whose similarity is a soft maximum over K centres.

    .. math::
        S_{i,c} = \sum_k \frac{e^{x_i^\top w_c^k / \gamma}}{\sum_{k'} e^{x_i^\top w_c^{k'}
        / \gamma}}\, x_i^\top w_c^k, \qquad
        \ell_i = -\log \frac{e^{\lambda (S_{i,y_i} - \delta)}}
        {e^{\lambda (S_{i,y_i} - \delta)} + \sum_{c \ne y_i} e^{\lambda S_{i,c}}}

    on L2-normalised embeddings and centres ``w_c^k = proxies[c, k]``. The paper's
    regulariser merging redundant centres (its ``tau`` term) is not part of this loss (as in
    pytorch-metric-learning); add it to the objective if wanted.

    pytorch-metric-learning ``SoftTripleLoss(num_classes, embedding_size, centers_per_class,
    la, gamma, margin)`` (the same defaults: ``la`` is ``scale``) stores ``fc`` as
    ``(D, C K)`` (column ``c K + k``): ours is ``proxies=fc.T.reshape(C, K, D)``.

    Args:
        proxies: ``(num_classes, K, D)``: ``K`` centres per class (the Module's
            ``centers_per_class``, default 10).
        scale: ``lambda`` (default 20).
        gamma: the temperature ``gamma`` of the soft maximum over centres (default 0.1).
        margin: ``delta`` (default 0.01).

    Shape:
        output: scalar, or ``(B,)`` for ``"none"``.

    Returns:
        the loss; float32 for fp16/bf16 inputs. An empty batch gives 0 with a graph.

    Reference:
        Qian, Shang, Sun, Hu, Li and Jin, *SoftTriple Loss: Deep Metric Learning Without
        Triplet Sampling*, ICCV 2019, arXiv:1909.05235, Eq. (8)-(9).

    Example:
        >>> import torch
        >>> x, y = torch.eye(2), torch.tensor([0, 1])
        >>> centers = torch.eye(2)[:, None, :].repeat(1, 2, 1)  # 2 equal centres per class
        >>> soft_triple_loss(x, y, centers, scale=1.0, margin=0.0)
        tensor(0.3133)
    """
    fn = "soft_triple_loss"
    num_classes = check_class_matrix(embeddings, labels, proxies, fn, "proxies", grouped=True)
    k = proxies.shape[1]
    c = cosine_to(
        embeddings, proxies.reshape(-1, proxies.shape[2]), compute_in(embeddings, proxies)
    )
    c = c.view(c.shape[0], num_classes, k)
    sim = (torch.softmax(c / gamma, dim=2) * c).sum(2)
    target = target_column(sim, labels) - margin
    loss = softmax_head(scale * replace_target(sim, labels, target), labels)
    return reduce_loss(loss, reduction, fn=fn)


SoftTripleLoss = register_loss(
    "soft_triple",
    family="metric",
    function=soft_triple_loss,
    module=head_module(
        soft_triple_loss,
        "SoftTripleLoss",
        matrix="proxies",
        per_class=("centers_per_class", 10, "``K``, centres per class"),
    ),
    formula="CE(lambda [S_y - delta, S_c]), S_c = softmax_k(x.w_c^k / gamma) . x.w_c^k",
    reference="Qian et al., SoftTriple Loss, ICCV 2019, arXiv:1909.05235",
    examples=soft_triple_examples,
).module
