"""Inner-IoU losses (Zhang et al.): IoU of auxiliary boxes scaled about their centres."""

from __future__ import annotations

from torch import Tensor

from .._core.checks import check_choice, check_positive
from .._core.registry import register_loss
from . import _geometry as G
from ._common import BoxLossModule, Normalizer, check_common, reduce_boxes


def inner_iou_loss(
    pred: Tensor,
    target: Tensor,
    *,
    ratio: float = 0.7,
    variant: str = "iou",
    box_format: str = "xyxy",
    weight: Tensor | None = None,
    reduction: str = "mean",
    normalizer: Normalizer = None,
) -> Tensor:
    r"""Inner-IoU loss: an IoU-based loss whose IoU term is taken on auxiliary boxes that share
    the centres of the real ones and are scaled by ``ratio``.

    .. math::
        \mathcal L_{Inner\text{-}IoU} = 1 - \mathrm{IoU}^{inner},\qquad
        \mathcal L_{Inner\text{-}X} = \mathcal L_{X} + \mathrm{IoU} - \mathrm{IoU}^{inner}

    for :math:`X` in GIoU, DIoU, CIoU, EIoU, SIoU, where :math:`\mathrm{IoU}^{inner}` is the
    IoU of the boxes :math:`(x_c \pm r w / 2, y_c \pm r h / 2)`. ``ratio < 1`` sharpens the
    gradient of high-IoU pairs, ``ratio > 1`` widens the reach of low-IoU pairs; ``ratio = 1``
    is the base loss.

    Degenerate cases: as :func:`iou_loss` for no boxes, all-zero weights and the IoU term (0,
    with zero gradient, for a zero-area box or inverted corners). The auxiliary box of a
    zero-area box has zero area too (inner IoU 0); two identical zero-area boxes give 1 (not 0)
    with zero gradient, for every variant.

    Args:
        pred: ``(..., 4)`` predicted boxes, floating point.
        target: ``(..., 4)`` target boxes, same shape.
        ratio: scale :math:`r > 0` of the auxiliary boxes (default 0.7; the paper uses 0.5-1.5).
        variant: base loss: ``"iou"`` (default), ``"giou"``, ``"diou"``, ``"ciou"``,
            ``"eiou"`` or ``"siou"``.
        box_format: ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``.
        weight: optional per-box weight broadcastable to ``(...)``.
        reduction: ``"mean"`` (over boxes), ``"sum"`` or ``"none"``.
        normalizer: with ``"mean"``, divide the sum by it (by 1 where it is <= 0).

    Shape:
        ``pred``, ``target``: ``(..., 4)``; output: scalar, or ``(...)`` for ``"none"``.

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Zhang, Xu & Zhang, *Inner-IoU: More Effective Intersection over Union Loss with
        Auxiliary Bounding Box*, arXiv:2311.02877 (2023), Eqs. (10)-(17).

    Example:
        >>> import torch
        >>> inner_iou_loss(torch.tensor([[0.0, 0.0, 2.0, 2.0]]),
        ...                torch.tensor([[1.0, 0.0, 3.0, 2.0]]), ratio=0.5)
        tensor(1.)
    """
    fn = "inner_iou_loss"
    check_common(box_format, reduction, fn)
    check_positive(ratio, "ratio", fn)
    check_choice(variant, G.VARIANTS, "variant", fn)
    p, t = G.prepare_pair(pred, target, box_format, fn)
    ov = G.overlap(p, t)
    inner = G.overlap(G.scale_about_centre(p, ratio), G.scale_about_centre(t, ratio)).iou
    loss = G.variant_loss(variant, p, t, ov) + ov.iou - inner
    return reduce_boxes(loss, weight=weight, reduction=reduction, normalizer=normalizer, fn=fn)


class InnerIoULoss(BoxLossModule):
    """Module form of :func:`inner_iou_loss`."""

    function = inner_iou_loss

    def __init__(
        self,
        *,
        ratio: float = 0.7,
        variant: str = "iou",
        box_format: str = "xyxy",
        reduction: str = "mean",
    ) -> None:
        check_positive(ratio, "ratio", "InnerIoULoss")
        check_choice(variant, G.VARIANTS, "variant", "InnerIoULoss")
        super().__init__(ratio=ratio, variant=variant, box_format=box_format, reduction=reduction)


register_loss(
    "inner_iou",
    family="boxes",
    function=inner_iou_loss,
    module=InnerIoULoss,
    formula="L_X + IoU - IoU(scaled boxes); 1 - IoU_inner for X = IoU",
    reference="Zhang et al., Inner-IoU, arXiv:2311.02877",
)
