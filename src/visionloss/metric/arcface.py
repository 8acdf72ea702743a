"""ArcFace: additive angular margin softmax (Deng et al., CVPR 2019)."""

from __future__ import annotations

from torch import Tensor

from .._core.declare import loss_function
from .._core.options import Bool, NonNegative, Positive, Reduction
from ._margin import (
    ARC_DOCS,
    arc_margin,
    head_cosines,
    margin_softmax,
    register_head,
    target_column,
)


@loss_function(ARC_DOCS)
def arcface_loss(
    embeddings: Tensor,
    labels: Tensor,
    weight: Tensor,
    *,
    margin: NonNegative = 0.5,
    scale: Positive = 64.0,
    easy_margin: Bool = False,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""ArcFace: softmax cross entropy on scaled cosines with an additive angular margin.

    .. math::
        \ell_i = -\log \frac{e^{s \cos(\theta_{y_i} + m)}}
        {e^{s \cos(\theta_{y_i} + m)} + \sum_{j \ne y_i} e^{s \cos \theta_j}},
        \qquad \cos\theta_j = \frac{x_i \cdot w_j}{\lVert x_i \rVert \lVert w_j \rVert}

    Where ``theta + m`` would pass ``pi`` the target logit is continued as in insightface's
    reference (``th``/``mm``): ``cos(theta) - m sin(m)`` for ``cos(theta) <= cos(pi - m)``;
    ``easy_margin=True`` instead applies the margin only where ``cos(theta) > 0``.

    {{cosine_at_one}}

    pytorch-metric-learning ``ArcFaceLoss(num_classes, embedding_size, margin=deg, scale=s)``
    takes the margin in degrees (default 28.6 = 0.5 rad) and stores ``W`` as ``(D, C)``: ours
    is ``margin=math.radians(deg), weight=W.T``; it takes ``acos`` of the cosine, so its
    gradient is NaN at ``cos = +-1``.

    {{head_output}}

    Reference:
        Deng, Guo, Xue and Zafeiriou, *ArcFace: Additive Angular Margin Loss for Deep Face
        Recognition*, CVPR 2019, arXiv:1801.07698, Eq. (3); insightface
        ``recognition/arcface_torch/losses.py`` (``ArcFace``: ``th``, ``mm``, ``easy_margin``).

    Example:
        >>> import torch
        >>> w = torch.eye(2)
        >>> arcface_loss(torch.tensor([[1.0, 0.0]]), torch.tensor([0]), w, scale=1.0, margin=0.0)
        tensor(0.3133)
    """
    fn = "arcface_loss"
    c = head_cosines(embeddings, labels, weight, fn, clamp=False)  # margin_softmax clamps
    target = arc_margin(target_column(c, labels).clamp(-1.0, 1.0), float(margin), easy_margin)
    return margin_softmax(c, labels, target, scale, reduction, fn)


ArcFaceLoss = register_head(
    "arcface",
    arcface_loss,
    "ArcFaceLoss",
    formula="CE(s * [cos(theta_y + m), cos theta_j])",
    reference="Deng et al., ArcFace, CVPR 2019, arXiv:1801.07698",
)
