"""Style loss: squared differences of Gram matrices (Gatys et al.; Johnson et al.)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from torch import Tensor, nn

from .._core.checks import check_choice
from .._core.reduction import check_reduction
from .._core.registry import register_loss
from ._features import (
    STYLE_CONVENTIONS,
    FeatureLossModule,
    Layers,
    LayerWeights,
    feature_pairs,
    gram_difference_per_image,
    resolve_weights,
    weighted_layer_sum,
)

__all__ = ["style_loss", "StyleLoss"]

GATYS_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def style_loss(
    input: Tensor,
    target: Tensor | Mapping[str, Tensor],
    *,
    network: Callable[[Tensor], Mapping[str, Tensor]],
    layers: Layers = None,
    layer_weights: LayerWeights = None,
    convention: str = "gatys",
    reduction: str = "mean",
) -> Tensor:
    r"""Style loss: weighted squared differences of per-image Gram matrices over layers.

    .. math::
        \ell_b = \sum_l w_l E_l, \quad w_l = \tfrac1L \text{ by default}, \qquad
        E_l^{\text{gatys}} = \frac{1}{4 N_l^2 M_l^2} \sum_{ij} (G^l_{ij} - A^l_{ij})^2

    with :math:`G^l = F^l {F^l}^\top` the unnormalised Gram of the generated image's
    :math:`N_l` feature maps of :math:`M_l = H_l W_l` positions and :math:`A^l` that of the
    style image. Implementations differ in how they normalise, by factors up to
    :math:`4 (H W)^2`; ``convention`` names the common ones. With
    :math:`\hat G = G / (N M)` (``gram_matrix(normalize="chw")``):

    | convention | :math:`E_l` | used by |
    | --- | --- | --- |
    | ``"gatys"`` | :math:`\tfrac14 \sum (\hat G - \hat A)^2` | Gatys et al. 2016, Eq. (4) |
    | ``"johnson"`` | :math:`\sum (\hat G - \hat A)^2` (4 x gatys) | Johnson et al. 2016 |
    | ``"mean"`` | :math:`\tfrac1{N^2} \sum (\hat G - \hat A)^2` | ``F.mse_loss`` of per-image Grams (PyTorch tutorial) |

    Codes that take ``F.mse_loss`` of raw Grams (no normalisation) are
    :math:`4 (N M)^2 / N^2 = 4 M^2` times ``"gatys"``. The PyTorch tutorial also folds the batch
    into one Gram; here every image has its own. A single style image (batch 1) is broadcast
    against a batch of inputs.

    Args:
        input: generated images ``(B, 3, H, W)``.
        target: style images ``(B or 1, 3, H', W')`` of any size, or a dict of their
            precomputed features (from the same network).
        network: a module returning ``{layer name: (B, C, H, W)}``.
        layers: the layers to use (default: every layer the network returns).
        layer_weights: the :math:`w_l`; default ``1 / L`` for each of the ``L`` layers (the
            mean over layers: Gatys et al.'s :math:`w_l = 1/5` on their five layers, so their
            ``alpha / beta`` ratios apply as published). Pass ``(1.0,) * L`` for the plain sum
            that some codes use (``L`` times larger).
        convention: ``"gatys"`` (default), ``"johnson"`` or ``"mean"``.
        reduction: ``"mean"`` over images, ``"sum"`` or ``"none"``.

    Shape:
        output: scalar, or ``(B,)`` for ``"none"``.

    Returns:
        the loss, float32 for half-precision features (Grams are computed in fp32).

    Reference:
        Gatys, Ecker & Bethge, *Image Style Transfer Using Convolutional Neural Networks*,
        CVPR 2016, Eqs. (3)-(5) (first as *A Neural Algorithm of Artistic Style*,
        arXiv:1508.06576, 2015); Johnson et al., *Perceptual Losses for Real-Time Style Transfer
        and Super-Resolution*, ECCV 2016, arXiv:1603.08155.

    Example:
        >>> import torch
        >>> pixels = lambda x: {"pixels": x}
        >>> x = torch.tensor([[[[1.0, 2.0]], [[0.0, 3.0]]]])  # Gram/4 = [[1.25, 1.5], [1.5, 2.25]]
        >>> style_loss(x, torch.zeros_like(x), network=pixels)  # (1.25² + 2·1.5² + 2.25²) / 4
        tensor(2.7812)
    """
    fn = "style_loss"
    check_reduction(reduction, fn)
    check_choice(convention, STYLE_CONVENTIONS, "convention", fn)
    layers, a, b = feature_pairs(network, input, target, layers, fn, gram=True)
    weights = resolve_weights(layers, layer_weights, fn, mean=True)
    per_layer = [gram_difference_per_image(fa, fb, convention) for fa, fb in zip(a, b)]
    return weighted_layer_sum(per_layer, weights, reduction, fn)


class StyleLoss(FeatureLossModule):
    """Module form of :func:`style_loss`; by default Gatys et al.'s VGG19 ``relu1_1`` ...
    ``relu5_1`` with weights 1/5 and the ``"gatys"`` convention, on VGG's max pooling (they
    found average pooling, ``pooling="avg"``, gives slightly more appealing images) with
    torchvision ImageNet weights from the local torch hub cache (see :class:`VGGFeatures`).
    ``target_features(style_image)`` computes the style features once for reuse."""

    function = style_loss

    def __init__(
        self,
        network: nn.Module | None = None,
        *,
        arch: str = "vgg19",
        layers: Layers = GATYS_STYLE_LAYERS,
        layer_weights: LayerWeights = None,
        convention: str = "gatys",
        weights: Any = "DEFAULT",
        input_range: tuple[float, float] = (0.0, 1.0),
        pooling: str = "max",
        reduction: str = "mean",
    ) -> None:
        check_choice(convention, STYLE_CONVENTIONS, "convention", "StyleLoss")
        super().__init__(
            network,
            arch=arch,
            weights=weights,
            input_range=input_range,
            pooling=pooling,
            layers=layers,
            layer_weights=layer_weights,
            convention=convention,
            reduction=reduction,
        )


register_loss(
    "style",
    family="synthesis",
    function=style_loss,
    module=StyleLoss,
    formula="sum_l w_l ||G_l(x) - G_l(s)||^2 / (4 N_l^2 M_l^2)",
    reference="Gatys et al., Image Style Transfer Using CNNs, CVPR 2016 (preprint: A Neural "
    "Algorithm of Artistic Style, arXiv:1508.06576)",
)
