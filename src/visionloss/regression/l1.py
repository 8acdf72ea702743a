"""L1 / mean absolute error."""

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
def l1_loss(input: Tensor, target: Tensor, **options: Any) -> Tensor:
    r"""Mean absolute error (L1 loss).

    .. math:: \ell_i = w_i\, |x_i - y_i|

    {{degenerate}}

    {{io}}

    Reference:
        Least absolute deviations: Boscovich, 1757; Laplace, *Traité de mécanique céleste*,
        1799 (Hald, *A History of Mathematical Statistics from 1750 to 1930*, 1998, §6.3,
        §6.7). As a network loss e.g. Girshick, *Fast R-CNN*, arXiv:1504.08083.

    Example:
        >>> import torch
        >>> l1_loss(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 4.0]))
        tensor(1.5000)
    """
    return elementwise_loss(input, target, fn="l1_loss", penalty=Tensor.abs, **options)


L1Loss = register_loss(
    "l1",
    family="regression",
    function=l1_loss,
    module="L1Loss",
    aliases=("mae",),
    formula="|x - y|",
    reference="least absolute deviations: Boscovich 1757; Laplace 1799",
    examples=regression_examples,
).module
