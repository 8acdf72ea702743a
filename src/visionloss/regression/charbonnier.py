"""Charbonnier loss (a differentiable L1)."""

from __future__ import annotations

import torch
from torch import Tensor

from .._core.checks import check_positive
from .._core.module import LossModule
from .._core.registry import register_loss
from ._elementwise import elementwise_loss


def charbonnier_loss(
    input: Tensor,
    target: Tensor,
    *,
    eps: float = 1e-3,
    weight: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    r"""Charbonnier loss, a smooth L1 with curvature ``1/eps`` at zero.

    .. math:: \ell_i = w_i \sqrt{(x_i - y_i)^2 + \varepsilon^2}

    This is the LapSRN form (its minimum is ``eps``, not 0; subtract ``eps`` if you need a zero
    minimum, the gradient is the same). The gradient ``d / sqrt(d^2 + eps^2)`` is finite and 0
    at ``d = 0``. The value is computed as ``hypot(d, eps)``, so it does not overflow for
    large finite differences (``sqrt(d^2 + eps^2)`` is ``inf`` in float32 beyond
    ``|d| ~ 1.8e19``).

    Degenerate cases: an empty input gives 0 (not ``eps``) for ``"mean"`` and ``"sum"``,
    attached to the graph (never NaN), and an empty tensor for ``"none"``. A ``weight`` of 0
    removes an element's term and its gradient but not its count in the mean, so an all-zero
    weight gives 0 with zero gradients.

    Args:
        input: predictions, any shape, floating point.
        target: same shape as ``input``.
        eps: ``> 0`` (default 1e-3, as LapSRN).
        weight: optional elementwise weight broadcastable to ``input``.
        reduction: ``"mean"`` (sum over the number of elements), ``"sum"`` or ``"none"``.

    Shape:
        ``input``, ``target``: ``(*)``; output: scalar, or ``(*)`` for ``"none"``.

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Charbonnier et al., *Two deterministic half-quadratic regularization algorithms for
        computed imaging*, ICIP 1994; Lai et al., *LapSRN*, CVPR 2017, arXiv:1704.03915.

    Example:
        >>> import torch
        >>> charbonnier_loss(torch.tensor([3.0]), torch.tensor([0.0]), eps=4.0)
        tensor(5.)
    """
    check_positive(eps, "eps", "charbonnier_loss")
    return elementwise_loss(
        input,
        target,
        lambda d: torch.hypot(d, d.new_tensor(eps)),
        weight=weight,
        reduction=reduction,
        fn="charbonnier_loss",
    )


class CharbonnierLoss(LossModule):
    """Module form of :func:`charbonnier_loss`."""

    function = charbonnier_loss

    def __init__(self, *, eps: float = 1e-3, reduction: str = "mean") -> None:
        check_positive(eps, "eps", "CharbonnierLoss")
        super().__init__(eps=eps, reduction=reduction)


register_loss(
    "charbonnier",
    family="regression",
    function=charbonnier_loss,
    module=CharbonnierLoss,
    formula="sqrt((x - y)^2 + eps^2)",
    reference="Charbonnier et al., ICIP 1994; Lai et al., LapSRN, arXiv:1704.03915",
)
