"""L1 / mean absolute error."""

from __future__ import annotations

from torch import Tensor

from .._core.module import LossModule
from .._core.registry import register_loss
from ._elementwise import elementwise_loss


def l1_loss(
    input: Tensor, target: Tensor, *, weight: Tensor | None = None, reduction: str = "mean"
) -> Tensor:
    r"""Mean absolute error (L1 loss).

    .. math:: \ell_i = w_i\, |x_i - y_i|

    Degenerate cases: an empty input gives 0 for ``"mean"`` and ``"sum"``, attached to the
    graph (never NaN), and an empty tensor for ``"none"``. A ``weight`` of 0 removes an
    element's term and its gradient but not its count in the mean, so an all-zero weight
    gives 0 with zero gradients. The gradient at ``x = y`` is 0.

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
        Least absolute deviations: Boscovich, 1757; Laplace, *Traité de mécanique céleste*,
        1799 (Hald, *A History of Mathematical Statistics from 1750 to 1930*, 1998, §6.3,
        §6.7). As a network loss e.g. Girshick, *Fast R-CNN*, arXiv:1504.08083.

    Example:
        >>> import torch
        >>> l1_loss(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 4.0]))
        tensor(1.5000)
    """
    return elementwise_loss(
        input, target, Tensor.abs, weight=weight, reduction=reduction, fn="l1_loss"
    )


class L1Loss(LossModule):
    """Module form of :func:`l1_loss`."""

    function = l1_loss

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)


register_loss(
    "l1",
    family="regression",
    function=l1_loss,
    module=L1Loss,
    aliases=("mae",),
    formula="|x - y|",
    reference="least absolute deviations: Boscovich 1757; Laplace 1799",
)
