"""Focal-EIoU loss (Zhang et al.)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .._core import numerics
from .._core.declare import loss_function
from .._core.options import Bool, Positive
from .._core.registry import register_loss
from . import _common as C
from . import _geometry as G


def _focal_eiou_terms(b: C.Pair, *, gamma: float, detach_weight: bool) -> Tensor:
    ov = G.overlap(b.p, b.t)
    focus = numerics.pow(ov.iou.detach() if detach_weight else ov.iou, gamma)
    return focus * G.variant_loss("eiou", b.p, b.t, ov)


@loss_function(C.BOX_DOCS, options=C.box_options)
def focal_eiou_loss(
    pred: Tensor,
    target: Tensor,
    *,
    gamma: Positive = 0.5,
    detach_weight: Bool = True,
    **options: Any,
) -> Tensor:
    r"""Focal-EIoU loss: the EIoU loss re-weighted by ``IoU^gamma`` so that high-quality
    (high-IoU) boxes dominate the regression.

    .. math::
        \ell = \mathrm{IoU}^{\gamma}\, \mathcal L_{EIoU}

    By default the factor :math:`\mathrm{IoU}^\gamma` is a weight (no gradient flows through
    it, ``detach_weight=True``); ``detach_weight=False`` differentiates the product. The paper normalises a batch by the sum of its weights; pass
    ``normalizer=box_iou(pred, target, paired=True).pow(gamma).sum()`` for that.

    {{degenerate}}
    Any pair with IoU 0 (zero-area or inverted boxes, disjoint boxes) gives 0 with zero
    gradient, also with ``detach_weight=False``.

    {{scale}}

    Args:
        gamma: focusing exponent ``> 0`` (default 0.5, the paper's choice).
        detach_weight: hold ``IoU^gamma`` constant (default ``True``).

    {{shape}}

    Reference:
        Zhang et al., *Focal and Efficient IOU Loss for Accurate Bounding Box Regression*,
        Neurocomputing 2022, arXiv:2101.08158, Eq. (13).

    Example:
        >>> import torch
        >>> focal_eiou_loss(torch.tensor([[0.0, 0.0, 2.0, 1.0]]),
        ...                 torch.tensor([[0.0, 0.0, 1.0, 1.0]]), gamma=1.0)
        tensor(0.4000)
    """
    return C.box_loss(
        _focal_eiou_terms,
        pred,
        target,
        fn="focal_eiou_loss",
        gamma=gamma,
        detach_weight=detach_weight,
        **options,
    )


FocalEIoULoss = register_loss(
    "focal_eiou",
    family="boxes",
    function=focal_eiou_loss,
    module="FocalEIoULoss",
    formula="IoU^gamma * L_EIoU",
    reference="Zhang et al., Focal-EIoU, Neurocomputing 2022, arXiv:2101.08158",
    examples=C.box_examples,
).module
