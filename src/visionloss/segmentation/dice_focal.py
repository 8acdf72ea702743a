"""Dice + focal loss."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .._core.declare import loss_function
from .._core.options import NonNegative
from .._core.registry import register_loss
from ._overlap import OVERLAP_DOCS, overlap_examples
from ._pixelwise import COMPOUND_OPTIONS, PIXEL_DOCS, Balance, compound_loss


@loss_function(OVERLAP_DOCS | PIXEL_DOCS, options=COMPOUND_OPTIONS)
def dice_focal_loss(
    input: Tensor,
    target: Tensor,
    *,
    gamma: NonNegative = 2.0,
    alpha: Balance = None,
    lambda_focal: NonNegative = 1.0,
    **options: Any,
) -> Tensor:
    r"""Dice loss plus focal loss, from one activation, weight vector and class selection.

    .. math::
        L = \lambda_{dice}\, L_{dice} + \lambda_{focal}\, L_{focal}, \qquad
        L_{focal} = \frac{\sum_i -w_{y_i} (1 - p_{y_i,i})^{\gamma} \log p_{y_i,i}}
                         {\sum_i w_{y_i}}

    {{terms}}

    The softmax focal term is normalised as the cross entropy of :func:`dice_ce_loss` (so
    ``gamma=0`` gives exactly :func:`dice_ce_loss`); a dense target gives
    :math:`\sum_i -\sum_c w'_c g_{ci} (1 - p_{ci})^{\gamma} \log p_{ci}` divided by
    :math:`\sum_i \sum_c w'_c g_{ci}`, so a one-hot target gives the value of its class
    indices (``w'``: ``weight`` with 0 for classes that are not selected). With
    ``activation="sigmoid"`` the focal term is the sigmoid focal loss of each selected channel
    (Lin et al.; ``torchvision.ops.sigmoid_focal_loss``), optionally ``alpha``-balanced,
    weighted by ``weight`` per channel and averaged over the valid elements. Both terms see the
    same activation: MONAI's ``DiceFocalLoss(softmax=True)`` scores its focal term with a
    sigmoid. The modulating factor :math:`(1 - p_t)^{\gamma}` is computed from
    :math:`\log p_t` (no cancellation in :math:`1 - p_t` for confident predictions).

    {{degenerate_terms}}
    A confident wrong prediction costs about the logit gap in the focal
    term (its modulating factor is then 1).

    Args:
        gamma: focusing exponent of the focal term, ``>= 0``.
        alpha: ``activation="sigmoid"`` only: weight of positives (``1 - alpha`` for
            negatives); None (default) for no balance. With softmax use ``weight``.
        lambda_focal: weight of the focal term, ``>= 0``.

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
    return compound_loss(
        input,
        target,
        fn="dice_focal_loss",
        lambda_pixel=lambda_focal,
        gamma=gamma,
        alpha=alpha,
        **options,
    )


DiceFocalLoss = register_loss(
    "dice_focal",
    family="segmentation",
    function=dice_focal_loss,
    module="DiceFocalLoss",
    formula="lambda_dice Dice + lambda_focal focal (shared softmax / sigmoid)",
    reference="Zhu et al., AnatomyNet, arXiv:1808.05238; Lin et al., arXiv:1708.02002",
    examples=overlap_examples,
).module
