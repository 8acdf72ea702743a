"""Data and small networks shared by the synthesis tests."""

from __future__ import annotations

import warnings

import torch

import visionloss as vl


def random_vgg(arch="vgg16", layers=("relu1_2", "relu2_2"), **kwargs) -> vl.VGGFeatures:
    """A VGGFeatures with random weights (its warning silenced), seeded."""
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return vl.VGGFeatures(arch, layers, weights=None, **kwargs)


def images(*shape, seed=0, dtype=torch.float32, low=0.0, high=1.0):
    """Uniform images in [low, high) from a fixed seed."""
    g = torch.Generator().manual_seed(seed)
    return low + (high - low) * torch.rand(*shape, generator=g, dtype=dtype)


def pixels(x):
    """A stand-in feature network: the image itself and its 2x2 average pooling."""
    return {"pixels": x, "pooled": torch.nn.functional.avg_pool2d(x, 2)}


class TinyFeatures(torch.nn.Module):
    """A small stand-in for VGGFeatures (any module returning named features may be used):
    conv 3->4, ReLU, conv 4->6, ReLU, 2x2 average pooling, with VGG's layer names. Frozen,
    random (seeded) weights; fast enough in float64 for gradcheck."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.conv1 = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(4, 6, 3, padding=1)
        with torch.no_grad():
            for conv in (self.conv1, self.conv2):
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * 0.5)
                conv.bias.copy_(torch.randn(conv.bias.shape, generator=g) * 0.1)
        self.requires_grad_(False)

    def forward(self, x):
        if not torch.is_autocast_enabled(x.device.type):  # half inputs: computed in its dtype
            x = x.to(self.conv1.weight.dtype)
        a = torch.relu(self.conv1(x))
        b = torch.relu(self.conv2(a))
        return {"relu1_1": a, "relu1_2": b, "pool1": torch.nn.functional.avg_pool2d(b, 2)}


_TINY: dict[torch.dtype, torch.nn.Module] = {}


def tiny_features(dtype=torch.float64) -> torch.nn.Module:
    """One TinyFeatures per dtype."""
    if dtype not in _TINY:
        _TINY[dtype] = TinyFeatures().to(dtype)
    return _TINY[dtype]
