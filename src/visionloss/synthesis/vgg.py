"""VGG feature extraction for the perceptual, style, texture and topology losses."""

from __future__ import annotations

import os
import re
import urllib.parse
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .._core.checks import (
    check_tensor,
    require,
    shape_str,
    value_checks_enabled,
    values_checkable,
)
from ..errors import InputError, OptionError, OptionTypeError

__all__ = ["VGGFeatures", "vgg_layer_names", "torch_hub_checkpoint_path"]

# torchvision's configuration keys of the two architectures (Simonyan & Zisserman's D and E).
_CFG_KEYS = {"vgg16": "D", "vgg19": "E"}
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_INSTALL_HINT = "VGGFeatures needs torchvision: pip install 'visionloss[vision]'"


def _torchvision_vgg():
    try:
        import torchvision.models as models
        from torchvision.models import vgg
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(_INSTALL_HINT) from err
    return models, vgg


def _names_for_cfg(cfg: Sequence[int | str]) -> list[str]:
    """One name per module of torchvision's ``make_layers(cfg)``: conv/relu pairs and pools."""
    names, block, conv = [], 1, 0
    for v in cfg:
        if v == "M":
            names.append(f"pool{block}")
            block, conv = block + 1, 0
        else:
            conv += 1
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
    return names


def vgg_layer_names(arch: str = "vgg16") -> list[str]:
    """The named layers of ``arch`` in order: ``conv1_1, relu1_1, ..., pool5``.

    Example:
        >>> vgg_layer_names("vgg16")[:5]
        ['conv1_1', 'relu1_1', 'conv1_2', 'relu1_2', 'pool1']
        >>> len(vgg_layer_names("vgg19"))
        37
    """
    if arch not in _CFG_KEYS:
        raise OptionError(f"vgg_layer_names: expected arch 'vgg16' or 'vgg19', got {arch!r}")
    _, vgg = _torchvision_vgg()
    return _names_for_cfg(vgg.cfgs[_CFG_KEYS[arch]])


def torch_hub_checkpoint_path(weights: Any) -> Path:
    """Where torch hub keeps the file of a torchvision weights enum:
    ``<torch.hub.get_dir()>/checkpoints/<file name of weights.url>``.

    ``torch.hub.get_dir()`` is ``$TORCH_HOME/hub`` (default ``~/.cache/torch/hub``).
    """
    filename = os.path.basename(urllib.parse.urlparse(weights.url).path)
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def _weights_enum(arch: str):
    models, _ = _torchvision_vgg()
    return {"vgg16": models.VGG16_Weights, "vgg19": models.VGG19_Weights}[arch]


def _weight_names(enum) -> str:
    """``'IMAGENET1K_V1', ..., 'DEFAULT'``: the names an enum accepts (aliases included)."""
    return ", ".join(repr(n) for n in enum.__members__)


def _looks_like_weight_name(weights: str) -> bool:
    """A torchvision weight name (``"IMAGENET1K_V1"``, ``"VGG16_Weights.DEFAULT"``) rather than a
    file path: one identifier, optionally after an enum prefix, with no folder or suffix."""
    return re.fullmatch(r"(?:[A-Za-z0-9]+_Weights\.)?[A-Za-z_][A-Za-z0-9_]*", weights) is not None


def _resolve_weights(arch: str, weights: Any) -> tuple[str, Any]:
    """``("enum", member)``, ``("path", Path)`` or ``("none", None)``."""
    if weights is None:
        return "none", None
    enum = _weights_enum(arch)
    models, _ = _torchvision_vgg()
    valid = (
        f"valid weight names for {arch}: {_weight_names(enum)} (or {enum.__name__}.<name>, "
        f"a {enum.__name__} member, a path to a state dict file, or None)"
    )
    if isinstance(weights, models.WeightsEnum):
        if not isinstance(weights, enum):
            raise OptionError(
                f"VGGFeatures: weights {weights} do not belong to arch={arch!r}; {valid}"
            )
        return "enum", weights
    if isinstance(weights, str):
        prefix, _, key = weights.rpartition(".")
        if prefix == enum.__name__ and key in enum.__members__:
            return "enum", enum[key]
        if not prefix and weights in enum.__members__:
            return "enum", enum[weights]
        # a name of another architecture's weights (or a misspelt one) is not a file name:
        # say so instead of reporting a missing file
        if _looks_like_weight_name(weights) and not Path(weights).is_file():
            raise OptionError(
                f"VGGFeatures: weights {weights!r} is not a weight name of arch={arch!r}; {valid}"
            )
    if isinstance(weights, (str, os.PathLike)):
        return "path", Path(weights)
    raise OptionTypeError(
        f"VGGFeatures: expected weights to be a {enum.__name__} member (or its name, "
        f"e.g. 'DEFAULT'), a path to a state dict, or None; got "
        f"{type(weights).__name__}"
    )


def _load_state_dict(kind: str, source: Any, arch: str) -> tuple[dict[str, Tensor], str]:
    """Read the state dict from the torch hub cache or a path, never from the network."""
    if kind == "enum":
        path = torch_hub_checkpoint_path(source)
        if not path.is_file():
            raise FileNotFoundError(
                f"VGGFeatures: the weights {type(source).__name__}.{source.name} are not in the "
                f"local torch hub cache, and visionloss never downloads. Place the file "
                f"{path.name!r} (from {source.url}) at {path} (the torch hub cache is "
                f"$TORCH_HOME/hub/checkpoints, see torch.hub.get_dir()), or pass "
                f"weights=<path to a state dict>. On a machine with internet access, "
                f'`python -c "import torchvision; torchvision.models.{arch}(weights='
                f"'{source.name}')\"` puts it in that machine's cache."
            )
    else:
        path = source
        if not path.is_file():
            raise FileNotFoundError(f"VGGFeatures: no state dict file at {path}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if (
        isinstance(state, Mapping)
        and "state_dict" in state
        and isinstance(state["state_dict"], Mapping)
    ):
        state = state["state_dict"]
    if not isinstance(state, Mapping):
        raise OptionError(
            f"VGGFeatures: expected {path} to hold a state dict, got {type(state).__name__}"
        )
    return dict(state), str(path)


class VGGFeatures(nn.Module):
    r"""Named activations of torchvision's VGG16 or VGG19, frozen, for perceptual losses.

    The network is truncated after the deepest requested layer, its parameters do not require
    gradients and it stays in eval mode (``.train()`` leaves it in eval). The input is mapped
    from the declared ``input_range`` to ``[0, 1]`` and normalised with the mean and std of the
    weights (ImageNet's ``(0.485, 0.456, 0.406) / (0.229, 0.224, 0.225)``, or those of the
    enum, e.g. ``VGG16_Weights.IMAGENET1K_FEATURES``).

    Layer names follow the Caffe VGG naming: ``conv{block}_{i}`` (before the ReLU),
    ``relu{block}_{i}`` and ``pool{block}``; :func:`vgg_layer_names` lists them. What Gatys et
    al. call ``conv4_2`` is the Caffe blob after the in-place ReLU, here ``relu4_2``.

    Weights (nothing is ever downloaded):

    * a torchvision enum member (``torchvision.models.VGG16_Weights.IMAGENET1K_V1``) or its name
      (``"DEFAULT"``, ``"IMAGENET1K_V1"``): read from the local torch hub cache,
      ``<torch.hub.get_dir()>/checkpoints/vgg16-397923af.pth`` (VGG19:
      ``vgg19-dcbb9e9d.pth``); when the file is missing the error names the file and where to
      put it;
    * a path to a state dict (a full torchvision VGG state dict, or that of ``vgg.features``);
    * ``None``: random weights (torchvision's initialisation), with a warning; a loss on them
      is not perceptual, use it for tests.

    Args:
        arch: ``"vgg16"`` or ``"vgg19"``.
        layers: the layer names to return, in that order (default VGG16 ``relu1_2, relu2_2,
            relu3_3, relu4_3``, Johnson et al.'s style layers).
        weights: enum member or name, a path, or ``None``; default ``"DEFAULT"``. A name
            that is not one of ``arch``'s weights (``"IMAGENET1K_FEATURES"`` or
            ``"VGG16_Weights.IMAGENET1K_V1"`` with ``arch="vgg19"``) raises ``ValueError``
            listing the valid names; it is not taken for a file path.
        input_range: the range of the input images: ``(0, 1)`` (default), ``(-1, 1)`` or
            ``(0, 255)``. On CPU tensors, an input whose values lie plainly outside it (more
            than half the range's width beyond an end, e.g. 0-255 images declared ``(0, 1)``)
            raises ``ValueError``.
        pooling: ``"max"`` (VGG) or ``"avg"`` (Gatys et al.'s choice for synthesis).
        mean, std: override the normalisation statistics (e.g. for a state dict file of the
            Caffe-converted weights).

    Shape:
        input ``(B, 3, H, W)`` with ``H, W >= 2^k`` where ``k`` is the number of poolings up to
        the deepest layer; output: ``{name: (B, C_l, H_l, W_l)}``.

    Reference:
        Simonyan & Zisserman, *Very Deep Convolutional Networks for Large-Scale Image
        Recognition*, ICLR 2015, arXiv:1409.1556.

    Example:
        >>> import torch, warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")  # random weights: only for this example
        ...     net = VGGFeatures("vgg16", ["relu1_2", "relu2_2"], weights=None)
        >>> feats = net(torch.rand(2, 3, 32, 32))
        >>> {k: tuple(v.shape) for k, v in feats.items()}
        {'relu1_2': (2, 64, 32, 32), 'relu2_2': (2, 128, 16, 16)}
    """

    def __init__(
        self,
        arch: str = "vgg16",
        layers: str | Sequence[str] = ("relu1_2", "relu2_2", "relu3_3", "relu4_3"),
        *,
        weights: Any = "DEFAULT",
        input_range: tuple[float, float] = (0.0, 1.0),
        pooling: str = "max",
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        fn = "VGGFeatures"
        if arch not in _CFG_KEYS:
            raise OptionError(f"{fn}: expected arch 'vgg16' or 'vgg19', got {arch!r}")
        if pooling not in ("max", "avg"):
            raise OptionError(f"{fn}: expected pooling 'max' or 'avg', got {pooling!r}")
        layers = (layers,) if isinstance(layers, str) else tuple(layers)
        names = vgg_layer_names(arch)
        if not layers:
            raise OptionError(f"{fn}: expected at least one layer name")
        for name in layers:
            if name not in names:
                raise OptionError(
                    f"{fn}: unknown layer {name!r} for {arch}; valid names: {', '.join(names)}"
                )
        if len(set(layers)) != len(layers):
            raise OptionError(f"{fn}: expected distinct layer names, got {list(layers)}")
        try:
            lo, hi = (float(v) for v in input_range)
        except (TypeError, ValueError):
            raise OptionError(
                f"{fn}: expected input_range as (low, high), e.g. (0, 1), (-1, 1) "
                f"or (0, 255), got {input_range!r}"
            ) from None
        if not hi > lo:
            raise OptionError(f"{fn}: expected input_range low < high, got {input_range!r}")

        kind, source = _resolve_weights(arch, weights)
        _, vgg = _torchvision_vgg()
        depth = max(names.index(n) for n in layers) + 1
        cfg, count = [], 0  # only the configuration entries up to the deepest layer
        for v in vgg.cfgs[_CFG_KEYS[arch]]:
            if count >= depth:
                break
            cfg.append(v)
            count += 1 if v == "M" else 2
        features = vgg.make_layers(cfg)[:depth]
        for i, m in enumerate(features):
            if isinstance(m, nn.ReLU):
                m.inplace = False  # keep recorded pre-activation (conv) outputs intact
            elif isinstance(m, nn.MaxPool2d) and pooling == "avg":
                features[i] = nn.AvgPool2d(kernel_size=2, stride=2)
        self.features = features

        stats_mean: tuple[float, ...] = _IMAGENET_MEAN
        stats_std: tuple[float, ...] = _IMAGENET_STD
        if kind == "none":
            warnings.warn(
                "VGGFeatures: weights=None gives a randomly initialised VGG; a loss built on it "
                "is not perceptual (use it for tests). Pass a torchvision weights enum from the "
                "local torch hub cache or a path to a state dict.",
                UserWarning,
                stacklevel=2,
            )
            for m in self.features.modules():  # torchvision's VGG initialisation
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    if m.bias is not None:
                        nn.init.constant_(m.bias, 0)
        else:
            state, where = _load_state_dict(kind, source, arch)
            self._load_features(state, where)
            if kind == "enum":
                preset = source.transforms()
                stats_mean = tuple(getattr(preset, "mean", stats_mean))
                stats_std = tuple(getattr(preset, "std", stats_std))
        if mean is not None:
            stats_mean = tuple(float(v) for v in mean)
        if std is not None:
            stats_std = tuple(float(v) for v in std)
        if len(stats_mean) != 3 or len(stats_std) != 3 or min(stats_std) <= 0:
            raise OptionError(
                f"{fn}: expected 3 means and 3 positive stds, got mean={stats_mean}"
                f", std={stats_std}"
            )
        self.requires_grad_(False)
        super().train(False)

        self.arch, self.layers, self.pooling = arch, layers, pooling
        self.input_range = (lo, hi)
        self.weights = source.name if kind == "enum" else (str(source) if source else None)
        self._names = names[:depth]
        self._wanted = frozenset(layers)
        self.min_size = 2 ** sum(1 for n in self._names if n.startswith("pool"))
        # x -> ((x - lo) / (hi - lo) - mean) / std, folded into one affine map
        m = torch.tensor(stats_mean).view(1, 3, 1, 1)
        s = torch.tensor(stats_std).view(1, 3, 1, 1)
        self.scale: Tensor
        self.shift: Tensor
        self.register_buffer("scale", 1.0 / ((hi - lo) * s), persistent=False)
        self.register_buffer("shift", (-lo / (hi - lo) - m) / s, persistent=False)

    def _load_features(self, state: dict[str, Tensor], where: str) -> None:
        if any(k.startswith("features.") for k in state):
            state = {
                k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")
            }
        wanted = self.features.state_dict()
        missing = [k for k in wanted if k not in state]
        if missing:
            raise OptionError(
                f"VGGFeatures: the state dict at {where} lacks {missing[:4]} for "
                f"these layers (expected torchvision VGG keys such as "
                f"'features.0.weight')"
            )
        try:
            self.features.load_state_dict({k: state[k] for k in wanted})
        except RuntimeError as err:
            raise OptionError(
                f"VGGFeatures: the state dict at {where} does not fit this VGG: {err}"
            ) from None

    def train(self, mode: bool = True) -> VGGFeatures:
        """Stays in eval mode whatever ``mode`` is (a frozen feature extractor)."""
        return super().train(False)

    def forward(self, input: Tensor) -> dict[str, Tensor]:
        fn = "VGGFeatures"
        check_tensor(input, "input", fn, floating=True, ndim=4)
        if input.shape[1] != 3:
            raise InputError(
                f"{fn}: expected input of shape (B, 3, H, W) (RGB images), got "
                f"{shape_str(input)}; repeat a 1-channel image with "
                f"x.expand(-1, 3, -1, -1)"
            )
        if min(input.shape[-2:]) < self.min_size:
            raise InputError(
                f"{fn}: input of shape {shape_str(input)} is too small for layer "
                f"{self._names[-1]!r}, which follows "
                f"{self.min_size.bit_length() - 1} 2x2 poolings: expected H and W "
                f">= {self.min_size}"
            )
        if input.numel() > 0 and value_checks_enabled():
            self._check_range(input)
        x = input
        device_type = x.device.type
        try:
            autocast = torch.is_autocast_enabled(device_type)
        except TypeError:  # pragma: no cover - torch < 2.4 signature
            autocast = torch.is_autocast_enabled()
        if not autocast and x.dtype != self.scale.dtype:
            x = x.to(self.scale.dtype)
        x = x * self.scale + self.shift
        out: dict[str, Tensor] = {}
        for name, module in zip(self._names, self.features):
            x = module(x)
            if name in self._wanted:
                out[name] = x
        return {name: out[name] for name in self.layers}

    def _check_range(self, input: Tensor) -> None:
        """The input lies (loosely) in ``input_range``: through :func:`require`, so also on a
        GPU and under compile. NaN passes (it propagates to the loss)."""
        lo, hi = self.input_range
        margin = 0.5 * (hi - lo)
        vmin, vmax = torch.aminmax(input.detach())
        ok = ~((vmin < lo - margin) | (vmax > hi + margin))
        found = "values plainly outside"
        if values_checkable(input) and not bool(ok):  # eager CPU: say which were found
            found = f"values span [{float(vmin):.4g}, {float(vmax):.4g}], plainly outside"
        require(
            ok,
            f"VGGFeatures: input {found} the declared input_range ({lo:g}, {hi:g}); pass the "
            f"range of your images, input_range=(0, 1), (-1, 1) or (0, 255)",
        )

    def extra_repr(self) -> str:
        return (
            f"arch={self.arch!r}, layers={list(self.layers)}, weights={self.weights!r}, "
            f"input_range={self.input_range}, pooling={self.pooling!r}"
        )
