"""Seeded inputs shared by the classification tests."""

from __future__ import annotations

import torch
from torch import Tensor

REDUCE = {"mean": torch.mean, "sum": torch.sum, "none": lambda t: t}


def logits(*shape: int, seed: int = 0, scale: float = 2.0, dtype=torch.float64) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=dtype) * scale


def labels(*shape: int, num_classes: int, seed: int = 1) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, num_classes, shape, generator=g)


def binary(*shape: int, seed: int = 2, dtype=torch.float64) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 2, shape, generator=g).to(dtype)


def soft(*shape: int, seed: int = 3, dtype=torch.float64) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=g, dtype=dtype)


def distribution(*shape: int, seed: int = 4, dtype=torch.float64) -> Tensor:
    """Probabilities over dim 1."""
    return torch.softmax(logits(*shape, seed=seed, dtype=dtype), dim=1)


def one_hot(y: Tensor, num_classes: int, dtype=torch.float64) -> Tensor:
    """``(N, *)`` indices -> ``(N, C, *)`` one-hot probabilities."""
    return torch.nn.functional.one_hot(y, num_classes).movedim(-1, 1).to(dtype)
