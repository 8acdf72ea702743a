"""Hausdorff distance loss, erosion estimate (Karimi and Salcudean)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .._core.declare import loss_function
from .._core.options import NonNegative
from .._core.registry import register_loss
from ._overlap import OVERLAP_DOCS
from ._shape import (
    SHAPE_DOCS,
    SHAPE_OPTIONS,
    Erosions,
    erosion_estimate,
    selected_inputs,
    shape_examples,
)

_FN = "hausdorff_er_loss"


@loss_function(OVERLAP_DOCS | SHAPE_DOCS, options=SHAPE_OPTIONS)
def hausdorff_er_loss(
    input: Tensor,
    target: Tensor,
    *,
    alpha: NonNegative = 2.0,
    erosions: Erosions = 10,
    **options: Any,
) -> Tensor:
    r"""Hausdorff distance loss, erosion estimate: repeated soft erosions of the squared error,
    later (deeper) ones weighted more.

    .. math::
        E_0 = (p - g)^2, \quad E_{j+1} = \mathcal{N}\left(\mathrm{relu}_{0.5}(E_j * B)\right),
        \quad \ell_{bk} = \frac{1}{n_b} \sum_i \sum_{j=1}^{J} j^\alpha\, E_{j}(i)

    with :math:`B` the cross kernel (the centre and its face neighbours, each
    :math:`1/(2d+1)`), :math:`\mathrm{relu}_{0.5}(x) = x - 0.5` where :math:`x \ge 0.5` and 0
    elsewhere, and :math:`\mathcal{N}` a min-max normalisation over each (image, class)'s
    pixels (skipped when the map is constant). An error region survives ``j`` erosions only if
    it is about ``j`` pixels thick, so the sum grows with the largest boundary error, like the
    Hausdorff distance, without any distance transform. Errors at ignored pixels are zeroed
    before the erosions. The value is a unitless surrogate (kornia's ``HausdorffERLoss``:
    equal for 2-D and 3-D inputs, see the tests).

    Degenerate cases: a perfect prediction gives 0; an all-ignored batch gives 0 with a graph
    and zero gradients; every value and gradient is finite.

    Args:
        alpha: exponent of the erosion weight ``j^alpha``, ``>= 0`` (2 in the paper).
        erosions: number of erosions ``J``, an int ``>= 0`` (10 in the paper and kornia).

    {{pair_shape}}

    Reference:
        {{hausdorff_reference}}

    Example:
        >>> import torch
        >>> t = torch.tensor([[[0, 0, 1, 1]]])
        >>> p = torch.tensor([[[[1.0, 1, 0, 0]], [[0.0, 0, 1, 1]]]])
        >>> hausdorff_er_loss(p, t, activation="none")  # perfect
        tensor(0.)
    """
    sp = selected_inputs(input, target, _FN, options)
    bound = (sp.prob - sp.target).square()
    if sp.valid is not None:
        bound = torch.where(sp.valid, bound, bound.new_zeros(()))
    loss = sp.pixel_mean(erosion_estimate(bound, erosions, alpha))
    return sp.reduce(loss, options["reduction"], _FN)


HausdorffERLoss = register_loss(
    "hausdorff_er",
    family="segmentation",
    function=hausdorff_er_loss,
    module="HausdorffERLoss",
    formula="mean_i sum_j j^alpha E_j, E_j the j-th soft erosion of (p - g)^2",
    reference="Karimi and Salcudean, IEEE TMI 2019, arXiv:1904.10030",
    examples=shape_examples,
).module
