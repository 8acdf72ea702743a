"""Smooth L1 loss (Fast R-CNN)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .._core.declare import loss_function
from .._core.options import NonNegative
from .._core.registry import register_loss
from ._elementwise import (
    REGRESSION_DOCS,
    elementwise_loss,
    elementwise_options,
    regression_examples,
    smooth_l1_penalty,
)


@loss_function(REGRESSION_DOCS, options=elementwise_options)
def smooth_l1_loss(
    input: Tensor, target: Tensor, *, beta: NonNegative = 1.0, **options: Any
) -> Tensor:
    r"""Smooth L1 loss: quadratic near zero, linear beyond ``beta``.

    .. math::
        \ell_i = w_i \begin{cases} 0.5\, d_i^2 / \beta & |d_i| < \beta \\
                                   |d_i| - 0.5\,\beta & \text{otherwise} \end{cases},
        \quad d_i = x_i - y_i

    ``beta = 0`` is exactly :func:`l1_loss`. Smooth L1 with ``beta`` equals
    :func:`huber_loss` with ``delta = beta`` divided by ``beta``.

    {{degenerate}}

    Args:
        beta: threshold between the quadratic and linear parts, ``>= 0`` (default 1).

    {{io}}

    Reference:
        Girshick, *Fast R-CNN*, ICCV 2015, arXiv:1504.08083, Eq. (3).

    Example:
        >>> import torch
        >>> smooth_l1_loss(torch.tensor([0.5, 3.0]), torch.zeros(2), reduction="none")
        tensor([0.1250, 2.5000])
    """
    return elementwise_loss(
        input, target, fn="smooth_l1_loss", penalty=smooth_l1_penalty, beta=beta, **options
    )


SmoothL1Loss = register_loss(
    "smooth_l1",
    family="regression",
    function=smooth_l1_loss,
    module="SmoothL1Loss",
    formula="0.5 d^2/beta if |d|<beta else |d| - beta/2",
    reference="Girshick, Fast R-CNN, ICCV 2015, arXiv:1504.08083",
    examples=regression_examples,
).module
