"""Charbonnier loss (a differentiable L1)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .._core.declare import loss_function
from .._core.options import Positive
from .._core.registry import register_loss
from ._elementwise import (
    REGRESSION_DOCS,
    elementwise_loss,
    elementwise_options,
    regression_examples,
)


def _charbonnier_penalty(diff: Tensor, *, eps: float) -> Tensor:
    return torch.hypot(diff, diff.new_tensor(eps))


@loss_function(REGRESSION_DOCS, options=elementwise_options)
def charbonnier_loss(
    input: Tensor, target: Tensor, *, eps: Positive = 1e-3, **options: Any
) -> Tensor:
    r"""Charbonnier loss, a smooth L1 with curvature ``1/eps`` at zero.

    .. math:: \ell_i = w_i \sqrt{(x_i - y_i)^2 + \varepsilon^2}

    This is the LapSRN form (its minimum is ``eps``, not 0; subtract ``eps`` if you need a zero
    minimum, the gradient is the same). The gradient ``d / sqrt(d^2 + eps^2)`` is finite. The
    value is computed as ``hypot(d, eps)``, so it does not overflow for large finite
    differences (``sqrt(d^2 + eps^2)`` is ``inf`` in float32 beyond ``|d| ~ 1.8e19``).

    {{degenerate}} The empty mean and sum are 0, not ``eps``.

    Args:
        eps: ``> 0`` (default 1e-3, as LapSRN).

    {{io}}

    Reference:
        Charbonnier et al., *Two deterministic half-quadratic regularization algorithms for
        computed imaging*, ICIP 1994; Lai et al., *LapSRN*, CVPR 2017, arXiv:1704.03915.

    Example:
        >>> import torch
        >>> charbonnier_loss(torch.tensor([3.0]), torch.tensor([0.0]), eps=4.0)
        tensor(5.)
    """
    return elementwise_loss(
        input, target, fn="charbonnier_loss", penalty=_charbonnier_penalty, eps=eps, **options
    )


CharbonnierLoss = register_loss(
    "charbonnier",
    family="regression",
    function=charbonnier_loss,
    module="CharbonnierLoss",
    formula="sqrt((x - y)^2 + eps^2)",
    reference="Charbonnier et al., ICIP 1994; Lai et al., LapSRN, arXiv:1704.03915",
    examples=regression_examples,
).module
