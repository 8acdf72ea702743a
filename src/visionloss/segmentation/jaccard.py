"""Soft Jaccard (IoU) loss."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from .._core.module import LossModule
from .._core.registry import register_loss
from ._overlap import Smooth, Stats, module_options, overlap_loss, tversky_score


def _jaccard_score(st: Stats, smooth_nr: float, smooth_dr: float) -> Tensor:
    return tversky_score(st, 1.0, 1.0, smooth_nr, smooth_dr)


def jaccard_loss(
    input: Tensor,
    target: Tensor,
    *,
    activation: str = "softmax",
    smooth: Smooth = 0.0,
    squared: bool = False,
    per_image: bool = True,
    weight: Tensor | Sequence[float] | None = None,
    include_background: bool = True,
    classes: Sequence[int] | None = None,
    ignore_index: int | None = None,
    empty: str = "penalize",
    reduction: str = "mean",
) -> Tensor:
    r"""Soft Jaccard loss (soft IoU), one score per (image, class).

    .. math::
        \ell_{bc} = 1 - \frac{\sum_i p g + s_{nr}}{\sum_i p + \sum_i g - \sum_i p g + s_{dr}}

    It is :func:`tversky_loss` with ``alpha = beta = 1``. ``squared=True`` uses
    :math:`\sum p^2 + \sum g^2 - \sum p g` (MONAI's ``squared_pred=True, jaccard=True``).
    MONAI's ``DiceLoss(jaccard=True)`` doubles numerator and denominator before adding its
    smoothing: its ``smooth_nr = smooth_dr = s`` is ``smooth = s / 2`` here.

    Degenerate cases: as :func:`dice_loss`: 0 with a graph and zero gradients for an empty
    input, all pixels ignored or all-zero class weights; finite values and gradients for
    saturated logits. An empty target mask follows ``empty``.

    Args:
        input: as in :func:`dice_loss`.
        target: as in :func:`dice_loss`.
        activation: as in :func:`dice_loss`.
        smooth: as in :func:`dice_loss`.
        squared: as in :func:`dice_loss`.
        per_image: as in :func:`dice_loss`.
        weight: as in :func:`dice_loss`.
        include_background: as in :func:`dice_loss`.
        classes: as in :func:`dice_loss`.
        ignore_index: as in :func:`dice_loss`.
        empty: as in :func:`dice_loss`.
        reduction: as in :func:`dice_loss`.

    Shape:
        ``"none"``: ``(B, K)`` with ``per_image``, else ``(K,)``.

    Returns:
        the loss; float32 for fp16/bf16 inputs.

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
        input,
        target,
        fn="jaccard_loss",
        score=_jaccard_score,
        activation=activation,
        smooth=smooth,
        squared=squared,
        per_image=per_image,
        weight=weight,
        include_background=include_background,
        classes=classes,
        ignore_index=ignore_index,
        empty=empty,
        reduction=reduction,
    )


class JaccardLoss(LossModule):
    """Module form of :func:`jaccard_loss`."""

    function = jaccard_loss

    def __init__(
        self,
        *,
        activation: str = "softmax",
        smooth: Smooth = 0.0,
        squared: bool = False,
        per_image: bool = True,
        weight: Tensor | Sequence[float] | None = None,
        include_background: bool = True,
        classes: Sequence[int] | None = None,
        ignore_index: int | None = None,
        empty: str = "penalize",
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            **module_options(
                "JaccardLoss",
                activation=activation,
                smooth=smooth,
                squared=squared,
                per_image=per_image,
                weight=weight,
                include_background=include_background,
                classes=classes,
                ignore_index=ignore_index,
                empty=empty,
                reduction=reduction,
            )
        )


register_loss(
    "jaccard",
    family="segmentation",
    function=jaccard_loss,
    module=JaccardLoss,
    aliases=("soft_iou", "iou_seg"),
    formula="1 - (sum pg + s) / (sum p + sum g - sum pg + s)",
    reference="Rahman & Wang, ISVC 2016 (soft IoU)",
)
