"""Dtype policy: half-precision inputs are computed (and returned) in float32."""

from __future__ import annotations

import contextlib
from typing import Any

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


def product_dtype(*tensors: Tensor) -> torch.dtype:
    """The dtype of the operands of a similarity-matrix product: bfloat16 when every floating
    input is bfloat16, else :func:`compute_dtype`.

    A bf16 GEMM accumulates in float32 (oneDNN on CPUs, cuBLAS on GPUs, as ``torch.autocast``
    runs ``matmul``) and rounds each product once; the caller upcasts that product before
    anything else (the temperature, the log-sum-exp). It is 5x an fp32 GEMM's speed on an
    AVX512-BF16 CPU and 2x TF32's on an H100. fp16 keeps the float32 product: an fp16 product
    of unnormalised embeddings can overflow, and CPUs have no fast fp16 GEMM.
    """
    floats = [t for t in tensors if t is not None and t.is_floating_point()]
    if floats and all(t.dtype == torch.bfloat16 for t in floats):
        return torch.bfloat16
    return compute_dtype(*tensors)


def autocast_off(device_type: str) -> contextlib.AbstractContextManager[Any]:
    """A context in which autocast is off for ``device_type``: ``torch.autocast(...,
    enabled=False)`` where it is on, else nothing to enter (entering that context costs
    about 2.5 us a call even when autocast is already off, against 0.4 us for this check;
    the losses' wrapper has switched autocast off already, so inside a loss this is the
    usual case)."""
    if torch.is_autocast_enabled(device_type):
        return torch.autocast(device_type=device_type, enabled=False)
    return contextlib.nullcontext()
