"""Cycle-consistency loss of CycleGAN."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .._core.declare import loss_function
from .._core.registry import register_loss
from ._common import ADVERSARIAL_DOCS, image_pair_examples, l1_options, weighted_l1

__all__ = ["cycle_consistency_loss", "CycleConsistencyLoss"]


@loss_function(ADVERSARIAL_DOCS, options=l1_options)
def cycle_consistency_loss(input: Tensor, target: Tensor, **options: Any) -> Tensor:
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

    {{elementwise}}

    Reference:
        Zhu, Park, Isola & Efros, *Unpaired Image-to-Image Translation using Cycle-Consistent
        Adversarial Networks*, ICCV 2017, arXiv:1703.10593, Eqs. (2)-(3).

    Example:
        >>> import torch
        >>> x = torch.zeros(1, 3, 2, 2)
        >>> cycle_consistency_loss(x + 0.1, x)  # 10 * 0.1
        tensor(1.0000)
    """
    lambda_, reduction = options["lambda_"], options["reduction"]
    return weighted_l1(input, target, lambda_, reduction, "cycle_consistency_loss")


CycleConsistencyLoss = register_loss(
    "cycle_consistency",
    family="adversarial",
    function=cycle_consistency_loss,
    module="CycleConsistencyLoss",
    aliases=("cycle",),
    formula="lambda |F(G(x)) - x|",
    reference="Zhu et al., CycleGAN, ICCV 2017, arXiv:1703.10593",
    examples=image_pair_examples,
).module
