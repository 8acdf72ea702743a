"""Segmentation overlap losses: ours against a plain-torch soft Dice and MONAI / smp (peers).

Run alone: ``python -m visionloss.bench.bench_segmentation [--device cuda] [--peers]``. Inputs are
logits ``(B, C, H, W)`` (softmax over C) and an index map ``(B, H, W)``. The peers are set to
the closest convention (per-image soft Dice over every class, no smoothing); the exact mapping
of each is in the tests, and timing does not depend on the remaining differences.
"""

from __future__ import annotations

import sys

import torch.nn.functional as F

from .bench_classification import dense_floor, logits_and_classes
from .cases import BenchCase, add_cases

SHAPES = {"cpu": [(4, 4, 64, 64)], "cuda": [(16, 21, 512, 512)]}


def _soft_dice(x, y):
    p = x.softmax(1)
    g = F.one_hot(y, x.shape[1]).movedim(-1, 1).to(p.dtype)
    inter = (p * g).sum((2, 3))
    denom = p.sum((2, 3)) + g.sum((2, 3))
    return (1 - 2 * inter / denom.clamp_min(1e-6)).mean()


def _monai_dice():
    from monai.losses import DiceLoss

    loss = DiceLoss(softmax=True, to_onehot_y=True, smooth_nr=0.0, smooth_dr=1e-6)
    return lambda x, y: loss(x, y.unsqueeze(1))


def _smp_dice():
    from segmentation_models_pytorch.losses import DiceLoss

    return DiceLoss(mode="multiclass", from_logits=True, smooth=0.0)


def _monai_tversky():
    from monai.losses import TverskyLoss

    loss = TverskyLoss(softmax=True, to_onehot_y=True, alpha=0.3, beta=0.7)
    return lambda x, y: loss(x, y.unsqueeze(1))


def _case(loss, **kwargs):
    return BenchCase(loss, logits_and_classes, SHAPES, floor=dense_floor, **kwargs)


add_cases(
    _case("dice", reference=_soft_dice, peers={"monai": _monai_dice, "smp": _smp_dice}),
    _case("jaccard"),
    _case("tversky", peers={"monai": _monai_tversky}),
    _case("lovasz"),
    _case("dice_ce"),
)

if __name__ == "__main__":
    from .runner import main

    sys.exit(main(["--family", "segmentation", *sys.argv[1:]]))
