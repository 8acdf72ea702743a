"""CosFace: large margin cosine loss (Wang et al., CVPR 2018)."""

from __future__ import annotations

from torch import Tensor

from .._core.declare import loss_function
from .._core.options import NonNegative, Positive, Reduction
from ._margin import HEAD_DOCS, head_cosines, margin_softmax, register_head, target_column


@loss_function(HEAD_DOCS)
def cosface_loss(
    embeddings: Tensor,
    labels: Tensor,
    weight: Tensor,
    *,
    margin: NonNegative = 0.35,
    scale: Positive = 64.0,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""CosFace (large margin cosine loss): softmax on scaled cosines, the target's minus ``m``.

    .. math::
        \ell_i = -\log \frac{e^{s (\cos\theta_{y_i} - m)}}
        {e^{s (\cos\theta_{y_i} - m)} + \sum_{j \ne y_i} e^{s \cos \theta_j}}

    No angle is formed: finite values and gradients for every finite input, including an
    embedding on (or opposite to) its class weight and a zero embedding (cosine 0).

    pytorch-metric-learning ``CosFaceLoss(num_classes, embedding_size, margin=m, scale=s)``
    (the same defaults) stores ``W`` as ``(D, C)``: ours is ``weight=W.T``.

    Args:
        margin: the cosine margin ``m`` (default 0.35).

    {{head_output}}

    Reference:
        Wang, Wang, Zhou, Ji, Gong, Zhou, Li and Liu, *CosFace: Large Margin Cosine Loss for
        Deep Face Recognition*, CVPR 2018, arXiv:1801.09414, Eq. (4).

    Example:
        >>> import torch
        >>> w = torch.eye(2)
        >>> cosface_loss(torch.tensor([[1.0, 0.0]]), torch.tensor([0]), w, scale=1.0, margin=0.0)
        tensor(0.3133)
    """
    fn = "cosface_loss"
    c = head_cosines(embeddings, labels, weight, fn, clamp=False)  # margin_softmax clamps
    target = target_column(c, labels).clamp(-1.0, 1.0) - margin
    return margin_softmax(c, labels, target, scale, reduction, fn)


CosFaceLoss = register_head(
    "cosface",
    cosface_loss,
    "CosFaceLoss",
    formula="CE(s * [cos theta_y - m, cos theta_j])",
    aliases=("large_margin_cosine",),
    reference="Wang et al., CosFace, CVPR 2018, arXiv:1801.09414",
)
