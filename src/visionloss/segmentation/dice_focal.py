"""Dice + focal loss."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from .._core.checks import check_positive
from .._core.module import LossModule
from .._core.registry import register_loss
from ._overlap import Smooth, module_options
from ._pixelwise import compound_loss


def dice_focal_loss(
    input: Tensor,
    target: Tensor,
    *,
    gamma: float = 2.0,
    alpha: float | None = None,
    lambda_dice: float = 1.0,
    lambda_focal: float = 1.0,
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
    r"""Dice loss plus focal loss, from one activation, one weight vector and one class
    selection.

    .. math::
        L = \lambda_{dice}\, L_{dice} + \lambda_{focal}\, L_{focal}, \qquad
        L_{focal} = \frac{\sum_i -w_{y_i} (1 - p_{y_i,i})^{\gamma} \log p_{y_i,i}}
                         {\sum_i w_{y_i}}

    The softmax focal term is normalised as the cross entropy of :func:`dice_ce_loss` (so
    ``gamma=0`` gives exactly :func:`dice_ce_loss`); a dense target gives
    :math:`-\sum_c w_c g_c (1 - p_c)^{\gamma} \log p_c` averaged over the valid pixels. With
    ``activation="sigmoid"`` the focal term is the sigmoid focal loss of each selected channel
    (Lin et al.; ``torchvision.ops.sigmoid_focal_loss``), optionally ``alpha``-balanced,
    weighted by ``weight`` per channel and averaged over the valid elements. Both terms see the
    same activation: MONAI's ``DiceFocalLoss(softmax=True)`` scores its focal term with a
    sigmoid.

    Degenerate cases: as :func:`dice_loss`, for both terms: 0 with a graph and zero gradients
    for an empty input, all pixels ignored or all-zero class weights; finite values and
    gradients for saturated logits. A confident wrong prediction costs about the logit gap in
    the focal term (its modulating factor is then 1).

    Args:
        input: logits, as in :func:`dice_loss`.
        target: as in :func:`dice_loss`.
        gamma: focusing exponent of the focal term, ``>= 0``.
        alpha: ``activation="sigmoid"`` only: weight of positives (``1 - alpha`` for
            negatives); None (default) for no balance. With softmax use ``weight``.
        lambda_dice: weight of the Dice term, ``>= 0``.
        lambda_focal: weight of the focal term, ``>= 0``.
        activation: ``"softmax"`` (default) or ``"sigmoid"``.
        smooth: as in :func:`dice_loss`.
        squared: as in :func:`dice_loss`.
        per_image: as in :func:`dice_loss`.
        weight: as in :func:`dice_loss` (both terms).
        include_background: as in :func:`dice_loss` (both terms).
        classes: as in :func:`dice_loss` (both terms).
        ignore_index: as in :func:`dice_loss` (both terms).
        empty: as in :func:`dice_loss`.
        reduction: ``"mean"`` or ``"sum"``; ``"none"`` is refused.

    Returns:
        the loss, a 0-dim tensor; float32 for fp16/bf16 inputs.

    Reference:
        Zhu et al., *AnatomyNet*, Medical Physics 2019, arXiv:1808.05238; Lin et al., *Focal
        Loss for Dense Object Detection*, ICCV 2017, arXiv:1708.02002.

    Example:
        >>> import torch
        >>> x = torch.zeros(1, 2, 1, 2)  # logits: p = 0.5 everywhere
        >>> t = torch.tensor([[[0, 1]]])
        >>> dice_focal_loss(x, t, gamma=2.0)  # Dice 0.5 + 0.25 log 2
        tensor(0.6733)
    """
    fn = "dice_focal_loss"
    check_positive(gamma, "gamma", fn, allow_zero=True)
    if alpha is not None and not 0.0 <= alpha <= 1.0:
        raise ValueError(f"{fn}: expected alpha in [0, 1] or None, got {alpha}")
    return compound_loss(
        input,
        target,
        fn=fn,
        gamma=float(gamma),
        alpha=alpha,
        lambda_dice=lambda_dice,
        lambda_pixel=lambda_focal,
        pixel_name="lambda_focal",
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


class DiceFocalLoss(LossModule):
    """Module form of :func:`dice_focal_loss`."""

    function = dice_focal_loss

    def __init__(
        self,
        *,
        gamma: float = 2.0,
        alpha: float | None = None,
        lambda_dice: float = 1.0,
        lambda_focal: float = 1.0,
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
        check_positive(gamma, "gamma", "DiceFocalLoss", allow_zero=True)
        check_positive(lambda_dice, "lambda_dice", "DiceFocalLoss", allow_zero=True)
        check_positive(lambda_focal, "lambda_focal", "DiceFocalLoss", allow_zero=True)
        super().__init__(
            **module_options(
                "DiceFocalLoss",
                gamma=gamma,
                alpha=alpha,
                lambda_dice=lambda_dice,
                lambda_focal=lambda_focal,
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
    "dice_focal",
    family="segmentation",
    function=dice_focal_loss,
    module=DiceFocalLoss,
    formula="lambda_dice Dice + lambda_focal focal (shared softmax / sigmoid)",
    reference="Zhu et al., AnatomyNet, arXiv:1808.05238; Lin et al., arXiv:1708.02002",
)
