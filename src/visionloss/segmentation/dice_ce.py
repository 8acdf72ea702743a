"""Dice + cross entropy (the nnU-Net default)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .._core.declare import loss_function
from .._core.options import NonNegative
from .._core.registry import register_loss
from ._overlap import OVERLAP_DOCS, overlap_examples
from ._pixelwise import COMPOUND_OPTIONS, PIXEL_DOCS, compound_loss


@loss_function(OVERLAP_DOCS | PIXEL_DOCS, options=COMPOUND_OPTIONS)
def dice_ce_loss(
    input: Tensor, target: Tensor, *, lambda_ce: NonNegative = 1.0, **options: Any
) -> Tensor:
    r"""Dice loss plus cross entropy, from one activation, weight vector and class selection.

    .. math::
        L = \lambda_{dice}\, L_{dice} + \lambda_{ce}\, L_{ce}, \qquad
        L_{ce} = \frac{\sum_i -w_{y_i} \log p_{y_i, i}}{\sum_i w_{y_i}}

    {{terms}}

    With ``activation="softmax"`` both terms read one ``log_softmax`` (the Dice term uses its
    ``exp``); ``L_ce`` is ``F.cross_entropy(weight=w', ignore_index=...)`` where ``w'`` is
    ``weight`` with 0 for classes that are not selected. A dense target gives
    :math:`\sum_i -\sum_c w'_c g_{ci} \log p_{ci}` over the valid pixels divided by
    :math:`\sum_i \sum_c w'_c g_{ci}`, the summed class weight of the targets, as
    :func:`cross_entropy_loss`: a one-hot target gives exactly the value of its class indices,
    with any ``weight``, ``include_background`` or ``classes`` (``F.cross_entropy`` with
    probability targets divides by the number of pixels instead, and so does MONAI's
    ``DiceCELoss`` with a one-hot target). With ``activation="sigmoid"``, ``L_ce`` is the
    binary cross entropy of each selected channel (``F.binary_cross_entropy_with_logits`` on
    the logits, the stable form of the same sigmoid), weighted by ``weight`` per channel and
    averaged over the valid elements.

    One class selection for both terms means that ``include_background=False`` removes the
    background pixels from the CE term as well; on a binary task that leaves the CE term no
    reason to predict background anywhere (the segmentation-imbalance experiment predicts
    foreground everywhere with it). For nnU-Net's pairing, Dice without the background and CE
    with it, add ``dice_loss(x, t, include_background=False)`` and ``F.cross_entropy(x, t)``
    (with ``smooth=1e-5, empty="include"`` that is nnU-Net's default ``DC_and_CE_loss`` plus
    1: nnU-Net returns ``-Dice``).

    {{degenerate_terms}}
    A confident wrong prediction costs about the logit gap in the
    cross-entropy term.

    Args:
        lambda_ce: weight of the cross-entropy term, ``>= 0``.

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
        input, target, fn="dice_ce_loss", lambda_pixel=lambda_ce, gamma=0.0, alpha=None, **options
    )


DiceCELoss = register_loss(
    "dice_ce",
    family="segmentation",
    function=dice_ce_loss,
    module="DiceCELoss",
    formula="lambda_dice Dice + lambda_ce CE (shared softmax / sigmoid)",
    reference="Isensee et al., nnU-Net, arXiv:1809.10486",
    examples=overlap_examples,
).module
