"""Seeded inputs shared by the contrastive tests."""

from __future__ import annotations

import torch
from torch import Tensor

REDUCE = {"mean": torch.mean, "sum": torch.sum, "none": lambda t: t}


def vectors(*shape: int, seed: int = 0, dtype=torch.float64) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=dtype)


def labels(n: int, num_classes: int, seed: int = 1) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, num_classes, (n,), generator=g)


def forgery_mask(b: int, h: int, w: int, seed: int = 2) -> Tensor:
    """``(B, H, W)`` 0/1 masks, each with a random forged rectangle (both classes present)."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.zeros(b, h, w, dtype=torch.long)
    for i in range(b):
        y0 = int(torch.randint(0, h - 1, (1,), generator=g))
        x0 = int(torch.randint(0, w - 1, (1,), generator=g))
        y1 = int(torch.randint(y0 + 1, h + 1, (1,), generator=g))
        x1 = int(torch.randint(x0 + 1, w + 1, (1,), generator=g))
        mask[i, y0:y1, x0:x1] = 1
        if mask[i].all():
            mask[i, 0, 0] = 0
    return mask


def dense(b: int, d: int, h: int, w: int, seed: int = 3, dtype=torch.float64) -> Tensor:
    """Features ``(B, D, H, W)`` correlated with a forgery mask (so losses are moderate)."""
    return vectors(b, d, h, w, seed=seed, dtype=dtype)
