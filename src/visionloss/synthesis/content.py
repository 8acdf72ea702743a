"""Content loss of Gatys et al. (neural style transfer)."""

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
    resolve_weights,
    squared_error_per_image,
    weighted_layer_sum,
)

__all__ = ["content_loss", "ContentLoss"]


def content_loss(
    input: Tensor,
    target: Tensor | Mapping[str, Tensor],
    *,
    network: Callable[[Tensor], Mapping[str, Tensor]],
    layers: Layers = None,
    layer_weights: LayerWeights = None,
    reduction: str = "mean",
) -> Tensor:
    r"""Content loss of Gatys et al.: half the summed squared feature difference.

    .. math:: \ell_b = \sum_l w_l \, \tfrac12 \sum_{i,k} \big(F^l_{b,ik} - P^l_{b,ik}\big)^2

    with :math:`F^l` the features of the generated image and :math:`P^l` those of the content
    image at layer ``l`` (Gatys et al. use VGG19 ``conv4_2``, i.e. ``relu4_2`` here, the Caffe
    blob after the in-place ReLU). Unlike :func:`perceptual_loss` the sum is not normalised:
    for one layer ``content_loss = 0.5 * C * H * W * perceptual_loss``, so its scale grows with
    the image; Gatys et al. balance it with a style weight ``beta / alpha`` of 1e3 to 1e4.

    Args:
        input: generated images ``(B, 3, H, W)``.
        target: content images of the same shape, or a dict of their precomputed features.
        network: a module returning ``{layer name: (B, C, H, W)}``.
        layers: the layers to use (default: every layer the network returns).
        layer_weights: one weight per layer (default all 1).
        reduction: ``"mean"`` over images, ``"sum"`` or ``"none"``.

    Shape:
        output: scalar, or ``(B,)`` for ``"none"``.

    Returns:
        the loss, float32 for half-precision features.

    Reference:
        Gatys, Ecker & Bethge, *Image Style Transfer Using Convolutional Neural Networks*,
        CVPR 2016, Eq. (1) (first as *A Neural Algorithm of Artistic Style*, arXiv:1508.06576,
        2015).

    Example:
        >>> import torch
        >>> pixels = lambda x: {"pixels": x}
        >>> content_loss(torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2), network=pixels)
        tensor(6.)
    """
    fn = "content_loss"
    check_reduction(reduction, fn)
    layers, a, b = feature_pairs(network, input, target, layers, fn)
    weights = resolve_weights(layers, layer_weights, fn)
    per_layer = [0.5 * squared_error_per_image(fa, fb, mean=False) for fa, fb in zip(a, b)]
    return weighted_layer_sum(per_layer, weights, reduction, fn)


class ContentLoss(FeatureLossModule):
    """Module form of :func:`content_loss`; by default Gatys et al.'s VGG19 ``relu4_2``
    (torchvision ImageNet weights from the local torch hub cache, see :class:`VGGFeatures`)."""

    function = content_loss

    def __init__(
        self,
        network: nn.Module | None = None,
        *,
        arch: str = "vgg19",
        layers: Layers = ("relu4_2",),
        layer_weights: LayerWeights = None,
        weights: Any = "DEFAULT",
        input_range: tuple[float, float] = (0.0, 1.0),
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            network,
            arch=arch,
            weights=weights,
            input_range=input_range,
            layers=layers,
            layer_weights=layer_weights,
            reduction=reduction,
        )


register_loss(
    "content",
    family="synthesis",
    function=content_loss,
    module=ContentLoss,
    formula="sum_l w_l 0.5 ||F_l(x) - P_l(c)||^2",
    reference="Gatys et al., Image Style Transfer Using CNNs, CVPR 2016 (preprint: A Neural "
    "Algorithm of Artistic Style, arXiv:1508.06576)",
)
