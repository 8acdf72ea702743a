"""Seeded inputs shared by the self-supervised tests."""

from __future__ import annotations

import torch
from torch import Tensor

N, D = 9, 6


def views(n: int = N, d: int = D, seed: int = 0, noise: float = 0.5) -> tuple[Tensor, Tensor]:
    """Two float64 views ``(n, d)``: the second a noisy copy of the first."""
    g = torch.Generator().manual_seed(seed)
    z1 = torch.randn(n, d, generator=g, dtype=torch.float64)
    return z1, z1 + noise * torch.randn(n, d, generator=g, dtype=torch.float64)


def leaves(*xs: Tensor) -> list[Tensor]:
    return [x.detach().clone().requires_grad_() for x in xs]


def degenerate() -> list:
    """(id, query, key) of the degenerate inputs every loss of the family must survive."""
    z1, z2 = views(1)
    const = torch.full((5, D), 0.7, dtype=torch.float64)
    col = views(6)[0].clone()
    col[:, 2] = 1.5  # one zero-variance feature
    return [
        ("batch-of-1", z1, z2),
        ("collapsed", const, const.clone()),
        ("zero-variance-feature", col, col + 0.1),
        ("zeros", torch.zeros(4, D, dtype=torch.float64), torch.zeros(4, D, dtype=torch.float64)),
    ]
