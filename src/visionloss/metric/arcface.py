"""ArcFace: additive angular margin softmax (Deng et al., CVPR 2019)."""

from __future__ import annotations

from torch import Tensor

from .._core.declare import loss_function
from .._core.options import Bool, NonNegative, Positive, Reduction
from .._core.reduction import reduce_loss
from .._core.registry import register_loss
from ._margin import (
    HEAD_DOCS,
    arc_margin,
    check_class_matrix,
    compute_in,
    cosine_to,
    head_examples,
    head_module,
    replace_target,
    softmax_head,
    target_column,
)


@loss_function(HEAD_DOCS)
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

    Args:
        margin: the additive angular margin ``m`` in radians (default 0.5).
        easy_margin: apply the margin only where ``cos(theta) > 0`` (default False).

    Shape:
        output: scalar, or ``(B,)`` for ``"none"``.

    Returns:
        the loss; float32 for fp16/bf16 inputs. An empty batch gives 0 with a graph.

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
    check_class_matrix(embeddings, labels, weight, fn, "weight")
    c = cosine_to(embeddings, weight, compute_in(embeddings, weight))
    target = arc_margin(target_column(c, labels), float(margin), easy_margin)
    loss = softmax_head(scale * replace_target(c, labels, target), labels)
    return reduce_loss(loss, reduction, fn=fn)


ArcFaceLoss = register_loss(
    "arcface",
    family="metric",
    function=arcface_loss,
    module=head_module(arcface_loss, "ArcFaceLoss"),
    formula="CE(s * [cos(theta_y + m), cos theta_j])",
    reference="Deng et al., ArcFace, CVPR 2019, arXiv:1801.07698",
    examples=head_examples,
).module
