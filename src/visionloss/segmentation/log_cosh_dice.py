"""Log-cosh Dice loss (Jadon, 2020)."""

from __future__ import annotations

import math
from typing import Any

import torch.nn.functional as F
from torch import Tensor

from .._core.declare import loss_function
from .._core.registry import register_loss
from ._overlap import (
    OVERLAP_DOCS,
    OVERLAP_OPTIONS,
    dice_score,
    measure,
    overlap_examples,
    pair_losses,
)
from ._shape import reduce_batch_pairs

_FN = "log_cosh_dice_loss"


@loss_function(OVERLAP_DOCS, options=OVERLAP_OPTIONS)
def log_cosh_dice_loss(input: Tensor, target: Tensor, **options: Any) -> Tensor:
    r"""Log-cosh of the soft Dice loss of each (image, class) pair.

    .. math::
        \ell_{bc} = \log\cosh\left(1 - \mathrm{Dice}_{bc}\right), \qquad
        L = \frac{\sum_{b,c} w_c\, \ell_{bc}}{\sum_{b,c} w_c}

    computed stably as :math:`x + \mathrm{softplus}(-2x) - \log 2`. Since :math:`\log\cosh x
    \approx x^2 / 2` near 0 and :math:`|x| - \log 2` for large :math:`|x|`, it smooths the
    Dice loss's gradient near a perfect prediction; on ``[0, 1]`` it stays between 0 and
    :math:`\log\cosh 1 \approx 0.434`. Jadon applies it to the Dice loss of the whole batch;
    ``per_image=False`` with one class is that form, and by default it applies to each pair
    before the mean, so that ``reduction="none"`` sums to ``"sum"``. Every option is
    :func:`dice_loss`'s, and so is the empty-mask policy (applied before the log-cosh).

    {{degenerate}}

    {{pairs}}

    Reference:
        Jadon, *A survey of loss functions for semantic segmentation*, IEEE CIBCB 2020,
        arXiv:2006.14822.

    Example:
        >>> import torch
        >>> p = torch.tensor([[[[0.5, 0.5]], [[0.5, 0.5]]]])
        >>> t = torch.tensor([[[0, 1]]])
        >>> log_cosh_dice_loss(p, t, activation="none")  # log cosh(0.5)
        tensor(0.1201)
    """
    per_image = options["per_image"]
    empty, reduction = options.pop("empty"), options.pop("reduction")
    prep, st, smooth = measure(input, target, fn=_FN, **options)
    loss, counted = pair_losses(dice_score(st, *smooth), st, empty)
    loss = loss + F.softplus(-2.0 * loss) - math.log(2.0)
    return reduce_batch_pairs(loss, counted, prep.class_weight, reduction, per_image, _FN)


LogCoshDiceLoss = register_loss(
    "log_cosh_dice",
    family="segmentation",
    function=log_cosh_dice_loss,
    module="LogCoshDiceLoss",
    formula="log cosh(1 - Dice)",
    reference="Jadon, A survey of loss functions for semantic segmentation, arXiv:2006.14822",
    examples=overlap_examples,
).module
