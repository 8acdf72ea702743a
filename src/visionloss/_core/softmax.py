"""torch's (log-)softmax written into a tensor the caller gives (private)."""

from __future__ import annotations

import torch
from torch import Tensor


def softmax_into(x: Tensor, out: Tensor, *, log: bool = False) -> Tensor:
    """torch's ``softmax`` (``log_softmax`` with ``log``) of ``x`` over dim 1, written into
    ``out`` (``x``'s shape and dtype) instead of a new tensor. ``out`` may be ``x`` itself on
    a CPU, whose kernels read every value of a softmax before writing it (checked against the
    out-of-place result in the tests of its callers); bf16 ``x`` is computed in float32 and
    each result rounded once."""
    op = torch.ops.aten._log_softmax.out if log else torch.ops.aten._softmax.out
    op(x, 1, False, out=out)
    return out


LOG2_E = 1.4426950408889634  # log2(e): exp(x) = 2^(x log2 e)

# Classes from which a float32 CPU softmax over dim 1 is taken as exp2(log_softmax log2 e).
# One thread, torch's softmax / this (both into a reused heap): (2, 150, 16384) 6.97 / 4.72 ms,
# (1, 150, 65536) 15.9 / 10.2, (2, 96, 16384) 4.12 / 2.53, (2, 64, 65536) 10.4 / 8.6,
# (2, 1000, 1024) 2.55 / 1.89; below: (4, 48, 32768) 5.87 / 6.31, (4, 19, 32768) 1.67 / 1.74,
# (16, 19, 16384) 3.82 / 4.64.
_VIA_LOG_CLASSES = 64


def exp_of_log(log_p: Tensor, *, inplace: bool = False) -> Tensor:
    """``exp(log_p)`` of log-probabilities (a new tensor, or ``log_p`` overwritten): on a CPU
    as ``exp2(log_p log2 e)`` for float32 (torch's CPU float32 ``exp`` took 2.95 ms on 4.9M
    values where the multiply and ``exp2`` took 1.35); the extra roundings add about
    ``|log_p| 2^-24`` to the relative error. Where autograd records (``log_p`` requires a
    gradient in grad mode: the plain graphs of second derivatives) it is torch's ``exp``."""
    if log_p.requires_grad and torch.is_grad_enabled():  # (a graph: torch's exp)
        return log_p.exp()
    if log_p.device.type == "cpu" and log_p.dtype == torch.float32:
        scaled = log_p.mul_(LOG2_E) if inplace else torch.mul(log_p, LOG2_E)
        return scaled.exp2_()
    return log_p.exp_() if inplace else log_p.exp()


def class_softmax(x: Tensor, dtype: torch.dtype) -> Tensor:
    """``softmax(x, dim=1)`` in ``dtype`` (a new tensor). For float32 on a CPU, where autograd
    does not record (inside a Function's forward; torch's softmax over a dim that is not the
    last is the slower kernel):

    * two classes: ``p_1 = sigmoid(x_1 - x_0)``, ``p_0 = sigmoid(x_0 - x_1)`` (one thread,
      (2, 2, 131072): 156 against 235 us; errors against float64 3.2e-7 relative, torch's
      softmax 3.8e-7);
    * from :data:`_VIA_LOG_CLASSES` classes on: :func:`exp_of_log` of the log-softmax.
      Against float64, logits of spread 6: the same largest absolute error as torch's softmax
      (5e-7 to 1.1e-6); relative errors up to 1.5e-6 on probabilities of at least 1e-3
      (torch 1.2e-6) and 5.6e-6 on the smallest (torch 2.7e-6), the log-softmax's absolute
      error."""
    c = x.shape[1]
    graph = x.requires_grad and torch.is_grad_enabled()  # (second derivatives: torch's op)
    if graph or x.device.type != "cpu" or dtype != torch.float32 or 2 < c < _VIA_LOG_CLASSES:
        return torch.softmax(x, 1, dtype=dtype)
    if c >= _VIA_LOG_CLASSES:
        return exp_of_log(torch.log_softmax(x, 1, dtype=dtype), inplace=True)
    xf = x.to(dtype)
    out = torch.empty_like(xf)
    d = torch.sub(xf[:, 1], xf[:, 0])
    torch.sigmoid(d, out=out[:, 1])
    torch.sigmoid(d.neg_(), out=out[:, 0])
    return out
