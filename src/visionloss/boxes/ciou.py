"""Complete-IoU loss."""

from __future__ import annotations

from torch import Tensor

from .._core.checks import check_positive
from .._core.registry import register_loss
from . import _geometry as G
from ._common import BoxLossModule, Normalizer, check_common, reduce_boxes


def ciou_loss(
    pred: Tensor,
    target: Tensor,
    *,
    alpha_threshold: float | None = None,
    box_format: str = "xyxy",
    weight: Tensor | None = None,
    reduction: str = "mean",
    normalizer: Normalizer = None,
) -> Tensor:
    r"""Complete-IoU loss: DIoU plus an aspect-ratio consistency term.

    .. math::
        \ell = 1 - \mathrm{IoU} + \frac{\rho^2(\mathbf b, \mathbf b^{gt})}{c^2} + \alpha v,
        \quad v = \frac{4}{\pi^2}\Big(\arctan\frac{w^{gt}}{h^{gt}} - \arctan\frac{w}{h}\Big)^2,
        \quad \alpha = \frac{v}{(1 - \mathrm{IoU}) + v}

    :math:`v` compares aspect ratios (it is not an angle between boxes). As in the paper,
    :math:`\alpha` is a trade-off weight held constant: no gradient flows through it. The
    gradient of :math:`v` is the exact one (the authors' darknet code drops its
    :math:`1/(w^2+h^2)` factor). A box with zero height has aspect angle :math:`\pi/2`; a point
    box (zero width and height) counts as square, so values and gradients stay finite.

    Degenerate cases: as :func:`iou_loss` for no boxes, all-zero weights and the IoU term (0,
    with zero gradient, for a zero-area box or inverted corners). As in :func:`diou_loss`, a
    point box at the target's centre is a stationary point (loss 1, zero gradient), two
    identical zero-area boxes give 1 (not 0) with zero gradient (their aspect angles agree,
    ``v = 0``). For inverted corners the enclosing box spans all four corners, so the distance
    term stays below 1 and the loss below 3.

    Args:
        pred: ``(..., 4)`` predicted boxes, floating point.
        target: ``(..., 4)`` target boxes, same shape.
        alpha_threshold: ``None`` (default): :math:`\alpha` as in the AAAI paper. ``0.5``: the
            later rule of Zheng et al. (IEEE TCYB 2021) that sets :math:`\alpha = 0` where
            IoU < 0.5, so the aspect term acts only on overlapping boxes.
        box_format: ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``.
        weight: optional per-box weight broadcastable to ``(...)``.
        reduction: ``"mean"`` (over boxes), ``"sum"`` or ``"none"``.
        normalizer: with ``"mean"``, divide the sum by it (by 1 where it is <= 0).

    Shape:
        ``pred``, ``target``: ``(..., 4)``; output: scalar, or ``(...)`` for ``"none"``.

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Zheng et al., *Distance-IoU Loss*, AAAI 2020, arXiv:1911.08287, Eqs. (8)-(11);
        Zheng et al., *Enhancing Geometric Factors in Model Learning and Inference for Object
        Detection and Instance Segmentation*, IEEE TCYB 2021, arXiv:2005.03572.

    Example:
        >>> import torch
        >>> ciou_loss(torch.tensor([[0.0, 0.0, 2.0, 1.0]]), torch.tensor([[0.0, 0.0, 1.0, 1.0]]))
        tensor(0.5532)
    """
    fn = "ciou_loss"
    check_common(box_format, reduction, fn)
    if alpha_threshold is not None:
        check_positive(alpha_threshold, "alpha_threshold", fn, allow_zero=True)
    p, t = G.prepare_pair(pred, target, box_format, fn)
    loss = G.variant_loss("ciou", p, t, G.overlap(p, t), ciou_threshold=alpha_threshold)
    return reduce_boxes(loss, weight=weight, reduction=reduction, normalizer=normalizer, fn=fn)


class CIoULoss(BoxLossModule):
    """Module form of :func:`ciou_loss`."""

    function = ciou_loss

    def __init__(
        self,
        *,
        alpha_threshold: float | None = None,
        box_format: str = "xyxy",
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            alpha_threshold=alpha_threshold, box_format=box_format, reduction=reduction
        )


register_loss(
    "ciou",
    family="boxes",
    function=ciou_loss,
    module=CIoULoss,
    formula="1 - IoU + rho^2/c^2 + alpha v, v = 4/pi^2 (atan(w_gt/h_gt) - atan(w/h))^2",
    reference="Zheng et al., DIoU/CIoU, AAAI 2020, arXiv:1911.08287",
)
