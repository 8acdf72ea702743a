"""Pixelwise terms of the compound losses (Dice + CE, Dice + focal).

They read the same :class:`~._overlap.Prepared` inputs as the overlap term: one activation
(``log_softmax`` shared with the Dice probabilities, or the sigmoid's logits), one weight
vector and one class selection. ``pixel_weight`` is the class weight with 0 for the classes
that are not selected, so a pixel of an unselected class adds nothing to the softmax terms,
and an unselected channel adds nothing to the sigmoid terms.

Normalisation. The softmax terms divide by the summed class weight of the valid pixels'
targets, ``sum_i sum_c w'_c g_ci`` (``w'``: the class weight, 0 for the classes that
are not selected): ``sum(w'[y_i])`` for class indices, which is ``F.cross_entropy(weight=w')``,
and the same number for the equivalent one-hot target, so both target forms give one value
(the convention of :func:`visionloss.cross_entropy_loss`; ``F.cross_entropy`` with
probability targets divides by the number of pixels instead, so its two forms disagree once
the weights are not all 1). The sigmoid terms divide by the number of valid elements (valid
pixels x selected channels), as ``F.binary_cross_entropy_with_logits`` and
``torchvision.ops.sigmoid_focal_loss``. Nothing here builds a one-hot tensor of the input's
size from class indices: the target class is gathered.
"""

from __future__ import annotations

from typing import Annotated, Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .._core import numerics
from .._core.declare import DocParts
from .._core.indexing import per_class
from .._core.options import Choice, NonNegative, Number
from .._core.reduction import reduce_loss
from ..errors import OptionError
from ._overlap import (
    EmptyPolicy,
    Fused,
    Prepared,
    class_options,
    dice_score,
    fused_applies,
    fused_measure,
    measure,
    sum_options,
)
from ._tail import reduced_pair_losses


class _TermsReduction(Choice):
    """``"mean"`` or ``"sum"``: the terms of a compound loss have different shapes, so there is
    no ``"none"``."""

    def __init__(self) -> None:
        super().__init__("mean", "sum")

    def __call__(self, value: Any, name: str, fn: str) -> Any:
        if isinstance(value, str) and value == "none":
            raise OptionError(
                f"{fn}: reduction='none' is not defined (the Dice term has one value per "
                "(image, class), the pixel term one per pixel); use 'mean' or 'sum', or call "
                "the terms apart"
            )
        return super().__call__(value, name, fn)


# the pixel terms need logits: no activation="none"
LogitActivation = Annotated[str, Choice("softmax", "sigmoid")]
TermsReduction = Annotated[str, _TermsReduction()]
# sigmoid focal alpha: weight of the positives, 1 - alpha for the negatives, or None (off)
Balance = Annotated[float | None, Number(0, 1, optional=True)]


def compound_options(
    *,
    lambda_dice: NonNegative = 1.0,
    activation: LogitActivation = "softmax",
    empty: EmptyPolicy = "penalize",
    reduction: TermsReduction = "mean",
) -> None:
    """The weight of the Dice term, and the activation, empty-mask policy and reduction of a
    compound loss (no ``activation="none"``, no ``reduction="none"``)."""


COMPOUND_OPTIONS = (compound_options, sum_options, class_options)


PIXEL_DOCS = DocParts(
    args={
        "input": """logits ``(B, C, *spatial)`` with 1 to 3 spatial dims.""",
        "activation": """``"softmax"`` (default) or ``"sigmoid"``; ``"none"`` is refused: the
            pixel term needs logits.""",
        "lambda_dice": """weight of the Dice term, ``>= 0``.""",
        "reduction": """``"mean"`` or ``"sum"`` (each term reduced so, then added); ``"none"``
            is refused since the terms have different shapes.""",
    },
    paragraphs={
        "terms": """Both terms read one activation, one weight vector and one class selection:
            ``weight``, ``include_background``, ``classes`` and ``ignore_index`` apply to the
            Dice term and to the pixel term alike (a pixel of an unselected class, or an
            ignored one, leaves both). The Dice term is :func:`dice_loss` with the same
            options.""",
        "degenerate_terms": """Degenerate cases: as :func:`dice_loss`, for both terms: 0 with a
            graph and zero gradients for an empty input, all pixels ignored or all-zero class
            weights; finite values and gradients for saturated logits.""",
    },
)


def _valid_elements(prep: Prepared) -> Tensor:
    """Valid pixels x selected channels (the sigmoid terms' mean denominator)."""
    return prep.count().sum() * len(prep.classes)


def _target_term(
    prep: Prepared | Fused, logpt: Tensor, gamma: float, reduction: str, fn: str
) -> Tensor:
    """``-w_t (1 - p_t)^gamma log p_t`` from the target class's ``log p_t`` ``(B, N)``."""
    assert prep.index is not None
    idx = prep.index.clamp_min(0)  # ignored pixels (-1) are masked by their weight below
    wt = per_class(prep.pixel_weight, idx)
    if prep.valid is not None:
        wt = wt * prep.valid
    loss = -logpt * numerics.focal_factor(logpt, gamma) if gamma != 0 else -logpt
    return reduce_loss(loss, reduction, fn=fn, weight=wt, denominator=wt.sum())


def softmax_term(prep: Prepared, gamma: float, reduction: str, fn: str) -> Tensor:
    """``-w_t (1 - p_t)^gamma log p_t`` (cross entropy at gamma = 0)."""
    lp = prep.log_prob
    assert lp is not None  # prepare_inputs(log_probs=True) with softmax
    w = prep.pixel_weight
    if prep.index is not None:
        idx = prep.index.clamp_min(0)
        return _target_term(prep, lp.gather(1, idx.unsqueeze(1)).squeeze(1), gamma, reduction, fn)
    g = prep.dense  # zero at ignored pixels
    assert g is not None
    wg = g * w.view(1, -1, 1)  # w'_c g_c: a one-hot pixel weighs w'_y, as its class index
    loss = -(wg * lp * numerics.focal_factor(lp, gamma)).sum(1)
    return reduce_loss(loss, reduction, fn=fn, denominator=wg.sum())


def sigmoid_term(
    prep: Prepared, gamma: float, alpha: float | None, reduction: str, fn: str
) -> Tensor:
    """Binary cross entropy / sigmoid focal loss of every selected channel.

    ``alpha`` (optional) weights positives by ``alpha`` and negatives by ``1 - alpha``. The
    modulating factor is ``(1 - p_t)^gamma`` from ``log p_t`` (``p_t = p g + (1 - p)(1 - g)``,
    torchvision's, in log space for soft targets).
    """
    z = prep.logits
    assert z is not None  # sigmoid
    w = prep.pixel_weight.view(1, -1, 1)
    a_pos, a_neg = (1.0, 1.0) if alpha is None else (alpha, 1.0 - alpha)
    sp_neg = F.softplus(z)  # -log(1 - p), the loss of a negative
    if prep.index is not None:
        # every channel as a negative, then the target channel swapped to a positive
        neg = a_neg * numerics.focal_factor(-sp_neg, gamma) * sp_neg
        idx = prep.index.clamp_min(0)  # ignored pixels (-1) are masked below
        zt = z.gather(1, idx.unsqueeze(1)).squeeze(1)
        sp_pos = F.softplus(-zt)  # -log p of the target channel
        pos_t = a_pos * numerics.focal_factor(-sp_pos, gamma) * sp_pos
        neg_t = neg.gather(1, idx.unsqueeze(1)).squeeze(1)
        per_pixel = (neg * w).sum(1) + per_class(prep.pixel_weight, idx) * (pos_t - neg_t)
    else:
        g = prep.dense
        assert g is not None
        bce = sp_neg - z * g
        alpha_t = a_pos * g + a_neg * (1.0 - g)
        loss = alpha_t * bce * w
        if gamma != 0:
            gc = g.clamp(0.0, 1.0)
            log_pt = torch.logaddexp(gc.log() - F.softplus(-z), torch.log1p(-gc) - sp_neg)
            loss = loss * numerics.focal_factor(log_pt, gamma)
        per_pixel = loss.sum(1)
    return reduce_loss(
        per_pixel, reduction, fn=fn, mask=prep.valid, denominator=_valid_elements(prep)
    )


def compound_loss(
    input: Tensor,
    target: Tensor,
    *,
    fn: str,
    lambda_dice: float,
    lambda_pixel: float,
    gamma: float,
    alpha: float | None,
    empty: str,
    reduction: str,
    **options: Any,
) -> Tensor:
    """``lambda_dice * dice + lambda_pixel * (focal or CE)`` from one :func:`measure` (the
    options were checked by the public function; ``options`` holds those of :func:`measure`)."""
    if alpha is not None and options["activation"] != "sigmoid":
        raise OptionError(
            f"{fn}: alpha (positive / negative balance) applies to activation='sigmoid'; "
            "with softmax, balance classes with weight"
        )
    prep: Fused | Prepared
    if options["activation"] == "softmax" and fused_applies(input, target, "softmax"):
        # class indices: one fused pass gives the Dice sums and log p of the target class
        prep, st, smooth = fused_measure(input, target, fn=fn, log_probs=True, **options)
        assert prep.log_p_target is not None
        pixel = _target_term(prep, prep.log_p_target, gamma, reduction, fn)
    else:
        prep, st, smooth = measure(input, target, fn=fn, log_probs=True, **options)
        if prep.activation == "softmax":
            pixel = softmax_term(prep, gamma, reduction, fn)
        else:
            pixel = sigmoid_term(prep, gamma, alpha, reduction, fn)
    dice = reduced_pair_losses(
        st, smooth, prep.class_weight, score=dice_score, empty=empty, reduction=reduction, fn=fn
    )
    return lambda_dice * dice + lambda_pixel * pixel
