"""Soft Dice loss (Sørensen-Dice, V-Net)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from .._core.module import LossModule
from .._core.registry import register_loss
from ._overlap import Smooth, dice_score, module_options, overlap_loss


def dice_loss(
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
    r"""Soft Dice loss, one score per (image, class), averaged with class weights.

    .. math::
        \ell_{bc} = 1 - \frac{2 \sum_i p_{bci}\, g_{bci} + s_{nr}}
                             {\sum_i p_{bci} + \sum_i g_{bci} + s_{dr}},
        \qquad L = \frac{\sum_{b,c} w_c\, \ell_{bc}}{\sum_{b,c} w_c}

    over the valid pixels ``i``, with ``p`` the activated input and ``g`` the (one-hot) target.
    ``squared=True`` puts :math:`\sum p^2 + \sum g^2` in the denominator (V-Net). The
    options below are shared by the whole overlap family (:func:`jaccard_loss`,
    :func:`tversky_loss`, :func:`focal_tversky_loss`, :func:`generalized_dice_loss`,
    :func:`lovasz_loss`, :func:`dice_ce_loss`, :func:`dice_focal_loss`).

    Degenerate cases: an empty input (no images or no pixels), a batch whose pixels all equal
    ``ignore_index`` and all-zero class weights give 0 for ``"mean"`` and ``"sum"``, attached to
    the graph with zero gradients (``"none"`` then holds zeros, or nothing for no images). An
    empty target mask follows ``empty`` (below). Saturated logits (e.g. ``+-1e4``, or fp16
    values near its maximum) give finite values and gradients; a confident correct prediction
    gives 0.

    Args:
        input: logits ``(B, C, *spatial)`` with 1 to 3 spatial dims (probabilities with
            ``activation="none"``).
        target: class indices ``(B, *spatial)`` (integer or bool; never expanded to a one-hot
            tensor of the input's size), or a one-hot / soft / multi-label tensor
            ``(B, C, *spatial)``. For a 1-channel (binary) input, indices are 0 / 1.
        activation: ``"softmax"`` over the channels (multiclass, default), ``"sigmoid"`` per
            channel (binary / multi-label), or ``"none"`` (``input`` holds probabilities).
        smooth: added to the numerator and the denominator; a pair ``(s_nr, s_dr)`` sets them
            apart (MONAI's ``smooth_nr, smooth_dr``). Default 0: a perfect prediction gives 0
            and a disjoint one gives 1.
        squared: V-Net denominator :math:`\sum p^2 + \sum g^2`.
        per_image: one score per (image, class) (default), or per class over the whole batch
            (``False``: MONAI's ``batch=True``, smp's only mode).
        weight: ``(C,)`` class weights, indexed by class id (background included, also when
            it is not selected). The mean divides by the summed weights of the counted pairs.
        include_background: ``False`` leaves class 0 out of the score.
        classes: explicit class ids to score (instead of ``include_background=False``).
        ignore_index: pixels whose target equals it leave every sum (dense targets: pixels
            where any channel equals it).
        empty: policy for a pair whose target is empty over its valid pixels:
            ``"penalize"`` (default): its loss is the soft false-positive rate
            :math:`\sum_i p_i / n` over its ``n`` valid pixels, so false positives on an
            image without the class get a gradient; ``"include"``: the formula as is (a 0/0
            counts as a perfect score; with ``smooth=0`` any false positive gives loss 1 and
            zero gradient, with ``smooth > 0`` a small one); ``"exclude"``: the pair leaves
            the mean. A pair without any valid pixel leaves the mean in every mode.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        ``"none"``: ``(B, K)`` with ``per_image``, else ``(K,)``, for the ``K`` selected
        classes: the weighted pair losses, 0 for pairs left out of the mean.

    Returns:
        the loss; float32 for fp16/bf16 inputs (every sum is taken in float32, so a
        2x3x128^3 fp16 volume gives the fp32 value, not 1.0 or NaN).

    Reference:
        Milletari, Navab, Ahmadi, *V-Net*, 3DV 2016, arXiv:1606.04797; Dice, *Ecology* 1945.

    Example:
        >>> import torch
        >>> p = torch.tensor([[[[1.0, 0.0]], [[0.0, 1.0]]]])  # (B, C, H, W) probabilities
        >>> t = torch.tensor([[[0, 1]]])  # (B, H, W) class indices
        >>> dice_loss(p, t, activation="none")
        tensor(0.)
        >>> dice_loss(torch.full_like(p, 0.5), t, activation="none")
        tensor(0.5000)
    """
    return overlap_loss(
        input,
        target,
        fn="dice_loss",
        score=dice_score,
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


class DiceLoss(LossModule):
    """Module form of :func:`dice_loss`."""

    function = dice_loss

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
                "DiceLoss",
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
    "dice",
    family="segmentation",
    function=dice_loss,
    module=DiceLoss,
    formula="1 - (2 sum pg + s) / (sum p + sum g + s)",
    reference="Milletari et al., V-Net, 3DV 2016, arXiv:1606.04797",
)
