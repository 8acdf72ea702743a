"""Cross entropy of every anchor row of a similarity-logit matrix against one positive key
(the two-view NT-Xent), with a hand-written backward (private).

Through autograd the rows' cross entropy (the logits, the anchor's own logit set to ``-inf``
in place, ``F.cross_entropy``) kept the float32 log-softmax of the ``(A, K)`` matrix for the
backward, which then made a zero-filled matrix for the picked entries, the log-softmax's
gradient and the in-place scatter's masked gradient: four matrices of the logits' size at
its peak. :class:`_RowCrossEntropy` keeps the logits themselves; the forward takes each row
block's log-softmax (a temporary of the block's size) and picks the positive, the backward
turns the kept logits into the softmax block by block, subtracts 1 at each positive and takes
the two products with the embeddings, the rows' scale (upstream gradient over temperature)
applied to the ``(A, D)`` side of each product rather than to the matrix (one number for
every row, as a mean or sum gives on a CPU: the products' ``alpha``). One matrix at the
peak: NT-Xent on 2 x 1024 embeddings of 128 (one CPU thread) peaks at 21.5 MiB instead of 51
(torch's matmul + cross entropy: 55 in float32, 34 in bf16).

torch's fused (log-)softmax kernels are the row passes: a per-row ``logsumexp`` (a maximum, a
subtraction, ``exp``, a sum, ``log``, an addition: 5.1 ms on 2048 x 2048 in row blocks) and
``exp(logits - lse)`` in the backward (4.3 ms) took 2.9 and 3.0 ms as ``log_softmax`` and
``softmax`` of the same blocks; with the scale moved off the matrix, NT-Xent 2 x 1024 went
from 0.92x to 0.84x torch's time (medians of the committed runs before and after; bf16 1.65x
-> 1.49x).

bf16 operands (:func:`~visionloss._core.dtypes.product_dtype`): the bf16 product is what is
kept (each logit rounded once, by the GEMM: the float32 logits are its exact upcast); the
forward upcasts it a row block at a time for the float32 log-softmax (in place on that copy).
The backward turns the product into the softmax in place with torch's bf16 kernel, which
computes in float32 and rounds each probability once (the float32 softmax rounded, bit for
bit), and writes each positive's ``p - 1`` as ``expm1(-loss)`` from the forward's float32
loss (``p`` rounded to bf16 before subtracting 1 would lose ``1 - p``); the two products then
run in bf16. The anchor's own logit is set through a flat ``index_fill_``: a bf16 ``scatter_``
of a value upcasts the whole matrix and back (2.3 ms and 16 MiB on 2048 x 2048). NT-Xent
2 x 1024, D 128, bf16, one CPU thread: 12.2 ms against 15.4 for torch's bf16 matmul + cross
entropy (its loss 0.1 from float64, ours 1e-5).

With ``l = a k^T / t`` (the anchor's own key at ``-inf``), ``p = softmax(l)`` per row and
``y`` the one-hot of the positive: ``loss_i = -log p_{i, pos_i}``, ``d loss_i / d l_i =
p_i - y_i``, so for upstream ``g``: ``d a = (g (p - y)) k / t``, ``d k = (g (p - y))^T a / t``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .._core.autograd import differentiable_grad, double_backward
from .._core.indexing import flat_class_positions
from .._core.softmax import softmax_into

# Logits per row block of the forward's log-softmax and the backward's softmax (each block's
# temporary stays this many values instead of the matrix's size): within the caches on a CPU,
# 64 MiB of float32 elsewhere (few launches, a bounded temporary).
_BLOCK = 1 << 18
_DEVICE_BLOCK = 1 << 24


def self_masked_logits(
    a: Tensor,
    keys: Tensor,
    temperature: float | Tensor,
    self_rows: Tensor,
    *,
    upcast: bool = True,
) -> Tensor:
    """The family's similarity logits with each anchor's own key (``self_rows``) at ``-inf``
    (``upcast``: as :func:`._core.similarity_logits`'s)."""
    from ._core import similarity_logits  # (the shared one; _core imports this module)

    logits = similarity_logits(a, keys, temperature, upcast=upcast)
    # by flat position into the (new, contiguous) matrix, not a bf16 ``scatter_``
    logits.view(-1).index_fill_(0, flat_class_positions(self_rows, logits.shape[1]), float("-inf"))
    return logits


def _row_blocks(logits: Tensor) -> Iterator[slice]:
    """Slices of rows of about ``_BLOCK`` logits (``_DEVICE_BLOCK`` off the CPU, a quarter of
    that for bf16 logits there, whose blocks the forward upcasts). On the CPU bf16 blocks are
    as large as float32 ones (a 1 MiB float32 copy): NT-Xent on 2 x 256 and 2 x 1024
    embeddings of 128 took 0.95-0.98x the time with one such block as with four of a quarter
    (one thread, alone and right after another implementation's call)."""
    n, k = logits.shape
    limit = _BLOCK if logits.device.type == "cpu" else _DEVICE_BLOCK
    if logits.dtype == torch.bfloat16 and logits.device.type != "cpu":
        limit //= 4
    if n * k <= limit:
        yield slice(0, n)
        return
    step = max(1, limit // max(k, 1))
    for i in range(0, n, step):
        yield slice(i, i + step)


def plain_row_cross_entropy(
    a: Tensor, keys: Tensor, temperature: float | Tensor, self_rows: Tensor, pos: Tensor
) -> Tensor:
    """The same per-row losses through autograd (second derivatives, a temperature with a
    gradient)."""
    return F.cross_entropy(
        self_masked_logits(a, keys, temperature, self_rows), pos, reduction="none"
    )


class _RowCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        a: Tensor,
        keys: Tensor,
        temperature: float | Tensor,
        self_rows: Tensor,
        pos: Tensor,
    ) -> Tensor:
        # bf16 operands: the bf16 product is kept (it holds the logits exactly: each was
        # rounded once, by the GEMM) and upcast a block at a time
        logits = self_masked_logits(a, keys, temperature, self_rows, upcast=False)
        picked = pos.unsqueeze(1)
        blocks = list(_row_blocks(logits))
        if len(blocks) == 1:  # (no loss tensor to fill slice by slice: four calls fewer)
            loss = _softmax(logits, log=True, own=False).gather(1, picked).squeeze(1).neg_()
        else:
            loss = torch.empty(logits.shape[0], dtype=_compute(logits), device=logits.device)
            for rows in blocks:
                log_p = _softmax(logits[rows], log=True, own=False)
                torch.neg(log_p.gather(1, picked[rows]).squeeze(1), out=loss[rows])
        ctx.save_for_backward(a, keys, self_rows, pos, loss)
        ctx.temperature = temperature
        # the logits, for the backward to turn into the softmax in place; a second backward
        # of a retained graph finds None and forms them again
        ctx.logits = logits
        return loss

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        a, keys, self_rows, pos, loss = ctx.saved_tensors
        t = ctx.temperature
        if double_backward():
            da, dk = differentiable_grad(
                lambda x, y: plain_row_cross_entropy(x, y, t, self_rows, pos), (a, keys), (grad,)
            )
            return da, dk, None, None, None
        logits, ctx.logits = ctx.logits, None
        if logits is None:
            logits = self_masked_logits(a, keys, t, self_rows, upcast=False)
        if logits.dtype == torch.bfloat16:
            # torch's bf16 softmax computes in float32 and rounds each probability once (the
            # float32 softmax rounded: no upcast copy, no second rounding); then the
            # positives' p - 1 = expm1(-loss) from the forward's float32 loss (p rounded to
            # bf16 first would lose 1 - p)
            p = _softmax_bf16(logits)
            p.view(-1).index_copy_(
                0, flat_class_positions(pos, p.shape[1]), torch.expm1(-loss).to(p.dtype)
            )
        else:
            picked = pos.unsqueeze(1)
            for rows in _row_blocks(logits):
                # the softmax minus the one-hot, stored over the logits
                view = logits[rows]
                block = _softmax(view, log=False, own=True)
                minus_one = block.new_full((1, 1), -1.0).expand(block.shape[0], 1)
                block.scatter_add_(1, picked[rows], minus_one)
                if block is not view:
                    view.copy_(block)
            p = logits
        del logits
        need_a, need_k = ctx.needs_input_grad[:2]
        common = _common_scale(grad, t)
        if common is not None:  # one number: the products' alpha (rounded once, in the GEMM)
            zero = p.new_zeros(())
            da = torch.addmm(zero, p, keys, beta=0, alpha=common) if need_a else None
            dk = torch.addmm(zero, p.t(), a, beta=0, alpha=common) if need_k else None
            return da, dk, None, None, None
        # each row's scale (upstream gradient over temperature), on the (A, D) side; the
        # products in the operands' dtype, as the forward's
        scale = (grad / t).unsqueeze(1)
        da = torch.mm(p, keys).mul_(scale) if need_a else None
        dk = torch.mm(p.t(), (a * scale).to(a.dtype)) if need_k else None
        return da, dk, None, None, None


def _common_scale(grad: Tensor, t: float | Tensor) -> float | None:
    """``g / t`` where every row's upstream gradient ``g`` is the same nonzero number (a mean
    or a sum of the rows: the usual case), on a CPU (reading it back would wait for a device)
    and for a temperature given as a number; else None. As the products' ``alpha`` it is
    applied to their float32 accumulators, each entry rounded once: bf16 NT-Xent on 2 x 256
    embeddings of 128 saves a float32 pass over each product and the upcast scaled copy of
    the anchors (the backward's two products with their scaling: 296 instead of 333 us, one
    CPU thread), and the bf16 gradient is nearer the float64 one (the products alone: median
    relative error 1.4e-3 instead of 1.7e-3; NT-Xent's whole gradient in the tests: 3.4e-3
    instead of 3.9e-3). A zero gradient keeps the general path (``alpha = 0`` would
    skip the products, and a NaN in them)."""
    if grad.device.type != "cpu" or isinstance(t, Tensor) or grad.numel() == 0:
        return None
    first = grad.reshape(-1)[0]
    if not bool((grad == first).all()):
        return None
    g = float(first)
    return g / float(t) if g != 0 else None


def _softmax(x: Tensor, *, log: bool, own: bool) -> Tensor:
    """The (log-)softmax of a block of logits over its rows in float32 (bf16 logits upcast):
    in place on the upcast copy, or on ``x`` itself when the caller ``own``s it, on the CPU
    (whose last-dimension kernels read each row whole before writing it), in a new tensor
    elsewhere."""
    y = x.to(_compute(x))
    if x.device.type != "cpu" or (y is x and not own):
        return F.log_softmax(y, 1) if log else torch.softmax(y, 1)
    return softmax_into(y, y, log=log)


def _softmax_bf16(x: Tensor) -> Tensor:
    """torch's softmax of bf16 ``x`` over its rows (float32 inside): in place on the CPU (as
    :func:`_softmax`), a new tensor elsewhere."""
    if x.device.type != "cpu":
        return torch.softmax(x, 1)
    return softmax_into(x, x)


def _compute(logits: Tensor) -> torch.dtype:
    """float32 for bf16 logits, their own dtype otherwise."""
    return torch.float32 if logits.dtype == torch.bfloat16 else logits.dtype


def row_cross_entropy(
    a: Tensor, keys: Tensor, temperature: float | Tensor, self_rows: Tensor, pos: Tensor
) -> Tensor:
    """Per-row ``LSE_{j != self} l_ij - l_{i, pos_i}`` of ``l = a keys^T / t`` (prepared
    ``(A, D)`` anchors and ``(K, D)`` keys, ``self_rows`` and ``pos`` ``(A,)`` key indices).
    Under ``torch.compile`` (inductor fuses the autograd graph's passes itself) and with a
    temperature that needs a gradient: through autograd."""
    if torch.compiler.is_compiling() or (
        isinstance(temperature, Tensor) and temperature.requires_grad
    ):
        return plain_row_cross_entropy(a, keys, temperature, self_rows, pos)
    out: Tensor = _RowCrossEntropy.apply(a, keys, temperature, self_rows, pos)
    return out
