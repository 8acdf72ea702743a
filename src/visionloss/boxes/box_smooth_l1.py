"""Smooth L1 loss on box coordinates."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .._core.declare import loss_function
from .._core.options import NonNegative
from .._core.registry import register_loss
from ..regression import smooth_l1_loss
from . import _common as C


@loss_function(C.BOX_DOCS, options=C.COORDINATE_OPTIONS)
def box_smooth_l1_loss(
    pred: Tensor, target: Tensor, *, beta: NonNegative = 1.0, **options: Any
) -> Tensor:
    r"""Smooth L1 (Fast R-CNN) of box coordinates, summed over the four coordinates of a box.

    .. math::
        \ell = \sum_{k=1}^{4} s_\beta(b_k - b_k^{gt}),\quad
        s_\beta(d) = \begin{cases} 0.5\, d^2/\beta & |d| < \beta \\
                                   |d| - 0.5\,\beta & \text{otherwise} \end{cases}

    Fast R-CNN applies it to encoded offsets; pass those (any ``(..., 4)`` tensors) with the
    default formats. Computed, like :func:`box_l1_loss`, in the boxes' own units.

    {{empty}}
    Coordinates are compared as they are: zero-area boxes and inverted corners are ordinary
    values, and identical boxes give 0.

    Args:
        pred: ``(..., 4)`` predicted boxes (or box deltas), floating point.
        target: ``(..., 4)`` targets, same shape.
        beta: threshold ``>= 0`` (default 1; 0 is :func:`box_l1_loss`).

    {{shape}}

    Reference:
        Girshick, *Fast R-CNN*, ICCV 2015, arXiv:1504.08083, Eq. (2)-(3).

    Example:
        >>> import torch
        >>> box_smooth_l1_loss(torch.tensor([[0.0, 0.0, 2.0, 2.0]]),
        ...                    torch.tensor([[0.5, 0.0, 4.0, 2.0]]))
        tensor(1.6250)
    """
    return C.coordinate_loss(
        smooth_l1_loss, pred, target, fn="box_smooth_l1_loss", beta=beta, **options
    )


BoxSmoothL1Loss = register_loss(
    "box_smooth_l1",
    family="boxes",
    function=box_smooth_l1_loss,
    module="BoxSmoothL1Loss",
    formula="sum_k smooth_l1_beta(b_k - b_k_gt) per box",
    reference="Girshick, Fast R-CNN, ICCV 2015, arXiv:1504.08083",
    examples=C.box_examples,
).module
