"""Texture loss of Gatys et al. (texture synthesis with CNNs)."""

from __future__ import annotations

import functools
from typing import Any

from torch import Tensor

from .._core.declare import loss_function
from .._core.registry import register_loss
from ._features import (
    GRAM_DOCS,
    Features,
    Network,
    feature_module,
    feature_options,
    gram_difference_per_image,
    image_examples,
    layer_loss,
)

__all__ = ["texture_loss", "TextureLoss"]

GATYS_TEXTURE_LAYERS = ("relu1_1", "pool1", "pool2", "pool3", "pool4")
_gatys = functools.partial(gram_difference_per_image, convention="gatys")


@loss_function(GRAM_DOCS, options=feature_options, keep_autocast=True)
def texture_loss(
    input: Tensor, target: Tensor | Features, *, network: Network, **options: Any
) -> Tensor:
    r"""Texture loss of Gatys et al. (2015): Gram-matrix matching over the chosen layers.

    .. math::
        \ell_b = \sum_l w_l \frac{1}{4 N_l^2 M_l^2} \sum_{ij} (G^l_{ij} - \hat G^l_{ij})^2

    the texture-synthesis objective, identical to :func:`style_loss` with
    ``convention="gatys"`` (defaults included: equal weights :math:`w_l = 1/L`): the style term
    *is* a texture loss. For synthesis only the ratios of the :math:`w_l` matter: the default
    sets the scale of the loss, not the texture it leads to. Gatys et al. synthesise textures
    from VGG19 ``conv1_1, pool1, pool2, pool3, pool4`` (``relu1_1`` here: the Caffe blob after
    the in-place ReLU) with max pooling replaced by average pooling, which
    :class:`TextureLoss` sets up; they also rescale the network's filters so each has mean
    activation 1 over ImageNet, which needs the data set and is not reproduced.

    {{per_image}}

    Reference:
        Gatys, Ecker & Bethge, *Texture Synthesis Using Convolutional Neural Networks*,
        NeurIPS 2015, Eqs. (2)-(4), arXiv:1505.07376.

    Example:
        >>> import torch
        >>> pixels = lambda x: {"pixels": x}
        >>> x = torch.rand(2, 3, 8, 8)
        >>> texture_loss(x, x[:1], network=pixels, reduction="none")[0]  # same texture
        tensor(0.)
    """
    return layer_loss(
        input, target, fn="texture_loss", term=_gatys, network=network, gram=True, **options
    )


TextureLoss = register_loss(
    "texture",
    family="synthesis",
    function=texture_loss,
    module=feature_module(
        texture_loss,
        "TextureLoss",
        about="By default Gatys et al.'s VGG19 with average pooling and the layers "
        "``relu1_1, pool1, pool2, pool3, pool4``.",
        layers=GATYS_TEXTURE_LAYERS,
        pooling="avg",
    ),
    formula="sum_l w_l ||G_l(x) - G_l(t)||^2 / (4 N_l^2 M_l^2)",
    reference="Gatys et al., Texture Synthesis Using CNNs, NeurIPS 2015, arXiv:1505.07376",
    examples=image_examples,
).module
