"""Perceptual (feature reconstruction) loss of Johnson et al."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .._core.declare import loss_function
from .._core.registry import register_loss
from ._features import (
    SYNTHESIS_DOCS,
    Features,
    Network,
    feature_module,
    feature_options,
    image_examples,
    layer_loss,
    mean_squared_error,
)

__all__ = ["perceptual_loss", "PerceptualLoss"]


@loss_function(SYNTHESIS_DOCS, options=feature_options, keep_autocast=True)
def perceptual_loss(
    input: Tensor, target: Tensor | Features, *, network: Network, **options: Any
) -> Tensor:
    r"""Perceptual loss (feature reconstruction loss) of Johnson et al.

    .. math::
        \ell_b = \sum_j w_j \, \frac{1}{C_j H_j W_j}
                 \big\lVert \phi_j(\hat y_b) - \phi_j(y_b) \big\rVert_2^2

    where :math:`\phi_j` is the activation of layer ``j`` of a frozen network (a
    :class:`VGGFeatures`, or any module returning a dict of named features). The target's
    features are computed under ``no_grad`` (the target is a constant), or passed precomputed as
    a dict to reuse them.

    {{per_image}}

    Reference:
        {{johnson_2016}}, Eq. (2) (they use VGG16 ``relu2_2``).

    Example:
        >>> import torch
        >>> pixels = lambda x: {"pixels": x}  # a stand-in network: the image itself
        >>> x, y = torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2)
        >>> perceptual_loss(x, y, network=pixels)  # mean squared difference per image
        tensor(1.)
    """
    return layer_loss(
        input, target, fn="perceptual_loss", term=mean_squared_error, network=network, **options
    )


PerceptualLoss = register_loss(
    "perceptual",
    family="synthesis",
    function=perceptual_loss,
    module=feature_module(
        perceptual_loss,
        "PerceptualLoss",
        about="By default Johnson et al.'s VGG16 ``relu2_2``.",
        arch="vgg16",
        layers=("relu2_2",),
    ),
    aliases=("feature_reconstruction",),
    formula="sum_j w_j ||phi_j(x) - phi_j(y)||^2 / (C_j H_j W_j)",
    reference="Johnson et al., Perceptual Losses, ECCV 2016, arXiv:1603.08155",
    examples=image_examples,
).module
