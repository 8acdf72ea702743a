"""Dice + TopK cross entropy (nnU-Net's DC_and_topk_loss)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .._core.declare import loss_function
from .._core.options import NonNegative
from .._core.reduction import reduce_loss
from .._core.registry import register_loss
from ._overlap import OVERLAP_DOCS, dice_score, measure, overlap_examples
from ._pixelwise import COMPOUND_OPTIONS, PIXEL_DOCS
from ._shape import SHAPE_DOCS, TopKPercent, pixel_cross_entropy, top_k_mask
from ._tail import reduced_pair_losses

_FN = "dice_topk_loss"


@loss_function(OVERLAP_DOCS | SHAPE_DOCS | PIXEL_DOCS, options=COMPOUND_OPTIONS)
def dice_topk_loss(
    input: Tensor,
    target: Tensor,
    *,
    k: TopKPercent = 10.0,
    lambda_topk: NonNegative = 1.0,
    **options: Any,
) -> Tensor:
    r"""Dice loss plus TopK cross entropy, from one activation, weight vector and class
    selection.

    .. math::
        L = \lambda_{dice}\, L_{dice} + \lambda_{topk}\, L_{topk}

    with :math:`L_{topk}` :func:`topk_cross_entropy_loss` (the mean cross entropy of the
    hardest ``k`` percent of the valid pixels of the batch) and :math:`L_{dice}`
    :func:`dice_loss` with the same options. nnU-Net's ``DC_and_topk_loss`` is this with
    ``k=10``, Dice with ``smooth=1e-5, empty="include"`` and without the background in the
    Dice term but with it in the TopK term (call the two functions apart for that split, as
    for :func:`dice_ce_loss`; nnU-Net adds ``-Dice`` rather than ``1 - Dice``).

    {{terms}}

    {{degenerate_terms}}

    Args:
        k: the percentage of the pixels kept by the TopK term, in ``(0, 100]``.
        lambda_topk: weight of the TopK cross-entropy term, ``>= 0``.

    Returns:
        the loss, a 0-dim tensor; float32 for fp16/bf16 inputs.

    Reference:
        Isensee et al., *nnU-Net*, Nature Methods 2021, arXiv:1809.10486; Ma et al., *Loss
        odyssey in medical image segmentation*, Medical Image Analysis 2021.

    Example:
        >>> import torch
        >>> x = torch.zeros(1, 2, 1, 2)  # logits: p = 0.5 everywhere
        >>> t = torch.tensor([[[0, 1]]])
        >>> dice_topk_loss(x, t, k=50.0)  # Dice 0.5 + log 2
        tensor(1.1931)
    """
    lambda_dice = options.pop("lambda_dice")
    empty = options.pop("empty")
    reduction = options.pop("reduction")
    prep, st, smooth = measure(
        input, target, fn=_FN, log_probs=options["activation"] == "softmax", **options
    )
    dice = reduced_pair_losses(
        st, smooth, prep.class_weight, score=dice_score, empty=empty, reduction=reduction, fn=_FN
    )
    ce, valid = pixel_cross_entropy(prep)
    chosen, count = top_k_mask(ce, valid, k)
    topk = reduce_loss(ce, reduction, fn=_FN, mask=chosen, denominator=count)
    return lambda_dice * dice + lambda_topk * topk


DiceTopKLoss = register_loss(
    "dice_topk",
    family="segmentation",
    function=dice_topk_loss,
    module="DiceTopKLoss",
    formula="lambda_dice Dice + lambda_topk TopK-CE",
    reference="Isensee et al., nnU-Net, arXiv:1809.10486 (DC_and_topk_loss)",
    examples=overlap_examples,
).module
