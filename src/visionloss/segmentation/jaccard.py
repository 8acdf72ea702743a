"""Soft Jaccard (IoU) loss."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .._core.declare import loss_function
from .._core.registry import register_loss
from ._overlap import OVERLAP_DOCS, OVERLAP_OPTIONS, overlap_examples, overlap_loss, tversky_score


@loss_function(OVERLAP_DOCS, options=OVERLAP_OPTIONS)
def jaccard_loss(input: Tensor, target: Tensor, **options: Any) -> Tensor:
    r"""Soft Jaccard loss (soft IoU), one score per (image, class).

    .. math::
        \ell_{bc} = 1 - \frac{\sum_i p g + s_{nr}}{\sum_i p + \sum_i g - \sum_i p g + s_{dr}}

    It is :func:`tversky_loss` with ``alpha = beta = 1``. ``squared=True`` uses
    :math:`\sum p^2 + \sum g^2 - \sum p g` (MONAI's ``squared_pred=True, jaccard=True``).
    MONAI's ``DiceLoss(jaccard=True)`` doubles numerator and denominator before adding its
    smoothing: its ``smooth_nr = smooth_dr = s`` is ``smooth = s / 2`` here.

    {{degenerate}}

    {{pairs}}

    Reference:
        Rahman and Wang, *Optimizing Intersection-Over-Union in Deep Neural Networks for
        Image Segmentation*, ISVC 2016; Jaccard, 1912.

    Example:
        >>> import torch
        >>> p = torch.tensor([[[[0.5, 0.5]], [[0.5, 0.5]]]])  # (B, C, H, W) probabilities
        >>> t = torch.tensor([[[0, 1]]])
        >>> jaccard_loss(p, t, activation="none")  # IoU = 0.5 / (1 + 1 - 0.5)
        tensor(0.6667)
    """
    return overlap_loss(
        input, target, fn="jaccard_loss", score=tversky_score, alpha=1.0, beta=1.0, **options
    )


JaccardLoss = register_loss(
    "jaccard",
    family="segmentation",
    function=jaccard_loss,
    module="JaccardLoss",
    aliases=("soft_iou", "iou_seg"),
    formula="1 - (sum pg + s) / (sum p + sum g - sum pg + s)",
    reference="Rahman & Wang, ISVC 2016 (soft IoU)",
    examples=overlap_examples,
).module
