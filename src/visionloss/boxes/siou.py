"""SCYLLA-IoU (SIoU) loss (Gevorgyan)."""

from __future__ import annotations

from torch import Tensor

from .._core.checks import check_positive
from .._core.registry import register_loss
from . import _geometry as G
from ._common import BoxLossModule, Normalizer, check_common, reduce_boxes


def siou_loss(
    pred: Tensor,
    target: Tensor,
    *,
    theta: float = 4.0,
    box_format: str = "xyxy",
    weight: Tensor | None = None,
    reduction: str = "mean",
    normalizer: Normalizer = None,
) -> Tensor:
    r"""SIoU loss: IoU loss plus angle-aware distance and shape costs.

    .. math::
        \ell = 1 - \mathrm{IoU} + \frac{\Delta + \Omega}{2},\quad
        \Lambda = 1 - 2\sin^2\!\Big(\arcsin\frac{|\Delta y|}{\sigma} - \frac{\pi}{4}\Big),

    .. math::
        \Delta = \sum_{t \in \{x, y\}} 1 - e^{-(2 - \Lambda)\rho_t},\
        \rho_x = \Big(\frac{\Delta x}{C_w}\Big)^2,\
        \Omega = \sum_{t \in \{w, h\}} (1 - e^{-\omega_t})^{\theta},\
        \omega_w = \frac{|w - w^{gt}|}{\max(w, w^{gt})}

    with :math:`(\Delta x, \Delta y)` the offset of the centres, :math:`\sigma` their distance
    and :math:`C_w, C_h` the enclosing box. These are the paper's signs: the distance cost is in
    ``[0, 2)`` and grows with the distance (mmdetection's default ``neg_gamma=False`` uses
    :math:`e^{+(2-\Lambda)\rho}`, which makes it negative and decreasing). The angle cost is
    computed in the equivalent form :math:`\Lambda = 2|\Delta x||\Delta y| / \sigma^2`
    (finite gradient where the centres are aligned).

    Degenerate cases: as :func:`iou_loss` for no boxes, all-zero weights and the IoU term (0,
    with zero gradient, for a zero-area box or inverted corners). The shape cost gives no
    gradient through a zero width or height (sizes are clamped at 0): a point box at the
    target's centre is a stationary point with loss :math:`1 + (1 - e^{-1})^{\theta}` and zero
    gradient. Two identical zero-area boxes give 1 (not 0) with zero gradient.

    Args:
        pred: ``(..., 4)`` predicted boxes, floating point.
        target: ``(..., 4)`` target boxes, same shape.
        theta: exponent of the shape cost ``> 0`` (default 4, the paper's).
        box_format: ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``.
        weight: optional per-box weight broadcastable to ``(...)``.
        reduction: ``"mean"`` (over boxes), ``"sum"`` or ``"none"``.
        normalizer: with ``"mean"``, divide the sum by it (by 1 where it is <= 0).

    Shape:
        ``pred``, ``target``: ``(..., 4)``; output: scalar, or ``(...)`` for ``"none"``.

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Gevorgyan, *SIoU Loss: More Powerful Learning for Bounding Box Regression*,
        arXiv:2205.12740 (2022).

    Example:
        >>> import torch
        >>> siou_loss(torch.tensor([[0.0, 0.0, 1.0, 1.0]]), torch.tensor([[1.0, 0.0, 2.0, 1.0]]))
        tensor(1.1967)
    """
    fn = "siou_loss"
    check_common(box_format, reduction, fn)
    check_positive(theta, "theta", fn)
    p, t = G.prepare_pair(pred, target, box_format, fn)
    loss = 1 - G.overlap(p, t).iou + G.siou_penalty(p, t, theta)
    return reduce_boxes(loss, weight=weight, reduction=reduction, normalizer=normalizer, fn=fn)


class SIoULoss(BoxLossModule):
    """Module form of :func:`siou_loss`."""

    function = siou_loss

    def __init__(
        self, *, theta: float = 4.0, box_format: str = "xyxy", reduction: str = "mean"
    ) -> None:
        check_positive(theta, "theta", "SIoULoss")
        super().__init__(theta=theta, box_format=box_format, reduction=reduction)


register_loss(
    "siou",
    family="boxes",
    function=siou_loss,
    module=SIoULoss,
    formula="1 - IoU + (Delta + Omega) / 2 (angle, distance, shape costs)",
    reference="Gevorgyan, SIoU, arXiv:2205.12740",
)
