"""Efficient-IoU loss (Zhang et al.)."""

from __future__ import annotations

from torch import Tensor

from .._core.registry import register_loss
from . import _geometry as G
from ._common import BoxLossModule, Normalizer, check_common, reduce_boxes


def eiou_loss(
    pred: Tensor,
    target: Tensor,
    *,
    box_format: str = "xyxy",
    weight: Tensor | None = None,
    reduction: str = "mean",
    normalizer: Normalizer = None,
) -> Tensor:
    r"""Efficient-IoU loss: DIoU plus width and height differences over the enclosing box.

    .. math::
        \ell = 1 - \mathrm{IoU} + \frac{\rho^2(\mathbf b, \mathbf b^{gt})}{c^2}
             + \frac{(w - w^{gt})^2}{C_w^2} + \frac{(h - h^{gt})^2}{C_h^2}

    with :math:`C_w, C_h` the width and height of the smallest enclosing box and
    :math:`c^2 = C_w^2 + C_h^2`. This is the Efficient-IoU of Zhang et al.; mmdetection's
    ``EIoULoss`` is a different loss (Extended-IoU, a smooth IoU loss).

    Degenerate cases: as :func:`iou_loss` for no boxes, all-zero weights and the IoU term (0,
    with zero gradient, for a zero-area box or inverted corners). The width and height terms
    give no gradient through a zero width or height (sizes are clamped at 0): a point box at the
    target's centre is a stationary point with loss 3 (each size term is 1) and zero gradient.
    Two identical zero-area boxes give 1 (not 0) with zero gradient. For inverted corners the
    enclosing box spans all four corners on each axis, so each distance term stays at most 1
    and the loss at most 4.

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
        Zhang et al., *Focal and Efficient IOU Loss for Accurate Bounding Box Regression*,
        Neurocomputing 2022, arXiv:2101.08158, Eq. (10).

    Example:
        >>> import torch
        >>> eiou_loss(torch.tensor([[0.0, 0.0, 2.0, 1.0]]), torch.tensor([[0.0, 0.0, 1.0, 1.0]]))
        tensor(0.8000)
    """
    fn = "eiou_loss"
    check_common(box_format, reduction, fn)
    p, t = G.prepare_pair(pred, target, box_format, fn)
    loss = G.variant_loss("eiou", p, t, G.overlap(p, t))
    return reduce_boxes(loss, weight=weight, reduction=reduction, normalizer=normalizer, fn=fn)


class EIoULoss(BoxLossModule):
    """Module form of :func:`eiou_loss`."""

    function = eiou_loss

    def __init__(self, *, box_format: str = "xyxy", reduction: str = "mean") -> None:
        super().__init__(box_format=box_format, reduction=reduction)


register_loss(
    "eiou",
    family="boxes",
    function=eiou_loss,
    module=EIoULoss,
    formula="1 - IoU + rho^2/c^2 + (w - w_gt)^2/C_w^2 + (h - h_gt)^2/C_h^2",
    reference="Zhang et al., Focal-EIoU, Neurocomputing 2022, arXiv:2101.08158",
)
