"""L1 loss on box coordinates."""

from __future__ import annotations

from torch import Tensor

from .._core.registry import register_loss
from ..regression import l1_loss
from ._common import BoxLossModule, Normalizer, coordinate_loss


def box_l1_loss(
    pred: Tensor,
    target: Tensor,
    *,
    box_format: str = "xyxy",
    loss_format: str | None = None,
    weight: Tensor | None = None,
    reduction: str = "mean",
    normalizer: Normalizer = None,
) -> Tensor:
    r"""L1 distance of box coordinates, summed over the four coordinates of each box.

    .. math:: \ell = \sum_{k=1}^{4} |b_k - b_k^{gt}|

    in the coordinates of ``loss_format`` (e.g. DETR's ``"cxcywh"``), the boxes being given in
    ``box_format``. With ``normalizer=num_boxes`` this is DETR's box L1 term.

    Degenerate cases: no boxes give 0 for ``"mean"`` and ``"sum"``, attached to the graph, and a
    ``(0,)`` tensor for ``"none"``; an all-zero ``weight`` gives 0 with zero gradients.
    Coordinates are compared as they are: zero-area boxes and inverted corners are ordinary
    values, and identical boxes give 0.

    Args:
        pred: ``(..., 4)`` predicted boxes, floating point.
        target: ``(..., 4)`` target boxes, same shape.
        box_format: format of ``pred`` and ``target`` (default ``"xyxy"``).
        loss_format: format in which coordinates are compared (default: ``box_format``).
        weight: optional per-box weight broadcastable to ``(...)``.
        reduction: ``"mean"`` (over boxes), ``"sum"`` or ``"none"``.
        normalizer: with ``"mean"``, divide the sum by it (by 1 where it is <= 0).

    Shape:
        ``pred``, ``target``: ``(..., 4)``; output: scalar, or ``(...)`` for ``"none"``.

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Girshick, *Fast R-CNN*, arXiv:1504.08083; Carion et al., *End-to-End Object Detection
        with Transformers* (DETR), ECCV 2020, arXiv:2005.12872.

    Example:
        >>> import torch
        >>> box_l1_loss(torch.tensor([[0.0, 0.0, 2.0, 2.0]]), torch.tensor([[1.0, 0.0, 3.0, 2.0]]),
        ...             loss_format="cxcywh")
        tensor(1.)
    """
    return coordinate_loss(
        pred,
        target,
        l1_loss,
        box_format=box_format,
        loss_format=loss_format,
        weight=weight,
        reduction=reduction,
        normalizer=normalizer,
        fn="box_l1_loss",
    )


class BoxL1Loss(BoxLossModule):
    """Module form of :func:`box_l1_loss`."""

    function = box_l1_loss

    def __init__(
        self, *, box_format: str = "xyxy", loss_format: str | None = None, reduction: str = "mean"
    ) -> None:
        super().__init__(box_format=box_format, loss_format=loss_format, reduction=reduction)


register_loss(
    "box_l1",
    family="boxes",
    function=box_l1_loss,
    module=BoxL1Loss,
    formula="sum_k |b_k - b_k_gt| per box",
    reference="Girshick, Fast R-CNN, arXiv:1504.08083; Carion et al., DETR, arXiv:2005.12872",
)
