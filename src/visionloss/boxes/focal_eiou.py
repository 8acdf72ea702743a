"""Focal-EIoU loss (Zhang et al.)."""

from __future__ import annotations

from torch import Tensor

from .._core.checks import check_positive
from .._core.registry import register_loss
from . import _geometry as G
from ._common import BoxLossModule, Normalizer, check_common, reduce_boxes


def focal_eiou_loss(
    pred: Tensor,
    target: Tensor,
    *,
    gamma: float = 0.5,
    detach_weight: bool = True,
    box_format: str = "xyxy",
    weight: Tensor | None = None,
    reduction: str = "mean",
    normalizer: Normalizer = None,
) -> Tensor:
    r"""Focal-EIoU loss: the EIoU loss re-weighted by ``IoU^gamma`` so that high-quality
    (high-IoU) boxes dominate the regression.

    .. math::
        \ell = \mathrm{IoU}^{\gamma}\, \mathcal L_{EIoU}

    By default the factor :math:`\mathrm{IoU}^\gamma` is a weight (no gradient flows through
    it, ``detach_weight=True``), as in the common implementations; ``detach_weight=False``
    differentiates the product. The paper normalises a batch by the sum of its weights; pass
    ``normalizer=box_iou(pred, target, paired=True).pow(gamma).sum()`` for that.

    Degenerate cases: as :func:`iou_loss` for no boxes, all-zero weights and the IoU term (0,
    with zero gradient, for a zero-area box or inverted corners). Any pair with IoU 0 (zero-area
    or inverted boxes, disjoint boxes) gives 0 with zero gradient, also with
    ``detach_weight=False``.

    Args:
        pred: ``(..., 4)`` predicted boxes, floating point.
        target: ``(..., 4)`` target boxes, same shape.
        gamma: focusing exponent ``> 0`` (default 0.5, the paper's choice).
        detach_weight: hold ``IoU^gamma`` constant (default ``True``).
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
        Neurocomputing 2022, arXiv:2101.08158, Eq. (13).

    Example:
        >>> import torch
        >>> focal_eiou_loss(torch.tensor([[0.0, 0.0, 2.0, 1.0]]),
        ...                 torch.tensor([[0.0, 0.0, 1.0, 1.0]]), gamma=1.0)
        tensor(0.4000)
    """
    fn = "focal_eiou_loss"
    check_common(box_format, reduction, fn)
    check_positive(gamma, "gamma", fn)
    p, t = G.prepare_pair(pred, target, box_format, fn)
    ov = G.overlap(p, t)
    focus = G.safe_pow(ov.iou.detach() if detach_weight else ov.iou, gamma)
    loss = focus * G.variant_loss("eiou", p, t, ov)
    return reduce_boxes(loss, weight=weight, reduction=reduction, normalizer=normalizer, fn=fn)


class FocalEIoULoss(BoxLossModule):
    """Module form of :func:`focal_eiou_loss`."""

    function = focal_eiou_loss

    def __init__(
        self,
        *,
        gamma: float = 0.5,
        detach_weight: bool = True,
        box_format: str = "xyxy",
        reduction: str = "mean",
    ) -> None:
        check_positive(gamma, "gamma", "FocalEIoULoss")
        super().__init__(
            gamma=gamma, detach_weight=detach_weight, box_format=box_format, reduction=reduction
        )


register_loss(
    "focal_eiou",
    family="boxes",
    function=focal_eiou_loss,
    module=FocalEIoULoss,
    formula="IoU^gamma * L_EIoU",
    reference="Zhang et al., Focal-EIoU, Neurocomputing 2022, arXiv:2101.08158",
)
