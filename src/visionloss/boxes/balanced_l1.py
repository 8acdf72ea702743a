"""Balanced L1 loss (Libra R-CNN, Pang et al. 2019) on box coordinates."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from .._core.declare import loss_function
from .._core.dtypes import compute_dtype, upcast
from .._core.options import Positive
from .._core.registry import register_loss
from . import _common as C


def _balanced_l1(
    pred: Tensor, target: Tensor, *, reduction: str, alpha: float, gamma: float, beta: float
) -> Tensor:
    """Elementwise balanced L1 (``reduction`` is always ``"none"`` here)."""
    dtype = compute_dtype(pred, target)
    diff = (upcast(pred, dtype) - upcast(target, dtype)).abs()
    b = math.exp(gamma / alpha) - 1
    inner = alpha / b * (b * diff + 1) * torch.log1p(b * diff / beta) - alpha * diff
    outer = gamma * diff + gamma / b - alpha * beta
    return torch.where(diff < beta, inner, outer)


@loss_function(C.BOX_DOCS, options=C.COORDINATE_OPTIONS)
def balanced_l1_loss(
    pred: Tensor,
    target: Tensor,
    *,
    alpha: Positive = 0.5,
    gamma: Positive = 1.5,
    beta: Positive = 1.0,
    **options: Any,
) -> Tensor:
    r"""Balanced L1 loss (Libra R-CNN) of box coordinates, summed over the four coordinates of
    a box: smooth L1 with the inliers' gradient promoted.

    .. math::
        \ell(d) = \begin{cases}
            \frac{\alpha}{b}(b|d| + 1)\ln\!\big(\frac{b|d|}{\beta} + 1\big) - \alpha|d|
                & |d| < \beta \\
            \gamma|d| + \frac{\gamma}{b} - \alpha\beta & \text{otherwise}
        \end{cases},\qquad \alpha \ln(b + 1) = \gamma

    The gradient is :math:`\alpha \ln(b|d|/\beta + 1)` for the inliers (larger than smooth L1's
    for small errors) and :math:`\gamma` for the outliers. mmdetection's
    ``balanced_l1_loss`` returns the elementwise loss and averages over the ``4 N``
    coordinates: its mean is ours divided by 4 (``reduction="none"`` here holds one value per
    box). Defaults are the paper's (``alpha=0.5, gamma=1.5, beta=1``). Computed in the boxes'
    own units (pass encoded deltas, as Libra R-CNN does).

    {{empty}}
    Identical coordinates give 0.

    Args:
        pred: ``(..., 4)`` predicted boxes (or box deltas), floating point.
        target: ``(..., 4)`` targets, same shape.
        alpha: :math:`\alpha > 0`, the inliers' gradient scale (default 0.5).
        gamma: :math:`\gamma > 0`, the outliers' gradient (default 1.5).
        beta: the inlier threshold :math:`\beta > 0` (default 1).

    {{shape}}

    Reference:
        Pang et al., *Libra R-CNN: Towards Balanced Learning for Object Detection*, CVPR 2019,
        arXiv:1904.02701, Eqs. (7)-(9).

    Example:
        >>> import torch
        >>> balanced_l1_loss(torch.tensor([[0.0, 0.0, 0.5, 2.0]]),
        ...                  torch.tensor([[0.0, 0.0, 0.0, 0.0]]))
        tensor(2.9792)
    """
    return C.coordinate_loss(
        _balanced_l1,
        pred,
        target,
        fn="balanced_l1_loss",
        alpha=alpha,
        gamma=gamma,
        beta=beta,
        **options,
    )


BalancedL1Loss = register_loss(
    "balanced_l1",
    family="boxes",
    function=balanced_l1_loss,
    module="BalancedL1Loss",
    formula="alpha/b (b|d|+1) ln(b|d|/beta+1) - alpha|d| if |d| < beta else gamma|d| + ...",
    reference="Pang et al., Libra R-CNN, CVPR 2019, arXiv:1904.02701",
    examples=C.box_examples,
).module
