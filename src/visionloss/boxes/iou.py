"""IoU loss (UnitBox): linear, square or log of the intersection over union."""

from __future__ import annotations

from torch import Tensor

from .._core.checks import check_choice, check_positive
from .._core.registry import register_loss
from . import _geometry as G
from ._common import BoxLossModule, Normalizer, check_common, reduce_boxes

MODES = ("linear", "square", "log")


def iou_loss(
    pred: Tensor,
    target: Tensor,
    *,
    mode: str = "linear",
    eps: float = 1e-6,
    box_format: str = "xyxy",
    weight: Tensor | None = None,
    reduction: str = "mean",
    normalizer: Normalizer = None,
) -> Tensor:
    r"""IoU loss: ``1 - IoU`` (linear), ``1 - IoU^2`` (square) or ``-ln IoU`` (log, UnitBox).

    .. math::
        \mathrm{IoU} = \frac{|B \cap B^{gt}|}{|B \cup B^{gt}|},\qquad
        \ell = 1 - \mathrm{IoU} \;\big|\; 1 - \mathrm{IoU}^2 \;\big|\;
               -\ln \max(\mathrm{IoU}, \varepsilon)

    Disjoint boxes have IoU 0 and no gradient (the reason for GIoU / DIoU).

    Degenerate cases: no boxes give 0 for ``"mean"`` and ``"sum"``, attached to the graph, and a
    ``(0,)`` tensor for ``"none"``; an all-zero ``weight`` gives 0 with zero gradients. A
    zero-area box, or one with inverted corners (``x2 < x1`` or ``y2 < y1``, counted as empty),
    has IoU 0 with every box, itself included (an empty union gives 0, not NaN), and the IoU
    then has zero gradient: the loss is 1 (``"linear"``, ``"square"``) or ``-ln eps``
    (``"log"``), so two identical zero-area boxes give 1, not 0.

    Args:
        pred: ``(..., 4)`` predicted boxes, floating point.
        target: ``(..., 4)`` target boxes, same shape.
        mode: ``"linear"`` (default), ``"square"`` or ``"log"``.
        eps: floor of the IoU inside the log (log mode only), ``> 0``.
        box_format: ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``.
        weight: optional per-box weight broadcastable to ``(...)``.
        reduction: ``"mean"`` (over boxes), ``"sum"`` or ``"none"``.
        normalizer: with ``"mean"``, divide the sum by it (by 1 where it is <= 0) instead of the
            number of boxes (e.g. the number of positive anchors; a tensor is fine).

    Shape:
        ``pred``, ``target``: ``(..., 4)``; output: scalar, or ``(...)`` for ``"none"``.

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Yu et al., *UnitBox: An Advanced Object Detection Network*, ACM MM 2016,
        arXiv:1608.01471.

    Example:
        >>> import torch
        >>> iou_loss(torch.tensor([[0.0, 0.0, 2.0, 2.0]]), torch.tensor([[1.0, 0.0, 3.0, 2.0]]))
        tensor(0.6667)
    """
    fn = "iou_loss"
    check_common(box_format, reduction, fn)
    check_choice(mode, MODES, "mode", fn)
    check_positive(eps, "eps", fn)
    p, t = G.prepare_pair(pred, target, box_format, fn)
    iou = G.overlap(p, t).iou
    if mode == "linear":
        loss = 1 - iou
    elif mode == "square":
        loss = 1 - iou.square()
    else:
        loss = -iou.clamp_min(eps).log()
    return reduce_boxes(loss, weight=weight, reduction=reduction, normalizer=normalizer, fn=fn)


class IoULoss(BoxLossModule):
    """Module form of :func:`iou_loss`."""

    function = iou_loss

    def __init__(
        self,
        *,
        mode: str = "linear",
        eps: float = 1e-6,
        box_format: str = "xyxy",
        reduction: str = "mean",
    ) -> None:
        check_choice(mode, MODES, "mode", "IoULoss")
        super().__init__(mode=mode, eps=eps, box_format=box_format, reduction=reduction)


register_loss(
    "iou",
    family="boxes",
    function=iou_loss,
    module=IoULoss,
    formula="1 - IoU | 1 - IoU^2 | -ln IoU",
    reference="Yu et al., UnitBox, ACM MM 2016, arXiv:1608.01471",
)
