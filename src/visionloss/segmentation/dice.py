"""Soft Dice loss (Sørensen-Dice, V-Net)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .._core.declare import loss_function
from .._core.registry import register_loss
from ._overlap import OVERLAP_DOCS, OVERLAP_OPTIONS, dice_score, overlap_examples, overlap_loss


@loss_function(OVERLAP_DOCS, options=OVERLAP_OPTIONS)
def dice_loss(input: Tensor, target: Tensor, **options: Any) -> Tensor:
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

    {{degenerate}}

    {{pairs}}
        Every sum is taken in float32, so a 2x3x128^3 fp16 volume gives the fp32 value, not
        1.0 or NaN.

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
    return overlap_loss(input, target, fn="dice_loss", score=dice_score, **options)


DiceLoss = register_loss(
    "dice",
    family="segmentation",
    function=dice_loss,
    module="DiceLoss",
    formula="1 - (2 sum pg + s) / (sum p + sum g + s)",
    reference="Milletari et al., V-Net, 3DV 2016, arXiv:1606.04797",
    examples=overlap_examples,
).module
