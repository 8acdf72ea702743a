"""Matthews correlation coefficient loss (Abhishek and Hamarneh, 2021)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .._core import numerics
from .._core.declare import loss_function
from .._core.options import Bool
from .._core.registry import register_loss
from ._overlap import (
    OVERLAP_DOCS,
    Smooth,
    Stats,
    activation_options,
    class_options,
    measure,
    overlap_examples,
    pair_losses,
    policy_options,
)
from ._shape import reduce_batch_pairs

_FN = "mcc_loss"


def mcc_score(st: Stats, smooth_nr: float, smooth_dr: float) -> Tensor:
    """``(TP TN - FP FN + s_nr) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN) + s_dr)``, 0 where the
    denominator is 0."""
    tp = st.intersection
    fp, fn = st.pred_sum - tp, st.target_sum - tp
    tn = st.count - st.pred_sum - st.target_sum + tp
    num = tp * tn - fp * fn + smooth_nr
    den = numerics.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn) + smooth_dr)
    return numerics.div(num, den)


@loss_function(OVERLAP_DOCS, options=(activation_options, class_options, policy_options))
def mcc_loss(
    input: Tensor,
    target: Tensor,
    *,
    smooth: Smooth = 0.0,
    per_image: Bool = True,
    **options: Any,
) -> Tensor:
    r"""Matthews correlation loss: one minus the soft MCC of each (image, class) pair.

    .. math::
        \mathrm{MCC} = \frac{TP \cdot TN - FP \cdot FN + s_{nr}}
            {\sqrt{(TP+FP)(TP+FN)(TN+FP)(TN+FN) + s_{dr}}}, \qquad \ell = 1 - \mathrm{MCC}

    with the soft counts :math:`TP = \sum p g`, :math:`FP = \sum p (1-g)`, :math:`FN = \sum
    (1-p) g`, :math:`TN = \sum (1-p)(1-g)` over the valid pixels. Unlike Dice it rewards the
    true negatives, so it penalises false positives on mostly-background images; the loss
    lies in ``[0, 2]``. Where the denominator is 0 (a row or column of the confusion matrix
    is empty) MCC is taken as 0. An empty target follows ``empty`` (the default
    ``"penalize"`` gives the soft false-positive rate; ``"include"`` the formula, i.e. MCC 0
    for a soft prediction: MONAI gives 0 only for an exactly perfect one).

    Mapping: MONAI's ``MCCLoss(smooth_nr, smooth_dr, batch)`` is ``smooth=(nr, dr),
    per_image=not batch, empty="include"``; smp's ``MCCLoss(eps)`` (probabilities, summed over
    the batch) is ``activation="none", per_image=False`` with ``eps`` added to each count.

    {{degenerate}}

    Args:
        smooth: added to the numerator and to the product under the root; a pair ``(s_nr,
            s_dr)`` sets them apart (MONAI's ``smooth_nr, smooth_dr``). Default 0.
        per_image: one score per (image, class) (default), or per class over the whole batch
            (``False``: MONAI's ``batch=True``, smp's only mode).

    {{pairs}}

    Reference:
        Abhishek and Hamarneh, *Matthews correlation coefficient loss for deep convolutional
        networks: application to skin lesion segmentation*, ISBI 2021, arXiv:2010.13454.

    Example:
        >>> import torch
        >>> p = torch.tensor([[[[1.0, 0.0]], [[0.0, 1.0]]]])
        >>> t = torch.tensor([[[0, 1]]])
        >>> mcc_loss(p, t, activation="none")  # perfect: MCC = 1
        tensor(0.)
        >>> mcc_loss(1 - p, t, activation="none")  # inverted: MCC = -1
        tensor(2.)
    """
    empty, reduction = options.pop("empty"), options.pop("reduction")
    prep, st, s = measure(
        input, target, fn=_FN, smooth=smooth, squared=False, per_image=per_image, **options
    )
    loss, counted = pair_losses(mcc_score(st, *s), st, empty)
    return reduce_batch_pairs(loss, counted, prep.class_weight, reduction, per_image, _FN)


MCCLoss = register_loss(
    "mcc",
    family="segmentation",
    function=mcc_loss,
    module="MCCLoss",
    formula="1 - (TP TN - FP FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN))",
    reference="Abhishek and Hamarneh, MCC loss, ISBI 2021, arXiv:2010.13454",
    examples=overlap_examples,
).module
