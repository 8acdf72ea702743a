"""Cross entropy from class indices on eager CPUs, in blocks (private): fp16/bf16 logits, and
float32 dense ``(N, C, *)`` ones without label smoothing, of at least ``_MIN_LOGITS`` logits.

Computing half precision in float32 used to mean a float32 copy of the logits, their float32
log-softmax kept for the backward and a float32 gradient cast down at the end.
:class:`_BlockedCrossEntropy` reads the logits in blocks (whole images, or runs of locations
of a large one), upcasts each block on its own and takes its float32 log-softmax (torch's
kernel), keeps two float32 numbers a location for the backward (``log p_y`` and the
log-sum-exp) and writes the gradient straight into a tensor of the input's dtype, block by
block.

The backward without label smoothing takes no softmax: away from the target,
``|g| p = 2 ** (x log2 e - (lse - ln |g|) log2 e)`` (``g`` the incoming gradient times the
valid mask): one fused multiply-add and one float32 ``exp2`` a logit (torch's vectorised
``exp2`` takes a quarter of the time of its ``exp`` on this CPU), the
scale folded into the exponent so that each entry is rounded once to the input's dtype (an
ignored location: ``ln 0 = -inf``, so 0): each such entry is the float64 gradient rounded to
the input's dtype, or one unit in the last place from it where the exponent's float32
roundings (about ``ulp(max(|x|, |lse|))``) meet a rounding boundary. For float32 logits those
roundings are the error: 2e-5 relative at most at logits of +-250, 3e-6 median (torch's
kernel, whose log p = (x - max) - log(sum) keeps the large parts apart: 6e-6 and 5e-8);
alike for logits of +-30 (3.7e-6 at most, both). At the target,
``g expm1(log p_y)`` in float32, rounded once: the float32 log-softmax's own accuracy (where
``p_y`` is within ``ulp(lse)`` of 1, torch's float32 cross entropy is as far off).
With label smoothing the backward takes each block's float32 softmax again.

Forward+backward on one CPU thread (AVX512), ``(4, 19, 128, 256)`` and ``(2, 150, 128, 128)``,
medians of the three committed benchmark runs: bf16 1.00x and 0.89x the time of torch's bf16
kernel, which rounds every log-probability and the loss itself to bf16 (0.03 off on a loss of
3.4 there), at 0.66x and 0.68x its peak memory; float32 0.79x and 0.72x torch's kernel (whose
backward takes ``exp`` of its log-softmax), at 0.43x and 0.34x its peak memory (it keeps the
log-softmax, we keep two numbers a location).

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
from .._core.indexing import flat_class_positions
from .._core.softmax import LOG2_E, softmax_into

# Logits per block: whole images are grouped up to _BLOCK (4 x (19, 128, 256) in one block
# took 5% longer than one image a block, and 4 MiB more); an image is split above _LARGEST
# (runs of a quarter of a (150, 128, 128) image took 16% longer than the whole image: the
# blocks' copies and each block's dozen calls)
_BLOCK = 1 << 20
_LARGEST = 1 << 22
# Logits below which torch's kernel (after an upcast for fp16/bf16) is faster: its float32
# log-softmax and gradient stay in the caches there. One CPU thread, ours / torch's float32
# kernel: (32, 10) 4.3x (the Function's fixed cost), (256, 1000) 1.7x, 1.2M logits
# ((64, 19, 32, 32) to (2, 19, 128, 256)) 1.04-1.16x; 2.5M ((4, 19, 128, 256),
# (1, 150, 128, 128)) 0.76-0.92x; bf16 against the upcast and torch's float32 kernel: 5.5x,
# 1.5x, 0.93-1.08x, 0.67x.
_MIN_LOGITS = 1 << 21
# lse = x_0 - log p_0 carries the rounding of log p_0: ulp(512) = 6e-5, 1/64 of a bf16 unit
_FAR = 512.0


def blocked_cross_entropy_applies(x: Tensor, weight: Tensor | None, label_smoothing: float) -> bool:
    """Whether :func:`blocked_cross_entropy_sum` takes ``x``: contiguous, on an eager CPU, no
    class weights, at least ``_MIN_LOGITS`` logits; half precision, or float32 dense logits
    ``(N, C, *)`` without label smoothing (whose backward takes torch's softmax again, no
    faster than torch's own kernel). Float32 ``(N, C)`` logits keep torch's kernel, whose
    rows are contiguous: ours took 1.0-1.09x its time at (2048, 1000) and (4096, 1000)."""
    return (
        (
            x.dtype in (torch.float16, torch.bfloat16)
            or (x.dtype == torch.float32 and label_smoothing == 0 and x.dim() > 2)
        )
        and weight is None
        and x.device.type == "cpu"
        and x.dim() >= 2
        and x.numel() >= max(_MIN_LOGITS, 1)
        and x.is_contiguous()
        and not torch.compiler.is_compiling()
    )


def _blocks(x3: Tensor) -> Iterator[tuple[slice, slice]]:
    """``(images, locations)`` slices of ``(N, C, S)`` blocks: as many whole images as fit in
    ``_BLOCK`` logits, one image up to ``_LARGEST`` logits, else runs of ``_LARGEST`` logits
    of one image."""
    n, c, s = x3.shape
    if c * s > _LARGEST:
        step = max(1, _LARGEST // c)
        for i in range(n):
            for j in range(0, s, step):
                yield slice(i, i + 1), slice(j, j + step)
    else:
        step = max(1, _BLOCK // (c * s))
        for i in range(0, n, step):
            yield slice(i, i + step), slice(0, s)


def _labels(t3: Tensor, ignore_index: int | None) -> tuple[Tensor, Tensor | None]:
    """The labels ``(N, 1, S)`` with ignored ones replaced by 0, and the valid mask (None when
    nothing can be ignored)."""
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
        # each location's log p_y, or (1 - eps) log p_y + eps / C sum_c log p_c
        picked = torch.empty(t3.shape, dtype=torch.float32, device=x.device)
        lse = torch.empty_like(picked) if eps == 0 else None  # for the backward
        safe, valid = _labels(t3, ignore_index)
        scratch = _Scratch()
        for images, where in _blocks(x3):
            block = x3[images, :, where]
            log_p = scratch.log_softmax(block)
            picked_block = log_p.gather(1, safe[images, :, where])  # raises out of range
            if lse is None:
                picked_block.mul_(1 - eps).add_(log_p.sum(1, keepdim=True), alpha=eps / c)
            else:
                _log_sum_exp(block, log_p, lse[images, :, where])
            picked[images, :, where] = picked_block
        total = -(picked if valid is None else picked * valid).sum()
        ctx.save_for_backward(x, target, *((lse, picked) if lse is not None else ()))
        ctx.ignore_index, ctx.eps = ignore_index, eps
        return total

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, None, None, None]:
        x, target, *kept = ctx.saved_tensors
        ignore_index, eps = ctx.ignore_index, ctx.eps
        if double_backward():
            (dx,) = differentiable_grad(
                lambda z: _plain_sum(z, target, ignore_index, eps), (x,), (grad,)
            )
            return dx, None, None, None
        if kept:
            return _exp2_backward(x, target, ignore_index, grad, *kept), None, None, None
        n, c = x.shape[:2]
        x3, t3 = x.view(n, c, -1), target.reshape(n, 1, -1)
        out = torch.empty_like(x)
        out3 = out.view(n, c, -1)
        safe, valid = _labels(t3, ignore_index)
        scale = grad if valid is None else valid * grad
        for images, where in _blocks(x3):
            p = _softmax_(x3[images, :, where].float())
            # - (1 - eps) at the target: scatter_add of a broadcast number (24 against 41 us a
            # block for a gather, a subtraction and a scatter; the same rounding)
            labels = safe[images, :, where]
            p.scatter_add_(1, labels, p.new_full((1, 1, 1), eps - 1.0).expand(labels.shape))
            p.sub_(eps / c)
            p.mul_(scale if valid is None else scale[images, :, where])
            out3[images, :, where] = p
        return out, None, None, None


def _log_sum_exp(block: Tensor, log_p: Tensor, out: Tensor) -> None:
    """Each location's log-sum-exp written to ``out``: ``x_0 - log p_0`` from the block's
    log-softmax, or torch's ``logsumexp`` of the block where class 0 is too far below
    (``log p_0 < -_FAR``)."""
    torch.sub(block[:, :1], log_p[:, :1], out=out)
    if bool(log_p[:, :1].amin() < -_FAR):
        out.copy_(torch.logsumexp(block.float(), 1, keepdim=True))


class _Scratch:
    """One float32 buffer for every block of a call, each block a view of its start (a fresh
    block each time: bf16 (2, 150, 128, 128) 0.98x instead of 0.86x torch's bf16 kernel, in
    runs with the compiled implementations interleaved)."""

    def __init__(self) -> None:
        self.buffer: Tensor | None = None

    def like(self, block: Tensor) -> Tensor:
        """A float32 tensor of ``block``'s shape (contiguous, uninitialised)."""
        if self.buffer is None or self.buffer.numel() < block.numel():
            self.buffer = torch.empty(block.numel(), dtype=torch.float32, device=block.device)
        return self.buffer[: block.numel()].view(block.shape)

    def log_softmax(self, block: Tensor) -> Tensor:
        """``log_softmax(block, 1)`` in float32."""
        xf = self.like(block)
        if block.dtype != torch.float32:
            block = xf.copy_(block)
        softmax_into(_rows(block), _rows(xf), log=True)
        return xf


def _softmax_(xf: Tensor) -> Tensor:
    """``softmax(xf, 1)`` written over ``xf`` (a float32 block of its own)."""
    softmax_into(_rows(xf), _rows(xf))
    return xf


def _rows(block: Tensor) -> Tensor:
    """``(m, C, L)`` as ``(m, C)`` when ``L == 1`` (``(N, C)`` logits): torch's (log-)softmax
    over dim 1 of ``(256, 1000, 1)`` took 16x the time of the same over the last dim of
    ``(256, 1000)`` (1.68 against 0.10 ms), whose kernel reads each row contiguously."""
    return block.view(block.shape[:2]) if block.shape[2] == 1 else block


def _exp2_backward(
    x: Tensor,
    target: Tensor,
    ignore_index: int | None,
    grad: Tensor,
    lse: Tensor,
    log_p_y: Tensor,
) -> Tensor:
    """``v g (p - onehot)`` without label smoothing, from the forward's log-sum-exp and
    ``log p_y`` (the module's docstring)."""
    n, c = x.shape[:2]
    x3, t3 = x.view(n, c, -1), target.reshape(n, 1, -1)
    safe, valid = _labels(t3, ignore_index)
    scale = grad if valid is None else valid * grad
    # the exponent's offset, in base 2: (ln |v g| - lse) log2 e
    offset = scale.abs().log().expand_as(lse).sub(lse).mul_(LOG2_E)
    at_target = torch.expm1(log_p_y).mul_(scale)
    negative = bool(grad < 0)
    out = torch.empty_like(x)
    out3 = out.view(n, c, -1)
    scratch = _Scratch()
    for images, where in _blocks(x3):
        dst = out3[images, :, where]
        xf = _exponent(x3[images, :, where], offset[images, :, where], dst, scratch).exp2_()
        if negative:
            xf.neg_()
        flat = flat_class_positions(safe[images, :, where], c)
        xf.view(-1).index_copy_(0, flat, at_target[images, :, where].reshape(-1))
        if xf is not dst:
            dst.copy_(xf)
    return out


def _exponent(block: Tensor, offset: Tensor, dst: Tensor, scratch: _Scratch) -> Tensor:
    """``block log2 e + offset`` in float32: written into ``dst`` when that is a contiguous
    float32 block, else into the scratch buffer (float32 logits are not copied first)."""
    if block.dtype == torch.float32 and dst.is_contiguous():
        return torch.add(offset, block, alpha=LOG2_E, out=dst)
    xf = scratch.like(block)
    if block.dtype != torch.float32:
        block = xf.copy_(block)
    return torch.add(offset, block, alpha=LOG2_E, out=xf)


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
    """The summed cross entropy of logits ``x`` ``(N, C, *)`` (those of
    :func:`blocked_cross_entropy_applies`) and class indices ``target`` ``(N, *)`` (each a
    valid class or ``ignore_index``), in float32."""
    out: Tensor = _BlockedCrossEntropy.apply(x, target, ignore_index, float(label_smoothing))
    return out
