"""Huber loss."""

from __future__ import annotations

from torch import Tensor

from .._core.checks import check_positive
from .._core.module import LossModule
from .._core.registry import register_loss
from ._elementwise import elementwise_loss
from .smooth_l1 import smooth_l1_penalty


def huber_loss(
    input: Tensor,
    target: Tensor,
    *,
    delta: float = 1.0,
    weight: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    r"""Huber loss: quadratic near zero, linear with slope ``delta`` beyond it.

    .. math::
        \ell_i = w_i \begin{cases} 0.5\, d_i^2 & |d_i| \le \delta \\
                                   \delta\,(|d_i| - 0.5\,\delta) & \text{otherwise} \end{cases}

    It equals ``delta * smooth_l1_loss(..., beta=delta)``.

    Degenerate cases: an empty input gives 0 for ``"mean"`` and ``"sum"``, attached to the
    graph (never NaN), and an empty tensor for ``"none"``. A ``weight`` of 0 removes an
    element's term and its gradient but not its count in the mean, so an all-zero weight
    gives 0 with zero gradients. The gradient at ``x = y`` is 0.

    Args:
        input: predictions, any shape, floating point.
        target: same shape as ``input``.
        delta: threshold, ``> 0`` (default 1).
        weight: optional elementwise weight broadcastable to ``input``.
        reduction: ``"mean"`` (sum over the number of elements), ``"sum"`` or ``"none"``.

    Shape:
        ``input``, ``target``: ``(*)``; output: scalar, or ``(*)`` for ``"none"``.

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Huber, *Robust Estimation of a Location Parameter*, Ann. Math. Statist. 35(1), 1964.

    Example:
        >>> import torch
        >>> huber_loss(torch.tensor([0.5, 3.0]), torch.zeros(2), delta=2.0, reduction="none")
        tensor([0.1250, 4.0000])
    """
    check_positive(delta, "delta", "huber_loss")
    return elementwise_loss(
        input,
        target,
        lambda d: delta * smooth_l1_penalty(d, delta),
        weight=weight,
        reduction=reduction,
        fn="huber_loss",
    )


class HuberLoss(LossModule):
    """Module form of :func:`huber_loss`."""

    function = huber_loss

    def __init__(self, *, delta: float = 1.0, reduction: str = "mean") -> None:
        check_positive(delta, "delta", "HuberLoss")
        super().__init__(delta=delta, reduction=reduction)


register_loss(
    "huber",
    family="regression",
    function=huber_loss,
    module=HuberLoss,
    formula="0.5 d^2 if |d|<=delta else delta(|d| - delta/2)",
    reference="Huber, Ann. Math. Statist. 1964",
)
