"""Vector maths shared by the embedding families (metric, contrastive)."""

from __future__ import annotations

import torch
from torch import Tensor


def normalize(x: Tensor, dim: int = -1) -> Tensor:
    """``x`` scaled to unit L2 norm along ``dim``; a zero vector stays zero, with a zero
    gradient (``F.normalize`` divides by ``max(norm, 1e-12)`` and so gives a zero vector a
    gradient of ``1e12``)."""
    sq = x.square().sum(dim, keepdim=True)
    nonzero = sq > 0
    scale = torch.rsqrt(sq.clamp_min(torch.finfo(x.dtype).tiny))
    return torch.where(nonzero, x * scale, x.new_zeros(()))
