"""Shared maths of the pair losses (circle, multi-similarity, lifted structure): the anchors x
keys similarity matrix of a (gathered) batch, the positive and negative masks, and masked
log-sum-exps. Everything is ``(n, N)``: O(B^2) memory, no ``B x B x B`` tensor."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Annotated, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .._core.dtypes import autocast_off
from .._core.options import Choice, Number
from ..distributed import GatheredBatch, gather_batch
from ._common import batch_labels, check_embeddings_labels, prepare
from ._margin import unit_rows
from ._mining import triplet_masks

SIMILARITIES = ("cosine", "dot")
Similarity = Annotated[str, Choice(*SIMILARITIES)]
Finite = Annotated[float, Number()]


class PairBatch(NamedTuple):
    """Similarities of the anchors to the keys and the pair masks (self excluded)."""

    sim: Tensor  # (n, N)
    pos: Tensor  # (n, N) bool: same label, not the anchor itself
    neg: Tensor  # (n, N) bool: different label


class Memory(NamedTuple):
    """Reference embeddings (detached) and labels a cross-batch memory supplies as the keys,
    and the rows of the current batch among them (``anchor_index``). ``used`` records that a
    loss consumed it."""

    keys: Tensor
    key_labels: Tensor
    anchor_index: Tensor
    used: list[bool]


_MEMORY: ContextVar[Memory | None] = ContextVar("visionloss_metric_memory", default=None)


@contextmanager
def memory_keys(memory: Memory) -> Iterator[Memory]:
    """Within this block the pair losses take their keys from ``memory`` (see
    :class:`~visionloss.metric.CrossBatchMemory`)."""
    token = _MEMORY.set(memory)
    try:
        yield memory
    finally:
        _MEMORY.reset(token)


def batch_or_memory(
    x: Tensor, labels: Tensor, *, normalize: bool, gather: str, fn: str
) -> GatheredBatch:
    """The anchors and keys of a pair loss: ``x`` (already prepared) against the gathered
    batch, or against a cross-batch memory's keys when one is active."""
    memory = _MEMORY.get()
    if memory is None:
        return gather_batch(x, labels, gather=gather, fn=fn)
    memory.used.append(True)
    keys = prepare(memory.keys, normalize, x.dtype)
    return GatheredBatch(x, labels, keys, memory.key_labels, memory.anchor_index)


def pair_batch(
    embeddings: Tensor, labels: Tensor, *, metric: str, normalize: bool, gather: str, fn: str
) -> PairBatch:
    """Check the inputs, gather the batch for ``gather`` and form the similarity matrix
    (``"cosine"``: of the L2-normalised vectors, clamped to ``[-1, 1]``; ``"dot"``: the plain
    dot product) with autocast off, in the compute dtype."""
    check_embeddings_labels(embeddings, labels, fn)
    normalize = normalize and metric != "cosine"  # the cosine normalises anyway
    x = prepare(embeddings, normalize)
    batch = batch_or_memory(x, labels, normalize=normalize, gather=gather, fn=fn)
    with autocast_off(x.device.type):
        if metric == "cosine":
            sim = (unit_rows(batch.anchors) @ unit_rows(batch.keys).T).clamp(-1.0, 1.0)
        else:
            sim = batch.anchors @ batch.keys.T
    pos, neg = triplet_masks(*batch_labels(batch), batch.anchor_index)
    return PairBatch(sim, pos, neg)


def masked_logsumexp(z: Tensor, mask: Tensor, *, add_one: bool = False, dim: int = 1) -> Tensor:
    """``log(sum_{mask} e^z)`` along ``dim`` (``log(1 + sum ...)`` with ``add_one``); 0 for an
    empty row either way, with a zero gradient (masked entries take the dtype's most negative
    value, never ``-inf``, so no ``inf - inf`` can appear)."""
    low = torch.finfo(z.dtype).min
    masked = torch.where(mask, z, z.new_full((), low))
    out = torch.logsumexp(masked, dim=dim)
    if add_one:  # log(1 + sum e^z) = softplus(log sum e^z)
        out = F.softplus(out)
    return torch.where(mask.any(dim), out, out.new_zeros(()))


def propagate_nan_rows(per_anchor: Tensor, sim: Tensor, pairs: Tensor) -> Tensor:
    """``per_anchor`` with NaN for every anchor that has a NaN similarity among its ``pairs``
    (a mining step compares similarities and may pass over a NaN one; a NaN input must still
    give a NaN loss, never a finite one)."""
    bad = (sim.isnan() & pairs).any(1)
    return torch.where(bad, per_anchor.new_full((), float("nan")), per_anchor)
