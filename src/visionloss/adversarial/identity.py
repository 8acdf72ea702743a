"""Identity-mapping loss of CycleGAN."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .._core.declare import loss_function
from .._core.options import NonNegative
from .._core.registry import register_loss
from ._common import ADVERSARIAL_DOCS, image_pair_examples, l1_options, weighted_l1

__all__ = ["identity_loss", "IdentityLoss"]


@loss_function(ADVERSARIAL_DOCS, options=l1_options)
def identity_loss(
    input: Tensor, target: Tensor, *, lambda_identity: NonNegative = 0.5, **options: Any
) -> Tensor:
    r"""Identity-mapping loss of CycleGAN: a generator fed an image of its own output domain
    should leave it unchanged.

    .. math:: \ell_i = \lambda_{\text{identity}} \, \lambda \, \big| G(y)_i - y_i \big|

    CycleGAN's reference code weights it ``lambda_identity * lambda`` = 0.5 x 10 = 5 by default
    (its option ``--lambda_identity 0.5`` is relative to the cycle weight ``lambda``); the paper
    (Sec. 5.2) uses it for painting -> photo to preserve colour composition.

    Args:
        input: ``G(y)``, the generator applied to an image ``y`` of its target domain.
        target: ``y``, same shape.
        lambda_: the cycle-consistency weight, ``>= 0`` (default 10).
        lambda_identity: the identity weight relative to ``lambda_``, ``>= 0`` (default 0.5).

    {{elementwise}}

    Reference:
        Zhu et al., CycleGAN, ICCV 2017, arXiv:1703.10593, Sec. 5.2; Taigman et al.,
        *Unsupervised Cross-Domain Image Generation*, ICLR 2017, arXiv:1611.02200.

    Example:
        >>> import torch
        >>> y = torch.zeros(1, 3, 2, 2)
        >>> identity_loss(y + 0.2, y)  # 0.5 * 10 * 0.2
        tensor(1.)
    """
    weight = lambda_identity * options["lambda_"]
    return weighted_l1(input, target, weight, options["reduction"], "identity_loss")


IdentityLoss = register_loss(
    "identity",
    family="adversarial",
    function=identity_loss,
    module="IdentityLoss",
    aliases=("cycle_identity",),
    formula="lambda_identity * lambda |G(y) - y|",
    reference="Zhu et al., CycleGAN, ICCV 2017, arXiv:1703.10593; Taigman et al., arXiv:1611.02200",
    examples=image_pair_examples,
).module
