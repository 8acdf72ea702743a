"""Dice + clDice (Shit et al.): the region term and the topology term from one activation."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .._core.declare import loss_function
from .._core.options import Fraction
from .._core.registry import register_loss
from ._overlap import (
    OVERLAP_DOCS,
    EmptyPolicy,
    dice_score,
    overlap_stats,
    reduce_pairs,
    smooth_pair,
)
from ._shape import (
    CLDICE_DOCS,
    CLDICE_OPTIONS,
    SHAPE_DOCS,
    batch_pairs,
    cldice_pairs,
    selected_inputs,
    shape_examples,
)
from ._tail import reduced_pair_losses

_FN = "dice_cldice_loss"


@loss_function(OVERLAP_DOCS | SHAPE_DOCS | CLDICE_DOCS, options=CLDICE_OPTIONS)
def dice_cldice_loss(
    input: Tensor,
    target: Tensor,
    *,
    alpha: Fraction = 0.5,
    empty: EmptyPolicy = "include",
    **options: Any,
) -> Tensor:
    r"""Soft Dice plus soft clDice, weighted: :math:`(1 - \alpha) L_{dice} + \alpha
    L_{clDice}`.

    .. math::
        \ell_{bk} = (1 - \alpha)\left(1 - \frac{2 \sum p g + s_{nr}}{\sum p + \sum g + s_{dr}}
        \right) + \alpha\, \ell^{clDice}_{bk}

    Both terms read one activation, one class selection and one ``smooth`` (the Dice term is
    :func:`dice_loss` with the same options, the clDice term :func:`cldice_loss`); each is
    reduced over its pairs, then they are added. The paper trains with ``alpha`` in
    ``[0.1, 0.5]``; MONAI's ``SoftDiceclDiceLoss`` defaults to 0.5 and ``smooth=1``, as here.

    Args:
        alpha: weight of the clDice term, in ``[0, 1]``.
        empty: the Dice term's empty-mask policy (see :func:`dice_loss`); default
            ``"include"``, the formula as is, as MONAI and the authors' code: with ``smooth >
            0`` an empty target's Dice pushes false positives down.

    {{pair_shape}}

    Reference:
        {{cldice_reference}}

    Example:
        >>> import torch
        >>> t = torch.zeros(1, 7, 7, dtype=torch.long)
        >>> t[0, 3, 1:6] = 1
        >>> p = torch.stack([1.0 - t, t.float()], 1).float()
        >>> dice_cldice_loss(p, t, activation="none", classes=[1])
        tensor(0.)
    """
    per_image = options["per_image"]
    reduction = options["reduction"]
    sp = selected_inputs(input, target, _FN, options)
    smooth = smooth_pair(options["smooth"])
    st = overlap_stats(sp.prep, squared=False, per_image=per_image)
    w = sp.prep.class_weight
    dice = reduced_pair_losses(
        st, smooth, w, score=dice_score, empty=empty, reduction=reduction, fn=_FN
    )
    cl, cl_counted = cldice_pairs(sp, options["iterations"], *smooth, per_image)
    out = (1.0 - alpha) * dice + alpha * reduce_pairs(cl, cl_counted, w, reduction, _FN)
    return batch_pairs(out, per_image, reduction)


DiceClDiceLoss = register_loss(
    "dice_cldice",
    family="segmentation",
    function=dice_cldice_loss,
    module="DiceClDiceLoss",
    formula="(1 - alpha) Dice + alpha clDice",
    reference="Shit et al., clDice, CVPR 2021, arXiv:2003.07311",
    examples=shape_examples,
).module
