"""Smooth L1 loss (Fast R-CNN)."""

from __future__ import annotations

import torch
from torch import Tensor

from .._core.checks import check_positive
from .._core.module import LossModule
from .._core.registry import register_loss
from ._elementwise import elementwise_loss


def smooth_l1_penalty(diff: Tensor, beta: float) -> Tensor:
    """``0.5 d^2 / beta`` for ``|d| < beta`` else ``|d| - 0.5 beta`` (``|d|`` when beta = 0)."""
    ad = diff.abs()
    if beta == 0:
        return ad
    return torch.where(ad < beta, 0.5 * diff.square() / beta, ad - 0.5 * beta)


def smooth_l1_loss(
    input: Tensor,
    target: Tensor,
    *,
    beta: float = 1.0,
    weight: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    r"""Smooth L1 loss: quadratic near zero, linear beyond ``beta``.

    .. math::
        \ell_i = w_i \begin{cases} 0.5\, d_i^2 / \beta & |d_i| < \beta \\
                                   |d_i| - 0.5\,\beta & \text{otherwise} \end{cases},
        \quad d_i = x_i - y_i

    ``beta = 0`` is exactly :func:`l1_loss`. Smooth L1 with ``beta`` equals
    :func:`huber_loss` with ``delta = beta`` divided by ``beta``.

    Degenerate cases: an empty input gives 0 for ``"mean"`` and ``"sum"``, attached to the
    graph (never NaN), and an empty tensor for ``"none"``. A ``weight`` of 0 removes an
    element's term and its gradient but not its count in the mean, so an all-zero weight
    gives 0 with zero gradients. The gradient at ``x = y`` is 0.

    Args:
        input: predictions, any shape, floating point.
        target: same shape as ``input``.
        beta: threshold between the quadratic and linear parts, ``>= 0`` (default 1).
        weight: optional elementwise weight broadcastable to ``input``.
        reduction: ``"mean"`` (sum over the number of elements), ``"sum"`` or ``"none"``.

    Shape:
        ``input``, ``target``: ``(*)``; output: scalar, or ``(*)`` for ``"none"``.

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Girshick, *Fast R-CNN*, ICCV 2015, arXiv:1504.08083, Eq. (3).

    Example:
        >>> import torch
        >>> smooth_l1_loss(torch.tensor([0.5, 3.0]), torch.zeros(2), reduction="none")
        tensor([0.1250, 2.5000])
    """
    check_positive(beta, "beta", "smooth_l1_loss", allow_zero=True)
    return elementwise_loss(
        input,
        target,
        lambda d: smooth_l1_penalty(d, beta),
        weight=weight,
        reduction=reduction,
        fn="smooth_l1_loss",
    )


class SmoothL1Loss(LossModule):
    """Module form of :func:`smooth_l1_loss`."""

    function = smooth_l1_loss

    def __init__(self, *, beta: float = 1.0, reduction: str = "mean") -> None:
        check_positive(beta, "beta", "SmoothL1Loss", allow_zero=True)
        super().__init__(beta=beta, reduction=reduction)


register_loss(
    "smooth_l1",
    family="regression",
    function=smooth_l1_loss,
    module=SmoothL1Loss,
    formula="0.5 d^2/beta if |d|<beta else |d| - beta/2",
    reference="Girshick, Fast R-CNN, ICCV 2015, arXiv:1504.08083",
)
