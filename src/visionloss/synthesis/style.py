"""Style loss: squared differences of Gram matrices (Gatys et al.; Johnson et al.)."""

from __future__ import annotations

import functools
from typing import Any

from torch import Tensor

from .._core.declare import loss_function
from .._core.registry import register_loss
from ._features import (
    GRAM_DOCS,
    Convention,
    Features,
    Network,
    feature_module,
    feature_options,
    gram_difference_per_image,
    image_examples,
    layer_loss,
)

__all__ = ["style_loss", "StyleLoss"]

GATYS_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


@loss_function(GRAM_DOCS, options=feature_options, keep_autocast=True)
def style_loss(
    input: Tensor,
    target: Tensor | Features,
    *,
    network: Network,
    convention: Convention = "gatys",
    **options: Any,
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

    {{per_image}}

    Reference:
        {{gatys_2016}}, Eqs. (3)-(5); {{johnson_2016}}.

    Example:
        >>> import torch
        >>> pixels = lambda x: {"pixels": x}
        >>> x = torch.tensor([[[[1.0, 2.0]], [[0.0, 3.0]]]])  # Gram/4 = [[1.25, 1.5], [1.5, 2.25]]
        >>> style_loss(x, torch.zeros_like(x), network=pixels)  # (1.25² + 2·1.5² + 2.25²) / 4
        tensor(2.7812)
    """
    term = functools.partial(gram_difference_per_image, convention=convention)
    return layer_loss(
        input, target, fn="style_loss", term=term, network=network, gram=True, **options
    )


StyleLoss = register_loss(
    "style",
    family="synthesis",
    function=style_loss,
    module=feature_module(
        style_loss,
        "StyleLoss",
        about="By default Gatys et al.'s VGG19 ``relu1_1`` ... ``relu5_1`` with weights 1/5 and "
        'the ``"gatys"`` convention, on VGG\'s max pooling (they found average pooling, '
        '``pooling="avg"``, gives slightly more appealing images).',
        layers=GATYS_STYLE_LAYERS,
    ),
    formula="sum_l w_l ||G_l(x) - G_l(s)||^2 / (4 N_l^2 M_l^2)",
    reference="Gatys et al., Image Style Transfer Using CNNs, CVPR 2016 (preprint: A Neural "
    "Algorithm of Artistic Style, arXiv:1508.06576)",
    examples=image_examples,
).module
