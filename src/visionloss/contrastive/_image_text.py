"""Shared parts of the image-text losses (CLIP, SigLIP): option types, docstring text, example
inputs, the learned logit scale, and SigLIP's pairwise sigmoid terms on the row-block path and
round the ring of processes.

``query`` holds the image embeddings and ``key`` the text embeddings: row ``i`` of each is one
image-text pair, every other row of the other modality a negative.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from .. import distributed as vdist
from .._core.checks import check_same_shape
from .._core.collectives import block_sizes, ring_pass
from .._core.declare import DocParts
from .._core.dtypes import autocast_off, compute_dtype
from ._core import (
    BLOCK_ELEMENTS,
    CONTRASTIVE_DOCS,
    MAX_CHUNK_ELEMENTS,
    Scalar,
    Terms,
    check_vectors,
    prepare,
)

LogScale = Annotated[float | Tensor, Scalar(tensor=True)]
Bias = Annotated[float | Tensor, Scalar(tensor=True)]
MaxScale = Annotated[float, Scalar(0, lo_open=True)]

IMAGE_TEXT_DOCS = CONTRASTIVE_DOCS | DocParts(
    args={
        "query": """``(N, D)`` image embeddings, floating point (row ``i`` pairs with row
            ``i`` of ``key``).""",
        "key": """``(N, D)`` text embeddings, floating point.""",
        "log_scale": """``t``, the logarithm of the logit scale ``e^t`` (a number, or a
            0-dim tensor: a learned ``t`` gets its gradient).""",
    },
    paragraphs={
        "image_text": """``query`` holds the images and ``key`` the texts (the contrastive
            family's ``query, key``): the pair ``(query[i], key[i])`` is the positive, every
            ``(query[i], key[j])``, ``j != i``, a negative.""",
    },
)


def prepare_pair(
    query: object, key: object, similarity: str, fn: str
) -> tuple[Tensor, Tensor, torch.dtype]:
    """Checked ``query`` and ``key`` of one shape, in the compute dtype, unit-normalised for
    cosine similarity, and that dtype."""
    q = check_vectors(query, "query", fn)
    k = check_vectors(key, "key", fn)
    check_same_shape(q, k, fn, ("query", "key"))
    dtype = compute_dtype(q, k)
    return prepare(q, similarity, dtype), prepare(k, similarity, dtype), dtype


def scale_of(log_scale: float | Tensor, dtype: torch.dtype, max_scale: float | None) -> Tensor:
    """``e^t`` as a 0-dim tensor of ``dtype``, at most ``max_scale`` (the clamp stops the
    gradient of ``t`` above it, as CLIP's clipping of the parameter does)."""
    t = torch.as_tensor(log_scale, dtype=dtype)
    if max_scale is not None:
        t = t.clamp(max=math.log(max_scale))
    return t.reshape(()).exp()


# ------------------------------------------------------------------------------------- CLIP
def _ce_rows(anchors: Tensor, keys: Tensor, scale: Tensor, targets: Tensor) -> Tensor:
    """Per anchor row, the cross entropy of ``scale <a_i, k_j>`` over the keys with the
    positive key ``targets[i]``."""
    with autocast_off(anchors.device.type):
        logits = torch.matmul(anchors * scale, keys.transpose(-1, -2))
    return F.cross_entropy(logits, targets, reduction="none")


def ce_rows(anchors: Tensor, keys: Tensor, scale: Tensor, targets: Tensor) -> Tensor:
    """:func:`_ce_rows` on the row-block path (checkpointed blocks above
    ``MAX_CHUNK_ELEMENTS`` logits)."""
    return _blocked(_ce_rows, anchors, keys, scale, targets)


def _blocked(fn: Callable[..., Tensor], anchors: Tensor, keys: Tensor, *rest: Tensor) -> Tensor:
    """``fn(anchors, keys, *rest)`` whole when the ``(n, m)`` matrix holds at most
    ``MAX_CHUNK_ELEMENTS`` entries, else in row blocks of at most ``BLOCK_ELEMENTS`` entries
    whose matrices are recomputed in the backward pass; the last of ``rest`` is per row."""
    rows, cols = anchors.shape[0], keys.shape[0]
    if rows * cols <= MAX_CHUNK_ELEMENTS:
        return fn(anchors, keys, *rest)
    step = max(1, BLOCK_ELEMENTS // max(cols, 1))
    recompute = torch.is_grad_enabled() and any(t.requires_grad for t in (anchors, keys, *rest))
    parts = []
    for lo in range(0, rows, step):
        part = (anchors[lo : lo + step], keys, *rest[:-1], rest[-1][lo : lo + step])
        parts.append(checkpoint(fn, *part, use_reentrant=False) if recompute else fn(*part))
    return torch.cat(parts)


def clip_terms(q: Tensor, k: Tensor, scale: Tensor, gather: str, fn: str) -> Terms:
    """Per-pair mean of the image-to-text and text-to-image cross entropies of prepared ``q``
    (images) and ``k`` (texts). ``"local"``: this process's images against every process's
    texts and its texts against every image (OpenCLIP's ``local_loss``); ``"global"``: the
    whole global batch on every process. A matrix small enough to form whole is formed once
    and read by rows and by columns."""
    texts = vdist.gather_batch(k, gather=gather, fn=fn)
    images = vdist.gather_batch(q, gather=gather, fn=fn)
    index = texts.anchor_index
    a, keys = images.anchors, texts.keys
    if a.shape[0] == keys.shape[0] and a.shape[0] ** 2 <= MAX_CHUNK_ELEMENTS:
        with autocast_off(q.device.type):
            logits = torch.matmul(a * scale, keys.transpose(0, 1))
        forward = F.cross_entropy(logits, index, reduction="none")
        backward = F.cross_entropy(logits.transpose(0, 1), index, reduction="none")
    else:
        forward = ce_rows(a, keys, scale, index)
        backward = ce_rows(texts.anchors, images.keys, scale, index)
    loss = 0.5 * (forward + backward)
    return Terms(loss, torch.ones_like(loss, dtype=torch.bool))


# ----------------------------------------------------------------------------------- SigLIP
def _sigmoid_rows(
    images: Tensor, texts: Tensor, scale: Tensor, bias: Tensor, positive: Tensor
) -> Tensor:
    """``sum_j softplus(-y_ij (scale <x_i, t_j> + bias))`` per image row, ``y_ij = +1`` where
    ``j == positive[i]`` (``-1`` marks a row whose positive is not in ``texts``), computed as
    ``sum_j softplus(z_ij) - z_i,positive`` (``softplus(-z) = softplus(z) - z``)."""
    with autocast_off(images.device.type):
        logits = torch.matmul(images * scale, texts.transpose(-1, -2)) + bias
    total = F.softplus(logits).sum(-1)
    has = positive >= 0
    pos = texts.index_select(0, torch.where(has, positive, 0)) if texts.shape[0] else texts
    z = (images * scale * pos).sum(-1) + bias if texts.shape[0] else total
    return total - torch.where(has, z, z.new_zeros(()))


def sigmoid_rows(
    images: Tensor, texts: Tensor, scale: Tensor, bias: Tensor, positive: Tensor
) -> Tensor:
    """:func:`_sigmoid_rows` on the row-block path: a matrix of more than
    ``MAX_CHUNK_ELEMENTS`` logits goes in checkpointed blocks of rows (recomputed in the
    backward pass), so memory holds one block, not the whole ``(n, m)`` matrix."""
    return _blocked(_sigmoid_rows, images, texts, scale, bias, positive)


def _checkpointed_rows(
    images: Tensor, texts: Tensor, scale: Tensor, bias: Tensor, positive: Tensor
) -> Tensor:
    tensors = (images, texts, scale, bias)
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        out: Tensor = checkpoint(
            sigmoid_rows, images, texts, scale, bias, positive, use_reentrant=False
        )
        return out
    return sigmoid_rows(images, texts, scale, bias, positive)


def siglip_terms(q: Tensor, k: Tensor, scale: Tensor, bias: Tensor, gather: str, fn: str) -> Tensor:
    """Per-image SigLIP terms of prepared ``q`` (images) against ``k`` (texts).

    ``"global"``: every process gathers every image and text and forms the global terms.
    ``"local"``: this process's images against every process's texts, the texts passed round
    the ring (:func:`~visionloss._core.collectives.ring_pass`) one block at a time, each block
    checkpointed: per-process memory holds one ``n x m`` block of logits (plus the received
    text blocks, O(N·D)), never the global matrix.
    """
    own = torch.arange(q.shape[0], device=q.device)
    if gather == "none" or not vdist.is_distributed():
        return sigmoid_rows(q, k, scale, bias, own)
    if gather == "global":
        images = vdist.all_gather_with_grad(q, fn)
        texts = vdist.all_gather_with_grad(k, fn)
        return sigmoid_rows(
            images, texts, scale, bias, torch.arange(images.shape[0], device=q.device)
        )
    sizes = block_sizes(k, fn)
    rank, world = dist.get_rank(), dist.get_world_size()
    total = _checkpointed_rows(q, k, scale, bias, own)
    none = torch.full_like(own, -1)
    texts = k
    for step in range(1, world):
        texts = ring_pass(texts, sizes[(rank - step) % world])
        total = total + _checkpointed_rows(q, texts, scale, bias, none)
    return total
