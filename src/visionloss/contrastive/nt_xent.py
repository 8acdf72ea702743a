"""NT-Xent, the normalised temperature-scaled cross entropy of SimCLR (and SiT)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .._core.checks import check_same_shape, shape_str
from .._core.declare import loss_function
from .._core.dtypes import compute_dtype, product_dtype
from .._core.reduction import reduce_loss
from .._core.registry import register_loss
from ..errors import InputTypeError
from ._core import (
    CONTRASTIVE_DOCS,
    Temperature,
    check_vectors,
    contrast_options,
    multiview_terms,
    pair_examples,
    prepare,
)


def _check_not_pml_form(key: Tensor, fn: str) -> None:
    """pytorch-metric-learning's ``NTXentLoss()(embeddings, labels)`` passes integer labels
    where this loss takes the second views: say which visionloss call takes that form."""
    if isinstance(key, Tensor) and key.dim() == 1 and not key.is_floating_point():
        raise InputTypeError(
            f"{fn}: expected key of shape (N, D) (the second views, row i pairing with "
            f"query[i]), got integer labels {shape_str(key)}; pytorch-metric-learning's "
            "NTXentLoss()(embeddings, labels) form is visionloss.supcon_loss(features, labels) "
            "(SupConLoss) for labelled views, or nt_xent_loss(z1, z2) for two views of each "
            "sample (embeddings = cat([z1, z2])); note the default temperature here is 0.5, "
            "pytorch-metric-learning's 0.07"
        )


@loss_function(CONTRASTIVE_DOCS, options=contrast_options, renamed={"z1": "query", "z2": "key"})
def nt_xent_loss(
    query: Tensor, key: Tensor, *, temperature: Temperature = 0.5, **options: Any
) -> Tensor:
    r"""NT-Xent (SimCLR): each of the ``2N`` views must find its partner among the other
    ``2N - 1``.

    .. math::
        \ell_{i,j} = -\log \frac{e^{s(z_i, z_j)/\tau}}{\sum_{k=1}^{2N} [k \ne i]\,
        e^{s(z_i, z_k)/\tau}}, \qquad
        L = \frac{1}{2N}\sum_{k=1}^{N} \big(\ell_{2k-1,2k} + \ell_{2k,2k-1}\big)

    over the ``2N`` rows ``z = [query; key]``, where ``(i, j)`` are the two views of one sample and
    ``s`` is cosine similarity. The self-similarity is excluded with ``-inf`` inside a per-row
    log-sum-exp (the SiT / SimCLR codes multiply by a mask or subtract ``1e9``, which overflows
    in fp16), and the matrix is one ``2N x 2N`` product (the SiT code's
    ``cosine_similarity(x[:, None], x[None])`` materialises a ``2N x 2N x D`` tensor). It equals
    :func:`supcon_loss` of ``stack([query, key], 1)`` without labels, and
    pytorch-metric-learning's ``NTXentLoss`` with labels ``cat([arange(N), arange(N)])``.
    Default temperature 0.5, as SiT (SimCLR uses 0.1 - 1); pytorch-metric-learning's
    ``NTXentLoss`` defaults to 0.07: pass ``temperature=0.07`` for its numbers. Its calling
    form ``(cat([z1, z2]), labels)`` is :func:`supcon_loss`'s
    ``supcon_loss(stack([z1, z2], 1), labels)`` (or, with labels ``cat([arange(N),
    arange(N)])``, this loss of ``(z1, z2)``).

    Args:
        query: ``(N, D)`` first views, floating point (formerly ``z1``: the old keyword is
            still accepted, with a FutureWarning, until the next release).
        key: ``(N, D)`` second views, row ``i`` pairing with ``query[i]`` (formerly ``z2``).

    Shape:
        output: scalar, or ``(N,)`` for ``"none"``: per sample, the mean of its two directions
        (``(N_global,)`` with ``gather="global"``). ``"sum"`` sums that vector.

    Returns:
        the loss; float32 for fp16/bf16 inputs. ``N = 1`` gives 0 (the partner is the only
        other view).

    Reference:
        Chen et al., *A Simple Framework for Contrastive Learning of Visual Representations
        (SimCLR)*, ICML 2020, arXiv:2002.05709; Atito, Awais and Kittler, *SiT: Self-supervised
        vIsion Transformer*, arXiv:2104.03602.

    Example:
        >>> import torch
        >>> z = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> nt_xent_loss(z, z, temperature=1.0)  # log(e + 2) - 1: partner 1, others 0
        tensor(0.5514)
    """
    fn = "nt_xent_loss"
    similarity, gather, reduction = options["similarity"], options["gather"], options["reduction"]
    _check_not_pml_form(key, fn)
    check_vectors(query, "query", fn)
    check_vectors(key, "key", fn)
    check_same_shape(query, key, fn, ("query", "key"))
    dtype, operands = compute_dtype(query, key), product_dtype(query, key)
    z = prepare(torch.stack([query, key], dim=1), similarity, dtype, operands)
    terms = multiview_terms(z, None, temperature, mode="out", gather=gather, fn=fn)
    # per sample: the mean of its two directions; every anchor has its partner, so every
    # term counts (the mean divides by their number); the mean of those means is the mean of
    # all 2N terms, taken at once (two autograd nodes fewer)
    if reduction == "mean":
        return reduce_loss(terms.loss.reshape(-1), reduction, gather=gather)
    return reduce_loss(terms.loss.mean(1), reduction, gather=gather)


NTXentLoss = register_loss(
    "nt_xent",
    family="contrastive",
    function=nt_xent_loss,
    module="NTXentLoss",
    aliases=("ntxent", "simclr"),
    formula="-log e^{s(z_i,z_j)/t} / sum_{k != i} e^{s(z_i,z_k)/t}, 2N views",
    reference="Chen et al., SimCLR, arXiv:2002.05709; Atito et al., SiT, arXiv:2104.03602",
    examples=pair_examples,
).module
