"""Hausdorff distance loss, distance-transform estimate (Karimi and Salcudean)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .._core.declare import loss_function
from .._core.options import Bool, NonNegative
from .._core.registry import register_loss
from ._overlap import OVERLAP_DOCS
from ._shape import (
    SHAPE_DOCS,
    SHAPE_OPTIONS,
    Spacing,
    selected_inputs,
    shape_examples,
    spacing_of,
    unsigned_map,
)

_FN = "hausdorff_dt_loss"


@loss_function(OVERLAP_DOCS | SHAPE_DOCS, options=SHAPE_OPTIONS)
def hausdorff_dt_loss(
    input: Tensor,
    target: Tensor,
    *,
    alpha: NonNegative = 2.0,
    log: Bool = False,
    spacing: Spacing = None,
    **options: Any,
) -> Tensor:
    r"""Hausdorff distance loss, distance-transform estimate: squared errors weighted by the
    distances to the predicted and the target boundaries.

    .. math::
        \ell_{bk} = \frac{1}{n_b} \sum_i (p_{bki} - g_{bki})^2
            \left(d_P(i)^\alpha + d_G(i)^\alpha\right), \qquad
        L = \frac{\sum_{b,k} w_k\, \ell_{bk}}{\sum_{b,k} w_k}

    over the ``n_b`` valid pixels, with :math:`d_G` the distance of each pixel to the boundary
    of the target mask (inside and outside) and :math:`d_P` the same for the predicted mask
    :math:`p > 0.5`, both exact Euclidean transforms computed on the input's device without
    gradient (``spacing`` for anisotropic pixels). Errors far from either boundary weigh most,
    which is what the Hausdorff distance (the largest boundary error) measures. With
    ``log=True`` each pair's value is :math:`\log(1 + \ell_{bk})` (MONAI's
    ``LogHausdorffDTLoss``, which takes the log of the mean over all pairs; the two agree for
    one image and one class).

    {{masks}}

    Args:
        alpha: exponent of the distances, ``>= 0`` (2 in the paper).
        log: take :math:`\log(1 + \ell)` of each pair (gentler gradients early in training).

    {{pair_shape}}

    Reference:
        {{hausdorff_reference}}

    Example:
        >>> import torch
        >>> t = torch.tensor([[0, 0, 1, 1, 0, 0]])  # (B, W) class indices
        >>> p = torch.tensor([[[1.0, 1, 0, 0, 0, 1], [0.0, 0, 1, 1, 1, 0]]])
        >>> hausdorff_dt_loss(p, t, activation="none", classes=[1])  # (1 * (1 + 1)) / 6
        tensor(0.3333)
    """
    sp = selected_inputs(input, target, _FN, options)
    spc = spacing_of(spacing, len(sp.spatial), _FN)
    with torch.no_grad():
        pred_mask = sp.prob > 0.5
        if sp.valid is not None:
            pred_mask = pred_mask & sp.valid
        d_pred = unsigned_map(pred_mask, spc, sp.prob.dtype)
        d_true = unsigned_map(sp.target > 0.5, spc, sp.prob.dtype)
        if alpha == 1.0:
            weight = d_pred + d_true
        else:
            weight = d_pred.pow(alpha) + d_true.pow(alpha)
    loss = sp.pixel_mean((sp.prob - sp.target).square() * weight)
    if log:
        loss = torch.log1p(loss)
    return sp.reduce(loss, options["reduction"], _FN)


HausdorffDTLoss = register_loss(
    "hausdorff_dt",
    family="segmentation",
    function=hausdorff_dt_loss,
    module="HausdorffDTLoss",
    formula="mean_i (p - g)^2 (d_P^alpha + d_G^alpha); log(1 + .) with log=True",
    reference="Karimi and Salcudean, IEEE TMI 2019, arXiv:1904.10030",
    examples=shape_examples,
).module
