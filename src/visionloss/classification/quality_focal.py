"""Quality focal loss (Generalized Focal Loss, Li et al. 2020)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .._core import numerics
from .._core.declare import loss_function
from .._core.options import NonNegative
from .._core.registry import register_loss
from ._common import FocalModule, Normalizer, binary_loss, binary_options, binary_terms
from ._dense import DENSE_DOCS, score_examples


def _qfl_terms(x: Tensor, y: Tensor, *, fn: str, beta: float) -> Tensor:
    pos, neg = binary_terms(x, from_logits=True)  # -log p, -log(1 - p)
    bce = y * pos + (1 - y) * neg
    if beta == 0:
        return bce
    # y - sigmoid(x) = y sigmoid(-x) - (1 - y) sigmoid(x): no cancellation near p = 1
    gap = (y * torch.sigmoid(-x) - (1 - y) * torch.sigmoid(x)).abs()
    return numerics.pow(gap, beta) * bce


@loss_function(DENSE_DOCS, options=binary_options)
def quality_focal_loss(
    input: Tensor,
    target: Tensor,
    *,
    beta: NonNegative = 2.0,
    normalizer: Normalizer = None,
    **options: Any,
) -> Tensor:
    r"""Quality focal loss (GFL): binary cross entropy against a soft quality target, scaled
    by the distance of the prediction from it.

    .. math::
        \ell_i = |y_i - \sigma(x_i)|^\beta \,\big[-y_i \log \sigma(x_i)
                 - (1 - y_i) \log(1 - \sigma(x_i))\big]

    The target :math:`y` is the joint representation of class and localisation quality: the
    IoU of the predicted box with its ground truth at the positive class, 0 at every other
    class and at the negatives (where the factor is :math:`\sigma(x)^\beta`, the focal loss's).
    mmdetection's ``quality_focal_loss`` takes ``(label, score)`` and sums over classes; build
    the dense target with ``target[i, label[i]] = score[i]`` and use ``reduction="sum"`` or
    ``normalizer=num_pos`` (its ``avg_factor``). The gap :math:`y - \sigma(x)` is computed as
    :math:`y\,\sigma(-x) - (1 - y)\,\sigma(x)`, exact for saturated logits; its power has a
    zero gradient where it vanishes (``beta < 1`` included).

    Degenerate cases: an empty input gives 0 for ``"mean"`` and ``"sum"``, attached to the
    graph; no positive (an all-zero target) is the focal loss of the negatives.
    {{saturated}}

    Args:
        beta: exponent ``>= 0`` of the modulating factor (default 2, the paper's; 0 is BCE).

    Shape:
        ``input``, ``target``: ``(*)``; output: scalar, or ``(*)`` for ``"none"``.

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Li et al., *Generalized Focal Loss: Learning Qualified and Distributed Bounding Boxes
        for Dense Object Detection*, NeurIPS 2020, arXiv:2006.04388, Eq. (5).

    Example:
        >>> import torch
        >>> x = torch.tensor([[2.0, -1.0], [0.0, -3.0]])
        >>> y = torch.tensor([[0.8, 0.0], [0.0, 0.0]])   # anchor 0: class 0 with IoU 0.8
        >>> quality_focal_loss(x, y, reduction="none")
        tensor([[3.4399e-03, 2.2658e-02],
                [1.7329e-01, 1.0928e-04]])
    """
    return binary_loss(
        input,
        target.detach() if isinstance(target, Tensor) else target,
        _qfl_terms,
        fn="quality_focal_loss",
        beta=beta,
        normalizer=normalizer,
        **options,
    )


QualityFocalLoss = register_loss(
    "quality_focal",
    family="classification",
    function=quality_focal_loss,
    module="QualityFocalLoss",
    base=FocalModule,
    aliases=("qfl",),
    formula="|y - sigmoid(x)|^beta BCE(x, y), y = IoU at the positive class",
    reference="Li et al., Generalized Focal Loss, NeurIPS 2020, arXiv:2006.04388",
    examples=score_examples,
).module
