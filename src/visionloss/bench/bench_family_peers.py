"""Side-by-side cases (``visionloss bench --peers``) of the image-quality, metric-breadth,
image-text and detection losses against their peer libraries, at the sizes of the issues.

* ``ssim`` / ``ms_ssim`` on ``(8, 3, 256, 256)`` images in [0, 1]: pytorch-msssim, piq,
  torchmetrics and kornia (11-pixel Gaussian window, sigma 1.5, data range 1, K = 0.01, 0.03;
  MS-SSIM with Wang et al.'s five weights). Valid statistics (pytorch-msssim, piq) and the
  padded map (kornia, torchmetrics, against our ``padding="same"``) are separate cases.
* ``arcface``, ``multi_similarity`` (with its miner), ``circle``, ``proxy_anchor`` at
  2048 x 512 against pytorch-metric-learning with the same class weights / proxies (PML's
  ``W`` is ``(D, C)``: our ``(C, D)`` weight transposed; ArcFace's margin in degrees there).
* ``clip`` / ``siglip`` against OpenCLIP's ``ClipLoss`` / ``SigLipLoss`` (single process):
  OpenCLIP expects normalised features, so its timed call includes ``F.normalize`` (ours
  normalises inside); the scale and bias are constants here. At the CUDA size (8192) ours goes
  in checkpointed row blocks, OpenCLIP forms the whole matrix.
* ``distribution_focal`` on 2^20 anchors x 4 sides x 16 bins against ultralytics' ``DFLoss``
  (``DFLoss(reg_max=16)`` counts the bins; our target lies in ``[0, 15]``) and ``ciou`` on
  2^20 boxes against ultralytics' ``bbox_iou(CIoU=True)`` (YOLOv8's ``BboxLoss`` is these two
  summed; each is timed alone because a case times one registered loss).
* ``asymmetric`` on 1024 x 1000 multi-label logits against timm's
  ``AsymmetricLossMultiLabel`` (gamma- 4, gamma+ 1, clip 0.05, sum reduction).

The value mappings are checked in ``tests/bench/test_family_peers.py``. Replaces the
standalone ``benchmarks/{ssim,metric_breadth,clip_siglip,detection}_peers.py`` scripts.

Run alone: ``python -m visionloss.bench.bench_family_peers [--device cuda] [--compile]``.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import torch
import torch.nn.functional as F

from .cases import BenchCase, add_cases

Shape = tuple[int, ...]

IMAGES = {"cpu": [(8, 3, 256, 256)], "cuda": [(64, 3, 256, 256)]}
EMBEDDINGS = {"cpu": [(2048, 512)], "cuda": [(8192, 512)]}
IMAGE_TEXT = {"cpu": [(2048, 512)], "cuda": [(8192, 512)]}
ANCHORS = {"cpu": [(1 << 20,)], "cuda": [(1 << 22,)]}
MULTI_LABEL = {"cpu": [(1024, 1000)], "cuda": [(4096, 1000)]}
CLASSES = 1000  # arcface / proxy_anchor classes
REG_MAX = 16  # ultralytics' bins (DFLoss(reg_max=16)); our bins are indexed 0..15
STRIDE = 8.0
LOG_SCALE = math.log(10.0)  # clip and siglip: the scale 10 (SigLIP's initial one)
BIAS = -10.0


def _generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


# ------------------------------------------------------------------ image quality


def images(shape: Shape, dtype: torch.dtype, device: torch.device) -> tuple:
    """``(x, y)``: ``y`` uniform in [0, 1], ``x`` a noisy copy clamped to [0, 1] (requires grad)."""
    g = _generator()
    y = torch.rand(shape, generator=g)
    x = (y + 0.1 * torch.randn(shape, generator=g)).clamp(0, 1)
    return x.to(device, dtype).requires_grad_(True), y.to(device, dtype)


def _pytorch_msssim(multi: bool) -> Any:
    import pytorch_msssim as pm

    fn = pm.ms_ssim if multi else pm.ssim
    return lambda x, y: 1 - fn(x, y, data_range=1.0)


def _piq(multi: bool) -> Any:
    import piq

    if multi:
        return lambda x, y: 1 - piq.multi_scale_ssim(x, y, data_range=1.0)
    return lambda x, y: 1 - piq.ssim(x, y, data_range=1.0, downsample=False)


def _kornia_ssim() -> Any:
    from kornia.losses import ssim_loss

    # kornia's loss is (1 - SSIM) / 2 of its reflect-padded map
    return lambda x, y: 2 * ssim_loss(x, y, 11)


def _torchmetrics(multi: bool) -> Any:
    from torchmetrics.functional.image import (
        multiscale_structural_similarity_index_measure,
        structural_similarity_index_measure,
    )

    metric: Any = (
        multiscale_structural_similarity_index_measure
        if multi
        else structural_similarity_index_measure
    )
    options: dict[str, Any] = {"normalize": "relu"} if multi else {}
    return lambda x, y: 1 - metric(x, y, data_range=1.0, **options)


# ------------------------------------------------------------------ metric learning


def class_embeddings(shape: Shape, dtype: torch.dtype, device: torch.device) -> tuple:
    """``(x, labels, weight)``: ``(N, D)`` embeddings, labels among 1000 classes and a
    ``(1000, D)`` class-weight / proxy matrix (both require grad)."""
    n, d = shape
    g = _generator()
    x = torch.randn(n, d, generator=g)
    labels = torch.randint(0, CLASSES, (n,), generator=g)
    w = torch.randn(CLASSES, d, generator=g)
    return (
        x.to(device, dtype).requires_grad_(True),
        labels.to(device),
        w.to(device, dtype).requires_grad_(True),
    )


def pair_embeddings(shape: Shape, dtype: torch.dtype, device: torch.device) -> tuple:
    """``(x, labels)``: ``(N, D)`` embeddings and labels among ``N / 8`` classes."""
    n, d = shape
    g = _generator()
    x = torch.randn(n, d, generator=g)
    labels = torch.randint(0, max(2, n // 8), (n,), generator=g)
    return x.to(device, dtype).requires_grad_(True), labels.to(device)


def _pml_arcface() -> Any:
    from pytorch_metric_learning.losses import ArcFaceLoss

    modules: dict[tuple, Any] = {}

    def call(x: torch.Tensor, labels: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        key = (w.shape, w.device)
        if key not in modules:  # PML: margin in degrees, W of shape (D, C)
            modules[key] = ArcFaceLoss(
                w.shape[0], w.shape[1], margin=math.degrees(0.5), scale=64.0
            ).to(w.device)
        out: torch.Tensor = torch.func.functional_call(modules[key], {"W": w.T}, (x, labels))
        return out

    return call


def _pml_proxy_anchor() -> Any:
    from pytorch_metric_learning.losses import ProxyAnchorLoss

    modules: dict[tuple, Any] = {}

    def call(x: torch.Tensor, labels: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        key = (w.shape, w.device)
        if key not in modules:  # margin 0.1, alpha 32 (both defaults)
            modules[key] = ProxyAnchorLoss(w.shape[0], w.shape[1]).to(w.device)
        out: torch.Tensor = torch.func.functional_call(modules[key], {"proxies": w}, (x, labels))
        return out

    return call


def _pml_multi_similarity() -> Any:
    from pytorch_metric_learning import losses, miners

    loss, miner = losses.MultiSimilarityLoss(), miners.MultiSimilarityMiner(0.1)
    return lambda x, labels: loss(x, labels, miner(x, labels))


def _pml_circle() -> Any:
    from pytorch_metric_learning.losses import CircleLoss

    return CircleLoss(m=0.4, gamma=80)


# ------------------------------------------------------------------ image-text


def image_text(shape: Shape, dtype: torch.dtype, device: torch.device) -> tuple:
    """``(images, texts)``: ``(N, D)`` raw embeddings (both require grad), texts correlated."""
    g = _generator()
    img = torch.randn(shape, generator=g)
    txt = img + 0.5 * torch.randn(shape, generator=g)
    return img.to(device, dtype).requires_grad_(True), txt.to(device, dtype).requires_grad_(True)


def _open_clip() -> Any:
    from open_clip.loss import ClipLoss

    loss = ClipLoss()
    scale = math.exp(LOG_SCALE)
    return lambda i, t: loss(F.normalize(i, dim=-1), F.normalize(t, dim=-1), scale)


def _open_siglip() -> Any:
    from open_clip.loss import SigLipLoss

    loss = SigLipLoss()
    scale = math.exp(LOG_SCALE)
    return lambda i, t: loss(F.normalize(i, dim=-1), F.normalize(t, dim=-1), scale, BIAS)


# ------------------------------------------------------------------ detection


def _boxes(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Anchor points in a 640 x 640 image and target boxes (xyxy) around them."""
    points = torch.rand(n, 2, generator=g) * 640
    wh = torch.rand(n, 2, generator=g) * 100 + 4
    offset = (torch.rand(n, 2, generator=g) - 0.5) * wh * 0.8
    target = torch.cat([points + offset - wh / 2, points + offset + wh / 2], -1)
    return points, target


def side_distributions(shape: Shape, dtype: torch.dtype, device: torch.device) -> tuple:
    """``(logits, target)``: ``(N, 4, 16)`` side logits (require grad) and the ``(N, 4)``
    continuous side distances in bins, from :func:`visionloss.bbox_to_distribution`."""
    import visionloss as vl

    (n,) = shape
    g = _generator()
    points, target = _boxes(n, g)
    ltrb = vl.bbox_to_distribution(points, target, reg_max=REG_MAX - 1, stride=STRIDE)
    logits = torch.randn(n, 4, REG_MAX, generator=g)
    return logits.to(device, dtype).requires_grad_(True), ltrb.to(device, dtype)


def box_pairs(shape: Shape, dtype: torch.dtype, device: torch.device) -> tuple:
    """``(pred, target)``: ``(N, 4)`` xyxy boxes, the predictions jittered (require grad)."""
    (n,) = shape
    g = _generator()
    _, target = _boxes(n, g)
    wh = (target[:, 2:] - target[:, :2]).repeat(1, 2)
    pred = target + 0.2 * wh * torch.randn(n, 4, generator=g)
    pred = torch.cat([pred[:, :2], torch.maximum(pred[:, 2:], pred[:, :2] + 1)], -1)
    return pred.to(device, dtype).requires_grad_(True), target.to(device, dtype)


def _ultralytics_dfl() -> Any:
    from ultralytics.utils.loss import DFLoss

    loss = DFLoss(REG_MAX)
    # DFLoss clamps its target in place (to reg_max - 1 - 0.01, as bbox_to_distribution's
    # margin): a copy keeps the shared inputs intact; (N, 1) per-anchor means of the 4 sides
    return lambda x, t: loss(x.reshape(-1, REG_MAX), t.clone()).mean()


def _ultralytics_ciou() -> Any:
    from ultralytics.utils.metrics import bbox_iou

    return lambda p, t: (1 - bbox_iou(p, t, xywh=False, CIoU=True)).mean()


def multi_label(shape: Shape, dtype: torch.dtype, device: torch.device) -> tuple:
    """``(logits, targets)``: ``(B, C)`` logits (require grad), about 1% positives."""
    g = _generator()
    x = torch.randn(shape, generator=g) * 3
    y = (torch.rand(shape, generator=g) < 0.01).float()
    return x.to(device, dtype).requires_grad_(True), y.to(device, dtype)


def _timm_asl() -> Any:
    from timm.loss import AsymmetricLossMultiLabel

    return AsymmetricLossMultiLabel(gamma_neg=4, gamma_pos=1, clip=0.05, reduction="sum")


# ------------------------------------------------------------------ cases


def _case(loss: str, inputs: Any, shapes: Any, peers: dict, **kwargs: Any) -> BenchCase:
    return BenchCase(loss, inputs, shapes, peers=peers, suite="peers", **kwargs)


CASES = (
    _case(
        "ssim",
        images,
        IMAGES,
        {"pytorch-msssim": lambda: _pytorch_msssim(False), "piq": lambda: _piq(False)},
        label="valid",
    ),
    _case(
        "ssim",
        images,
        IMAGES,
        {"kornia": _kornia_ssim, "torchmetrics": lambda: _torchmetrics(False)},
        options={"padding": "same"},
        label="padded",
    ),
    _case(
        "ms_ssim",
        images,
        IMAGES,
        {
            "pytorch-msssim": lambda: _pytorch_msssim(True),
            "piq": lambda: _piq(True),
            "torchmetrics": lambda: _torchmetrics(True),
        },
    ),
    _case("arcface", class_embeddings, EMBEDDINGS, {"pml": _pml_arcface}),
    _case(
        "multi_similarity",
        pair_embeddings,
        EMBEDDINGS,
        {"pml": _pml_multi_similarity},
        label="miner",
    ),
    _case("circle", pair_embeddings, EMBEDDINGS, {"pml": _pml_circle}),
    _case("proxy_anchor", class_embeddings, EMBEDDINGS, {"pml": _pml_proxy_anchor}),
    _case(
        "clip", image_text, IMAGE_TEXT, {"open_clip": _open_clip}, options={"log_scale": LOG_SCALE}
    ),
    _case(
        "siglip",
        image_text,
        IMAGE_TEXT,
        {"open_clip": _open_siglip},
        options={"log_scale": LOG_SCALE, "bias": BIAS},
    ),
    _case("distribution_focal", side_distributions, ANCHORS, {"ultralytics": _ultralytics_dfl}),
    _case("ciou", box_pairs, ANCHORS, {"ultralytics": _ultralytics_ciou}),
    _case(
        "asymmetric",
        multi_label,
        MULTI_LABEL,
        {"timm": _timm_asl},
        options={"reduction": "sum"},
    ),
)

add_cases(*CASES)

if __name__ == "__main__":
    from .runner import main

    sys.exit(main(["--peers", *sys.argv[1:]]))
