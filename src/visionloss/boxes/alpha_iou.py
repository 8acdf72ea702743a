"""Alpha-IoU (power IoU) losses (He et al.)."""

from __future__ import annotations

from torch import Tensor

from .._core.checks import check_choice, check_positive
from .._core.registry import register_loss
from . import _geometry as G
from ._common import BoxLossModule, Normalizer, check_common, reduce_boxes

ALPHA_VARIANTS = ("iou", "giou", "diou", "ciou")


def alpha_iou_loss(
    pred: Tensor,
    target: Tensor,
    *,
    alpha: float = 3.0,
    variant: str = "iou",
    box_format: str = "xyxy",
    weight: Tensor | None = None,
    reduction: str = "mean",
    normalizer: Normalizer = None,
) -> Tensor:
    r"""Alpha-IoU loss: the IoU term and each penalty raised to the power :math:`\alpha`.

    .. math::
        \mathcal L_{\alpha\text{-IoU}} = 1 - \mathrm{IoU}^{\alpha},\quad
        \mathcal L_{\alpha\text{-GIoU}} = 1 - \mathrm{IoU}^{\alpha}
            + \Big(\frac{|C \setminus (B \cup B^{gt})|}{|C|}\Big)^{\alpha},

    .. math::
        \mathcal L_{\alpha\text{-DIoU}} = 1 - \mathrm{IoU}^{\alpha}
            + \frac{\rho^{2\alpha}(\mathbf b, \mathbf b^{gt})}{c^{2\alpha}},\quad
        \mathcal L_{\alpha\text{-CIoU}} = \mathcal L_{\alpha\text{-DIoU}} + (\beta v)^{\alpha}

    with :math:`\beta = v / ((1 - \mathrm{IoU}) + v)` held constant as in CIoU. ``alpha = 1``
    gives the plain losses; ``alpha > 1`` up-weights the loss and gradient of high-IoU boxes.

    Degenerate cases: as :func:`iou_loss` for no boxes, all-zero weights and the IoU term (0,
    with zero gradient, for a zero-area box or inverted corners). Each powered term is 0 at 0
    with zero gradient, also for ``alpha < 1``: two identical zero-area boxes give 1 (not 0)
    with zero gradient, for every variant.

    Args:
        pred: ``(..., 4)`` predicted boxes, floating point.
        target: ``(..., 4)`` target boxes, same shape.
        alpha: power ``> 0`` (default 3, the paper's).
        variant: ``"iou"`` (default), ``"giou"``, ``"diou"`` or ``"ciou"``.
        box_format: ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``.
        weight: optional per-box weight broadcastable to ``(...)``.
        reduction: ``"mean"`` (over boxes), ``"sum"`` or ``"none"``.
        normalizer: with ``"mean"``, divide the sum by it (by 1 where it is <= 0).

    Shape:
        ``pred``, ``target``: ``(..., 4)``; output: scalar, or ``(...)`` for ``"none"``.

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        He et al., *Alpha-IoU: A Family of Power Intersection over Union Losses for Bounding Box
        Regression*, NeurIPS 2021, arXiv:2110.13675, Eqs. (4)-(7).

    Example:
        >>> import torch
        >>> alpha_iou_loss(torch.tensor([[0.0, 0.0, 2.0, 2.0]]),
        ...                torch.tensor([[1.0, 0.0, 3.0, 2.0]]), alpha=2.0)
        tensor(0.8889)
    """
    fn = "alpha_iou_loss"
    check_common(box_format, reduction, fn)
    check_positive(alpha, "alpha", fn)
    check_choice(variant, ALPHA_VARIANTS, "variant", fn)
    p, t = G.prepare_pair(pred, target, box_format, fn)
    ov = G.overlap(p, t)
    loss = 1 - G.safe_pow(ov.iou, alpha)
    if variant == "giou":
        loss = loss + G.safe_pow(G.giou_penalty(p, t, ov), alpha)
    elif variant in ("diou", "ciou"):
        loss = loss + G.safe_pow(G.diou_penalty(p, t), alpha)
    if variant == "ciou":
        v = G.aspect_term(p, t)
        loss = loss + G.safe_pow(G.ciou_alpha(ov.iou, v) * v, alpha)
    return reduce_boxes(loss, weight=weight, reduction=reduction, normalizer=normalizer, fn=fn)


class AlphaIoULoss(BoxLossModule):
    """Module form of :func:`alpha_iou_loss`."""

    function = alpha_iou_loss

    def __init__(
        self,
        *,
        alpha: float = 3.0,
        variant: str = "iou",
        box_format: str = "xyxy",
        reduction: str = "mean",
    ) -> None:
        check_positive(alpha, "alpha", "AlphaIoULoss")
        check_choice(variant, ALPHA_VARIANTS, "variant", "AlphaIoULoss")
        super().__init__(alpha=alpha, variant=variant, box_format=box_format, reduction=reduction)


register_loss(
    "alpha_iou",
    family="boxes",
    function=alpha_iou_loss,
    module=AlphaIoULoss,
    formula="1 - IoU^alpha (+ penalty^alpha for giou/diou/ciou)",
    reference="He et al., Alpha-IoU, NeurIPS 2021, arXiv:2110.13675",
)
