"""Mean squared error (L2 loss)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .._core.declare import loss_function
from .._core.registry import register_loss
from ._elementwise import (
    REGRESSION_DOCS,
    elementwise_loss,
    elementwise_options,
    regression_examples,
)


@loss_function(REGRESSION_DOCS, options=elementwise_options)
def mse_loss(input: Tensor, target: Tensor, **options: Any) -> Tensor:
    r"""Mean squared error (L2 loss).

    .. math:: \ell_i = w_i\, (x_i - y_i)^2

    The notes' "L2 loss" :math:`\frac{1}{2N}\sum_i (x_i - y_i)^2` is ``0.5 * mse_loss(x, y)``;
    the factor 1/2 only rescales the gradient (it then equals the residual ``x - y``).

    {{degenerate}} fp16/bf16 errors are squared in float32, so they do not overflow (an
    error of 1.2e5 between fp16 inputs gives 1.44e10).

    {{io}}

    Reference:
        Least squares: Legendre, *Nouvelles méthodes pour la détermination des orbites des
        comètes*, 1805; Gauss, *Theoria motus corporum coelestium*, 1809. As a network loss
        e.g. Girshick, arXiv:1504.08083.

    Example:
        >>> import torch
        >>> mse_loss(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 4.0]))
        tensor(2.5000)
    """
    return elementwise_loss(input, target, fn="mse_loss", penalty=Tensor.square, **options)


MSELoss = register_loss(
    "mse",
    family="regression",
    function=mse_loss,
    module="MSELoss",
    aliases=("l2",),
    formula="(x - y)^2",
    reference="least squares: Legendre 1805; Gauss 1809",
    examples=regression_examples,
).module
