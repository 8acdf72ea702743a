"""The LPIPS network: a torchvision backbone cut into slices, the learned 1x1 "linear" layers,
and where their weights come from (local files only, never a download)."""

from __future__ import annotations

import importlib.util
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._core.numerics import norm
from ..errors import OptionError
from .vgg import torch_hub_checkpoint_path

__all__ = ["LPIPSNetwork", "lpips_network", "LPIPS_NETS", "lpips_package_weights"]

# torchvision constructor, weights enum, slice ends (indices into ``.features``), channels:
# the slices of Zhang et al.'s lpips package (pretrained_networks.py): AlexNet relu1..relu5,
# VGG16 relu1_2, relu2_2, relu3_3, relu4_3, relu5_3, SqueezeNet 1.1 seven blocks.
LPIPS_NETS: dict[str, tuple[str, str, tuple[int, ...]]] = {
    "alex": ("alexnet", "AlexNet_Weights", (2, 5, 8, 10, 12)),
    "vgg": ("vgg16", "VGG16_Weights", (4, 9, 16, 23, 30)),
    "squeeze": ("squeezenet1_1", "SqueezeNet1_1_Weights", (2, 5, 8, 10, 11, 12, 13)),
}
# Zhang et al.'s input scaling layer (applied to images in [-1, 1])
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
_EPS = 1e-10


class LPIPSNetwork(nn.Module):
    """A frozen LPIPS distance network: ``features`` (a ``nn.Sequential``) cut after the
    module indices ``ends``, one non-negative 1x1 weight vector per slice (``lin``; ``None``:
    all ones, the unlearned "baseline" variant that sums the channels) and the input scaling.

    ``forward(x, y)`` takes two image batches in ``[-1, 1]`` and returns the per-image
    distance ``(B,)``. Build the paper's networks with :func:`lpips_network`.
    """

    shift: Tensor
    scale: Tensor

    def __init__(
        self,
        features: nn.Sequential,
        ends: Sequence[int],
        lin: Sequence[Tensor] | None = None,
        *,
        channels: int = 3,
    ) -> None:
        super().__init__()
        ends = tuple(int(e) for e in ends)
        if not ends or any(b <= a for a, b in zip((0, *ends), ends)) or ends[-1] > len(features):
            raise OptionError(
                f"LPIPSNetwork: expected increasing slice ends within the {len(features)} "
                f"feature modules, got {ends}"
            )
        self.features = features[: ends[-1]]
        self.ends = ends
        self.register_buffer("shift", torch.tensor(_SHIFT[:channels]).view(1, -1, 1, 1))
        self.register_buffer("scale", torch.tensor(_SCALE[:channels]).view(1, -1, 1, 1))
        widths = self._widths(channels)
        if lin is None:
            lin = [torch.ones(1, c, 1, 1) for c in widths]
        lin = [torch.as_tensor(w).reshape(1, -1, 1, 1).float() for w in lin]
        if [w.shape[1] for w in lin] != widths:
            raise OptionError(
                f"LPIPSNetwork: expected linear layers of {widths} channels, got "
                f"{[w.shape[1] for w in lin]}"
            )
        self.lin = nn.ParameterList([nn.Parameter(w, requires_grad=False) for w in lin])
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def _widths(self, channels: int) -> list[int]:
        with torch.no_grad():
            dtype = next(self.features.parameters()).dtype
            h = torch.zeros(1, channels, 64, 64, dtype=dtype)
            widths = []
            start = 0
            for end in self.ends:
                h = self.features[start:end](h)
                widths.append(h.shape[1])
                start = end
        return widths

    def train(self, mode: bool = True) -> LPIPSNetwork:
        return super().train(False)  # frozen: dropout-free, eval always

    def slices(self, z: Tensor) -> list[Tensor]:
        out, start = [], 0
        for end in self.ends:
            z = self.features[start:end](z)
            out.append(z)
            start = end
        return out

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        out_dtype = torch.promote_types(x.dtype, y.dtype)
        dtype = self.shift.dtype
        z = (torch.cat([x, y]).to(dtype) - self.shift) / self.scale
        total: Tensor | None = None
        for f, w in zip(self.slices(z), self.lin):
            f = f.to(torch.promote_types(out_dtype, torch.float32))
            n = norm(f, dim=1, keepdim=True)  # finite gradient at all-zero features
            f = f / (n + _EPS)
            a, b = f.chunk(2)
            d = F.conv2d((a - b).square(), w.to(f.dtype)).flatten(1).mean(1)
            total = d if total is None else total + d
        return total if total is not None else x.new_zeros(x.shape[0])


def _torchvision(arch: str, enum_name: str) -> tuple[Any, Any]:
    try:
        import torchvision.models as models
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("LPIPS needs torchvision: pip install 'visionloss[vision]'") from err
    return getattr(models, arch), getattr(models, enum_name)


def lpips_package_weights(net: str) -> Path:
    """The linear-layer file that the installed ``lpips`` package ships for ``net``
    (``<lpips>/weights/v0.1/<net>.pth``), located without importing the package."""
    spec = importlib.util.find_spec("lpips")
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            f"LPIPS: lin_weights='package' needs the lpips package installed (it ships the "
            f"learned linear layers as weights/v0.1/{net}.pth); or pass lin_weights=<path>"
        )
    return Path(spec.origin).parent / "weights" / "v0.1" / f"{net}.pth"


def _load(path: Path, what: str) -> Mapping[str, Tensor]:
    if not path.is_file():
        raise FileNotFoundError(f"LPIPS: no {what} file at {path}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping):
        raise OptionError(f"LPIPS: expected {path} to hold a state dict, got {type(state)}")
    return state


def _lin_tensors(state: Mapping[str, Tensor], count: int) -> list[Tensor]:
    """``lin{k}.model.{i}.weight`` (the lpips package's names) or ``lin.{k}`` (ours)."""
    found: dict[int, Tensor] = {}
    for key, value in state.items():
        m = re.match(r"^lin\.?(\d+)(?:\.model\.\d+\.weight)?$", key)
        if m:
            found[int(m.group(1))] = value
    if sorted(found) != list(range(count)):
        raise OptionError(
            f"LPIPS: expected {count} linear layers (lin0..lin{count - 1}), got keys "
            f"{sorted(state)}"
        )
    return [found[k] for k in range(count)]


def lpips_network(
    net: str = "alex",
    *,
    backbone_weights: Any = "DEFAULT",
    lin_weights: Any = "package",
) -> LPIPSNetwork:
    """The LPIPS network of Zhang et al. with local weights only.

    Args:
        net: ``"alex"`` (AlexNet, the paper's recommended variant), ``"vgg"`` (VGG16) or
            ``"squeeze"`` (SqueezeNet 1.1).
        backbone_weights: torchvision's ImageNet weights, ``"DEFAULT"`` (or an enum member or
            name), read from the torch hub cache ``$TORCH_HOME/hub/checkpoints`` (see
            :func:`torch_hub_checkpoint_path`); a path to a state dict (the torchvision model's,
            or that of its ``.features``); or ``None`` (random, with a warning: tests only).
        lin_weights: the learned linear layers: ``"package"`` (the files the installed
            ``lpips`` package ships), a path to a state dict (``lin0.model.1.weight``, ... as
            the lpips package names them, or ``lin.0``, ... as this module does), a
            sequence of tensors, or ``None`` (all ones: the unlearned baseline).
    """
    if net not in LPIPS_NETS:
        raise OptionError(f"LPIPS: expected net to be one of {sorted(LPIPS_NETS)}, got {net!r}")
    arch, enum_name, ends = LPIPS_NETS[net]
    build, enum = _torchvision(arch, enum_name)
    model = build(weights=None)
    if backbone_weights is None:
        warnings.warn(
            "LPIPS: backbone_weights=None builds random weights; the distance is not perceptual",
            stacklevel=2,
        )
    else:
        if isinstance(backbone_weights, enum):
            member = backbone_weights
        elif (
            isinstance(backbone_weights, str)
            and backbone_weights.split(".")[-1] in enum.__members__
        ):
            member = enum[backbone_weights.split(".")[-1]]
        else:
            member = None
        if member is not None:
            path = torch_hub_checkpoint_path(member)
            if not path.is_file():
                raise FileNotFoundError(
                    f"LPIPS: the backbone weights {enum_name}.{member.name} are not in the local "
                    f"torch hub cache, and visionloss never downloads. Place {path.name!r} "
                    f"(from {member.url}) at {path}, or pass backbone_weights=<path>"
                )
        else:
            path = Path(backbone_weights)
        state = dict(_load(path, "backbone weights"))
        if not any(k.startswith("features.") for k in state):
            state = {f"features.{k}": v for k, v in state.items()}
        state = {k: v for k, v in state.items() if k.startswith("features.")}
        model.features.load_state_dict({k[len("features.") :]: v for k, v in state.items()})
    if lin_weights is None:
        lin = None
    elif isinstance(lin_weights, (list, tuple)):
        lin = list(lin_weights)
    else:
        source = lpips_package_weights(net) if lin_weights == "package" else Path(lin_weights)
        lin = _lin_tensors(_load(source, "linear-layer"), len(ends))
    return LPIPSNetwork(model.features, ends, lin)
