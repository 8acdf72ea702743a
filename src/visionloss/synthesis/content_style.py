"""Combined content and style loss of neural style transfer (Gatys et al.)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from torch import Tensor, nn

from .._core.checks import check_choice, check_tensor
from .._core.reduction import check_reduction
from .._core.registry import register_loss
from ._features import (
    STYLE_CONVENTIONS,
    FeatureLossModule,
    Layers,
    LayerWeights,
    as_layer_tuple,
    feature_pairs,
    gram_difference_per_image,
    resolve_weights,
    run_network,
    squared_error_per_image,
    weighted_layer_sum,
)

__all__ = ["content_style_loss", "ContentStyleLoss"]

_CONTENT = ("relu4_2",)
_STYLE = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def _check_options(content_layers, style_layers, content_weights, style_weights, convention, fn):
    """Both layer sets (required) with their weights, and the convention word."""
    check_choice(convention, STYLE_CONVENTIONS, "convention", fn)
    content_layers = as_layer_tuple(content_layers, fn, "content_layers")
    style_layers = as_layer_tuple(style_layers, fn, "style_layers")
    if content_layers is None or style_layers is None:
        raise ValueError(f"{fn}: expected content_layers and style_layers, got None")
    cw = resolve_weights(content_layers, content_weights, fn, "content_weights")
    sw = resolve_weights(style_layers, style_weights, fn, "style_weights", mean=True)
    return content_layers, style_layers, cw, sw


def content_style_loss(
    input: Tensor,
    content: Tensor | Mapping[str, Tensor],
    style: Tensor | Mapping[str, Tensor],
    *,
    network: Callable[[Tensor], Mapping[str, Tensor]],
    content_layers: Layers = _CONTENT,
    style_layers: Layers = _STYLE,
    content_weights: LayerWeights = None,
    style_weights: LayerWeights = None,
    alpha: float = 1.0,
    beta: float = 1e3,
    convention: str = "gatys",
    reduction: str = "mean",
) -> Tensor:
    r"""Neural style transfer objective: ``alpha * content + beta * style``.

    .. math::
        \ell_b = \alpha\, L_{\text{content}}(\hat y_b, c_b) + \beta\, L_{\text{style}}(\hat y_b, s)

    with :func:`content_loss` on ``content_layers`` and :func:`style_loss` (``convention``) on
    ``style_layers``. The network runs once on ``input`` and must return both sets of layers;
    the content and style images' features are computed under ``no_grad`` (or passed
    precomputed as dicts). Gatys et al. use VGG19, content ``conv4_2`` (``relu4_2`` here), style
    ``conv1_1 ... conv5_1`` with weights :math:`w_l = 1/5`, and ``alpha / beta`` of 1e-3 or
    1e-4: the defaults here (style weights ``1 / L`` each, ``alpha = 1``, ``beta = 1e3``).

    Args:
        input: generated images ``(B, 3, H, W)``.
        content: content images of the same shape (or a dict of their features).
        style: style images ``(B or 1, 3, H', W')`` (or a dict of their features).
        network: a module returning every layer of ``content_layers`` and ``style_layers``.
        content_layers, style_layers: layer names (defaults: Gatys et al.'s).
        content_weights: per-layer weights of the content term (default all 1).
        style_weights: per-layer weights of the style term (default ``1 / L`` each for ``L``
            style layers, as :func:`style_loss`; ``(1.0,) * L`` gives the plain sum).
        alpha, beta: the weights of the two terms (defaults 1 and 1e3).
        convention: Gram normalisation of the style term (see :func:`style_loss`).
        reduction: ``"mean"`` over images, ``"sum"`` or ``"none"``.

    Shape:
        output: scalar, or ``(B,)`` for ``"none"``.

    Returns:
        the loss, float32 for half-precision features.

    Reference:
        Gatys, Ecker & Bethge, *Image Style Transfer Using Convolutional Neural Networks*,
        CVPR 2016, Eq. (7) (first as *A Neural Algorithm of Artistic Style*, arXiv:1508.06576,
        2015).

    Example:
        >>> import torch
        >>> pixels = lambda x: {"pixels": x}
        >>> x = torch.rand(1, 3, 4, 4)
        >>> content_style_loss(x, x, x, network=pixels, content_layers="pixels",
        ...                    style_layers="pixels")
        tensor(0.)
    """
    fn = "content_style_loss"
    check_reduction(reduction, fn)
    c_layers, s_layers, cw, sw = _check_options(
        content_layers, style_layers, content_weights, style_weights, convention, fn
    )
    check_tensor(input, "input", fn, floating=True, min_ndim=3)
    feats = run_network(network, input, fn)  # one forward of the input for both terms
    _, ca, cb = feature_pairs(network, input, content, c_layers, fn, input_features=feats)
    _, sa, sb = feature_pairs(network, input, style, s_layers, fn, gram=True, input_features=feats)
    terms = [0.5 * squared_error_per_image(a, b, mean=False) for a, b in zip(ca, cb)]
    terms += [gram_difference_per_image(a, b, convention) for a, b in zip(sa, sb)]
    weights = [alpha * w for w in cw] + [beta * w for w in sw]
    return weighted_layer_sum(terms, weights, reduction, fn)


class ContentStyleLoss(FeatureLossModule):
    """Module form of :func:`content_style_loss`; by default Gatys et al.'s VGG19 set-up
    (content ``relu4_2``; style ``relu1_1 ... relu5_1`` with weights 1/5; alpha 1, beta 1e3;
    max pooling; torchvision ImageNet weights from the local torch hub cache, see
    :class:`VGGFeatures`). Call as ``loss(input, content, style)``; ``target_features(image)``
    precomputes either target."""

    function = content_style_loss

    def __init__(
        self,
        network: nn.Module | None = None,
        *,
        arch: str = "vgg19",
        content_layers: Layers = _CONTENT,
        style_layers: Layers = _STYLE,
        content_weights: LayerWeights = None,
        style_weights: LayerWeights = None,
        alpha: float = 1.0,
        beta: float = 1e3,
        convention: str = "gatys",
        weights: Any = "DEFAULT",
        input_range: tuple[float, float] = (0.0, 1.0),
        pooling: str = "max",
        reduction: str = "mean",
    ) -> None:
        content_layers, style_layers, _, _ = _check_options(
            content_layers,
            style_layers,
            content_weights,
            style_weights,
            convention,
            "ContentStyleLoss",
        )
        super().__init__(
            network,
            vgg_layers=tuple(dict.fromkeys(content_layers + style_layers)),
            arch=arch,
            weights=weights,
            input_range=input_range,
            pooling=pooling,
            content_layers=content_layers,
            style_layers=style_layers,
            content_weights=content_weights,
            style_weights=style_weights,
            alpha=alpha,
            beta=beta,
            convention=convention,
            reduction=reduction,
        )


register_loss(
    "content_style",
    family="synthesis",
    function=content_style_loss,
    module=ContentStyleLoss,
    aliases=("neural_style",),
    formula="alpha * content + beta * style",
    reference="Gatys et al., Image Style Transfer Using CNNs, CVPR 2016 (preprint: A Neural "
    "Algorithm of Artistic Style, arXiv:1508.06576)",
)
