"""Shared machinery of the gradient penalties: input gradients that are correct under autocast
with a GradScaler and under DistributedDataParallel."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .._core.dtypes import autocast_off, compute_dtype
from ..errors import InputError


def input_gradients(outputs: Tensor, inputs: Tensor, scaler: Any | None, fn: str) -> Tensor:
    """``d sum(outputs) / d inputs`` with ``create_graph=True`` (so the penalty trains the
    critic), following PyTorch's AMP notes for gradient penalties:

    * the gradient is taken outside autocast;
    * with an enabled ``torch.amp.GradScaler`` the summed output is multiplied by
      ``scale / outputs.numel()`` before differentiating, so the gradients flowing back have the
      size of those of a mean-reduced loss on these outputs times the scale, the regime the
      scaler's dynamic scale is tuned for (small fp16 gradients do not flush to zero, and the
      per-output gradient does not overflow fp16 as ``scale`` itself, 65536 at start, would);
      the gradient is then divided by that factor. The scale is read as a tensor, never with
      ``get_scale()``, so nothing waits for the GPU; an overflow gives an inf penalty, the scaled
      backward then has inf gradients and ``scaler.step`` skips the step, as for any other loss.

    Returns the gradient in float32 (float64 for float64 inputs).
    """
    dtype = compute_dtype(outputs, inputs)
    total = outputs.to(dtype).sum()
    scale = None
    if scaler is not None and scaler.is_enabled() and outputs.numel() > 0:
        one = torch.ones((), device=outputs.device, dtype=torch.float32)
        scale = (scaler.scale(one) / outputs.numel()).to(dtype)
        total = total * scale
    grad = None
    if total.requires_grad:
        with autocast_off(inputs.device.type):
            (grad,) = torch.autograd.grad(total, inputs, create_graph=True, allow_unused=True)
    if grad is None:
        raise InputError(f"{fn}: the discriminator output does not depend on its input")
    grad = grad.to(dtype)
    if scale is not None:
        grad = grad / scale
    return _per_sample(grad)


def _per_sample(x: Tensor) -> Tensor:
    """``(B, *)`` -> ``(B, prod(*))`` (also for an empty batch)."""
    return x.flatten(1) if x.dim() > 1 else x.unsqueeze(1)


def tie_to_outputs(per_sample: Tensor, outputs: Tensor) -> Tensor:
    """``per_sample + 0 * outputs`` (summed per sample).

    A penalty built only from ``autograd.grad`` does not reach every parameter in its backward
    (the last layer's bias has no second derivative), so under DistributedDataParallel those
    parameters' gradients would never be all-reduced, or the reducer would wait for them. The
    zero term puts every parameter that produced ``outputs`` in the graph (with gradient 0), as
    StyleGAN2-ADA does; it changes neither the value nor any gradient.
    """
    tie = _per_sample(outputs).to(per_sample.dtype).sum(1)
    return per_sample + 0.0 * tie
