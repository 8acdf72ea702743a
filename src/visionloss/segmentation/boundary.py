"""Boundary loss (Kervadec et al.): probabilities integrated against a signed distance map."""

from __future__ import annotations

from typing import Annotated, Any

from torch import Tensor

from .._core.declare import loss_function
from .._core.options import PER_CALL
from .._core.registry import register_loss
from ._overlap import OVERLAP_DOCS, activation_options, class_options, reduce_pairs
from ._shape import (
    SHAPE_DOCS,
    Spacing,
    channel_maps,
    selected_inputs,
    shape_examples,
    shape_reduction,
    signed_map,
    spacing_of,
)

_FN = "boundary_loss"


@loss_function(
    OVERLAP_DOCS | SHAPE_DOCS, options=(activation_options, class_options, shape_reduction)
)
def boundary_loss(
    input: Tensor,
    target: Tensor,
    *,
    distance_map: Annotated[Tensor | None, PER_CALL] = None,
    spacing: Spacing = None,
    **options: Any,
) -> Tensor:
    r"""Boundary loss: the mean of the class probabilities weighted by the target's signed
    distance map.

    .. math::
        \ell_{bk} = \frac{1}{n_b} \sum_{i} p_{bki}\, \phi_{bki}, \qquad
        L = \frac{\sum_{b,k} w_k\, \ell_{bk}}{\sum_{b,k} w_k}

    over the ``n_b`` valid pixels, with :math:`\phi` the signed distance map of the target's
    class mask (:func:`signed_distance_map`: positive outside, :math:`1 - d` inside). The loss
    is minimal (negative) when the probability mass lies inside the mask: it measures the
    boundary's displacement integrated over the region between the two boundaries, without
    the region terms of Dice. Kervadec et al. add it to a region loss (Dice) with a weight
    that grows during training (:math:`\alpha L_{dice} + (1-\alpha) L_B`, ``alpha`` from 1
    down by 0.01 per epoch); alone it is unbounded below and has no minimum at the target.

    The maps are computed from ``target`` on its device (exact Euclidean transform, see
    :func:`signed_distance_map`; a soft target is thresholded at 0.5) unless ``distance_map``
    is given. The paper scores the foreground only: pass ``include_background=False`` with
    softmax (MONAI's default keeps every channel, as here).

    {{masks}}

    {{pair_shape}}

    Reference:
        Kervadec et al., *Boundary loss for highly unbalanced segmentation*, MIDL 2019 /
        Medical Image Analysis 2021, arXiv:1812.07032.

    Example:
        >>> import torch
        >>> t = torch.tensor([[0, 0, 1, 1, 1, 0]])  # (B, W) class indices
        >>> inside = torch.tensor([[[1.0, 1, 0, 0, 0, 1], [0.0, 0, 1, 1, 1, 0]]])
        >>> boundary_loss(inside, t, activation="none", classes=[1])  # (0 - 1 + 0) / 6
        tensor(-0.1667)
    """
    sp = selected_inputs(input, target, _FN, options)
    dm = channel_maps(distance_map, sp, input, _FN)
    if dm is None:
        nd = len(sp.spatial)
        dm = signed_map(sp.target > 0.5, spacing_of(spacing, nd, _FN), sp.prob.dtype)
    loss = sp.pixel_mean(sp.prob * dm)
    return reduce_pairs(loss, sp.pair_counted(), sp.prep.class_weight, options["reduction"], _FN)


BoundaryLoss = register_loss(
    "boundary",
    family="segmentation",
    function=boundary_loss,
    module="BoundaryLoss",
    formula="mean_i p_i phi_G(i), phi the signed distance map of the target",
    reference="Kervadec et al., Boundary loss, MIDL 2019, arXiv:1812.07032",
    examples=shape_examples,
).module
