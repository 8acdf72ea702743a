"""MPDIoU loss (Ma & Xu): corner distances normalised by the image size."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .._core.checks import shape_str, values_checkable
from .._core.registry import register_loss
from . import _geometry as G
from ._common import BoxLossModule, Normalizer, check_common, reduce_boxes

ImageSize = Tensor | Sequence[float]


def _image_diag2(image_size: ImageSize | None, like: Tensor, fn: str) -> Tensor:
    """``H^2 + W^2`` from ``(H, W)`` (a pair of numbers or a ``(..., 2)`` tensor)."""
    if image_size is None:
        raise ValueError(f"{fn}: expected image_size=(H, W) (MPDIoU normalises by the image)")
    size = torch.as_tensor(image_size, dtype=like.dtype, device=like.device)
    if size.dim() == 0 or size.shape[-1] != 2:
        raise ValueError(f"{fn}: expected image_size (H, W) or (..., 2), got {shape_str(size)}")
    if values_checkable(size) and bool((size <= 0).any()):
        raise ValueError(f"{fn}: expected a positive image_size, got {size.tolist()}")
    height, width = size.unbind(-1)
    return height.square() + width.square()


def mpdiou_loss(
    pred: Tensor,
    target: Tensor,
    *,
    image_size: ImageSize | None = None,
    box_format: str = "xyxy",
    weight: Tensor | None = None,
    reduction: str = "mean",
    normalizer: Normalizer = None,
) -> Tensor:
    r"""MPDIoU loss: IoU loss plus the squared distances of the top-left and bottom-right
    corners, normalised by the squared diagonal of the input image.

    .. math::
        \ell = 1 - \mathrm{IoU} + \frac{d_1^2 + d_2^2}{W^2 + H^2},\quad
        d_1^2 = (x_1 - x_1^{gt})^2 + (y_1 - y_1^{gt})^2,\
        d_2^2 = (x_2 - x_2^{gt})^2 + (y_2 - y_2^{gt})^2

    Degenerate cases: as :func:`iou_loss` for no boxes, all-zero weights and the IoU term (0,
    with zero gradient, for a zero-area box or inverted corners). The corner-distance term moves
    the corners of a zero-area box towards the target's (finite gradients); two identical
    zero-area boxes give 1 (not 0) with zero gradient.

    Args:
        pred: ``(..., 4)`` predicted boxes, floating point.
        target: ``(..., 4)`` target boxes, same shape.
        image_size: ``(H, W)`` of the input image (required), or a ``(..., 2)`` tensor
            broadcastable to the boxes for images of different sizes.
        box_format: ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``.
        weight: optional per-box weight broadcastable to ``(...)``.
        reduction: ``"mean"`` (over boxes), ``"sum"`` or ``"none"``.
        normalizer: with ``"mean"``, divide the sum by it (by 1 where it is <= 0).

    Shape:
        ``pred``, ``target``: ``(..., 4)``; output: scalar, or ``(...)`` for ``"none"``.

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Ma & Xu, *MPDIoU: A Loss for Efficient and Accurate Bounding Box Regression*,
        arXiv:2307.07662 (2023), Eqs. (1)-(3).

    Example:
        >>> import torch
        >>> mpdiou_loss(torch.tensor([[0.0, 0.0, 2.0, 2.0]]), torch.tensor([[1.0, 0.0, 3.0, 2.0]]),
        ...             image_size=(4, 3))
        tensor(0.7467)
    """
    fn = "mpdiou_loss"
    check_common(box_format, reduction, fn)
    p, t = G.prepare_pair(pred, target, box_format, fn)
    diag2 = _image_diag2(image_size, p.x1, fn)
    loss = 1 - G.overlap(p, t).iou + G.mpdiou_penalty(p, t, diag2)
    return reduce_boxes(loss, weight=weight, reduction=reduction, normalizer=normalizer, fn=fn)


class MPDIoULoss(BoxLossModule):
    """Module form of :func:`mpdiou_loss` (``image_size`` at construction or per call)."""

    function = mpdiou_loss

    def __init__(
        self,
        *,
        image_size: ImageSize | None = None,
        box_format: str = "xyxy",
        reduction: str = "mean",
    ) -> None:
        if isinstance(image_size, (list, tuple)):
            image_size = tuple(float(s) for s in image_size)
        super().__init__(image_size=image_size, box_format=box_format, reduction=reduction)


register_loss(
    "mpdiou",
    family="boxes",
    function=mpdiou_loss,
    module=MPDIoULoss,
    formula="1 - IoU + (d1^2 + d2^2) / (W^2 + H^2)",
    reference="Ma & Xu, MPDIoU, arXiv:2307.07662",
)
