"""Control-Distance IoU loss (Chen & Miao)."""

from __future__ import annotations

from torch import Tensor

from .._core.checks import check_positive
from .._core.registry import register_loss
from . import _geometry as G
from ._common import BoxLossModule, Normalizer, check_common, reduce_boxes


def cdiou_loss(
    pred: Tensor,
    target: Tensor,
    *,
    lam: float = 1.0,
    box_format: str = "xyxy",
    weight: Tensor | None = None,
    reduction: str = "mean",
    normalizer: Normalizer = None,
) -> Tensor:
    r"""Control-Distance IoU loss: IoU loss plus the mean distance of the four corresponding
    vertices over the diagonal of the enclosing box.

    .. math::
        \mathrm{diou} = \frac{\sum_{k=1}^{4} \lVert \mathbf v_k - \mathbf v_k^{gt}\rVert_2}
                             {4\, c},
        \qquad \ell = 1 - \mathrm{IoU} + \lambda\, \mathrm{diou}

    with :math:`\mathbf v_1..\mathbf v_4` the corners ``(x1, y1), (x1, y2), (x2, y1),
    (x2, y2)`` and :math:`c` the diagonal of the smallest enclosing box. The distance term is
    differentiated exactly (its gradient at a coincident vertex is 0, not NaN).

    Degenerate cases: as :func:`iou_loss` for no boxes, all-zero weights and the IoU term (0,
    with zero gradient, for a zero-area box or inverted corners). The vertex-distance term stays
    finite with a finite gradient (0 at a coincident vertex): it moves the corners of a
    zero-area box towards the target's, and two identical zero-area boxes give 1 (not 0) with
    zero gradient.

    Args:
        pred: ``(..., 4)`` predicted boxes, floating point.
        target: ``(..., 4)`` target boxes, same shape.
        lam: weight :math:`\lambda \ge 0` of the distance term (default 1, as the authors'
            released loss).
        box_format: ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``.
        weight: optional per-box weight broadcastable to ``(...)``.
        reduction: ``"mean"`` (over boxes), ``"sum"`` or ``"none"``.
        normalizer: with ``"mean"``, divide the sum by it (by 1 where it is <= 0).

    Shape:
        ``pred``, ``target``: ``(..., 4)``; output: scalar, or ``(...)`` for ``"none"``.

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Chen & Miao, *Control Distance IoU and Control Distance IoU Loss Function for Better
        Bounding Box Regression*, arXiv:2103.11696 (2021).

    Example:
        >>> import torch
        >>> cdiou_loss(torch.tensor([[0.0, 0.0, 1.0, 1.0]]), torch.tensor([[1.0, 0.0, 2.0, 1.0]]))
        tensor(1.4472)
    """
    fn = "cdiou_loss"
    check_common(box_format, reduction, fn)
    check_positive(lam, "lam", fn, allow_zero=True)
    p, t = G.prepare_pair(pred, target, box_format, fn)
    loss = 1 - G.overlap(p, t).iou + lam * G.cdiou_distance(p, t)
    return reduce_boxes(loss, weight=weight, reduction=reduction, normalizer=normalizer, fn=fn)


class CDIoULoss(BoxLossModule):
    """Module form of :func:`cdiou_loss`."""

    function = cdiou_loss

    def __init__(
        self, *, lam: float = 1.0, box_format: str = "xyxy", reduction: str = "mean"
    ) -> None:
        check_positive(lam, "lam", "CDIoULoss", allow_zero=True)
        super().__init__(lam=lam, box_format=box_format, reduction=reduction)


register_loss(
    "cdiou",
    family="boxes",
    function=cdiou_loss,
    module=CDIoULoss,
    formula="1 - IoU + lam * sum_k |v_k - v_k_gt| / (4 c)",
    reference="Chen & Miao, CDIoU, arXiv:2103.11696",
)
