"""segmentation-imbalance: cross entropy against the overlap losses on ~2% foreground.

The data are made here: grey images of small bright discs and squares (the foreground, about
2% of the pixels) on noisy backgrounds with an illumination gradient and faint large blobs
(background that looks a little like foreground); one image in ten holds no shape at all. The
same tiny fully convolutional net (four 3x3 convolutions, dilations 1-2-4-1, two output
channels) is trained from the same initialisation with each loss, all on softmax logits and
class-index targets. The table reports, on held-out images, the foreground Dice and IoU pooled
over all pixels, recall, precision, and the false-positive pixels per empty image;
``predictions.png`` shows a few held-out images with each loss's prediction.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..segmentation import dice_ce_loss, dice_loss, focal_tversky_loss, lovasz_loss, tversky_loss
from . import ExperimentResult, register_experiment
from ._common import (
    check_steps_seeds,
    one_thread,
    plot_masks,
    seed_mean,
    seed_std,
    train_each_seed,
)

LossFn = Callable[[Tensor, Tensor], Tensor]

# (label, loss(logits (B, 2, H, W), target (B, H, W))). The overlap losses score the
# foreground only (include_background=False; with the background class in its mean a Dice loss
# on 2% foreground collapses to "all background" here, as cross entropy often does); other
# options are the library defaults (softmax, per-image statistics, empty="penalize").
# dice_ce_loss applies one class selection to both terms, so it keeps the background: without
# it the CE term would drop every background pixel and the net would predict foreground
# everywhere.
_FG = {"include_background": False}
LOSSES: list[tuple[str, LossFn]] = [
    ("CE", lambda x, t: F.cross_entropy(x, t)),
    ("Dice", lambda x, t: dice_loss(x, t, **_FG)),
    ("Dice+CE", lambda x, t: dice_ce_loss(x, t)),
    ("Tversky 0.3/0.7", lambda x, t: tversky_loss(x, t, alpha=0.3, beta=0.7, **_FG)),
    (
        "focal Tversky",
        lambda x, t: focal_tversky_loss(x, t, alpha=0.3, beta=0.7, gamma=0.75, **_FG),
    ),
    ("Lovasz", lambda x, t: lovasz_loss(x, t, **_FG)),
]


def make_images(n: int, size: int, seed: int, empty_fraction: float = 0.1) -> tuple[Tensor, Tensor]:
    """``(images (n, 1, size, size) float32, masks (n, size, size) int64)``.

    Each non-empty image holds 1 or 2 shapes (discs or squares, radius 1.2 to 2.8 px, contrast
    1) on N(0, 0.5) noise, a random linear illumination gradient and two faint blobs (radius 5
    to 9 px, contrast 0.7) that belong to the background.
    """
    g = torch.Generator().manual_seed(seed)
    coords = torch.arange(size, dtype=torch.float32)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    images = torch.empty(n, 1, size, size)
    masks = torch.zeros(n, size, size, dtype=torch.long)

    def uniform(lo: float, hi: float) -> float:
        return lo + (hi - lo) * float(torch.rand((), generator=g))

    for i in range(n):
        img = 0.5 * torch.randn(size, size, generator=g)
        img += uniform(-0.5, 0.5) * (xx / size - 0.5) + uniform(-0.5, 0.5) * (yy / size - 0.5)
        for _ in range(2):
            cy, cx, r = uniform(0, size), uniform(0, size), uniform(5, 9)
            img += 0.7 * torch.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
        if float(torch.rand((), generator=g)) >= empty_fraction:
            for _ in range(int(torch.randint(1, 3, (), generator=g))):
                cy, cx, r = uniform(4, size - 4), uniform(4, size - 4), uniform(1.2, 2.8)
                if float(torch.rand((), generator=g)) < 0.5:
                    shape = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
                else:
                    shape = ((yy - cy).abs() <= r) & ((xx - cx).abs() <= r)
                masks[i][shape] = 1
        img += 1.0 * masks[i]
        images[i, 0] = img
    return images, masks


def make_net(seed: int, width: int = 16) -> nn.Module:
    """A tiny FCN: receptive field 17 px, two output channels (background, foreground)."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    in_ch = 1
    for dilation in (1, 2, 4, 1):
        layers += [nn.Conv2d(in_ch, width, 3, padding=dilation, dilation=dilation), nn.ReLU()]
        in_ch = width
    layers.append(nn.Conv2d(width, 2, 1))
    return nn.Sequential(*layers)


def _train(
    loss_fn: LossFn,
    images: Tensor,
    masks: Tensor,
    *,
    seed: int,
    steps: int,
    batch_size: int,
    lr: float = 5e-3,
) -> nn.Module:
    net = make_net(seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    order = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(images), (batch_size,), generator=order)
        loss = loss_fn(net(images[idx]), masks[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return net


def scores(pred: Tensor, masks: Tensor) -> dict[str, float]:
    """Foreground Dice / IoU / recall / precision pooled over all pixels, and false-positive
    pixels per image without foreground."""
    tp = float(((pred == 1) & (masks == 1)).sum())
    fp = float(((pred == 1) & (masks == 0)).sum())
    fn = float(((pred == 0) & (masks == 1)).sum())
    empty = masks.flatten(1).sum(1) == 0
    fp_empty = float((pred[empty] == 1).sum()) / max(int(empty.sum()), 1)
    return {
        "dice": 2 * tp / max(2 * tp + fp + fn, 1.0),
        "iou": tp / max(tp + fp + fn, 1.0),
        "recall": tp / max(tp + fn, 1.0),
        "precision": tp / max(tp + fp, 1.0),
        "fp_per_empty_image": fp_empty,
    }


@register_experiment(
    "segmentation-imbalance",
    losses=("cross_entropy", "dice", "dice_ce", "tversky", "focal_tversky", "lovasz"),
    metric=("fg Dice", "max"),
    summary="CE vs Dice, Dice+CE, Tversky, focal Tversky, Lovasz on ~2% foreground",
    family="segmentation",
    reference="Milletari et al. arXiv:1606.04797; Salehi et al. arXiv:1706.05721; "
    "Abraham & Khan arXiv:1810.07842; Berman et al. arXiv:1705.08790",
    arguments=[
        (
            ("--steps",),
            {
                "type": int,
                "default": None,
                "help": "training steps per run (default 150 quick, 400 full)",
            },
        ),
        (
            ("--seeds",),
            {"type": int, "default": None, "help": "runs per loss (default 1 quick, 3 full)"},
        ),
    ],
)
def segmentation_imbalance(
    quick: bool, out: Path, steps: int | None = None, seeds: int | None = None
) -> ExperimentResult:
    steps = steps if steps is not None else (150 if quick else 400)
    seeds = seeds if seeds is not None else (1 if quick else 3)
    check_steps_seeds("segmentation-imbalance", steps, seeds)
    with one_thread():
        return _run(
            out,
            steps,
            seeds,
            size=32 if quick else 48,
            n_train=256 if quick else 1024,
            n_test=96 if quick else 256,
        )


def _run(
    out: Path, steps: int, seeds: int, *, size: int, n_train: int, n_test: int
) -> ExperimentResult:
    x_tr, y_tr = make_images(n_train, size, seed=1000)
    x_te, y_te = make_images(n_test, size, seed=2000)
    per_seed, shown = train_each_seed(
        LOSSES,
        seeds,
        lambda fn, s: _train(fn, x_tr, y_tr, seed=s, steps=steps, batch_size=12),
        x_te,
        lambda pred: scores(pred, y_te),
        desc="segmentation-imbalance",
    )
    keys = ["dice", "iou", "recall", "precision", "fp_per_empty_image"]
    rows = []
    for name, _ in LOSSES:
        mean = seed_mean(per_seed[name], keys)
        rows.append(
            [
                name,
                mean["dice"],
                seed_std(per_seed[name], mean, "dice"),
                mean["iou"],
                mean["recall"],
                mean["precision"],
                mean["fp_per_empty_image"],
            ]
        )
    fg = float(y_tr.float().mean())
    figure = plot_masks(x_te[:4], y_te[:4], shown, out / "predictions.png")
    return ExperimentResult(
        title=f"segmentation-imbalance: {n_train} training images {size}x{size}, foreground "
        f"{100 * fg:.1f}% of pixels, {seeds} seed(s) x {steps} steps",
        columns=[
            "loss",
            "fg Dice",
            "Dice std",
            "fg IoU",
            "recall",
            "precision",
            "FP px / empty img",
        ],
        rows=rows,
        figures=[figure],
        notes=(
            f"Scores pooled over the pixels of {n_test} held-out images (argmax of the two "
            "channels); 'FP px / empty img': foreground pixels predicted on the held-out "
            "images that have none. Dice, Tversky, focal Tversky and Lovasz score the "
            "foreground only (include_background=False); Dice+CE keeps the background in both "
            "terms (one class selection for both). Otherwise library defaults: softmax, "
            "per-image statistics, empty='penalize'."
        ),
        data={
            "per_seed": per_seed,
            "steps": steps,
            "seeds": seeds,
            "size": size,
            "foreground_fraction": fg,
            "n_train": n_train,
            "n_test": n_test,
        },
    )
