"""Synthesis losses: total variation against a plain-torch TV and kornia (peer), the style loss
(per-image Gram matrices) against a plain-torch Gram loss, and the perceptual loss on a small
VGG16 with random weights built here (nothing is downloaded: a random network costs the same
time as the ImageNet one).

Run alone: ``python -m visionloss.bench.bench_synthesis [--device cuda] [--peers]``. Shapes:
``(B, C, H, W)`` images for total variation and the perceptual loss, ``(B, C, H, W)`` feature
maps for the style loss (its network returns its input, so only the Gram loss is timed).
"""

from __future__ import annotations

import sys
import warnings

import torch
import torch.nn.functional as F

from .cases import BenchCase, add_cases, itemsize, numel

IMAGES = {"cpu": [(8, 3, 128, 128)], "cuda": [(16, 3, 512, 512), (64, 3, 512, 512)]}
FEATURES = {"cpu": [(4, 64, 32, 32)], "cuda": [(16, 256, 64, 64), (16, 512, 32, 32)]}
VGG_IMAGES = {"cpu": [(2, 3, 32, 32), (4, 3, 64, 64)], "cuda": [(16, 3, 256, 256)]}
VGG_LAYERS = ("relu1_2", "relu2_2")  # Johnson et al.'s content layer and the one before
FLOAT32 = {"cpu": (torch.float32,), "cuda": (torch.float32,)}


def images(shape, dtype, device):
    """``(x,)``: uniform images in [0, 1) that require grad."""
    return (torch.rand(shape, device=device).to(dtype).requires_grad_(True),)


def two_images(shape, dtype, device):
    """``(input, target)``: uniform images in [0, 1), the input a leaf that requires grad."""
    x = torch.rand(shape, device=device).to(dtype).requires_grad_(True)
    return x, torch.rand(shape, device=device).to(dtype)


def tv_floor(shape, dtype):
    """Read the images once and write their gradient once."""
    return {"bytes": 2.0 * numel(shape) * itemsize(dtype)}


def _tv(x):
    """Anisotropic TV per pixel (the mean over B*C*H*W) in plain torch."""
    dx = x[..., :, 1:] - x[..., :, :-1]
    dy = x[..., 1:, :] - x[..., :-1, :]
    return (dx.abs().sum() + dy.abs().sum()) / x.numel()


def _kornia_tv():
    from kornia.losses import total_variation

    return lambda x: total_variation(x, reduction="sum").sum() / x.numel()


def as_features(x):
    """The style loss's "network": the feature maps themselves, as one named layer."""
    return {"features": x}


def _gram_style(x, y):
    """Gatys et al.'s layer term on per-image Grams normalised by C*H*W, in plain torch."""
    b, c = x.shape[:2]
    fx, fy = x.reshape(b, c, -1).float(), y.reshape(b, c, -1).float()
    gx = torch.bmm(fx, fx.transpose(1, 2)) / fx[0].numel()
    gy = torch.bmm(fy, fy.transpose(1, 2)) / fy[0].numel()
    return 0.25 * (gx - gy).square().sum((1, 2)).mean()


def gram_floor(shape, dtype):
    """Three ``C x C x HW`` products per image (the input's Gram, the target's, the input's
    gradient), at least; and the feature maps read and the gradient written once."""
    b, c = shape[:2]
    hw = numel(shape[2:])
    return {"flops": 3 * 2.0 * b * c * c * hw, "bytes": 3.0 * numel(shape) * itemsize(dtype)}


class RandomVGG:
    """A ``VGGFeatures("vgg16", VGG_LAYERS, weights=None)`` per device, built on first use with
    its own seed (outside the global random stream) and cached; called like the network."""

    def __init__(self, layers=VGG_LAYERS):
        self.layers = layers
        self._nets = {}

    def _build(self, device):
        from visionloss import VGGFeatures

        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            torch.manual_seed(0)
            warnings.simplefilter("ignore", UserWarning)  # random weights: what we want here
            return VGGFeatures("vgg16", self.layers, weights=None).to(device)

    def __call__(self, x):
        if x.device not in self._nets:
            self._nets[x.device] = self._build(x.device)
        return self._nets[x.device](x)


VGG = RandomVGG()


def _perceptual(x, y):
    """Sum over layers of ``F.mse_loss`` of the features (the target's under no_grad)."""
    fx = VGG(x)
    with torch.no_grad():
        fy = VGG(y)
    return sum(F.mse_loss(fx[k], fy[k]) for k in fx)


def perceptual_floor(shape, dtype):
    """VGG16 up to relu2_2 on the input and the target, and the input's gradient back through
    it (frozen weights: no weight gradients): three times the forward's convolution flops."""
    b, _, h, w = shape
    convs = [(3, 64, h * w), (64, 64, h * w), (64, 128, h * w / 4), (128, 128, h * w / 4)]
    forward = sum(2.0 * b * pixels * c_in * c_out * 9 for c_in, c_out, pixels in convs)
    return {"flops": 3 * forward}


add_cases(
    BenchCase(
        "total_variation",
        images,
        IMAGES,
        reference=_tv,
        peers={"kornia": _kornia_tv},
        floor=tv_floor,
    ),
    BenchCase(
        "total_variation",
        images,
        IMAGES,
        options={"kind": "isotropic"},
        floor=tv_floor,
        label="isotropic",
    ),
    BenchCase(
        "total_variation",
        images,
        IMAGES,
        options={"kind": "squared", "per_image": True},
        floor=tv_floor,
        label="squared, per image",
    ),
    BenchCase(
        "style",
        two_images,
        FEATURES,
        options={"network": as_features},
        reference=_gram_style,
        floor=gram_floor,
        label="Gram of features",
    ),
    BenchCase(
        "perceptual",
        two_images,
        VGG_IMAGES,
        options={"network": VGG},
        reference=_perceptual,
        floor=perceptual_floor,
        dtypes=FLOAT32,  # the VGG computes in float32 (half inputs are cast) unless autocast
        label="random VGG16 relu1_2+relu2_2",
    ),
)

if __name__ == "__main__":
    from .runner import main

    sys.exit(main(["--family", "synthesis", *sys.argv[1:]]))
