"""Triplet margin loss on explicit (anchor, positive, negative) triplets."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .._core.checks import shape_str
from .._core.declare import loss_function
from .._core.dtypes import compute_dtype
from .._core.options import Bool
from .._core.reduction import reduce_loss
from .._core.registry import register_loss
from ..errors import InputError
from ._common import (
    METRIC_DOCS,
    check_embeddings,
    prepare,
    rowwise_distance,
    triplet_examples,
    triplet_options,
)
from ._mining import hinge


@loss_function(
    METRIC_DOCS,
    options=triplet_options,
    call_hint="this loss takes explicit (anchor, positive, negative) triplets; for "
    "embeddings with labels (pytorch-metric-learning's TripletMarginLoss()(embeddings, "
    "labels) form, with online mining) use visionloss.batch_triplet_loss(embeddings, labels) "
    "or visionloss.BatchTripletLoss",
)
def triplet_margin_loss(
    anchor: Tensor, positive: Tensor, negative: Tensor, *, swap: Bool = False, **options: Any
) -> Tensor:
    r"""Triplet margin loss on explicit triplets.

    .. math::
        \ell_i = \big[m + D(a_i, p_i) - D(a_i, n_i)\big]_+ \quad
        (\text{soft: } \log(1 + e^{m + D(a_i, p_i) - D(a_i, n_i)}))

    With ``swap`` (Balntas et al. 2016) the negative distance is
    :math:`\min(D(a_i, n_i), D(p_i, n_i))`. Distances are computed from exact differences
    (no matrix product) with a gradient of 0 where a Euclidean distance is 0.

    Mapping to ``torch.nn.TripletMarginLoss(margin, p=2, eps=1e-6, swap)``: the same loss, except
    that torch computes :math:`\lVert a - p + \epsilon \rVert` (``eps`` shifts every
    coordinate); ``eps=0`` there gives our values. Hermans' soft margin is
    ``soft=True, margin=0``; pytorch-metric-learning's ``smooth_loss=True`` keeps the margin
    inside the softplus, as ``soft=True`` does here. pytorch-metric-learning's
    ``TripletMarginLoss()(embeddings, labels)`` (triplets mined from a labelled batch) is
    :func:`batch_triplet_loss` (:class:`BatchTripletLoss`); called that way, this loss raises a
    TypeError that says so.

    Args:
        anchor: ``(B, D)`` floating point.
        positive: ``(B, D)``, same class as ``anchor``.
        negative: ``(B, D)``, another class.
        swap: use the distance swap (default False).

    Shape:
        inputs ``(B, D)``; output: scalar, or ``(B,)`` for ``"none"``.

    Returns:
        the loss; float32 for fp16/bf16 inputs. An empty batch gives 0 with a graph.

    Reference:
        Schroff, Kalenichenko and Philbin, *FaceNet*, CVPR 2015, arXiv:1503.03832, Eq. (1);
        Balntas et al., *Learning local feature descriptors with triplets and shallow
        convolutional neural networks*, BMVC 2016 (swap); Hermans et al., arXiv:1703.07737
        (soft margin).

    Example:
        >>> import torch
        >>> a, p, n = torch.zeros(1, 2), torch.tensor([[3.0, 4.0]]), torch.tensor([[0.0, 5.0]])
        >>> triplet_margin_loss(a, p, n, margin=1.0)
        tensor(1.)
    """
    fn = "triplet_margin_loss"
    check_embeddings(anchor, fn, "anchor")
    for name, t in (("positive", positive), ("negative", negative)):
        check_embeddings(t, fn, name)
        if t.shape != anchor.shape:
            raise InputError(
                f"{fn}: expected {name} of shape {shape_str(anchor)} matching anchor, "
                f"got {shape_str(t)}"
            )
    dtype = compute_dtype(anchor, positive, negative)
    a, p, n = (prepare(t, options["normalize"], dtype) for t in (anchor, positive, negative))
    metric = options["metric"]
    d_ap = rowwise_distance(a, p, metric)
    d_an = rowwise_distance(a, n, metric)
    if swap:
        d_an = torch.minimum(d_an, rowwise_distance(p, n, metric))
    loss = hinge(options["margin"] + d_ap - d_an, options["soft"])
    return reduce_loss(loss, options["reduction"], fn=fn)


TripletMarginLoss = register_loss(
    "triplet_margin",
    family="metric",
    function=triplet_margin_loss,
    module="TripletMarginLoss",
    aliases=("triplet",),
    formula="max(0, m + D(a,p) - D(a,n))",
    reference="Schroff et al., FaceNet, CVPR 2015, arXiv:1503.03832",
    examples=triplet_examples,
).module
