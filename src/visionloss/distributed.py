"""Autograd-aware gathers for losses that see the whole global batch.

Batch-global losses (in-batch InfoNCE, NT-Xent, SupCon, batch triplet, batch-level pixel
contrast) take ``gather="none" | "global" | "local"``:

* ``"none"``: each process sees only its own samples (the default, and what a single process
  does).
* ``"global"``: every process gathers all processes' samples and computes the loss over the
  whole global batch, as anchors and as keys. Each process computes the same value.
* ``"local"``: each process's own samples are the anchors, all processes' samples are the keys
  (the scalable mode: an ``n x N`` similarity matrix per process instead of ``N x N``).

The contract under ``DistributedDataParallel`` (whose all-reduce *averages* parameter gradients
over the ``W`` processes): training equals single-process training on the concatenated batch,
with no manual world-size factor. Concretely, in both modes

* the returned loss value equals the single-process loss on the concatenated batch, and
* each process's input gradients are ``W`` times the single-process gradients of its own inputs,
  so that DDP's average gives exactly the single-process parameter gradient.

This works because :func:`all_gather_with_grad` sums the incoming gradient over processes in its
backward (each process's copy of the loss contributes), and :func:`global_mean` rescales the
local share of a ``"local"``-mode mean. Samples are ordered by rank (rank 0 first), so results
are deterministic. Processes may hold different numbers of samples.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.distributed as dist
from torch import Tensor

from ._core.numerics import div
from .errors import InputError, OptionError

GATHER_MODES = ("none", "global", "local")

__all__ = [
    "GATHER_MODES",
    "GatheredBatch",
    "all_gather_with_grad",
    "all_gather_no_grad",
    "all_reduce_sum",
    "gather_batch",
    "global_mean",
    "global_sum",
    "is_distributed",
    "world_size",
    "rank",
]


def is_distributed() -> bool:
    """True inside an initialised process group with more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


_DTYPES = (
    torch.float32,
    torch.float64,
    torch.float16,
    torch.bfloat16,
    torch.int64,
    torch.int32,
    torch.int16,
    torch.int8,
    torch.uint8,
    torch.bool,
)
_MAX_DIMS = 8


def _describe(row: list[int]) -> str:
    n, code, ndim, *dims = row
    dtype = _DTYPES[code] if 0 <= code < len(_DTYPES) else "another dtype"
    return f"({', '.join(str(d) for d in [n, *dims[: ndim - 1]])}) {dtype}".replace("torch.", "")


def _sizes(tensor: Tensor, fn: str = "all_gather") -> list[int]:
    """The first-dimension size of every process, from one small collective that also
    exchanges the other dims and the dtype: a process whose tensor differs in anything but
    its first dim makes EVERY process raise the same InputError (instead of one process
    aborting inside the collective and the others waiting for it)."""
    shape = tuple(tensor.shape)
    code = _DTYPES.index(tensor.dtype) if tensor.dtype in _DTYPES else len(_DTYPES)
    if len(shape) > _MAX_DIMS:
        raise InputError(f"{fn}: cannot gather a tensor of more than {_MAX_DIMS} dims")
    row = [shape[0] if shape else 1, code, len(shape), *shape[1:]]
    row += [0] * (3 + _MAX_DIMS - len(row))
    meta = torch.tensor(row, device=tensor.device, dtype=torch.long)
    metas = [torch.zeros_like(meta) for _ in range(dist.get_world_size())]
    dist.all_gather(metas, meta)
    rows = [[int(v) for v in m] for m in metas]
    if any(r[1:] != rows[0][1:] for r in rows):
        seen = ", ".join(f"rank {i} has {_describe(r)}" for i, r in enumerate(rows))
        raise InputError(
            f"{fn}: every process must pass tensors of the same dtype and of the same shape "
            f"but for the first dim; {seen}"
        )
    return [r[0] for r in rows]


def _gather(tensor: Tensor, sizes: list[int]) -> Tensor:
    """Concatenate every process's ``tensor`` along dim 0 (padding to the largest size)."""
    longest = max(sizes)
    padded = tensor
    if tensor.shape[0] < longest:
        pad = tensor.new_zeros((longest - tensor.shape[0], *tensor.shape[1:]))
        padded = torch.cat([tensor, pad])
    parts = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(parts, padded.contiguous())
    return torch.cat([p[:n] for p, n in zip(parts, sizes)])


class _AllGatherWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor: Tensor, fn: str) -> Tensor:
        sizes = _sizes(tensor, fn)
        ctx.sizes = sizes
        ctx.rank = dist.get_rank()
        return _gather(tensor, sizes)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        start = sum(ctx.sizes[: ctx.rank])
        return grad[start : start + ctx.sizes[ctx.rank]], None


def all_gather_with_grad(tensor: Tensor, fn: str = "all_gather_with_grad") -> Tensor:
    """All processes' ``tensor`` concatenated along dim 0 in rank order, differentiable.

    The backward sums the gradient over processes and returns this process's slice: with the
    same loss computed on every process, the gradient of the local input is ``W`` times its
    single-process gradient (what DDP's gradient averaging expects). Without an initialised
    process group of several processes it returns ``tensor`` itself.
    """
    if not is_distributed():
        return tensor
    out: Tensor = _AllGatherWithGrad.apply(tensor, fn)
    return out


def all_gather_no_grad(tensor: Tensor, fn: str = "all_gather_no_grad") -> Tensor:
    """All processes' ``tensor`` (e.g. labels) concatenated along dim 0, without autograd."""
    if not is_distributed():
        return tensor
    return _gather(tensor.detach(), _sizes(tensor, fn))


def all_reduce_sum(tensor: Tensor) -> Tensor:
    """Sum of ``tensor`` over processes (a new tensor, no autograd); identity when single."""
    if not is_distributed():
        return tensor
    out = tensor.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out


class GatheredBatch(NamedTuple):
    """Anchors and keys of a batch-global loss after gathering.

    ``anchor_index[i]`` is the row of anchor ``i`` among the keys (for excluding
    self-similarity and locating an anchor's own positive).
    """

    anchors: Tensor
    anchor_labels: Tensor | None
    keys: Tensor
    key_labels: Tensor | None
    anchor_index: Tensor


def check_gather(gather: str, fn: str) -> str:
    if gather not in GATHER_MODES:
        raise OptionError(
            f"{fn}: expected gather to be one of 'none', 'global', 'local', got {gather!r}"
        )
    return gather


def gather_batch(
    x: Tensor, labels: Tensor | None = None, *, gather: str = "none", fn: str = "gather_batch"
) -> GatheredBatch:
    """Gather a batch ``x`` of shape ``(n, ...)`` (and its ``labels``) for ``gather`` mode."""
    check_gather(gather, fn)
    n = x.shape[0]
    if gather == "none" or not is_distributed():
        index = torch.arange(n, device=x.device)
        return GatheredBatch(x, labels, x, labels, index)
    keys = all_gather_with_grad(x, fn)
    key_labels = None if labels is None else all_gather_no_grad(labels, fn)
    if gather == "global":
        index = torch.arange(keys.shape[0], device=x.device)
        return GatheredBatch(keys, key_labels, keys, key_labels, index)
    sizes = _sizes(x, fn)
    start = sum(sizes[: dist.get_rank()])
    index = torch.arange(start, start + n, device=x.device)
    return GatheredBatch(x, labels, keys, key_labels, index)


def global_mean(local_sum: Tensor, local_count: Tensor | float, *, gather: str) -> Tensor:
    """The mean of a per-anchor loss whose anchors may be split over processes.

    ``"none"`` / ``"global"`` (every process holds all anchors, or it is a single process):
    ``local_sum / local_count`` (zero when the count is zero; a count may be a fractional sum of
    weights). ``"local"``: the value is
    ``sum over processes / count over processes`` (the single-process mean of the whole batch),
    and the gradient is ``W`` times that of this process's share, so DDP's average is exact.
    """
    if gather != "local" or not is_distributed():
        if isinstance(local_count, Tensor):
            return div(local_sum, local_count.to(local_sum.dtype))
        return div(local_sum, float(local_count))
    count = torch.as_tensor(local_count, dtype=local_sum.dtype, device=local_sum.device)
    total_count = all_reduce_sum(count)
    total_sum = all_reduce_sum(local_sum.detach())
    share = div(world_size() * local_sum, total_count)
    return share - share.detach() + div(total_sum, total_count)


def global_sum(local_sum: Tensor, *, gather: str) -> Tensor:
    """The sum of a per-anchor loss whose anchors may be split over processes.

    In ``"local"`` mode the value is the sum over processes and the gradient is ``W`` times that
    of this process's share (the contract above); otherwise ``local_sum`` itself.
    """
    if gather != "local" or not is_distributed():
        return local_sum
    total = all_reduce_sum(local_sum.detach())
    share = world_size() * local_sum
    return share - share.detach() + total
