"""Huber loss."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .._core.declare import loss_function
from .._core.options import Positive
from .._core.registry import register_loss
from ._elementwise import (
    REGRESSION_DOCS,
    elementwise_loss,
    elementwise_options,
    regression_examples,
    smooth_l1_penalty,
)


def _huber_penalty(diff: Tensor, *, delta: float) -> Tensor:
    return delta * smooth_l1_penalty(diff, beta=delta)


@loss_function(REGRESSION_DOCS, options=elementwise_options)
def huber_loss(input: Tensor, target: Tensor, *, delta: Positive = 1.0, **options: Any) -> Tensor:
    r"""Huber loss: quadratic near zero, linear with slope ``delta`` beyond it.

    .. math::
        \ell_i = w_i \begin{cases} 0.5\, d_i^2 & |d_i| \le \delta \\
                                   \delta\,(|d_i| - 0.5\,\delta) & \text{otherwise} \end{cases}

    It equals ``delta * smooth_l1_loss(..., beta=delta)``.

    {{degenerate}}

    Args:
        delta: threshold, ``> 0`` (default 1).

    {{io}}

    Reference:
        Huber, *Robust Estimation of a Location Parameter*, Ann. Math. Statist. 35(1), 1964.

    Example:
        >>> import torch
        >>> huber_loss(torch.tensor([0.5, 3.0]), torch.zeros(2), delta=2.0, reduction="none")
        tensor([0.1250, 4.0000])
    """
    return elementwise_loss(
        input, target, fn="huber_loss", penalty=_huber_penalty, delta=delta, **options
    )


HuberLoss = register_loss(
    "huber",
    family="regression",
    function=huber_loss,
    module="HuberLoss",
    formula="0.5 d^2 if |d|<=delta else delta(|d| - delta/2)",
    reference="Huber, Ann. Math. Statist. 1964",
    examples=regression_examples,
).module
