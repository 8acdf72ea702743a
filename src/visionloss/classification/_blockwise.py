"""Elementwise losses on eager CPUs in flat blocks (private): the sigmoid focal loss and the
binary cross entropy on logits.

Their hand-written Functions take the input and the target in their own dtypes and compute
each block of ``_BLOCK`` elements in float32: the ten or so float32 temporaries of a block
stay in the caches, and the peak holds only the loss and its derivative (float32 each). In one
piece, the float32 copies of fp16/bf16 operands and every temporary were tensors of the
input's size: focal on bf16 ``(4, 19, 128, 256)`` took 2x torchvision's peak memory and 1.35x
its time; now 0.5x and 0.8x.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .._core.autograd import differentiable_grad, double_backward
from .._core.dtypes import compute_dtype, upcast

# Elements per block.
_BLOCK = 1 << 16


def blocks(
    x: Tensor, y: Tensor, a: float | Tensor | None, out: Tensor, d: Tensor | None
) -> Iterator[tuple[Tensor, Tensor, Tensor, Tensor | None]]:
    """``(x, y, out, d)`` block by block: flat slices of ``_BLOCK`` elements on eager CPUs
    (contiguous operands of one shape, a per-class option ``a`` a number or None), else the
    whole tensors (a ``(C,)`` option broadcasts along dim 1; inductor fuses the whole)."""
    n = x.numel()
    whole = (
        n <= _BLOCK
        or x.device.type != "cpu"
        or torch.compiler.is_compiling()
        or isinstance(a, Tensor)
        or y.shape != x.shape
        or not (x.is_contiguous() and y.is_contiguous())
    )
    if whole:
        yield x, y, out, d
        return
    flat = [t.view(-1) if t is not None else None for t in (x, y, out, d)]
    for i in range(0, n, _BLOCK):
        x_b, y_b, out_b, d_b = (t[i : i + _BLOCK] if t is not None else None for t in flat)
        assert x_b is not None and y_b is not None and out_b is not None
        yield x_b, y_b, out_b, d_b


Option = float | Tensor | None


Derivative = Callable[[Tensor, Tensor, float], Tensor]


def forward(
    ctx: Any,
    value: Callable[[Tensor, Tensor, Option, float, Tensor, Tensor | None], None],
    x: Tensor,
    y: Tensor,
    option: Option,
    param: float,
    grad: bool,
    derivative: Derivative | None = None,
) -> Tensor:
    """The forward of a blockwise Function: ``value(x, y, option, param, out, d)`` writes each
    block's loss into ``out`` and (``grad``) its derivative into ``d``, in float32 (float64
    for float64 inputs); ``d`` is kept for the backward. With ``derivative`` (the derivative
    as a function of float32 blocks of ``x``, ``y`` and ``param``) only the inputs are kept
    and the backward takes it again block by block."""
    dtype = compute_dtype(x)
    out = torch.empty(x.shape, dtype=dtype, device=x.device)
    d = torch.empty_like(out) if grad and derivative is None else None
    for x_b, y_b, out_b, d_b in blocks(x, y, option, out, d):
        value(upcast(x_b, dtype), upcast(y_b, dtype), option, param, out_b, d_b)
    if grad:
        ctx.save_for_backward(x, y) if d is None else ctx.save_for_backward(x, y, d)
        ctx.option, ctx.param, ctx.derivative = option, param, derivative
    return out


def backward(
    ctx: Any, plain: Callable[[Tensor, Tensor, Option, float], Tensor], grad: Tensor
) -> tuple[Tensor | None, ...]:
    """The backward of a blockwise Function: ``d * grad`` written in the input's dtype (``d``
    kept, or taken again by :func:`_recomputed`); under ``create_graph=True`` the derivative
    of ``plain(x, y, option, param)`` (an autograd graph of the same loss in the compute
    dtype), for which a kept ``d`` is a constant."""
    x, y, *kept = ctx.saved_tensors
    if double_backward():
        dtype = compute_dtype(x)
        (dx,) = differentiable_grad(
            lambda t: plain(upcast(t, dtype), upcast(y, dtype), ctx.option, ctx.param),
            (x,),
            (grad,),
        )
        return dx, None, None, None, None
    if not kept:
        return _recomputed(x, y, grad, ctx.derivative, ctx.param), None, None, None, None
    (d,) = kept
    if x.dtype == d.dtype or torch.compiler.is_compiling():
        return (d * grad).to(x.dtype), None, None, None, None
    # eager fp16/bf16: the product rounded once into the input's dtype, without a float32
    # tensor of its size (compiled, the product and its cast are one loop anyway)
    out = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    return torch.mul(d, grad, out=out), None, None, None, None


def _recomputed(x: Tensor, y: Tensor, grad: Tensor, derivative: Derivative, param: float) -> Tensor:
    """``derivative(x, y, param) * grad`` taken block by block (float32 blocks) and written in
    the input's dtype. The upstream gradient of a mean is one number expanded: it is read as
    that number."""
    dtype = compute_dtype(x)
    out = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    scalar = all(s == 0 for s in grad.stride())
    g = grad[(0,) * grad.dim()] if scalar else grad.contiguous()
    for x_b, y_b, out_b, g_b in blocks(x, y, None, out, None if scalar else g):
        d = derivative(upcast(x_b, dtype), upcast(y_b, dtype), param)
        torch.mul(d, g if g_b is None else g_b, out=out_b)
    return out


def softplus_tail(x: Tensor) -> Tensor:
    """``log1p(exp(-|x|))``, the part of ``softplus(+-x)`` that never cancels, through torch's
    fused ``logsigmoid`` (fast on CPUs once
    :func:`~visionloss._core.numerics._wake_vectorised_log1p` has run)."""
    return F.logsigmoid(x.abs()).neg_()


def softplus_pair(x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(softplus(-x), softplus(x), sigmoid(-x), sigmoid(x))`` = ``(-log p, -log(1 - p), 1 -
    p, p)`` for ``p = sigmoid(x)``, each accurate on its own (nothing is taken as ``1 - p``
    or as ``softplus(-x) + x``): :func:`softplus_tail` once, and torch's sigmoid of each
    sign."""
    tail = softplus_tail(x)
    return tail - x.clamp_max(0), tail + x.clamp_min(0), torch.sigmoid(-x), torch.sigmoid(x)
