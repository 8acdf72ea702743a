"""LPIPS: the learned perceptual image patch similarity of Zhang et al."""

from __future__ import annotations

from typing import Annotated, Any

import torch
from torch import Tensor, nn

from .._core.checks import check_same_shape, check_tensor
from .._core.declare import DocParts, loss_function
from .._core.dtypes import compute_dtype, upcast
from .._core.examples import Example, generator, uniform
from .._core.module import LossModule
from .._core.options import Bool, Check, Flag, Reduction
from .._core.reduction import reduce_loss
from .._core.registry import register_loss
from ..errors import InputError, OptionTypeError
from ._lpips_nets import LPIPSNetwork, lpips_network

__all__ = ["lpips_loss", "LPIPS", "LPIPSNetwork", "lpips_network"]


class _LPIPSNetworkCheck(Check):
    def __call__(self, value: Any, name: str, fn: str) -> Any:
        if not isinstance(value, LPIPSNetwork):
            raise OptionTypeError(
                f"{fn}: expected {name} to be an LPIPSNetwork (e.g. lpips_network('alex')), "
                f"got {type(value).__name__}"
            )
        return value


Network = Annotated[LPIPSNetwork, _LPIPSNetworkCheck()]

_DOCS = DocParts(
    args={
        "input": """images ``(B, 3, H, W)`` (``H, W >= 16`` for AlexNet, 32 for VGG16 and
            SqueezeNet).""",
        "target": """images of the same shape.""",
        "network": """an :class:`LPIPSNetwork`, e.g. ``lpips_network("alex")`` (the paper's
            recommended AlexNet variant; ``"vgg"`` and ``"squeeze"`` too).""",
        "normalize": """``True`` (default): the images are in ``[0, 1]`` and mapped to
            ``[-1, 1]`` (the lpips package's ``normalize=True``); ``False``: they are already
            in ``[-1, 1]`` (the package's default).""",
        "reduction": """``"mean"`` over images (default), ``"sum"`` or ``"none"`` (``(B,)``).""",
    }
)


@loss_function(_DOCS, keep_autocast=True)
def lpips_loss(
    input: Tensor,
    target: Tensor,
    *,
    network: Network,
    normalize: Bool = True,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""LPIPS distance of Zhang et al. (learned perceptual image patch similarity).

    .. math::
        d(x, y) = \sum_l \frac{1}{H_l W_l} \sum_{h,w}
            \big\lVert w_l \odot (\hat\phi_l(x)_{hw} - \hat\phi_l(y)_{hw}) \big\rVert_2^2

    with :math:`\hat\phi_l` the activations of slice :math:`l` of a frozen backbone (AlexNet,
    VGG16 or SqueezeNet, after Zhang et al.'s input scaling), unit-normalised along the
    channels (:math:`f / (\lVert f\rVert + 10^{-10})`), and :math:`w_l \ge 0` the learned
    per-channel weights (the "linear layers", 1x1 convolutions). Equal to the ``lpips``
    package's ``LPIPS(net=...)(x, y, normalize=...)`` given the same weights. Both images go
    through the network in one batch, so gradients reach the target too when it requires
    them.

    The network's weights come from local files only (see :func:`lpips_network`): nothing is
    ever downloaded.

    Degenerate cases: identical images give 0; a location where every channel of a slice is
    0 (dead ReLUs) has a zero normalised feature and a finite (zero) gradient.

    Shape:
        ``input``, ``target``: ``(B, 3, H, W)``; output: scalar, or ``(B,)`` for ``"none"``.

    Returns:
        the distance, float32 for half-precision inputs (the network runs under the caller's
        autocast, if any).

    Reference:
        Zhang, Isola, Efros, Shechtman & Wang, *The Unreasonable Effectiveness of Deep
        Features as a Perceptual Metric*, CVPR 2018, arXiv:1801.03924.

    Example:
        >>> import torch, warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")  # random backbone: only for this example
        ...     net = lpips_network("alex", backbone_weights=None)
        >>> x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
        >>> lpips_loss(x, x, network=net)
        tensor(0.)
    """
    fn = "lpips_loss"
    check_tensor(input, "input", fn, floating=True, ndim=4)
    check_tensor(target, "target", fn, floating=True, ndim=4)
    check_same_shape(input, target, fn)
    if input.shape[1] != network.shift.shape[1]:
        raise InputError(
            f"{fn}: expected input with {network.shift.shape[1]} channels, got shape "
            f"{tuple(input.shape)}"
        )
    dtype = compute_dtype(input, target)
    x, y = upcast(input, dtype), upcast(target, dtype)
    if normalize:
        x, y = 2 * x - 1, 2 * y - 1
    return reduce_loss(network(x, y).to(dtype), reduction, fn=fn)


class LPIPS(LossModule):
    """LPIPS distance of Zhang et al. as a Module that holds its network.

    Module form of :func:`lpips_loss`. With ``network=None`` it builds
    ``lpips_network(net, backbone_weights=..., lin_weights=...)``: torchvision's ImageNet
    backbone from the local torch hub cache (or a path) and the learned linear layers from
    the installed ``lpips`` package's files (or a path); nothing is downloaded.

    Args:
        network: an :class:`LPIPSNetwork`, or ``None`` (default) to build one from the
            options below.
        net: ``"alex"`` (default), ``"vgg"`` or ``"squeeze"``.
        backbone_weights: ``"DEFAULT"`` (default; torch hub cache), a path, or ``None``
            (random, tests only).
        lin_weights: ``"package"`` (default; the lpips package's files), a path, tensors, or
            ``None`` (all ones).
        normalize: images in ``[0, 1]`` (``True``, default) or ``[-1, 1]``.
        reduction: ``"mean"`` over images (default), ``"sum"`` or ``"none"``.
    """

    function = staticmethod(lpips_loss)

    def __init__(
        self,
        network: LPIPSNetwork | None = None,
        *,
        net: str = "alex",
        backbone_weights: Any = "DEFAULT",
        lin_weights: Any = "package",
        normalize: bool = True,
        reduction: str = "mean",
    ) -> None:
        """Build (or take) the network and set the options.

        Args:
            network: an :class:`LPIPSNetwork`, or ``None`` to build one from ``net``,
                ``backbone_weights`` and ``lin_weights`` (see :func:`lpips_network`).
            net: ``"alex"``, ``"vgg"`` or ``"squeeze"``.
            backbone_weights: ``"DEFAULT"`` (torch hub cache), a path, or ``None``.
            lin_weights: ``"package"``, a path, tensors, or ``None``.
            normalize: images in ``[0, 1]`` (``True``) or ``[-1, 1]``.
            reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        """
        if network is None:
            network = lpips_network(net, backbone_weights=backbone_weights, lin_weights=lin_weights)
        network = _LPIPSNetworkCheck()(network, "network", "LPIPS")
        normalize = Flag()(normalize, "normalize", "LPIPS")
        super().__init__(network=network, normalize=normalize, reduction=reduction)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """Compute :func:`lpips_loss` with this Module's network and options.

        Args:
            input: images ``(B, 3, H, W)``.
            target: images of the same shape.

        Returns:
            the distance (see :func:`lpips_loss`).
        """
        return lpips_loss(input, target, **self.options())

    def extra_repr(self) -> str:
        return f"normalize={self.normalize}, reduction={self.reduction!r}"


def _examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """Images ``(2, 3, 8, 8)`` and a two-slice float64 network (random, fixed weights)."""
    gen = generator(seed)
    args = (uniform(2, 3, 8, 8, dtype=dtype, gen=gen), uniform(2, 3, 8, 8, dtype=dtype, gen=gen))
    return Example(args, options={"network": example_network()})


def example_network() -> LPIPSNetwork:
    """A tiny float64 LPIPS network (conv-ReLU, pool, conv-ReLU), for examples and tests."""
    gen = torch.Generator().manual_seed(0)
    features = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.ReLU(),
        nn.AvgPool2d(2),
        nn.Conv2d(4, 5, 3, padding=1),
        nn.ReLU(),
    ).double()
    with torch.no_grad():
        for p in features.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) * 0.5)
    lin = [torch.rand(4, generator=gen), torch.rand(5, generator=gen)]
    net = LPIPSNetwork(features, (2, 5), lin)
    return net.double()


register_loss(
    "lpips",
    family="synthesis",
    function=lpips_loss,
    module=LPIPS,
    formula="sum_l mean_hw || w_l * (phi_l(x) / |phi_l(x)| - phi_l(y) / |phi_l(y)|) ||^2",
    reference="Zhang, Isola, Efros, Shechtman & Wang, CVPR 2018, arXiv:1801.03924",
    examples=_examples,
)
