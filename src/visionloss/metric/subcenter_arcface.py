"""Sub-center ArcFace (Deng et al., ECCV 2020): K sub-centres per class, and the search for
the outlier samples far from their class's dominant sub-centre."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .._core.declare import loss_function
from .._core.options import Bool, NonNegative, Positive, Reduction
from ._margin import (
    ARC_DOCS,
    arc_margin,
    check_class_matrix,
    compute_in,
    cosine_to,
    margin_softmax,
    register_head,
    subcenter_examples,
    target_column,
)


def _subcenter_cosines(embeddings: Tensor, weight: Tensor, clamp: bool = True) -> Tensor:
    """``(B, C, K)`` cosines to every sub-centre (:func:`._margin.cosine_to`)."""
    matrix = weight.reshape(-1, weight.shape[2])
    c = cosine_to(embeddings, matrix, compute_in(embeddings, weight), clamp)
    return c.view(c.shape[0], weight.shape[0], weight.shape[1])


@loss_function(ARC_DOCS)
def subcenter_arcface_loss(
    embeddings: Tensor,
    labels: Tensor,
    weight: Tensor,
    *,
    margin: NonNegative = 0.5,
    scale: Positive = 64.0,
    easy_margin: Bool = False,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Sub-center ArcFace: ArcFace on each class's closest of ``K`` sub-centres.

    .. math::
        \cos\theta_{i,j} = \max_k \frac{x_i \cdot w_j^k}{\lVert x_i \rVert \lVert w_j^k \rVert},
        \qquad \ell_i = \text{ArcFace}(\cos\theta_{i,\cdot}, y_i)

    (see :func:`arcface_loss` for the margin, its ``th``/``mm`` fallback and
    ``easy_margin``). :func:`subcenter_outliers` finds the samples far from their class's
    dominant sub-centre (the paper drops them, then trains with ``K = 1``).

    {{cosine_at_one}}

    pytorch-metric-learning ``SubCenterArcFaceLoss(num_classes=C, embedding_size=D,
    margin=deg, scale=s, sub_centers=K)`` stores ``W`` as ``(D, C K)`` (column ``c K + k``):
    ours is ``weight=W.T.reshape(C, K, D)`` and ``margin=math.radians(deg)``.

    Args:
        weight: ``(num_classes, K, D)`` sub-centres (the Module's ``sub_centers``, default
            3).

    {{head_output}}

    Reference:
        Deng, Guo, Liu, Cao and Zafeiriou, *Sub-center ArcFace: Boosting Face Recognition by
        Large-scale Noisy Web Faces*, ECCV 2020, Eq. (1)-(2).

    Example:
        >>> import torch
        >>> w = torch.eye(2)[:, None, :].repeat(1, 3, 1)  # 3 equal sub-centres per class
        >>> x, y = torch.tensor([[1.0, 0.0]]), torch.tensor([0])
        >>> subcenter_arcface_loss(x, y, w, scale=1.0, margin=0.0)
        tensor(0.3133)
    """
    fn = "subcenter_arcface_loss"
    check_class_matrix(embeddings, labels, weight, fn, "weight", grouped=True)
    # unclamped: the max commutes with the clamp, which margin_softmax applies
    c = _subcenter_cosines(embeddings, weight, clamp=False).amax(2)
    target = arc_margin(target_column(c, labels).clamp(-1.0, 1.0), float(margin), easy_margin)
    return margin_softmax(c, labels, target, scale, reduction, fn)


@torch.no_grad()
def subcenter_outliers(
    embeddings: Tensor, labels: Tensor, weight: Tensor, *, threshold: float = 75.0
) -> tuple[Tensor, Tensor]:
    """The samples far from their class's dominant sub-centre (Deng et al., ECCV 2020, Sec. 3).

    For each class present, the dominant sub-centre is the one that is the closest for most of
    the class's samples (ties: the lowest index); a sample whose angle to it exceeds
    ``threshold`` degrees is an outlier.

    Args:
        embeddings: ``(B, D)``.
        labels: ``(B,)`` integer labels in ``[0, num_classes)``.
        weight: ``(num_classes, K, D)`` sub-centres.
        threshold: the angle in degrees (default 75, as the paper and pytorch-metric-learning).

    Returns:
        ``(outliers, dominant)``: the sorted indices of the outlier samples, and the
        ``(num_classes, D)`` dominant sub-centres (zero rows for classes absent from the
        batch). PML ``SubCenterArcFaceLoss.get_outliers`` returns the same indices and the
        transpose of ``dominant`` (its absent classes are left uninitialised).
    """
    fn = "subcenter_outliers"
    num_classes = check_class_matrix(embeddings, labels, weight, fn, "weight", grouped=True)
    c = _subcenter_cosines(embeddings, weight)
    k = weight.shape[1]
    own = c[torch.arange(c.shape[0]), labels]  # (B, K)
    closest = own.argmax(1)
    votes = torch.zeros(num_classes, k, dtype=torch.long, device=labels.device)
    votes.index_put_((labels, closest), torch.ones_like(labels), accumulate=True)
    best = votes.argmax(1)  # (C,): the first of the most voted
    present = votes.sum(1) > 0
    dominant = torch.where(
        present[:, None], weight[torch.arange(num_classes), best], weight.new_zeros(())
    )
    cos_dominant = own.gather(1, best[labels][:, None]).squeeze(1)
    outliers = torch.nonzero(cos_dominant < math.cos(math.radians(threshold))).squeeze(1)
    return outliers, dominant


SubCenterArcFaceLoss = register_head(
    "subcenter_arcface",
    subcenter_arcface_loss,
    "SubCenterArcFaceLoss",
    formula="ArcFace on max_k cos(x, w_c^k)",
    reference="Deng et al., Sub-center ArcFace, ECCV 2020",
    examples=subcenter_examples,
    per_class=("sub_centers", 3, "``K``, sub-centres per class"),
)
