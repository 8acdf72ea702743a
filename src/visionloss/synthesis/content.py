"""Content loss of Gatys et al. (neural style transfer)."""

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
    half_squared_error,
    image_examples,
    layer_loss,
)

__all__ = ["content_loss", "ContentLoss"]


@loss_function(SYNTHESIS_DOCS, options=feature_options, keep_autocast=True)
def content_loss(
    input: Tensor, target: Tensor | Features, *, network: Network, **options: Any
) -> Tensor:
    r"""Content loss of Gatys et al.: half the summed squared feature difference.

    .. math:: \ell_b = \sum_l w_l \, \tfrac12 \sum_{i,k} \big(F^l_{b,ik} - P^l_{b,ik}\big)^2

    with :math:`F^l` the features of the generated image and :math:`P^l` those of the content
    image at layer ``l`` (Gatys et al. use VGG19 ``conv4_2``, i.e. ``relu4_2`` here, the Caffe
    blob after the in-place ReLU). Unlike :func:`perceptual_loss` the sum is not normalised:
    for one layer ``content_loss = 0.5 * C * H * W * perceptual_loss``, so its scale grows with
    the image; Gatys et al. balance it with a style weight ``beta / alpha`` of 1e3 to 1e4.

    {{per_image}}

    Reference:
        {{gatys_2016}}, Eq. (1).

    Example:
        >>> import torch
        >>> pixels = lambda x: {"pixels": x}
        >>> content_loss(torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2), network=pixels)
        tensor(6.)
    """
    return layer_loss(
        input, target, fn="content_loss", term=half_squared_error, network=network, **options
    )


ContentLoss = register_loss(
    "content",
    family="synthesis",
    function=content_loss,
    module=feature_module(
        content_loss,
        "ContentLoss",
        about="By default Gatys et al.'s VGG19 ``relu4_2`` (their ``conv4_2``).",
        layers=("relu4_2",),
    ),
    formula="sum_l w_l 0.5 ||F_l(x) - P_l(c)||^2",
    reference="Gatys et al., Image Style Transfer Using CNNs, CVPR 2016 (preprint: A Neural "
    "Algorithm of Artistic Style, arXiv:1508.06576)",
    examples=image_examples,
).module
