"""Combined content and style loss of neural style transfer (Gatys et al.)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .._core.declare import loss_function
from .._core.options import Reduction
from .._core.registry import register_loss
from ..errors import OptionError
from ._features import (
    SYNTHESIS_DOCS,
    Convention,
    FeatureLossModule,
    Features,
    Layers,
    LayerWeights,
    Network,
    TermWeight,
    check_images,
    content_style_examples,
    feature_module,
    feature_pairs,
    gram_difference_per_image,
    half_squared_error,
    resolve_weights,
    run_network,
    weighted_layer_sum,
)
from .style import GATYS_STYLE_LAYERS

__all__ = ["content_style_loss", "ContentStyleLoss"]


def _layer_sets(
    *,
    fn: str,
    content_layers: tuple[str, ...] | None,
    style_layers: tuple[str, ...] | None,
    content_weights: Any,
    style_weights: Any,
    **_: Any,
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[float, ...], tuple[float, ...]]:
    """Both layer sets (required) with one weight per layer."""
    if content_layers is None or style_layers is None:
        raise OptionError(f"{fn}: expected content_layers and style_layers, got None")
    cw = resolve_weights(content_layers, content_weights, fn, "content_weights")
    sw = resolve_weights(style_layers, style_weights, fn, "style_weights", mean=True)
    return content_layers, style_layers, cw, sw


class _ContentStyleModule(FeatureLossModule):
    @staticmethod
    def check_layers(options: dict[str, Any], fn: str) -> None:
        _layer_sets(fn=fn, **options)


@loss_function(SYNTHESIS_DOCS, keep_autocast=True)
def content_style_loss(
    input: Tensor,
    content: Tensor | Features,
    style: Tensor | Features,
    *,
    network: Network,
    content_layers: Layers = ("relu4_2",),
    style_layers: Layers = GATYS_STYLE_LAYERS,
    content_weights: LayerWeights = None,
    style_weights: LayerWeights = None,
    alpha: TermWeight = 1.0,
    beta: TermWeight = 1e3,
    convention: Convention = "gatys",
    reduction: Reduction = "mean",
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
        content: content images of the same shape (or a dict of their features).
        style: style images ``(B or 1, 3, H', W')`` (or a dict of their features).
        network: a module returning every layer of ``content_layers`` and ``style_layers``.
        content_layers: layer names of the content term (default Gatys et al.'s
            ``relu4_2``).
        style_layers: layer names of the style term (default Gatys et al.'s ``relu1_1`` ...
            ``relu5_1``).
        content_weights: per-layer weights of the content term (default all 1).
        style_weights: per-layer weights of the style term (default ``1 / L`` each for ``L``
            style layers, as :func:`style_loss`; ``(1.0,) * L`` gives the plain sum).
        alpha: the weight of the content term (default 1).
        beta: the weight of the style term (default 1e3).

    {{per_image}}

    Reference:
        {{gatys_2016}}, Eq. (7).

    Example:
        >>> import torch
        >>> pixels = lambda x: {"pixels": x}
        >>> x = torch.rand(1, 3, 4, 4)
        >>> content_style_loss(x, x, x, network=pixels, content_layers="pixels",
        ...                    style_layers="pixels")
        tensor(0.)
    """
    c_layers, s_layers, cw, sw = _layer_sets(fn="content_style_loss", **locals())
    fn = "content_style_loss"
    check_images(input, content, fn, name="content")  # all three before the network runs
    check_images(input, style, fn, name="style", gram=True)
    feats = run_network(network, input, fn)  # one forward of the input for both terms
    _, ca, cb = feature_pairs(
        network, input, content, c_layers, fn, name="content", input_features=feats
    )
    _, sa, sb = feature_pairs(
        network, input, style, s_layers, fn, name="style", gram=True, input_features=feats
    )
    terms = [half_squared_error(a, b) for a, b in zip(ca, cb)]
    terms += [gram_difference_per_image(a, b, convention) for a, b in zip(sa, sb)]
    weights = [alpha * w for w in cw] + [beta * w for w in sw]
    return weighted_layer_sum(terms, weights, reduction, fn)


ContentStyleLoss = register_loss(
    "content_style",
    family="synthesis",
    function=content_style_loss,
    module=feature_module(
        content_style_loss,
        "ContentStyleLoss",
        about="By default Gatys et al.'s VGG19 set-up (content ``relu4_2``; style ``relu1_1 "
        "... relu5_1`` with weights 1/5; alpha 1, beta 1e3; max pooling); one VGG returns both "
        "sets of layers. Call as ``loss(input, content, style)``.",
        base=_ContentStyleModule,
    ),
    aliases=("neural_style",),
    formula="alpha * content + beta * style",
    reference="Gatys et al., Image Style Transfer Using CNNs, CVPR 2016 (preprint: A Neural "
    "Algorithm of Artistic Style, arXiv:1508.06576)",
    examples=content_style_examples,
).module
