"""Cross entropy from class indices for fp16/bf16 logits on eager CPUs, in blocks (private).

Computing in float32 used to mean a float32 copy of the logits, their float32 log-softmax
kept for the backward and a float32 gradient cast down at the end. :class:`_BlockedCrossEntropy`
reads the logits in blocks of about ``_BLOCK`` values, upcasts each block on its own, keeps
nothing but the inputs for the backward (which takes each block's softmax again) and writes the
gradient straight into a tensor of the input's dtype, block by block. Values and
gradients are the float32 ones (torch's log-softmax and softmax of the same float32 numbers).
bf16 ``(4, 19, 128, 256)`` on one CPU thread: half of torch's peak memory (a quarter of the
one-piece float32 path's) in the same time as that path, 1.4x torch's bf16 kernel, which
rounds every log-probability and the loss itself to bf16 (0.03 off on a loss of 3.4 there).
Keeping a log-sum-exp per location instead of taking the softmax again was no faster and
carried its rounding, about ``ulp(max x)``, into ``1 - p`` of the target class.

With ``p = softmax(x)``, ``q`` the target one-hot smoothed as ``(1 - eps) q + eps / C`` and
``v`` 1 at valid locations: ``loss = -sum v q . log p`` and ``d loss / d x = v (p - q)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .._core.autograd import differentiable_grad, double_backward

# Logits per block: a block and its log-softmax stay in the caches.
_BLOCK = 1 << 18


def blocked_cross_entropy_applies(x: Tensor, weight: Tensor | None) -> bool:
    """Whether :func:`blocked_cross_entropy_sum` takes ``x`` (half precision, contiguous, on
    an eager CPU, no class weights)."""
    return (
        x.dtype in (torch.float16, torch.bfloat16)
        and weight is None
        and x.device.type == "cpu"
        and x.dim() >= 2
        and x.numel() > 0
        and x.is_contiguous()
        and not torch.compiler.is_compiling()
    )


def _blocks(x3: Tensor) -> Iterator[tuple[slice, slice]]:
    """``(images, locations)`` slices of ``(N, C, S)`` blocks of about ``_BLOCK`` logits: whole
    images when an image is smaller than that, else runs of locations of one image."""
    n, c, s = x3.shape
    if c * s >= _BLOCK:
        step = max(1, _BLOCK // c)
        for i in range(n):
            for j in range(0, s, step):
                yield slice(i, i + 1), slice(j, j + step)
    else:
        step = max(1, _BLOCK // (c * s))
        for i in range(0, n, step):
            yield slice(i, i + step), slice(0, s)


def _target_block(t3: Tensor, ignore_index: int | None) -> tuple[Tensor, Tensor | None]:
    """The block's labels ``(n, 1, s)`` with ignored ones replaced by 0, and the valid mask
    (None when nothing can be ignored)."""
    if ignore_index is None:
        return t3, None
    valid = t3 != ignore_index
    return t3.masked_fill(~valid, 0), valid


class _BlockedCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, x: Tensor, target: Tensor, ignore_index: int | None, eps: float
    ) -> Tensor:
        n, c = x.shape[:2]
        x3, t3 = x.view(n, c, -1), target.reshape(n, 1, -1)
        total = torch.zeros((), dtype=torch.float32, device=x.device)
        for images, where in _blocks(x3):
            xf = x3[images, :, where].float()
            log_p = F.log_softmax(xf, 1)
            safe, valid = _target_block(t3[images, :, where], ignore_index)
            picked = log_p.gather(1, safe)
            if eps > 0:  # (1 - eps) log p_y + eps / C sum_c log p_c
                picked.mul_(1 - eps).add_(log_p.sum(1, keepdim=True), alpha=eps / c)
            total -= (picked if valid is None else picked.mul_(valid)).sum()
        ctx.save_for_backward(x, target)
        ctx.ignore_index, ctx.eps = ignore_index, eps
        return total

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, None, None, None]:
        x, target = ctx.saved_tensors
        ignore_index, eps = ctx.ignore_index, ctx.eps
        if double_backward():
            (dx,) = differentiable_grad(
                lambda z: _plain_sum(z, target, ignore_index, eps), (x,), (grad,)
            )
            return dx, None, None, None
        n, c = x.shape[:2]
        x3, t3 = x.view(n, c, -1), target.reshape(n, 1, -1)
        out = torch.empty_like(x)
        out3 = out.view(n, c, -1)
        for images, where in _blocks(x3):
            p = torch.softmax(x3[images, :, where].float(), 1)
            safe, valid = _target_block(t3[images, :, where], ignore_index)
            # - (1 - eps) at the target: scatter_add of a broadcast number (24 against 41 us a
            # block for a gather, a subtraction and a scatter; the same rounding)
            p.scatter_add_(1, safe, p.new_full((1, 1, 1), eps - 1.0).expand(safe.shape))
            if eps > 0:
                p.sub_(eps / c)
            p.mul_(grad if valid is None else valid * grad)
            out3[images, :, where] = p
        return out, None, None, None


def _plain_sum(x: Tensor, target: Tensor, ignore_index: int | None, eps: float) -> Tensor:
    """The same sum through torch's cross entropy in float32 (the second derivative)."""
    return F.cross_entropy(
        x.float(),
        target,
        ignore_index=-100 if ignore_index is None else ignore_index,
        label_smoothing=eps,
        reduction="sum",
    )


def blocked_cross_entropy_sum(
    x: Tensor, target: Tensor, ignore_index: int | None, label_smoothing: float
) -> Tensor:
    """The summed cross entropy of half-precision logits ``x`` ``(N, C, *)`` and class indices
    ``target`` ``(N, *)`` (each a valid class or ``ignore_index``), in float32."""
    out: Tensor = _BlockedCrossEntropy.apply(x, target, ignore_index, float(label_smoothing))
    return out
