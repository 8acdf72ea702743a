"""Decoupled contrastive learning (DCL) and its von Mises-Fisher weighted form (DCLW)."""

from __future__ import annotations

import math
from typing import Annotated, Any

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from .. import distributed as vdist
from .._core.checks import check_same_shape
from .._core.declare import loss_function
from .._core.dtypes import compute_dtype
from .._core.options import Choice, Positive
from .._core.registry import register_loss
from ._core import (
    BLOCK_ELEMENTS,
    CONTRASTIVE_DOCS,
    MAX_CHUNK_ELEMENTS,
    Temperature,
    Terms,
    check_vectors,
    contrast_options,
    masked_logsumexp,
    pair_examples,
    prepare,
    reduce_terms,
    similarity_logits,
)

Weighting = Annotated[str, Choice("none", "vmf")]


def _negative_lse(
    anchors: Tensor, keys: Tensor, temperature: float | Tensor, samples: Tensor, key_samples: Tensor
) -> Tensor:
    """Per anchor row, the log-sum-exp of its logits over keys of other samples."""
    logits = similarity_logits(anchors, keys, temperature)
    return masked_logsumexp(logits, samples[:, None] != key_samples[None, :])


def _blocked_lse(
    anchors: Tensor, keys: Tensor, temperature: float | Tensor, samples: Tensor, key_samples: Tensor
) -> Tensor:
    """:func:`_negative_lse` on the row-block path (checkpointed blocks above
    ``MAX_CHUNK_ELEMENTS`` logits), as the family's other losses."""
    rows, cols = anchors.shape[0], keys.shape[0]
    if rows * cols <= MAX_CHUNK_ELEMENTS:
        return _negative_lse(anchors, keys, temperature, samples, key_samples)
    step = max(1, BLOCK_ELEMENTS // max(cols, 1))
    tensors = [anchors, keys] + ([temperature] if isinstance(temperature, Tensor) else [])
    recompute = torch.is_grad_enabled() and any(t.requires_grad for t in tensors)
    parts = []
    for lo in range(0, rows, step):
        part = (anchors[lo : lo + step], keys, temperature, samples[lo : lo + step], key_samples)
        parts.append(
            checkpoint(_negative_lse, *part, use_reentrant=False)
            if recompute
            else _negative_lse(*part)
        )
    return torch.cat(parts)


@loss_function(CONTRASTIVE_DOCS, options=contrast_options)
def dcl_loss(
    query: Tensor,
    key: Tensor,
    *,
    temperature: Temperature = 0.1,
    weighting: Weighting = "none",
    sigma: Positive = 0.5,
    **options: Any,
) -> Tensor:
    r"""Decoupled contrastive loss (DCL): NT-Xent without the positive in the denominator.

    .. math::
        \ell_i^{(v)} = -w_i\, \frac{s(z_i^{(1)}, z_i^{(2)})}{\tau}
            + \log \sum_{k \ne i,\; u \in \{1, 2\}} e^{s(z_i^{(v)}, z_k^{(u)}) / \tau},
        \qquad \ell_i = \tfrac12 \big(\ell_i^{(1)} + \ell_i^{(2)}\big)

    with ``z^(1) = query`` and ``z^(2) = key`` two views: each view of sample ``i`` is an
    anchor, its negatives are both views of every other sample (``2N - 2`` keys), and the
    positive appears only in the numerator (Yeh et al., Eq. 6). ``weighting="vmf"`` is DCLW:
    :math:`w_i = 2 - \frac{e^{s_i / \sigma}}{\frac1N \sum_k e^{s_k / \sigma}}` with
    ``s_i`` the cosine of the two views of sample ``i`` (held constant: no gradient flows
    through the weight), the mean over the (global) batch; ``"none"`` (default) is
    ``w_i = 1``. Defaults ``temperature=0.1``, ``sigma=0.5`` (lightly's ``DCLLoss`` /
    ``DCLWLoss``). A batch of one sample has no negative: its log-sum-exp is ``-inf`` and it
    leaves the mean (0 with a graph), never NaN.

    Args:
        query: ``(N, D)`` embeddings of the first view, floating point.
        key: ``(N, D)`` embeddings of the second view.
        weighting: ``"none"`` (DCL, default) or ``"vmf"`` (DCLW).
        sigma: ``sigma > 0``, the von Mises-Fisher weighting's temperature (DCLW only).

    Shape:
        output: scalar, or ``(N,)`` per sample for ``"none"`` (``(N_global,)`` with
        ``gather="global"``).

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Yeh, Hong, Hsu, Liu, Chen and LeCun, *Decoupled Contrastive Learning*, ECCV 2022,
        arXiv:2110.06848 (Eq. 6 and Sec. 4, DCLW).

    Example:
        >>> import torch
        >>> z = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> dcl_loss(z, z, temperature=1.0)  # -1 + log(2 e^0)
        tensor(-0.3069)
    """
    fn = "dcl_loss"
    check_vectors(query, "query", fn)
    check_vectors(key, "key", fn)
    check_same_shape(query, key, fn, ("query", "key"))
    similarity, gather = options["similarity"], options["gather"]
    dtype = compute_dtype(query, key)
    views = torch.stack([prepare(query, similarity, dtype), prepare(key, similarity, dtype)], 1)
    batch = vdist.gather_batch(views, gather=gather, fn=fn)
    a, k = batch.anchors.shape[0], batch.keys.shape[0]
    anchors, keys = batch.anchors, batch.keys
    positive = (anchors[:, 0] * anchors[:, 1]).sum(-1)  # s_i, both views of the anchor sample
    if weighting == "vmf":
        unit = anchors if similarity == "cosine" else prepare(anchors, "cosine", dtype)
        s = (unit[:, 0] * unit[:, 1]).sum(-1).detach()
        every = vdist.all_gather_no_grad(s, fn) if gather == "local" else s
        shift = every.max() if every.numel() else s.new_zeros(())
        # log of (1/N) sum_k exp(s_k / sigma), shifted for stability
        log_mean = torch.logsumexp((every - shift) / sigma, 0) - math.log(max(every.numel(), 1))
        weight = 2.0 - torch.exp((s - shift) / sigma - log_mean)
    else:
        weight = positive.new_ones(())
    samples = batch.anchor_index.repeat_interleave(2)
    key_samples = torch.arange(k, device=query.device).repeat_interleave(2)
    lse = _blocked_lse(
        anchors.reshape(2 * a, -1), keys.reshape(2 * k, -1), temperature, samples, key_samples
    ).view(a, 2)
    valid = torch.full((a,), k > 1, dtype=torch.bool, device=query.device)
    lse = torch.where(valid[:, None], lse, lse.new_zeros(()))
    loss = -weight * positive / temperature + lse.mean(1)
    loss = torch.where(valid, loss, loss.new_zeros(()))
    return reduce_terms(Terms(loss, valid), options["reduction"], gather=gather)


DCLLoss = register_loss(
    "dcl",
    family="contrastive",
    function=dcl_loss,
    module="DCLLoss",
    aliases=("dclw",),
    formula="-w_i s(z_i, z_i')/t + log sum_{k != i} e^{s(z_i, z_k)/t}",
    reference="Yeh et al., Decoupled Contrastive Learning, ECCV 2022, arXiv:2110.06848",
    examples=pair_examples,
).module
