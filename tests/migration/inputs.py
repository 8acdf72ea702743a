"""The tensors and the peer modules the migration rows (``visionloss._core.migration``) are
evaluated with; ``INPUTS`` there describes each name."""

from __future__ import annotations

from typing import Any

import torch

import visionloss as vl
from visionloss._core.migration import INPUTS


def _seg_target(gen: torch.Generator) -> torch.Tensor:
    y = torch.randint(0, 3, (2, 8, 8), generator=gen)
    y[:, 0, :3] = torch.tensor([0, 1, 2])  # every class in every image
    return y


def namespace(seed: int = 0) -> dict[str, Any]:
    """Every name the expressions use: inputs (float32) and the peer modules."""
    gen = torch.Generator().manual_seed(seed)
    y = _seg_target(gen)
    y_absent = y.clone()
    y_absent[0][y_absent[0] == 2] = 1
    y_ignored = y.clone()
    y_ignored[y_ignored == 2] = 1  # class 2 absent from the batch
    y_ignored[:, 7, :] = 255
    labels = torch.tensor([0, 1, 2, 3, 4, 0, 1, 2])
    xy = torch.rand(6, 2, generator=gen) * 10
    wh = torch.rand(6, 2, generator=gen) * 5 + 1
    boxes1 = torch.cat([xy, xy + wh], 1)
    boxes2 = boxes1 + torch.randn(6, 4, generator=gen) * 0.8
    boxes2 = torch.cat([boxes2[:, :2], torch.maximum(boxes2[:, 2:], boxes2[:, :2] + 0.5)], 1)
    ns: dict[str, Any] = {
        "x": torch.randn(2, 3, 8, 8, generator=gen) * 2,
        "y": y,
        "y_absent": y_absent,
        "y_ignored": y_ignored,
        "xb": torch.randn(2, 1, 8, 8, generator=gen) * 2,
        "yb": (torch.rand(2, 1, 8, 8, generator=gen) > 0.5).float(),
        "logits": torch.randn(8, 5, generator=gen) * 2,
        "labels": labels,
        "onehot": (torch.rand(8, 5, generator=gen) > 0.6).float(),
        "soft": torch.softmax(torch.randn(8, 5, generator=gen), 1),
        "boxes1": boxes1,
        "boxes2": boxes2,
        "emb": torch.randn(16, 8, generator=gen),
        "emb_labels": torch.arange(4).repeat_interleave(4),
        "z1": torch.randn(8, 16, generator=gen),
        "z2": torch.randn(8, 16, generator=gen),
        "img": torch.rand(2, 3, 8, 8, generator=gen),
    }
    assert set(ns) == set(INPUTS), set(ns) ^ set(INPUTS)
    ns.update(torch=torch, vl=vl)
    return ns


def peer_modules(peer: str) -> dict[str, Any]:
    """The names a peer's expressions use (importing the peer; the caller skips when it is
    not installed)."""
    import importlib

    if peer == "monai":
        importlib.import_module("monai.losses")
        return {"monai": importlib.import_module("monai")}
    if peer == "smp":
        importlib.import_module("segmentation_models_pytorch.losses")
        return {"smp": importlib.import_module("segmentation_models_pytorch")}
    if peer == "torchvision":
        importlib.import_module("torchvision.ops")
        return {"torchvision": importlib.import_module("torchvision")}
    if peer == "kornia":
        importlib.import_module("kornia.losses")
        return {"kornia": importlib.import_module("kornia")}
    if peer == "pml":
        return {
            "pml": importlib.import_module("pytorch_metric_learning.losses"),
            "miners": importlib.import_module("pytorch_metric_learning.miners"),
        }
    if peer == "timm":
        importlib.import_module("timm.loss")
        return {"timm": importlib.import_module("timm")}
    raise KeyError(peer)
