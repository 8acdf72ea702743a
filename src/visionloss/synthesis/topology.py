"""Topology-aware loss of Mosinska et al. (VGG19 features of masks)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from torch import Tensor, nn

from .._core.checks import check_choice, check_positive, check_tensor, shape_str
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

__all__ = ["topology_loss", "TopologyLoss"]

MOSINSKA_LAYERS = ("relu1_2", "relu2_2", "relu3_4")


def _as_rgb(mask: Tensor, name: str, fn: str) -> Tensor:
    check_tensor(mask, name, fn, floating=True, ndim=4)
    if mask.shape[1] == 1:
        return mask.expand(-1, 3, -1, -1)
    if mask.shape[1] != 3:
        raise ValueError(
            f"{fn}: expected {name} masks of shape (B, 1, H, W) (or (B, 3, H, W)), "
            f"got {shape_str(mask)}"
        )
    return mask


def topology_loss(
    input: Tensor,
    target: Tensor | Mapping[str, Tensor],
    *,
    network: Callable[[Tensor], Mapping[str, Tensor]],
    layers: Layers = None,
    layer_weights: LayerWeights = None,
    mu: float = 0.1,
    normalize: bool = True,
    reduction: str = "mean",
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
        layers: the layers to use (default: every layer the network returns).
        layer_weights: one weight per layer (default all 1).
        mu: the weight of the topology term, ``>= 0`` (default 0.1).
        normalize: divide each layer's sum by :math:`C_n H_n W_n` (default True); False gives
            the plain sum of the paper's Eq. (2).
        reduction: ``"mean"`` over images, ``"sum"`` or ``"none"``.

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
    fn = "topology_loss"
    check_reduction(reduction, fn)
    check_positive(mu, "mu", fn, allow_zero=True)
    check_choice(normalize, (True, False), "normalize", fn)
    rgb = _as_rgb(input, "input", fn)
    if not isinstance(target, Mapping):
        target = _as_rgb(target, "target", fn)
    layers, a, b = feature_pairs(network, rgb, target, layers, fn)
    weights = resolve_weights(layers, layer_weights, fn)
    per_layer = [squared_error_per_image(fa, fb, mean=normalize) for fa, fb in zip(a, b)]
    return mu * weighted_layer_sum(per_layer, weights, reduction, fn)


class TopologyLoss(FeatureLossModule):
    """Module form of :func:`topology_loss`; by default VGG19 ``relu1_2, relu2_2, relu3_4`` with
    masks in ``[0, 1]`` (torchvision ImageNet weights from the local torch hub cache, see
    :class:`VGGFeatures`)."""

    function = topology_loss

    def __init__(
        self,
        network: nn.Module | None = None,
        *,
        arch: str = "vgg19",
        layers: Layers = MOSINSKA_LAYERS,
        layer_weights: LayerWeights = None,
        mu: float = 0.1,
        normalize: bool = True,
        weights: Any = "DEFAULT",
        input_range: tuple[float, float] = (0.0, 1.0),
        reduction: str = "mean",
    ) -> None:
        check_positive(mu, "mu", "TopologyLoss", allow_zero=True)
        check_choice(normalize, (True, False), "normalize", "TopologyLoss")
        super().__init__(
            network,
            arch=arch,
            weights=weights,
            input_range=input_range,
            layers=layers,
            layer_weights=layer_weights,
            mu=mu,
            normalize=normalize,
            reduction=reduction,
        )

    def target_features(self, target: Tensor) -> dict[str, Tensor]:
        """Features of true masks (1 channel repeated to 3), computed once under no_grad."""
        return super().target_features(_as_rgb(target, "target", "TopologyLoss"))


register_loss(
    "topology",
    family="synthesis",
    function=topology_loss,
    module=TopologyLoss,
    formula="mu sum_n w_n ||l_n(y) - l_n(p)||^2 / (C_n H_n W_n) (normalize=False: "
    "no division, Eq. 2), VGG19 of masks",
    reference="Mosinska et al., Beyond the Pixel-Wise Loss, CVPR 2018, arXiv:1712.02190",
)
