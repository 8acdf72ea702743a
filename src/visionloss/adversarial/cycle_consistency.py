"""Cycle-consistency loss of CycleGAN."""

from __future__ import annotations

from torch import Tensor

from .._core.module import LossModule
from .._core.registry import register_loss
from ._l1 import check_lambda, weighted_l1

__all__ = ["cycle_consistency_loss", "CycleConsistencyLoss"]


def cycle_consistency_loss(
    input: Tensor, target: Tensor, *, lambda_: float = 10.0, reduction: str = "mean"
) -> Tensor:
    r"""Cycle-consistency loss of CycleGAN: weighted L1 between an image and its round trip.

    .. math:: \ell_i = \lambda \, \big| F(G(x))_i - x_i \big|

    One direction per call: CycleGAN's full term is
    ``cycle_consistency_loss(F(G(x)), x) + cycle_consistency_loss(G(F(y)), y)``.

    Args:
        input: the reconstruction ``F(G(x))``, any shape.
        target: the original ``x``, same shape.
        lambda_: the weight, ``>= 0`` (default 10, as the paper).
        reduction: ``"mean"`` over elements (default, as the paper's expectation of the L1
            norm divided by the number of pixels, like ``nn.L1Loss``), ``"sum"`` or ``"none"``.

    Shape:
        output: scalar, or the input's shape for ``"none"``.

    Returns:
        the loss, float32 for half inputs.

    Reference:
        Zhu, Park, Isola & Efros, *Unpaired Image-to-Image Translation using Cycle-Consistent
        Adversarial Networks*, ICCV 2017, arXiv:1703.10593, Eqs. (2)-(3).

    Example:
        >>> import torch
        >>> x = torch.zeros(1, 3, 2, 2)
        >>> cycle_consistency_loss(x + 0.1, x)  # 10 * 0.1
        tensor(1.0000)
    """
    fn = "cycle_consistency_loss"
    check_lambda(lambda_, "lambda_", fn)
    return weighted_l1(input, target, lambda_, reduction, fn)


class CycleConsistencyLoss(LossModule):
    """Module form of :func:`cycle_consistency_loss`."""

    function = cycle_consistency_loss

    def __init__(self, *, lambda_: float = 10.0, reduction: str = "mean") -> None:
        check_lambda(lambda_, "lambda_", "CycleConsistencyLoss")
        super().__init__(lambda_=lambda_, reduction=reduction)


register_loss(
    "cycle_consistency",
    family="adversarial",
    function=cycle_consistency_loss,
    module=CycleConsistencyLoss,
    aliases=("cycle",),
    formula="lambda |F(G(x)) - x|",
    reference="Zhu et al., CycleGAN, ICCV 2017, arXiv:1703.10593",
)
