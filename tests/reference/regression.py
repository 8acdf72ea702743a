"""float64 loop references for the regression family (written from the definitions)."""

from __future__ import annotations

import torch
from torch import Tensor


def charbonnier(x: Tensor, y: Tensor, eps: float) -> Tensor:
    """sqrt((x - y)^2 + eps^2) element by element (autograd flows through the loop)."""
    terms = [torch.sqrt((a - b) ** 2 + eps**2) for a, b in zip(x.flatten(), y.flatten())]
    return torch.stack(terms).reshape(x.shape)
