"""Shared front and back end of the box losses: the reduction with per-box weights and the
RetinaNet-style ``normalizer``, and the base of their Modules."""

from __future__ import annotations

from torch import Tensor

from .._core.checks import check_broadcastable, check_tensor
from .._core.module import LossModule
from .._core.reduction import check_reduction, reduce_loss
from ._geometry import check_format, from_corners, prepare_pair

Normalizer = Tensor | float | None


def check_common(box_format: str, reduction: str, fn: str) -> None:
    """Validate the options every box loss shares (before any work)."""
    check_format(box_format, fn)
    check_reduction(reduction, fn)


def reduce_boxes(
    loss: Tensor,
    *,
    weight: Tensor | None,
    reduction: str,
    normalizer: Normalizer,
    fn: str,
) -> Tensor:
    """Reduce a per-box loss of shape ``(...)``.

    ``weight`` (broadcastable to ``(...)``) multiplies each box's loss; ``"mean"`` divides the
    weighted sum by the number of boxes, or by ``normalizer`` (1 where it is <= 0) when one
    (e.g. the number of positive anchors, possibly a tensor) is given.
    """
    if weight is not None:
        check_tensor(weight, "weight", fn, floating=True)
        check_broadcastable(weight, loss.shape, "weight", fn)
        weight = weight.to(loss.dtype)
    return reduce_loss(loss, reduction, fn=fn, weight=weight, normalizer=normalizer)


class BoxLossModule(LossModule):
    """Module form of a box loss: options at construction; ``weight`` and ``normalizer`` per
    call (``module(pred, target, weight=w, normalizer=n)``)."""

    def __init__(self, *, box_format: str = "xyxy", reduction: str = "mean", **options) -> None:
        check_format(box_format, type(self).__name__)
        super().__init__(box_format=box_format, reduction=reduction, **options)


def coordinate_loss(
    pred: object,
    target: object,
    elementwise,
    *,
    box_format: str,
    loss_format: str | None,
    weight: Tensor | None,
    reduction: str,
    normalizer: Normalizer,
    fn: str,
) -> Tensor:
    """Per-box sum over the four coordinates of ``elementwise(pred, target, reduction="none")``
    (a loss of the regression family), the boxes first converted to ``loss_format``."""
    check_common(box_format, reduction, fn)
    loss_format = (
        box_format if loss_format is None else check_format(loss_format, fn, "loss_format")
    )
    p, t = prepare_pair(pred, target, box_format, fn)
    if loss_format == box_format:  # no round trip through the corners
        per_coord = elementwise(pred, target, reduction="none")
    else:
        per_coord = elementwise(
            from_corners(*p, loss_format), from_corners(*t, loss_format), reduction="none"
        )
    return reduce_boxes(
        per_coord.sum(-1), weight=weight, reduction=reduction, normalizer=normalizer, fn=fn
    )
