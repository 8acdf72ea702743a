"""Topology-aware loss of Mosinska et al. (VGG19 features of masks)."""

from __future__ import annotations

import functools
from typing import Annotated, Any

from torch import Tensor

from .._core.checks import check_tensor, shape_str
from .._core.declare import loss_function
from .._core.options import Choice, NonNegative
from .._core.registry import register_loss
from ..errors import InputError
from ._features import (
    SYNTHESIS_DOCS,
    FeatureLossModule,
    Features,
    Network,
    feature_module,
    feature_options,
    layer_loss,
    mask_examples,
    squared_error_per_image,
)

__all__ = ["topology_loss", "TopologyLoss"]

MOSINSKA_LAYERS = ("relu1_2", "relu2_2", "relu3_4")


def _as_rgb(mask: Tensor, name: str, fn: str) -> Tensor:
    check_tensor(mask, name, fn, floating=True, ndim=4)
    if mask.shape[1] == 1:
        return mask.expand(-1, 3, -1, -1)
    if mask.shape[1] != 3:
        raise InputError(
            f"{fn}: expected {name} masks of shape (B, 1, H, W) (or (B, 3, H, W)), "
            f"got {shape_str(mask)}"
        )
    return mask


class _MaskFeatureModule(FeatureLossModule):
    def target_features(self, target: Tensor) -> dict[str, Tensor]:
        """Features of true masks (1 channel repeated to 3), computed once under no_grad."""
        return super().target_features(_as_rgb(target, "target", type(self).__name__))


@loss_function(SYNTHESIS_DOCS, options=feature_options, keep_autocast=True)
def topology_loss(
    input: Tensor,
    target: Tensor | Features,
    *,
    network: Network,
    mu: NonNegative = 0.1,
    normalize: Annotated[bool, Choice(True, False)] = True,
    **options: Any,
) -> Tensor:
    r"""Topology-aware loss of Mosinska et al.: VGG19 feature differences of predicted and true
    masks, to be added to a pixel loss.

    .. math::
        \ell_b = \mu \sum_n \frac{w_n}{Z_n} \sum_{m=1}^{C_n}
                 \big\lVert l^m_n(y_b) - l^m_n(\hat y_b) \big\rVert_2^2,
        \qquad Z_n = C_n H_n W_n \text{ (normalize=True) or } 1 \text{ (normalize=False)}

    where :math:`l^m_n` is the ``m``-th feature map of layer ``n`` of a frozen VGG19 applied to
    a 1-channel mask repeated to 3 channels, :math:`\hat y` the predicted probabilities and
    :math:`y` the true mask. The paper trains with :math:`L_{bce} + \mu L_{top}` on VGG19
    ``conv1_2, conv2_2, conv3_4`` (Caffe blobs after the in-place ReLU: ``relu1_2, relu2_2,
    relu3_4`` here, :class:`TopologyLoss`'s default). Its Eq. (2) is the plain sum of the
    squared differences over layers and maps, ``normalize=False``. By default
    (``normalize=True``) each layer's sum is divided by its size :math:`C_n H_n W_n` (as public
    reproductions do with ``nn.MSELoss``), so ``mu`` does not depend on the image size and
    every layer counts alike. The sizes differ from layer to layer (VGG19 ``relu1_2`` has
    :math:`64 H W` values, ``relu2_2`` :math:`32 H W`, ``relu3_4`` :math:`16 H W`), so with
    several layers no single rescaling of ``mu`` turns one form into the other (with one layer
    of size :math:`CHW`, ``normalize=False`` with ``mu / (C H W)`` equals the default with
    ``mu``). For the paper's sum pass ``normalize=False``, with a ``mu`` chosen for it.

    Args:
        input: predicted foreground probabilities ``(B, 1, H, W)`` in ``[0, 1]`` (apply the
            sigmoid first), or ``(B, 3, H, W)``.
        target: true masks of the same shape (float), or a dict of their precomputed features.
        network: a module returning ``{layer name: (B, C, H, W)}`` for 3-channel images in
            ``[0, 1]`` (e.g. ``VGGFeatures("vgg19", MOSINSKA_LAYERS)``).
        mu: the weight of the topology term, ``>= 0`` (default 0.1).
        normalize: divide each layer's sum by :math:`C_n H_n W_n` (default True); False gives
            the plain sum of the paper's Eq. (2).

    Shape:
        ``input``: ``(B, 1, H, W)``; output: scalar, or ``(B,)`` for ``"none"``.

    Returns:
        ``mu`` times the feature term, float32 for half-precision features.

    Reference:
        Mosinska, Marquez-Neila, Kozinski & Fua, *Beyond the Pixel-Wise Loss for
        Topology-Aware Delineation*, CVPR 2018, Eqs. (2)-(3), arXiv:1712.02190.

    Example:
        >>> import torch
        >>> pixels = lambda x: {"pixels": x}
        >>> pred, true = torch.full((1, 1, 2, 2), 0.5), torch.ones(1, 1, 2, 2)
        >>> topology_loss(pred, true, network=pixels, mu=1.0)  # mean of 0.5^2
        tensor(0.2500)
        >>> topology_loss(pred, true, network=pixels, mu=1.0, normalize=False)  # 12 x 0.5^2
        tensor(3.)
    """
    term = functools.partial(squared_error_per_image, mean=normalize)
    return mu * layer_loss(
        input, target, fn="topology_loss", term=term, network=network, prepare=_as_rgb, **options
    )


TopologyLoss = register_loss(
    "topology",
    family="synthesis",
    function=topology_loss,
    module=feature_module(
        topology_loss,
        "TopologyLoss",
        about="By default VGG19 ``relu1_2, relu2_2, relu3_4`` (Mosinska et al.'s) with masks in "
        "``[0, 1]``; ``target_features`` repeats 1-channel masks to 3 channels too.",
        base=_MaskFeatureModule,
        layers=MOSINSKA_LAYERS,
    ),
    formula="mu sum_n w_n ||l_n(y) - l_n(p)||^2 / (C_n H_n W_n) (normalize=False: "
    "no division, Eq. 2), VGG19 of masks",
    reference="Mosinska et al., Beyond the Pixel-Wise Loss, CVPR 2018, arXiv:1712.02190",
    examples=mask_examples,
).module
