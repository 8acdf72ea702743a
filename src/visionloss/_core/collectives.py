"""Autograd-aware collectives beyond the gathers of :mod:`visionloss.distributed`.

* :func:`all_reduce_sum_with_grad`: the sum of a tensor over processes, differentiable. Used
  for batch statistics (means, variances, cross-correlations) that every process computes
  alike from the reduced sums: its backward sums the incoming gradient over processes, so the
  gradient of each process's input is ``W`` times its single-process gradient (the
  ``gather=`` contract: DDP's gradient average is then exact).
* :func:`ring_pass`: each process sends a tensor to the next rank and receives the previous
  rank's (point-to-point, :func:`torch.distributed.isend` / ``irecv``); the backward sends the
  gradient of the received tensor back to its sender. Chained ``W - 1`` times, every process
  sees every other process's block once without ever holding the gathered batch (SigLIP's
  chunked loss). Processes may hold blocks of different first dimension (``sizes``).

Without an initialised process group of several processes every function is the identity.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor

from .. import distributed as vdist
from ..errors import InputError

__all__ = ["all_reduce_sum_with_grad", "block_sizes", "ring_pass"]


class _AllReduceSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor: Tensor) -> Tensor:
        out = tensor.detach().clone().contiguous()
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        grad = grad.detach().clone().contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad


def all_reduce_sum_with_grad(tensor: Tensor) -> Tensor:
    """Sum of ``tensor`` over processes (same shape on every process), differentiable: the
    backward all-reduces the gradient, so a loss computed alike on every process from the sum
    gives each process ``W`` times its single-process input gradient."""
    if not vdist.is_distributed():
        return tensor
    out: Tensor = _AllReduceSum.apply(tensor)
    return out


def block_sizes(tensor: Tensor, fn: str) -> list[int]:
    """The first-dimension size of ``tensor`` on every process (one small all-gather); every
    process raises the same InputError when the other dims or the dtype differ."""
    if not vdist.is_distributed():
        return [tensor.shape[0]]
    world = dist.get_world_size()
    row = torch.tensor(
        [tensor.shape[0], tensor.dim(), *tensor.shape[1:], int(tensor.dtype.itemsize)],
        dtype=torch.long,
        device=tensor.device,
    )
    width = torch.tensor([row.numel()], dtype=torch.long, device=tensor.device)
    widths = [torch.zeros_like(width) for _ in range(world)]
    dist.all_gather(widths, width)
    longest = int(max(int(w) for w in widths))
    padded = torch.cat([row, row.new_full((longest - row.numel(),), -1)])
    rows = [torch.zeros_like(padded) for _ in range(world)]
    dist.all_gather(rows, padded)
    table = [[int(v) for v in r] for r in rows]
    if any(r[1:] != table[0][1:] for r in table):
        seen = ", ".join(
            f"rank {i} has {tuple(r[2 : 1 + r[1]])} (dims after the first)"
            for i, r in enumerate(table)
        )
        raise InputError(
            f"{fn}: every process must pass tensors of the same dtype and of the same shape "
            f"but for the first dim; {seen}"
        )
    return [r[0] for r in table]


class _RingPass(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor: Tensor, incoming: int, outgoing: int) -> Tensor:
        rank, world = dist.get_rank(), dist.get_world_size()
        nxt, prev = (rank + 1) % world, (rank - 1) % world
        ctx.prev, ctx.nxt, ctx.outgoing_shape = prev, nxt, tensor.shape
        received = tensor.new_empty((incoming, *tensor.shape[1:]))
        _exchange(tensor.detach().contiguous(), nxt, received, prev)
        return received

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:
        back = grad.new_empty(ctx.outgoing_shape)
        _exchange(grad.detach().contiguous(), ctx.prev, back, ctx.nxt)
        return back, None, None


def _exchange(send: Tensor, to: int, recv: Tensor, source: int) -> None:
    """Send ``send`` to rank ``to`` while receiving ``recv`` from rank ``source``
    (non-blocking pairs, so every process sends and receives at once without deadlock)."""
    ops = [dist.P2POp(dist.isend, send, to), dist.P2POp(dist.irecv, recv, source)]
    for request in dist.batch_isend_irecv(ops):
        request.wait()


def ring_pass(tensor: Tensor, incoming: int) -> Tensor:
    """Send ``tensor`` to rank ``r + 1`` and return the ``incoming`` rows received from rank
    ``r - 1`` (ranks modulo the world size); the gradient of the result goes back to its
    sender. Every process must call it together."""
    out: Tensor = _RingPass.apply(tensor, incoming, tensor.shape[0])
    return out
