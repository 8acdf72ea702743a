"""Texture loss of Gatys et al. (texture synthesis with CNNs)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from torch import Tensor, nn

from .._core.reduction import check_reduction
from .._core.registry import register_loss
from ._features import (
    FeatureLossModule,
    Layers,
    LayerWeights,
    feature_pairs,
    gram_difference_per_image,
    resolve_weights,
    weighted_layer_sum,
)

__all__ = ["texture_loss", "TextureLoss"]

GATYS_TEXTURE_LAYERS = ("relu1_1", "pool1", "pool2", "pool3", "pool4")


def texture_loss(
    input: Tensor,
    target: Tensor | Mapping[str, Tensor],
    *,
    network: Callable[[Tensor], Mapping[str, Tensor]],
    layers: Layers = None,
    layer_weights: LayerWeights = None,
    reduction: str = "mean",
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

    Args:
        input: synthesised images ``(B, 3, H, W)``.
        target: the texture exemplar ``(B or 1, 3, H', W')``, or a dict of its precomputed
            features.
        network: a module returning ``{layer name: (B, C, H, W)}``.
        layers: the layers to use (default: every layer the network returns).
        layer_weights: the :math:`w_l` (default ``1 / L`` for each of the ``L`` layers).
        reduction: ``"mean"`` over images, ``"sum"`` or ``"none"``.

    Shape:
        output: scalar, or ``(B,)`` for ``"none"``.

    Returns:
        the loss, float32 for half-precision features.

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
    fn = "texture_loss"
    check_reduction(reduction, fn)
    layers, a, b = feature_pairs(network, input, target, layers, fn, gram=True)
    weights = resolve_weights(layers, layer_weights, fn, mean=True)
    per_layer = [gram_difference_per_image(fa, fb, "gatys") for fa, fb in zip(a, b)]
    return weighted_layer_sum(per_layer, weights, reduction, fn)


class TextureLoss(FeatureLossModule):
    """Module form of :func:`texture_loss`; by default Gatys et al.'s VGG19 with average
    pooling and the layers ``relu1_1, pool1, pool2, pool3, pool4`` (torchvision ImageNet
    weights from the local torch hub cache, see :class:`VGGFeatures`)."""

    function = texture_loss

    def __init__(
        self,
        network: nn.Module | None = None,
        *,
        arch: str = "vgg19",
        layers: Layers = GATYS_TEXTURE_LAYERS,
        layer_weights: LayerWeights = None,
        weights: Any = "DEFAULT",
        input_range: tuple[float, float] = (0.0, 1.0),
        pooling: str = "avg",
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            network,
            arch=arch,
            weights=weights,
            input_range=input_range,
            pooling=pooling,
            layers=layers,
            layer_weights=layer_weights,
            reduction=reduction,
        )


register_loss(
    "texture",
    family="synthesis",
    function=texture_loss,
    module=TextureLoss,
    formula="sum_l w_l ||G_l(x) - G_l(t)||^2 / (4 N_l^2 M_l^2)",
    reference="Gatys et al., Texture Synthesis Using CNNs, NeurIPS 2015, arXiv:1505.07376",
)
