"""The side-by-side suite (``visionloss bench --peers``): the losses people use most, at
realistic sizes, against every installed peer implementation and plain torch.

Each peer is set to the closest convention (the exact value mappings are in the tests); the
timings do not depend on the remaining differences (smoothing constants, empty-mask policy).
A peer that is not installed gives a "not installed" row; one that fails (e.g. cannot
allocate) gives its error as the row's note. ``ours[no checks]`` prices the input checks
(``visionloss.set_value_checks(False)``).

Run alone: ``python -m visionloss.bench.bench_peers [--device cuda] [--compile] [--memory]``.
"""

from __future__ import annotations

import sys
from typing import Any

import torch
import torch.nn.functional as F

from .bench_boxes import box_floor, box_pairs
from .bench_classification import dense_floor, logits_and_binary, logits_and_classes
from .bench_contrastive import _nt_xent, nt_xent_floor, two_views
from .bench_metric import batch_hard_case
from .cases import BenchCase, add_cases, elementwise_floor, itemsize, numel

# CPU sizes: the cases of the table that opened the "faster than every peer" issue, plus the
# low ends of its ranges (batches of 256 embeddings, 20,000 box pairs), where per-call costs
# weigh more; ``--quick`` takes the first shape of each case only
DENSE = {"cpu": [(4, 19, 128, 256)], "cuda": [(16, 19, 512, 512), (2, 150, 128, 128)]}
# the losses whose work grows with the class count also at C = 150 (ADE20K) on a CPU; the
# elementwise ones (focal, BCE) depend on the element count alone
CLASSES = {"cpu": [*DENSE["cpu"], (2, 150, 128, 128)], "cuda": DENSE["cuda"]}
VOLUME = {"cpu": [(2, 2, 32, 64, 64)], "cuda": [(2, 4, 128, 128, 128)]}
IMAGES = {"cpu": [(8, 3, 256, 256)], "cuda": [(64, 3, 512, 512)]}
PAIRS = {"cpu": [(1024, 128), (256, 128)], "cuda": [(4096, 256), (8192, 256)]}
LABELLED = {"cpu": [(2048, 128), (256, 128)], "cuda": [(8192, 256)]}
BOTH = {"cpu": (torch.float32, torch.bfloat16), "cuda": (torch.float32, torch.bfloat16)}
BOXES = {"cpu": [(262144,), (20000,)], "cuda": [(1 << 22,)]}


# ------------------------------------------------------------------ segmentation overlap


def _soft_dice(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Plain torch: softmax, one-hot, per-(image, class) soft Dice, mean."""
    p = x.float().softmax(1)
    g = F.one_hot(y, x.shape[1]).movedim(-1, 1).to(p.dtype)
    dims = tuple(range(2, x.dim()))
    inter = (p * g).sum(dims)
    return (1 - 2 * inter / (p.sum(dims) + g.sum(dims)).clamp_min(1e-6)).mean()


def _dice_ce(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return _soft_dice(x, y) + F.cross_entropy(x.float(), y)


def _kornia_dice() -> Any:
    """kornia's per-(image, class) Dice, ours' quantity (its default ``average="micro"``
    takes one Dice per image over all classes: another quantity, whose sums over the classes
    of each pixel compile to cheaper loops; ``tests/segmentation/test_dice.py``)."""
    from kornia.losses import DiceLoss

    return DiceLoss(average="macro")


def _kornia_tversky() -> Any:
    from kornia.losses import TverskyLoss

    return TverskyLoss(alpha=0.3, beta=0.7)


def _monai(name: str, **kwargs: Any) -> Any:
    def make() -> Any:
        from monai import losses

        loss = getattr(losses, name)(softmax=True, to_onehot_y=True, **kwargs)
        return lambda x, y: loss(x, y.unsqueeze(1))

    return make


def _smp(name: str, **kwargs: Any) -> Any:
    def make() -> Any:
        from segmentation_models_pytorch import losses

        return getattr(losses, name)(mode="multiclass", from_logits=True, **kwargs)

    return make


def _smp_soft_bce() -> Any:
    from segmentation_models_pytorch.losses import SoftBCEWithLogitsLoss

    return SoftBCEWithLogitsLoss()


def _seg(loss: str, shapes: dict, **kwargs: Any) -> BenchCase:
    return BenchCase(
        loss,
        logits_and_classes,
        shapes,
        floor=dense_floor,
        dtypes=BOTH,
        suite="peers",
        **kwargs,
    )


# ------------------------------------------------------------------ classification


def _sigmoid_focal(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    p = torch.sigmoid(x)
    ce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    p_t = p * y + (1 - p) * (1 - y)
    return ((0.25 * y + 0.75 * (1 - y)) * (1 - p_t) ** 2 * ce).mean()


def _torchvision_focal() -> Any:
    from torchvision.ops import sigmoid_focal_loss

    return lambda x, y: sigmoid_focal_loss(x, y, alpha=0.25, gamma=2.0, reduction="mean")


def _kornia_focal() -> Any:
    from kornia.losses import BinaryFocalLossWithLogits

    return BinaryFocalLossWithLogits(alpha=0.25, gamma=2.0, reduction="mean")


def _monai_focal() -> Any:
    from monai.losses import FocalLoss

    return FocalLoss(alpha=0.25, gamma=2.0, use_softmax=False)


# ------------------------------------------------------------------ boxes


def _torchvision_box(name: str) -> Any:
    def make() -> Any:
        import torchvision.ops as ops

        fn = getattr(ops, name)
        return lambda p, t: fn(p, t, reduction="mean")

    return make


def _ultralytics_box(flag: str | None) -> Any:
    """``1 - bbox_iou(...)`` averaged, as ultralytics' ``BboxLoss`` uses it (xyxy boxes)."""

    def make() -> Any:
        from ultralytics.utils.metrics import bbox_iou

        kwargs = {flag: True} if flag else {}
        return lambda p, t: (1.0 - bbox_iou(p, t, xywh=False, **kwargs)).mean()

    return make


def _box(loss: str, torchvision: str | None, ultralytics: str | None) -> BenchCase:
    peers = {"ultralytics": _ultralytics_box(ultralytics)}
    if torchvision:
        peers["torchvision"] = _torchvision_box(torchvision)
    return BenchCase(loss, box_pairs, BOXES, peers=peers, floor=box_floor, suite="peers")


# ------------------------------------------------------------------ synthesis


def _images(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> tuple:
    return (torch.rand(shape, device=device).to(dtype).requires_grad_(True),)


def _tv(x: torch.Tensor) -> torch.Tensor:
    dx = x[..., :, 1:] - x[..., :, :-1]
    dy = x[..., 1:, :] - x[..., :-1, :]
    return (dx.abs().sum() + dy.abs().sum()) / x.numel()


def _kornia_tv() -> Any:
    from kornia.losses import total_variation

    return lambda x: total_variation(x, reduction="sum").sum() / x.numel()


def _tv_floor(shape: tuple[int, ...], dtype: torch.dtype) -> dict[str, float]:
    return {"bytes": 2.0 * numel(shape) * itemsize(dtype)}


# ------------------------------------------------------------------ contrastive


def _lightly_nt_xent() -> Any:
    from lightly.loss import NTXentLoss

    return NTXentLoss(temperature=0.5)


def _labelled(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> tuple:
    n, d = shape
    x = torch.randn(n, 1, d, device=device).to(dtype).requires_grad_(True)
    y = torch.randint(0, 64, (n,), device=device)
    return x, y


def _supcon(x: torch.Tensor, y: torch.Tensor, t: float = 0.1) -> torch.Tensor:
    """Plain torch SupCon (L_out) over one view per sample."""
    z = F.normalize(x[:, 0].float(), dim=1)
    logits = (z @ z.T / t).fill_diagonal_(float("-inf"))
    same = (y[:, None] == y[None]).fill_diagonal_(False)
    logp = logits.log_softmax(1).masked_fill(~same, 0.0)
    count = same.sum(1)
    keep = count > 0
    return (-(logp.sum(1)[keep] / count[keep])).mean()


def _pml_supcon() -> Any:
    from pytorch_metric_learning import losses

    loss = losses.SupConLoss(temperature=0.1)
    return lambda x, y: loss(x[:, 0], y)


add_cases(
    _box("iou", None, None),
    _box("giou", "generalized_box_iou_loss", "GIoU"),
    _box("diou", "distance_box_iou_loss", "DIoU"),
    _box("ciou", "complete_box_iou_loss", "CIoU"),
    _seg(
        "dice",
        CLASSES,
        reference=_soft_dice,
        peers={"kornia": _kornia_dice, "monai": _monai("DiceLoss"), "smp": _smp("DiceLoss")},
        check_cost=True,
    ),
    _seg("dice", VOLUME, label="3-D", reference=_soft_dice, peers={"monai": _monai("DiceLoss")}),
    _seg("dice_ce", CLASSES, reference=_dice_ce, peers={"monai": _monai("DiceCELoss")}),
    _seg(
        "tversky",
        CLASSES,
        peers={
            "kornia": _kornia_tversky,
            "monai": _monai("TverskyLoss", alpha=0.3, beta=0.7),
            "smp": _smp("TverskyLoss", alpha=0.3, beta=0.7),
        },
    ),
    BenchCase(
        "focal",
        logits_and_binary,
        DENSE,
        reference=_sigmoid_focal,
        peers={
            "torchvision": _torchvision_focal,
            "kornia": _kornia_focal,
            "monai": _monai_focal,
        },
        floor=elementwise_floor,
        dtypes=BOTH,
        suite="peers",
    ),
    BenchCase(
        "binary_cross_entropy",
        logits_and_binary,
        DENSE,
        reference=lambda x, y: F.binary_cross_entropy_with_logits(x, y),
        peers={"smp": _smp_soft_bce},
        floor=elementwise_floor,
        dtypes=BOTH,
        suite="peers",
    ),
    BenchCase(
        "cross_entropy",
        logits_and_classes,
        CLASSES,
        reference=lambda x, y: F.cross_entropy(x, y),
        floor=dense_floor,
        dtypes=BOTH,
        suite="peers",
        check_cost=True,
    ),
    BenchCase(
        "total_variation",
        _images,
        IMAGES,
        reference=_tv,
        peers={"kornia": _kornia_tv},
        floor=_tv_floor,
        dtypes=BOTH,
        suite="peers",
    ),
    BenchCase(
        "nt_xent",
        two_views,
        PAIRS,
        options={"temperature": 0.5},
        reference=_nt_xent,
        # pytorch-metric-learning's NTXentLoss is left out at these sizes: it builds
        # per-pair tensors and took ~10 GB and minutes at 2 x 1024 here (it cannot allocate
        # on small machines); the per-family suite times it at 2 x 256
        peers={"lightly": _lightly_nt_xent},
        floor=nt_xent_floor,
        dtypes=BOTH,
        suite="peers",
    ),
    BenchCase(
        "supcon",
        _labelled,
        LABELLED,
        reference=_supcon,
        peers={"pml": _pml_supcon},
        dtypes=BOTH,
        suite="peers",
    ),
    # the two remaining cases of the table that opened the "faster than every peer" issue
    BenchCase(
        "lovasz",
        logits_and_classes,
        DENSE,
        peers={"smp": _smp("LovaszLoss")},
        floor=dense_floor,
        suite="peers",
    ),
    batch_hard_case(LABELLED, suite="peers"),
)

if __name__ == "__main__":
    from .runner import main

    sys.exit(main(["--peers", *sys.argv[1:]]))
