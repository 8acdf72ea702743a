"""Elementwise losses on eager CPUs in flat blocks (private): the sigmoid focal loss and the
binary cross entropy on logits.

Their hand-written Functions take the input and the target in their own dtypes and compute
each block of ``_BLOCK`` elements in float32: the ten or so float32 temporaries of a block
stay in the caches, and the peak holds only the loss (none when a mean or sum is taken inside,
``total``) and its derivative (float32 each; BCE takes its derivative again). In one
piece, the float32 copies of fp16/bf16 operands and every temporary were tensors of the
input's size: focal on bf16 ``(4, 19, 128, 256)`` took 2x torchvision's peak memory and 1.35x
its time; now 0.5x and 0.8x.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor

from .._core.autograd import differentiable_grad, double_backward
from .._core.dtypes import compute_dtype, upcast

# Elements per block (BCE fwd+bwd on (4, 19, 128, 256) float32, one thread: 2^17 1.17x torch's
# time, 2^18 1.13x, 2^19 1.14x, 2^20 1.18x; bf16 1.21, 1.19, 1.24, 1.39x).
_BLOCK = 1 << 18


def blocks(
    x: Tensor, y: Tensor, a: float | Tensor | None, out: Tensor | None, d: Tensor | None
) -> Iterator[tuple[Tensor, Tensor, Tensor | None, Tensor | None]]:
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
        assert x_b is not None and y_b is not None
        yield x_b, y_b, out_b, d_b


Option = float | Tensor | None


# ``derivative(x, y, param, out)``: the derivative of float32 blocks, written into ``out`` (a
# float32 block) or, with ``out=None``, into a new tensor; returned.
Derivative = Callable[[Tensor, Tensor, float, Tensor | None], Tensor]


def forward(
    ctx: Any,
    value: Callable[[Tensor, Tensor, Option, float, Tensor, Tensor | None], None],
    x: Tensor,
    y: Tensor,
    option: Option,
    param: float,
    grad: bool,
    derivative: Derivative | None = None,
    total: bool = False,
) -> Tensor:
    """The forward of a blockwise Function: ``value(x, y, option, param, out, d)`` writes each
    block's loss into ``out`` and (``grad``) its derivative into ``d``, in float32 (float64
    for float64 inputs); ``d`` is kept for the backward. With ``derivative`` (the derivative
    as a function of float32 blocks of ``x``, ``y`` and ``param``) only the inputs are kept
    and the backward takes it again block by block. With ``total`` the result is the sum of
    the loss (a 0-dim tensor): each block's loss goes into one reused buffer and is summed
    there, and no loss of the input's size is written (on 2.5M float32 logits that write,
    to memory no cache holds, took about 1.4 ms of BCE's 10)."""
    dtype = compute_dtype(x)
    out = None if total else torch.empty(x.shape, dtype=dtype, device=x.device)
    d = torch.empty(x.shape, dtype=dtype, device=x.device) if grad and derivative is None else None
    buffer, sums = None, []
    for x_b, y_b, out_b, d_b in blocks(x, y, option, out, d):
        if total:
            if buffer is None:
                buffer = torch.empty(x_b.shape, dtype=dtype, device=x.device)
            out_b = buffer if buffer.shape == x_b.shape else buffer.view(-1)[: x_b.numel()]
        assert out_b is not None
        value(upcast(x_b, dtype), upcast(y_b, dtype), option, param, out_b, d_b)
        if total:
            sums.append(out_b.sum())
    if grad:
        ctx.save_for_backward(x, y) if d is None else ctx.save_for_backward(x, y, d)
        ctx.option, ctx.param, ctx.derivative, ctx.total = option, param, derivative, total
    if out is None:
        return sums[0] if len(sums) == 1 else torch.stack(sums).sum()
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

        def loss(t: Tensor) -> Tensor:
            terms = plain(upcast(t, dtype), upcast(y, dtype), ctx.option, ctx.param)
            return terms.sum() if ctx.total else terms

        (dx,) = differentiable_grad(loss, (x,), (grad,))
        return dx, *_NONE
    if not kept:
        return _recomputed(x, y, grad, ctx.derivative, ctx.param), *_NONE
    (d,) = kept
    if x.dtype == d.dtype or torch.compiler.is_compiling():
        return (d * grad).to(x.dtype), *_NONE
    # eager fp16/bf16: the product rounded once into the input's dtype, without a float32
    # tensor of its size (compiled, the product and its cast are one loop anyway)
    out = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    return torch.mul(d, grad, out=out), *_NONE


# The gradients of a blockwise Function's other inputs (target, option, param, grad, total).
_NONE = (None,) * 5


def _recomputed(x: Tensor, y: Tensor, grad: Tensor, derivative: Derivative, param: float) -> Tensor:
    """``derivative(x, y, param) * grad`` taken block by block (float32 blocks) and written in
    the input's dtype: in place in the result when that is the compute dtype, else from a
    float32 block rounded once. The upstream gradient of a mean is one number expanded: it is
    read as that number."""
    dtype = compute_dtype(x)
    out = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    scalar = all(s == 0 for s in grad.stride())
    g = grad[(0,) * grad.dim()] if scalar else grad.contiguous()
    for x_b, y_b, out_b, g_b in blocks(x, y, None, out, None if scalar else g):
        g_b = g if g_b is None else g_b
        if out.dtype == dtype:  # (in a float32 temporary: 1.16x torch's BCE instead of 1.08x)
            derivative(x_b, upcast(y_b, dtype), param, out_b).mul_(g_b)
        else:
            torch.mul(
                derivative(upcast(x_b, dtype), upcast(y_b, dtype), param, None), g_b, out=out_b
            )
    return out


def _log_complement(s: Tensor) -> Tensor:
    """``log(1 - s)`` as ``log1p(-s)``, in place in ``s``, a sigmoid of at most 1/2 (so
    ``-s`` is exact and nothing cancels)."""
    return s.neg_().log1p_()


def negative_tail(x: Tensor) -> Tensor:
    """``-log1p(exp(-|x|)) = log(sigmoid(|x|))``, taken as ``log1p(-sigmoid(-|x|))``: on CPUs
    torch's ``sigmoid`` runs a faster exponential than ``exp`` (2^18 floats, one thread: 54
    against 149 us), so this takes 202 us a block against 274 for ``softplus(|x|, beta=-1)``
    (``exp`` then ``log1p``; ``logsigmoid`` 255 and a buffer of the input's size for its
    backward). Within 2 ulp (float32: 1.72 eps measured) of the float64 value wherever that
    is a normal float; 0 where it is below ``1/(1 + exp(|x|))``'s range (float32: ``|x| >
    88.7``, the value under 3e-39, subnormal). Fast on CPUs once
    :func:`~visionloss._core.numerics._wake_vectorised_log1p` has run."""
    return _log_complement(x.abs().neg_().sigmoid_())


def softplus_pair(x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(softplus(-x), softplus(x), sigmoid(-x), sigmoid(x))`` = ``(-log p, -log(1 - p), 1 -
    p, p)`` for ``p = sigmoid(x)``, each accurate on its own (nothing is taken as ``1 - p``
    or as ``softplus(-x) + x``): torch's sigmoid of each sign, and the tail
    ``log1p(exp(-|x|)) = -log1p(-sigmoid(-|x|))`` (as :func:`negative_tail`) from the smaller
    of the two sigmoids, which is ``sigmoid(-|x|)`` (NaN propagates)."""
    sig_neg, sig_pos = torch.sigmoid(-x), torch.sigmoid(x)
    tail = _log_complement(torch.minimum(sig_neg, sig_pos)).neg_()
    return tail - x.clamp_max(0), tail + x.clamp_min(0), sig_neg, sig_pos
