"""L1 loss on box coordinates."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .._core.declare import loss_function
from .._core.registry import register_loss
from ..regression import l1_loss
from . import _common as C


@loss_function(C.BOX_DOCS, options=C.COORDINATE_OPTIONS)
def box_l1_loss(pred: Tensor, target: Tensor, **options: Any) -> Tensor:
    r"""L1 distance of box coordinates, summed over the four coordinates of each box.

    .. math:: \ell = \sum_{k=1}^{4} |b_k - b_k^{gt}|

    in the coordinates of ``loss_format`` (e.g. DETR's ``"cxcywh"``), the boxes being given in
    ``box_format``. With ``normalizer=num_boxes`` this is DETR's box L1 term.

    {{empty}}
    Coordinates are compared as they are: zero-area boxes and inverted corners are ordinary
    values, and identical boxes give 0. The loss is computed in the boxes' units (it is not
    scale-invariant): tiny and subnormal coordinates are exact, and a difference that exceeds
    the dtype's range gives ``inf``.

    {{shape}}

    Reference:
        Girshick, *Fast R-CNN*, arXiv:1504.08083; Carion et al., *End-to-End Object Detection
        with Transformers* (DETR), ECCV 2020, arXiv:2005.12872.

    Example:
        >>> import torch
        >>> box_l1_loss(torch.tensor([[0.0, 0.0, 2.0, 2.0]]), torch.tensor([[1.0, 0.0, 3.0, 2.0]]),
        ...             loss_format="cxcywh")
        tensor(1.)
    """
    return C.coordinate_loss(l1_loss, pred, target, fn="box_l1_loss", **options)


BoxL1Loss = register_loss(
    "box_l1",
    family="boxes",
    function=box_l1_loss,
    module="BoxL1Loss",
    formula="sum_k |b_k - b_k_gt| per box",
    reference="Girshick, Fast R-CNN, arXiv:1504.08083; Carion et al., DETR, arXiv:2005.12872",
    examples=C.box_examples,
).module
