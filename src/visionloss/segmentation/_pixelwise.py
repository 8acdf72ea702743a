"""Pixelwise terms of the compound losses (Dice + CE, Dice + focal).

They read the same :class:`~._overlap.Prepared` inputs as the overlap term: one activation
(``log_softmax`` shared with the Dice probabilities, or the sigmoid's logits), one weight
vector and one class selection. ``pixel_weight`` is the class weight with 0 for the classes
that are not selected, so a pixel of an unselected class adds nothing to the softmax terms,
and an unselected channel adds nothing to the sigmoid terms.

Normalisation follows torch: softmax terms with class-index targets divide by the summed
weight of the valid pixels' target classes (``F.cross_entropy(weight=...)``), with dense
targets by the number of valid pixels; sigmoid terms divide by the number of valid elements
(valid pixels x selected channels), as ``F.binary_cross_entropy_with_logits`` and
``torchvision.ops.sigmoid_focal_loss``. Nothing here builds a one-hot tensor of the input's
size from class indices: the target class is gathered.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .._core.checks import check_choice, check_positive
from .._core.reduction import check_reduction, safe_divide
from ._overlap import (
    EMPTY_POLICIES,
    Prepared,
    Smooth,
    dice_score,
    overlap_stats,
    pair_losses,
    parse_smooth,
    prepare_inputs,
    reduce_pairs,
    safe_pow,
)


def _modulating(one_minus_pt: Tensor, gamma: float) -> Tensor:
    """``(1 - p_t) ** gamma`` (exactly 1 for gamma = 0)."""
    if gamma == 0:
        return torch.ones_like(one_minus_pt)
    return safe_pow(one_minus_pt.clamp_min(0.0), gamma)


def _reduce(total: Tensor, denominator: Tensor, reduction: str) -> Tensor:
    return total if reduction == "sum" else safe_divide(total, denominator)


def _valid_elements(prep: Prepared) -> Tensor:
    """Valid pixels x selected channels (the sigmoid terms' mean denominator)."""
    return prep.count().sum() * len(prep.classes)


def softmax_term(prep: Prepared, gamma: float, reduction: str) -> Tensor:
    """``-w_t (1 - p_t)^gamma log p_t`` (cross entropy at gamma = 0)."""
    lp = prep.log_prob
    w = prep.pixel_weight
    if prep.index is not None:
        idx = prep.index.clamp_min(0)  # ignored pixels (-1) are masked by their weight below
        logpt = lp.gather(1, idx.unsqueeze(1)).squeeze(1)
        wt = w[idx]
        if prep.valid is not None:
            wt = wt * prep.valid
        loss = -logpt * _modulating(-torch.expm1(logpt), gamma)
        return _reduce((wt * loss).sum(), wt.sum(), reduction)
    g = prep.dense  # zero at ignored pixels
    loss = -(g * lp * _modulating(1.0 - prep.prob, gamma)) * w.view(1, -1, 1)
    return _reduce(loss.sum(), prep.count().sum(), reduction)


def sigmoid_term(prep: Prepared, gamma: float, alpha: float | None, reduction: str) -> Tensor:
    """Binary cross entropy / sigmoid focal loss of every selected channel.

    ``alpha`` (optional) weights positives by ``alpha`` and negatives by ``1 - alpha``.
    """
    z, p = prep.logits, prep.prob
    w = prep.pixel_weight.view(1, -1, 1)
    a_pos, a_neg = (1.0, 1.0) if alpha is None else (alpha, 1.0 - alpha)
    if prep.index is not None:
        # every channel as a negative, then the target channel swapped to a positive
        neg = a_neg * _modulating(p, gamma) * F.softplus(z)
        idx = prep.index.clamp_min(0)  # ignored pixels (-1) are masked below
        zt = z.gather(1, idx.unsqueeze(1)).squeeze(1)
        pos_t = a_pos * _modulating(torch.sigmoid(-zt), gamma) * F.softplus(-zt)
        neg_t = neg.gather(1, idx.unsqueeze(1)).squeeze(1)
        per_pixel = (neg * w).sum(1) + prep.pixel_weight[idx] * (pos_t - neg_t)
    else:
        g = prep.dense
        bce = F.softplus(z) - z * g
        one_minus_pt = g * torch.sigmoid(-z) + (1.0 - g) * p
        alpha_t = a_pos * g + a_neg * (1.0 - g)
        per_pixel = (alpha_t * _modulating(one_minus_pt, gamma) * bce * w).sum(1)
    if prep.valid is not None:
        per_pixel = per_pixel * prep.valid
    return _reduce(per_pixel.sum(), _valid_elements(prep), reduction)


def compound_loss(
    input: Tensor,
    target: Tensor,
    *,
    fn: str,
    gamma: float,
    alpha: float | None,
    lambda_dice: float,
    lambda_pixel: float,
    pixel_name: str,
    activation: str,
    smooth: Smooth,
    squared: bool,
    per_image: bool,
    weight: Tensor | Sequence[float] | None,
    include_background: bool,
    classes: Sequence[int] | None,
    ignore_index: int | None,
    empty: str,
    reduction: str,
) -> Tensor:
    """``lambda_dice * dice + lambda_pixel * (focal or CE)`` from one :func:`prepare_inputs`."""
    check_reduction(reduction, fn)
    if reduction == "none":
        raise ValueError(
            f"{fn}: reduction='none' is not defined (the Dice term has one value per "
            "(image, class), the pixel term one per pixel); use 'mean' or 'sum', or call "
            "the terms apart"
        )
    check_choice(empty, EMPTY_POLICIES, "empty", fn)
    check_positive(lambda_dice, "lambda_dice", fn, allow_zero=True)
    check_positive(lambda_pixel, pixel_name, fn, allow_zero=True)
    smooth_nr, smooth_dr = parse_smooth(smooth, fn)
    prep = prepare_inputs(
        input,
        target,
        fn=fn,
        activation=activation,
        weight=weight,
        include_background=include_background,
        classes=classes,
        ignore_index=ignore_index,
        log_probs=True,
        allow_none=False,
    )
    if alpha is not None and activation != "sigmoid":
        raise ValueError(
            f"{fn}: alpha (positive / negative balance) applies to activation='sigmoid'; "
            "with softmax, balance classes with weight"
        )
    st = overlap_stats(prep, squared=squared, per_image=per_image)
    loss, counted = pair_losses(dice_score(st, smooth_nr, smooth_dr), st, empty)
    dice = reduce_pairs(loss, counted, prep.class_weight, reduction, fn)
    if activation == "softmax":
        pixel = softmax_term(prep, gamma, reduction)
    else:
        pixel = sigmoid_term(prep, gamma, alpha, reduction)
    return lambda_dice * dice + lambda_pixel * pixel
