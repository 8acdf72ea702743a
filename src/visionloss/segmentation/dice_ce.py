"""Dice + cross entropy (the nnU-Net default)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from .._core.checks import check_positive
from .._core.module import LossModule
from .._core.registry import register_loss
from ._overlap import Smooth, module_options
from ._pixelwise import compound_loss


def dice_ce_loss(
    input: Tensor,
    target: Tensor,
    *,
    lambda_dice: float = 1.0,
    lambda_ce: float = 1.0,
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
    r"""Dice loss plus cross entropy, from one activation, one weight vector and one class
    selection.

    .. math::
        L = \lambda_{dice}\, L_{dice} + \lambda_{ce}\, L_{ce}, \qquad
        L_{ce} = \frac{\sum_i -w_{y_i} \log p_{y_i, i}}{\sum_i w_{y_i}}

    ``L_dice`` is :func:`dice_loss` with the same options. With ``activation="softmax"``
    both terms read one ``log_softmax`` (the Dice term uses its ``exp``); ``L_ce`` is
    ``F.cross_entropy(weight=w', ignore_index=...)`` where ``w'`` is ``weight`` with 0 for
    classes that are not selected (so ``include_background=False`` drops background pixels
    from the CE term too, and an ignored pixel leaves both terms); a dense target gives the
    soft-target cross entropy :math:`-\sum_c w'_c g_c \log p_c` averaged over the valid
    pixels. With ``activation="sigmoid"``, ``L_ce`` is the binary cross entropy of each
    selected channel (``F.binary_cross_entropy_with_logits`` on the logits, the stable form of
    the same sigmoid), weighted by ``weight`` per channel and averaged over the valid
    elements. ``activation="none"`` is refused: the cross entropy needs logits.

    One class selection for both terms means that ``include_background=False`` removes the
    background pixels from the CE term as well; on a binary task that leaves the CE term no
    reason to predict background anywhere (the segmentation-imbalance experiment predicts
    foreground everywhere with it). For nnU-Net's pairing, Dice without the background and CE
    with it, add ``dice_loss(x, t, include_background=False)`` and ``F.cross_entropy(x, t)``.

    Degenerate cases: as :func:`dice_loss`, for both terms: 0 with a graph and zero gradients
    for an empty input, all pixels ignored or all-zero class weights; finite values and
    gradients for saturated logits. A confident wrong prediction costs about the logit gap in
    the cross-entropy term.

    Args:
        input: logits, as in :func:`dice_loss`.
        target: as in :func:`dice_loss`.
        lambda_dice: weight of the Dice term, ``>= 0``.
        lambda_ce: weight of the cross-entropy term, ``>= 0``.
        activation: ``"softmax"`` (default) or ``"sigmoid"``.
        smooth: as in :func:`dice_loss`.
        squared: as in :func:`dice_loss`.
        per_image: as in :func:`dice_loss`.
        weight: as in :func:`dice_loss` (both terms).
        include_background: as in :func:`dice_loss` (both terms).
        classes: as in :func:`dice_loss` (both terms).
        ignore_index: as in :func:`dice_loss` (both terms).
        empty: as in :func:`dice_loss`.
        reduction: ``"mean"`` or ``"sum"`` (each term reduced so, then added); ``"none"`` is
            refused since the terms have different shapes.

    Returns:
        the loss, a 0-dim tensor; float32 for fp16/bf16 inputs.

    Reference:
        Isensee et al., *nnU-Net*, Nature Methods 2021, arXiv:1809.10486; Taghanaki et al.,
        *Combo loss*, CMIG 2019, arXiv:1805.02798.

    Example:
        >>> import torch
        >>> x = torch.zeros(1, 2, 1, 2)  # logits: p = 0.5 everywhere
        >>> t = torch.tensor([[[0, 1]]])
        >>> dice_ce_loss(x, t)  # Dice 0.5 + CE log 2
        tensor(1.1931)
    """
    return compound_loss(
        input,
        target,
        fn="dice_ce_loss",
        gamma=0.0,
        alpha=None,
        lambda_dice=lambda_dice,
        lambda_pixel=lambda_ce,
        pixel_name="lambda_ce",
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


class DiceCELoss(LossModule):
    """Module form of :func:`dice_ce_loss`."""

    function = dice_ce_loss

    def __init__(
        self,
        *,
        lambda_dice: float = 1.0,
        lambda_ce: float = 1.0,
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
        check_positive(lambda_dice, "lambda_dice", "DiceCELoss", allow_zero=True)
        check_positive(lambda_ce, "lambda_ce", "DiceCELoss", allow_zero=True)
        super().__init__(
            **module_options(
                "DiceCELoss",
                lambda_dice=lambda_dice,
                lambda_ce=lambda_ce,
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
    "dice_ce",
    family="segmentation",
    function=dice_ce_loss,
    module=DiceCELoss,
    formula="lambda_dice Dice + lambda_ce CE (shared softmax / sigmoid)",
    reference="Isensee et al., nnU-Net, arXiv:1809.10486",
)
