"""Dtype policy: half-precision inputs are computed (and returned) in float32."""

from __future__ import annotations

import torch
from torch import Tensor


def compute_dtype(*tensors: Tensor) -> torch.dtype:
    """The floating dtype a loss computes in: float32 for fp16/bf16/fp32, float64 for float64."""
    dtype = torch.float32
    for t in tensors:
        if t is not None and t.is_floating_point() and t.dtype == torch.float64:
            dtype = torch.float64
    return dtype


def upcast(x: Tensor, dtype: torch.dtype) -> Tensor:
    """``x`` as ``dtype`` if it is floating point (no copy when it already is)."""
    if x is None or not x.is_floating_point() or x.dtype == dtype:
        return x
    return x.to(dtype)
