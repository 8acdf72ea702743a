"""Smooth L1 loss on box coordinates."""

from __future__ import annotations

from functools import partial

from torch import Tensor

from .._core.checks import check_positive
from .._core.registry import register_loss
from ..regression import smooth_l1_loss
from ._common import BoxLossModule, Normalizer, coordinate_loss


def box_smooth_l1_loss(
    pred: Tensor,
    target: Tensor,
    *,
    beta: float = 1.0,
    box_format: str = "xyxy",
    loss_format: str | None = None,
    weight: Tensor | None = None,
    reduction: str = "mean",
    normalizer: Normalizer = None,
) -> Tensor:
    r"""Smooth L1 (Fast R-CNN) of box coordinates, summed over the four coordinates of a box.

    .. math::
        \ell = \sum_{k=1}^{4} s_\beta(b_k - b_k^{gt}),\quad
        s_\beta(d) = \begin{cases} 0.5\, d^2/\beta & |d| < \beta \\
                                   |d| - 0.5\,\beta & \text{otherwise} \end{cases}

    Fast R-CNN applies it to encoded offsets; pass those (any ``(..., 4)`` tensors) with the
    default formats.

    Degenerate cases: no boxes give 0 for ``"mean"`` and ``"sum"``, attached to the graph, and a
    ``(0,)`` tensor for ``"none"``; an all-zero ``weight`` gives 0 with zero gradients.
    Coordinates are compared as they are: zero-area boxes and inverted corners are ordinary
    values, and identical boxes give 0.

    Args:
        pred: ``(..., 4)`` predicted boxes (or box deltas), floating point.
        target: ``(..., 4)`` targets, same shape.
        beta: threshold ``>= 0`` (default 1; 0 is :func:`box_l1_loss`).
        box_format: format of ``pred`` and ``target`` (default ``"xyxy"``).
        loss_format: format in which coordinates are compared (default: ``box_format``).
        weight: optional per-box weight broadcastable to ``(...)``.
        reduction: ``"mean"`` (over boxes), ``"sum"`` or ``"none"``.
        normalizer: with ``"mean"``, divide the sum by it (by 1 where it is <= 0).

    Shape:
        ``pred``, ``target``: ``(..., 4)``; output: scalar, or ``(...)`` for ``"none"``.

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Girshick, *Fast R-CNN*, ICCV 2015, arXiv:1504.08083, Eq. (2)-(3).

    Example:
        >>> import torch
        >>> box_smooth_l1_loss(torch.tensor([[0.0, 0.0, 2.0, 2.0]]),
        ...                    torch.tensor([[0.5, 0.0, 4.0, 2.0]]))
        tensor(1.6250)
    """
    fn = "box_smooth_l1_loss"
    check_positive(beta, "beta", fn, allow_zero=True)
    return coordinate_loss(
        pred,
        target,
        partial(smooth_l1_loss, beta=beta),
        box_format=box_format,
        loss_format=loss_format,
        weight=weight,
        reduction=reduction,
        normalizer=normalizer,
        fn=fn,
    )


class BoxSmoothL1Loss(BoxLossModule):
    """Module form of :func:`box_smooth_l1_loss`."""

    function = box_smooth_l1_loss

    def __init__(
        self,
        *,
        beta: float = 1.0,
        box_format: str = "xyxy",
        loss_format: str | None = None,
        reduction: str = "mean",
    ) -> None:
        check_positive(beta, "beta", "BoxSmoothL1Loss", allow_zero=True)
        super().__init__(
            beta=beta, box_format=box_format, loss_format=loss_format, reduction=reduction
        )


register_loss(
    "box_smooth_l1",
    family="boxes",
    function=box_smooth_l1_loss,
    module=BoxSmoothL1Loss,
    formula="sum_k smooth_l1_beta(b_k - b_k_gt) per box",
    reference="Girshick, Fast R-CNN, ICCV 2015, arXiv:1504.08083",
)
