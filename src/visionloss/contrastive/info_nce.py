"""InfoNCE (CPC, MoCo, CLIP-style in-batch negatives)."""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import Tensor

from .. import distributed as vdist
from .._core.checks import check_same_shape, shape_str
from .._core.declare import loss_function
from .._core.dtypes import compute_dtype, product_dtype, upcast
from .._core.options import Bool
from .._core.registry import register_loss
from ..distributed import GatheredBatch
from ..errors import InputError, OptionError
from ._core import (
    CONTRASTIVE_DOCS,
    Temperature,
    Terms,
    check_vectors,
    contrast_options,
    contrast_terms,
    label_terms,
    prepare,
    query_key_examples,
    reduce_terms,
    similarity_logits,
)


def _check(
    fn: str, query: Tensor, key: Tensor, negative_keys: Tensor | None, symmetric: bool
) -> None:
    check_vectors(query, "query", fn)
    check_vectors(key, "key", fn)
    check_same_shape(query, key, fn, ("query", "key"))
    if negative_keys is None:
        return
    check_vectors(negative_keys, "negative_keys", fn, ndim=(2, 3))
    if negative_keys.shape[-1] != query.shape[-1]:
        raise InputError(
            f"{fn}: expected negative_keys with feature size {query.shape[-1]} matching query "
            f"{shape_str(query)}, got {shape_str(negative_keys)}"
        )
    if negative_keys.dim() == 3 and negative_keys.shape[0] != query.shape[0]:
        raise InputError(
            f"{fn}: expected negative_keys of shape ({query.shape[0]}, M, {query.shape[1]}) "
            f"matching query {shape_str(query)}, got {shape_str(negative_keys)}"
        )
    if symmetric:
        raise OptionError(f"{fn}: symmetric=True needs in-batch negatives (negative_keys=None)")


def _in_batch(
    q: Tensor, k: Tensor, temperature: float | Tensor, symmetric: bool, gather: str, fn: str
) -> Terms:
    """Queries against the (gathered) keys, the positive of query ``i`` being key ``i``; with
    ``symmetric`` also keys against queries. Each tensor is gathered at most once."""
    keys = vdist.gather_batch(k, gather=gather, fn=fn)
    queries = (
        vdist.gather_batch(q, gather=gather, fn=fn) if gather == "global" or symmetric else None
    )
    index = keys.anchor_index  # the rows of this process's pairs (all rows for "global")

    def direction(anchors: Tensor, targets: Tensor) -> Terms:
        # key j is the positive of anchor i when j == index[i]: labels index vs arange
        key_ids = torch.arange(targets.shape[0], device=q.device)
        return label_terms(anchors, targets, temperature, index, key_ids, mode="out")

    terms = direction(queries.anchors if queries is not None else q, keys.keys)
    if not symmetric:
        return terms
    back = direction(keys.anchors, cast(GatheredBatch, queries).keys)
    return Terms(0.5 * (terms.loss + back.loss), terms.valid)


@loss_function(CONTRASTIVE_DOCS, options=contrast_options, renamed={"positive_key": "key"})
def info_nce_loss(
    query: Tensor,
    key: Tensor,
    negative_keys: Tensor | None = None,
    *,
    temperature: Temperature = 0.07,
    symmetric: Bool = False,
    **options: Any,
) -> Tensor:
    r"""InfoNCE: each query must pick its positive key out of a set of negatives.

    .. math::
        \ell_i = -\log \frac{e^{s(q_i, k_i^+)/\tau}}
                             {e^{s(q_i, k_i^+)/\tau} + \sum_{j} e^{s(q_i, k_{ij}^-)/\tau}}

    This is cross entropy on the logits ``[s_pos, s_neg_1, ..., s_neg_M] / tau`` with label 0
    (the form in MoCo's code), computed as a log-sum-exp per row. ``s`` is cosine similarity
    (default) or the dot product. Negatives:

    * ``negative_keys`` of shape ``(M, D)``: shared by every query (e.g. a :class:`MoCoQueue`);
    * ``(N, M, D)``: ``M`` negatives of each query;
    * ``None``: in-batch negatives, the other queries' positive keys (CLIP, FOCAL's ``info_nce``):
      cross entropy of ``query @ key.T / tau`` with labels ``arange(N)``.
      ``symmetric=True`` averages it with the keys-to-queries direction (CLIP).

    A query without negatives (``M = 0``, or ``N = 1`` in-batch) has loss 0. Default
    temperature 0.07 (MoCo). ``gather`` gathers the in-batch negatives; with explicit
    negatives ``"global"`` and ``"local"`` both only make the mean run over every process's
    queries.

    Args:
        query: ``(N, D)`` floating point.
        key: ``(N, D)``, the positive key of each query (formerly ``positive_key``: the old
            keyword is still accepted, with a FutureWarning, until the next release).
        negative_keys: ``(M, D)``, ``(N, M, D)`` or ``None`` (in-batch negatives).
        symmetric: also the keys-to-queries direction (in-batch only; default False).

    Shape:
        output: scalar, or ``(N,)`` per query for ``"none"`` (the mean of both directions when
        symmetric; ``(N_global,)`` with in-batch negatives and ``gather="global"``).

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        van den Oord, Li and Vinyals, *Representation Learning with Contrastive Predictive
        Coding*, arXiv:1807.03748; He et al., *MoCo*, CVPR 2020, arXiv:1911.05722; Radford et
        al., *CLIP*, arXiv:2103.00020.

    Example:
        >>> import torch
        >>> q = torch.tensor([[1.0, 0.0, 0.0]])
        >>> negatives = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])  # orthogonal keys
        >>> info_nce_loss(q, q, negatives, temperature=1.0)  # log(1 + 2 / e)
        tensor(0.5514)
    """
    fn = "info_nce_loss"
    similarity, gather, reduction = options["similarity"], options["gather"], options["reduction"]
    _check(fn, query, key, negative_keys, symmetric)
    inputs = (query, key, *(() if negative_keys is None else (negative_keys,)))
    dtype, operands = compute_dtype(*inputs), product_dtype(*inputs)
    q = prepare(query, similarity, dtype, operands)
    k = prepare(key, similarity, dtype, operands)
    if negative_keys is None:
        terms = _in_batch(q, k, temperature, symmetric, gather, fn)
        return reduce_terms(terms, reduction, gather=gather)
    n = prepare(negative_keys, similarity, dtype, operands)
    pos = (upcast(q, dtype) * upcast(k, dtype)).sum(-1, keepdim=True) / temperature
    if n.dim() == 2:
        neg = similarity_logits(q, n, temperature)
    else:  # (N, 1, D) x (N, M, D): row i against its own M negatives
        neg = similarity_logits(q[:, None], n, temperature)[:, 0]
    logits = torch.cat([pos, neg], dim=1)
    positive = torch.zeros_like(logits, dtype=torch.bool)
    positive[:, 0] = True
    terms = contrast_terms(logits, positive, ~positive, "out")
    # Explicit negatives: nothing to gather; "global" and "local" both mean over all processes.
    return reduce_terms(terms, reduction, gather="none" if gather == "none" else "local")


InfoNCELoss = register_loss(
    "info_nce",
    family="contrastive",
    function=info_nce_loss,
    module="InfoNCELoss",
    aliases=("infonce",),
    formula="-log e^{s(q,k+)/t} / (e^{s(q,k+)/t} + sum_j e^{s(q,k_j-)/t})",
    reference="van den Oord et al., CPC, arXiv:1807.03748; He et al., MoCo, arXiv:1911.05722",
    examples=query_key_examples,
).module
