"""Seeded inputs shared by the metric-learning tests."""

from __future__ import annotations

import torch
from torch import Tensor


def embeddings(n: int, dim: int = 4, *, seed: int = 0, dtype=torch.float64) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, dim, generator=g, dtype=dtype)


def labels(n: int, num_classes: int = 3, *, seed: int = 1) -> Tensor:
    """``n`` labels in ``[0, num_classes)`` where every class has at least two members (when
    ``n >= 2 * num_classes``), in a shuffled order."""
    g = torch.Generator().manual_seed(seed)
    base = torch.arange(n) % num_classes
    return base[torch.randperm(n, generator=g)]


def clustered(
    n: int,
    num_classes: int = 3,
    dim: int = 4,
    *,
    spread: float = 0.6,
    seed: int = 2,
    dtype=torch.float64,
) -> tuple[Tensor, Tensor]:
    """Embeddings around one random centre per class (so mining has easy and hard cases)."""
    g = torch.Generator().manual_seed(seed)
    y = labels(n, num_classes, seed=seed + 1)
    centres = torch.randn(num_classes, dim, generator=g, dtype=dtype)
    return centres[y] + spread * torch.randn(n, dim, generator=g, dtype=dtype), y
