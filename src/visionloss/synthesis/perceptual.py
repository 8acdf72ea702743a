"""Perceptual (feature reconstruction) loss of Johnson et al."""

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

__all__ = ["perceptual_loss", "PerceptualLoss"]


def perceptual_loss(
    input: Tensor,
    target: Tensor | Mapping[str, Tensor],
    *,
    network: Callable[[Tensor], Mapping[str, Tensor]],
    layers: Layers = None,
    layer_weights: LayerWeights = None,
    reduction: str = "mean",
) -> Tensor:
    r"""Perceptual loss (feature reconstruction loss) of Johnson et al.

    .. math::
        \ell_b = \sum_j w_j \, \frac{1}{C_j H_j W_j}
                 \big\lVert \phi_j(\hat y_b) - \phi_j(y_b) \big\rVert_2^2

    where :math:`\phi_j` is the activation of layer ``j`` of a frozen network (a
    :class:`VGGFeatures`, or any module returning a dict of named features). The target's
    features are computed under ``no_grad`` (the target is a constant), or passed precomputed as
    a dict to reuse them.

    Args:
        input: images ``(B, 3, H, W)`` (in the range the network declares).
        target: images of the same shape, or a dict ``layer -> features`` from ``network``.
        network: a module returning ``{layer name: (B, C, H, W)}``.
        layers: the layers to use (default: every layer the network returns).
        layer_weights: one weight per layer, a sequence or a mapping (default all 1).
        reduction: ``"mean"`` over images, ``"sum"`` or ``"none"``.

    Shape:
        ``input``: ``(B, 3, H, W)``; output: scalar, or ``(B,)`` for ``"none"``.

    Returns:
        the loss, float32 for half-precision features.

    Reference:
        Johnson et al., *Perceptual Losses for Real-Time Style Transfer and Super-Resolution*,
        ECCV 2016, arXiv:1603.08155, Eq. (2) (they use VGG16 ``relu2_2``).

    Example:
        >>> import torch
        >>> pixels = lambda x: {"pixels": x}  # a stand-in network: the image itself
        >>> x, y = torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2)
        >>> perceptual_loss(x, y, network=pixels)  # mean squared difference per image
        tensor(1.)
    """
    fn = "perceptual_loss"
    check_reduction(reduction, fn)
    layers, a, b = feature_pairs(network, input, target, layers, fn)
    weights = resolve_weights(layers, layer_weights, fn)
    per_layer = [squared_error_per_image(fa, fb, mean=True) for fa, fb in zip(a, b)]
    return weighted_layer_sum(per_layer, weights, reduction, fn)


class PerceptualLoss(FeatureLossModule):
    """Module form of :func:`perceptual_loss`, holding its (frozen) network.

    With ``network=None`` it builds ``VGGFeatures(arch, layers, weights=weights,
    input_range=input_range)``; the default is Johnson et al.'s VGG16 ``relu2_2`` with
    torchvision's ImageNet weights read from the local torch hub cache (see
    :class:`VGGFeatures`: nothing is downloaded).
    """

    function = perceptual_loss

    def __init__(
        self,
        network: nn.Module | None = None,
        *,
        arch: str = "vgg16",
        layers: Layers = ("relu2_2",),
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
    "perceptual",
    family="synthesis",
    function=perceptual_loss,
    module=PerceptualLoss,
    aliases=("feature_reconstruction",),
    formula="sum_j w_j ||phi_j(x) - phi_j(y)||^2 / (C_j H_j W_j)",
    reference="Johnson et al., Perceptual Losses, ECCV 2016, arXiv:1603.08155",
)
