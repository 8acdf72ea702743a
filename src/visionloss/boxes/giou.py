"""Generalized IoU loss."""

from __future__ import annotations

from torch import Tensor

from .._core.registry import register_loss
from . import _geometry as G
from ._common import BoxLossModule, Normalizer, check_common, reduce_boxes


def giou_loss(
    pred: Tensor,
    target: Tensor,
    *,
    box_format: str = "xyxy",
    weight: Tensor | None = None,
    reduction: str = "mean",
    normalizer: Normalizer = None,
) -> Tensor:
    r"""Generalized IoU loss ``1 - GIoU``, in ``[0, 2)``.

    .. math::
        \ell = 1 - \mathrm{IoU} + \frac{|C \setminus (B \cup B^{gt})|}{|C|}

    with :math:`C` the smallest box enclosing both. Unlike the IoU loss it has a gradient for
    disjoint boxes (it grows the prediction towards the target).

    Degenerate cases: as :func:`iou_loss` for no boxes, all-zero weights and the IoU term (0,
    with zero gradient, for a zero-area box or inverted corners). The enclosing-box term is 0
    when the enclosing box has zero area too, so two identical zero-area boxes give 1 (not 0)
    with zero gradient; two disjoint zero-area boxes with a non-empty enclosing box give 2. The
    loss stays in ``[0, 2]``, inverted corners included. A point box inside the target gets no
    gradient (loss 1).

    Args:
        pred: ``(..., 4)`` predicted boxes, floating point.
        target: ``(..., 4)`` target boxes, same shape.
        box_format: ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``.
        weight: optional per-box weight broadcastable to ``(...)``.
        reduction: ``"mean"`` (over boxes), ``"sum"`` or ``"none"``.
        normalizer: with ``"mean"``, divide the sum by it (by 1 where it is <= 0).

    Shape:
        ``pred``, ``target``: ``(..., 4)``; output: scalar, or ``(...)`` for ``"none"``.

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Rezatofighi et al., *Generalized Intersection over Union*, CVPR 2019, arXiv:1902.09630.

    Example:
        >>> import torch
        >>> giou_loss(torch.tensor([[0.0, 0.0, 1.0, 1.0]]), torch.tensor([[1.0, 1.0, 2.0, 2.0]]))
        tensor(1.5000)
    """
    fn = "giou_loss"
    check_common(box_format, reduction, fn)
    p, t = G.prepare_pair(pred, target, box_format, fn)
    loss = G.variant_loss("giou", p, t, G.overlap(p, t))
    return reduce_boxes(loss, weight=weight, reduction=reduction, normalizer=normalizer, fn=fn)


class GIoULoss(BoxLossModule):
    """Module form of :func:`giou_loss`."""

    function = giou_loss

    def __init__(self, *, box_format: str = "xyxy", reduction: str = "mean") -> None:
        super().__init__(box_format=box_format, reduction=reduction)


register_loss(
    "giou",
    family="boxes",
    function=giou_loss,
    module=GIoULoss,
    formula="1 - IoU + |C - (A u B)| / |C|",
    reference="Rezatofighi et al., GIoU, CVPR 2019, arXiv:1902.09630",
)
