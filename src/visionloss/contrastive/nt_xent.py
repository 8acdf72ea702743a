"""NT-Xent, the normalised temperature-scaled cross entropy of SimCLR (and SiT)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .._core.checks import check_same_shape
from .._core.declare import loss_function
from .._core.dtypes import compute_dtype
from .._core.registry import register_loss
from ._core import (
    CONTRASTIVE_DOCS,
    Temperature,
    Terms,
    check_vectors,
    contrast_options,
    multiview_terms,
    pair_examples,
    prepare,
    reduce_terms,
)


@loss_function(CONTRASTIVE_DOCS, options=contrast_options)
def nt_xent_loss(
    z1: Tensor, z2: Tensor, *, temperature: Temperature = 0.5, **options: Any
) -> Tensor:
    r"""NT-Xent (SimCLR): each of the ``2N`` views must find its partner among the other
    ``2N - 1``.

    .. math::
        \ell_{i,j} = -\log \frac{e^{s(z_i, z_j)/\tau}}{\sum_{k=1}^{2N} [k \ne i]\,
        e^{s(z_i, z_k)/\tau}}, \qquad
        L = \frac{1}{2N}\sum_{k=1}^{N} \big(\ell_{2k-1,2k} + \ell_{2k,2k-1}\big)

    over the ``2N`` rows ``z = [z1; z2]``, where ``(i, j)`` are the two views of one sample and
    ``s`` is cosine similarity. The self-similarity is excluded with ``-inf`` inside a per-row
    log-sum-exp (the SiT / SimCLR codes multiply by a mask or subtract ``1e9``, which overflows
    in fp16), and the matrix is one ``2N x 2N`` product (the SiT code's
    ``cosine_similarity(x[:, None], x[None])`` materialises a ``2N x 2N x D`` tensor). It equals
    :func:`supcon_loss` of ``stack([z1, z2], 1)`` without labels, and pytorch-metric-learning's
    ``NTXentLoss`` with labels ``cat([arange(N), arange(N)])``. Default temperature 0.5, as
    SiT (SimCLR uses 0.1 - 1).

    Args:
        z1: ``(N, D)`` first views, floating point.
        z2: ``(N, D)`` second views (row ``i`` pairs with ``z1[i]``).

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
        >>> z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> nt_xent_loss(z1, z1, temperature=1.0)  # log(e + 2) - 1: partner 1, others 0
        tensor(0.5514)
    """
    fn = "nt_xent_loss"
    similarity, gather, reduction = options["similarity"], options["gather"], options["reduction"]
    check_vectors(z1, "z1", fn)
    check_vectors(z2, "z2", fn)
    check_same_shape(z1, z2, fn, ("z1", "z2"))
    dtype = compute_dtype(z1, z2)
    z = prepare(torch.stack([z1, z2], dim=1), similarity, dtype)
    terms = multiview_terms(z, None, temperature, mode="out", gather=gather, fn=fn)
    # per sample: the mean of its two directions (every anchor has its partner)
    return reduce_terms(Terms(terms.loss.mean(1), terms.valid.all(1)), reduction, gather=gather)


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
