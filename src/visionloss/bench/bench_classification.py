"""Classification losses: ours against torch.nn.functional and torchvision's sigmoid focal loss.

Run alone: ``python -m visionloss.bench.bench_classification [--device cuda] [--out FILE.csv]``.
Shapes are ``(N, C)`` (or ``(N, C, H, W)`` for dense prediction).
"""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F

from .cases import BenchCase, add_cases, elementwise_floor, itemsize, numel, prediction_and_target

MULTICLASS = {"cpu": [(1024, 100), (4, 21, 32, 32)], "cuda": [(32768, 1000), (16, 21, 512, 512)]}
MULTILABEL = {"cpu": [(4, 20, 32, 32)], "cuda": [(16, 80, 256, 256)]}


def logits_and_classes(shape, dtype, device):
    """Logits ``(N, C, *)`` that require grad and class indices ``(N, *)``."""
    x = torch.randn(shape, device=device).to(dtype).requires_grad_(True)
    y = torch.randint(0, shape[1], (shape[0], *shape[2:]), device=device)
    return x, y


def logits_and_binary(shape, dtype, device):
    """Logits that require grad and a {0, 1} target of the same shape (about 10% ones)."""
    x = torch.randn(shape, device=device).to(dtype).requires_grad_(True)
    y = (torch.rand(shape, device=device) < 0.1).to(dtype)
    return x, y


def dense_floor(shape, dtype):
    """Read the logits and write their gradient; read the int64 targets."""
    return {"bytes": 2.0 * numel(shape) * itemsize(dtype) + 8.0 * numel(shape) / shape[1]}


def _sigmoid_focal(x, y, alpha=0.25, gamma=2.0):
    p = torch.sigmoid(x)
    ce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    p_t = p * y + (1 - p) * (1 - y)
    return ((alpha * y + (1 - alpha) * (1 - y)) * (1 - p_t) ** gamma * ce).mean()


def _softmax_focal(x, y, gamma=2.0):
    logp = x.log_softmax(1).gather(1, y.unsqueeze(1)).squeeze(1)
    return (-((1 - logp.exp()) ** gamma) * logp).mean()


def _torchvision_focal():
    from torchvision.ops import sigmoid_focal_loss

    return lambda x, y: sigmoid_focal_loss(x, y, alpha=0.25, gamma=2.0, reduction="mean")


add_cases(
    BenchCase(
        "cross_entropy",
        logits_and_classes,
        MULTICLASS,
        reference=F.cross_entropy,
        floor=dense_floor,
    ),
    BenchCase(
        "binary_cross_entropy",
        logits_and_binary,
        MULTILABEL,
        reference=F.binary_cross_entropy_with_logits,
        floor=elementwise_floor,
    ),
    BenchCase(
        "focal",
        logits_and_binary,
        MULTILABEL,
        reference=_sigmoid_focal,
        peers={"torchvision": _torchvision_focal},
        floor=elementwise_floor,
    ),
    BenchCase(
        "softmax_focal", logits_and_classes, MULTICLASS, reference=_softmax_focal, floor=dense_floor
    ),
    # student logits (require grad) against teacher logits: read both, write one gradient
    BenchCase(
        "kl_divergence",
        prediction_and_target,
        {"cpu": [(1024, 100)], "cuda": [(32768, 1000)]},
        reference=lambda x, t: F.kl_div(
            x.log_softmax(1), t.log_softmax(1), reduction="batchmean", log_target=True
        ),
        floor=elementwise_floor,
    ),
)

if __name__ == "__main__":
    from .runner import main

    sys.exit(main(["--family", "classification", *sys.argv[1:]]))
