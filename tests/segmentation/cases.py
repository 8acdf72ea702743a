"""Data and the table of losses shared by the segmentation tests."""

from __future__ import annotations

import torch
from torch import Tensor

import visionloss as vl
from tests.reference import segmentation as ref

B, C, H, W = 2, 3, 4, 5


def logits(
    shape=(B, C, H, W), seed: int = 0, scale: float = 2.0, dtype: torch.dtype = torch.float64
) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=dtype) * scale


def labels(shape=(B, H, W), num_classes: int = C, seed: int = 1, *, absent: bool = True) -> Tensor:
    """Class indices; every class is present in image 0; with ``absent`` the last class is
    missing from image 1 (so the empty-mask policies matter)."""
    g = torch.Generator().manual_seed(seed)
    t = torch.randint(0, num_classes, shape, generator=g)
    flat = t.view(shape[0], -1)
    flat[0, :num_classes] = torch.arange(num_classes)
    if absent and shape[0] > 1 and num_classes > 1:
        flat[1][flat[1] == num_classes - 1] = 0
        flat[1, 1] = 1
    return t


def with_ignored(t: Tensor, value: int = 255, seed: int = 2) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    t = t.clone()
    mask = torch.rand(t.shape, generator=g) < 0.25
    mask.view(t.shape[0], -1)[0, :C] = False  # keep image 0's guaranteed classes
    t[mask] = value
    return t


def one_hot(t: Tensor, num_classes: int = C) -> Tensor:
    return torch.nn.functional.one_hot(t, num_classes).movedim(-1, 1).double()


def soft(t: Tensor, seed: int = 3) -> Tensor:
    """A soft target: a softmax of random logits, sharpened towards ``t``."""
    return torch.softmax(logits(t.shape[:1] + (C,) + t.shape[1:], seed=seed) + 3 * one_hot(t), 1)


# name -> (function, Module, loss-specific options, reference taking (x, t, **options))
def _overlap_ref(score, exponent=1.0):
    def fn(x, t, **kw):
        return ref.overlap(x, t, score, exponent=exponent, **kw)

    return fn


def _tversky_ref(x, t, alpha=0.3, beta=0.7, **kw):
    return ref.overlap(x, t, ref.tversky(alpha, beta), **kw)


def _focal_tversky_ref(x, t, alpha=0.3, beta=0.7, gamma=0.75, **kw):
    return ref.overlap(x, t, ref.tversky(alpha, beta), exponent=gamma, **kw)


def _pixel_ref(x, t, gamma, alpha, kw):
    keys = ("weight", "include_background", "classes", "ignore_index", "reduction")
    opts = {k: kw[k] for k in keys if k in kw}
    if kw.get("activation", "softmax") == "softmax":
        return ref.softmax_focal(x, t, gamma=gamma, **opts)
    return ref.sigmoid_focal(x, t, gamma=gamma, alpha=alpha, **opts)


def _dice_ce_ref(x, t, lambda_dice=1.0, lambda_ce=1.0, **kw):
    dice = ref.overlap(x, t, ref.dice_score, **kw)
    return lambda_dice * dice + lambda_ce * _pixel_ref(x, t, 0.0, None, kw)


def _dice_focal_ref(x, t, gamma=2.0, alpha=None, lambda_dice=1.0, lambda_focal=1.0, **kw):
    dice = ref.overlap(x, t, ref.dice_score, **kw)
    return lambda_dice * dice + lambda_focal * _pixel_ref(x, t, gamma, alpha, kw)


LOSSES = {
    "dice": (vl.dice_loss, vl.DiceLoss, {}, _overlap_ref(ref.dice_score)),
    "jaccard": (vl.jaccard_loss, vl.JaccardLoss, {}, _overlap_ref(ref.tversky(1.0, 1.0))),
    "tversky": (vl.tversky_loss, vl.TverskyLoss, {"alpha": 0.2, "beta": 0.9}, _tversky_ref),
    "focal_tversky": (
        vl.focal_tversky_loss,
        vl.FocalTverskyLoss,
        {"alpha": 0.4, "beta": 0.6, "gamma": 0.6},
        _focal_tversky_ref,
    ),
    "generalized_dice": (
        vl.generalized_dice_loss,
        vl.GeneralizedDiceLoss,
        {},
        ref.generalized_dice,
    ),
    "lovasz": (vl.lovasz_loss, vl.LovaszLoss, {}, ref.lovasz),
    "dice_ce": (vl.dice_ce_loss, vl.DiceCELoss, {"lambda_ce": 0.7}, _dice_ce_ref),
    "dice_focal": (
        vl.dice_focal_loss,
        vl.DiceFocalLoss,
        {"gamma": 1.5, "lambda_focal": 2.0},
        _dice_focal_ref,
    ),
}
NAMES = list(LOSSES)
PAIR_LOSSES = ["dice", "jaccard", "tversky", "focal_tversky", "lovasz"]  # "none" is (B, K)
COMPOUND = ["dice_ce", "dice_focal"]
# options a loss does not take
UNSUPPORTED = {"lovasz": {"smooth", "squared"}}


def supports(name: str, options: dict, data: str = "index") -> bool:
    if name == "lovasz" and data == "soft":
        return False  # the Lovász extension is defined for binary targets (tested apart)
    if set(options) & UNSUPPORTED.get(name, set()):
        return False
    if name == "generalized_dice" and options.get("empty") == "include":
        return False
    if name in COMPOUND and options.get("activation") == "none":
        return False
    return True
