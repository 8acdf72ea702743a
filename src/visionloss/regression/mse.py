"""Mean squared error (L2 loss)."""

from __future__ import annotations

from torch import Tensor

from .._core.module import LossModule
from .._core.registry import register_loss
from ._elementwise import elementwise_loss


def mse_loss(
    input: Tensor, target: Tensor, *, weight: Tensor | None = None, reduction: str = "mean"
) -> Tensor:
    r"""Mean squared error (L2 loss).

    .. math:: \ell_i = w_i\, (x_i - y_i)^2

    The notes' "L2 loss" :math:`\frac{1}{2N}\sum_i (x_i - y_i)^2` is ``0.5 * mse_loss(x, y)``;
    the factor 1/2 only rescales the gradient (it then equals the residual ``x - y``).

    Degenerate cases: an empty input gives 0 for ``"mean"`` and ``"sum"``, attached to the
    graph (never NaN), and an empty tensor for ``"none"``. A ``weight`` of 0 removes an
    element's term and its gradient but not its count in the mean, so an all-zero weight
    gives 0 with zero gradients. The gradient at ``x = y`` is 0. fp16/bf16 errors are squared
    in float32, so they do not overflow (an error of 1.2e5 between fp16 inputs gives 1.44e10).

    Args:
        input: predictions, any shape, floating point.
        target: same shape as ``input``.
        weight: optional elementwise weight broadcastable to ``input``.
        reduction: ``"mean"`` (sum over the number of elements), ``"sum"`` or ``"none"``.

    Shape:
        ``input``, ``target``: ``(*)``; output: scalar, or ``(*)`` for ``"none"``.

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Least squares: Legendre, *Nouvelles méthodes pour la détermination des orbites des
        comètes*, 1805; Gauss, *Theoria motus corporum coelestium*, 1809. As a network loss
        e.g. Girshick, arXiv:1504.08083.

    Example:
        >>> import torch
        >>> mse_loss(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 4.0]))
        tensor(2.5000)
    """
    return elementwise_loss(
        input, target, Tensor.square, weight=weight, reduction=reduction, fn="mse_loss"
    )


class MSELoss(LossModule):
    """Module form of :func:`mse_loss`."""

    function = mse_loss

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)


register_loss(
    "mse",
    family="regression",
    function=mse_loss,
    module=MSELoss,
    aliases=("l2",),
    formula="(x - y)^2",
    reference="least squares: Legendre 1805; Gauss 1809",
)
