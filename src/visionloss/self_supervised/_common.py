"""Shared parts of the self-supervised family: option types, docstring text, example inputs,
input checks and the global batch statistics.

Batch statistics (means, variances, covariances, cross-correlations) are computed over the
global batch under torch.distributed by all-reducing *sums* (and counts) with autograd
(:func:`~visionloss._core.collectives.all_reduce_sum_with_grad`): every process then computes
the same global loss, equal to the single-process loss on the concatenated batch (also when
processes hold different numbers of samples), and the backward's all-reduce gives each
process ``W`` times its single-process input gradients, so that DDP's gradient average is
exact. Nothing of size ``N`` is gathered: the messages are ``D`` or ``D x D`` sums.
"""

from __future__ import annotations

from typing import Annotated

import torch
from torch import Tensor

from .. import distributed as vdist
from .._core.checks import check_same_shape, check_tensor, shape_str
from .._core.collectives import all_reduce_sum_with_grad
from .._core.declare import DocParts
from .._core.examples import Example, generator, normal
from .._core.numerics import div
from .._core.options import Choice
from ..errors import InputError

BatchGather = Annotated[str, Choice(*vdist.GATHER_MODES)]

SSL_DOCS = DocParts(
    args={
        "query": """``(N, D)`` embeddings of the first view, floating point.""",
        "key": """``(N, D)`` embeddings of the second view (row ``i`` the same image as row
            ``i`` of ``query``).""",
        "gather": """``"none"`` (default): this process's batch only; ``"global"`` or
            ``"local"`` (the same here): under torch.distributed the batch statistics are
            reduced over every process, so the value equals the single-process loss on the
            concatenated batch and DDP's gradient average is exact (see
            :mod:`visionloss.distributed`).""",
        "reduction": """``"mean"``, ``"sum"`` or ``"none"`` (the default is the paper's
            loss; see above).""",
    },
    paragraphs={
        "feature_terms": """``reduction``: the loss is a sum of per-feature-dimension terms
            ``t_j``; ``"none"`` returns them (``(D,)``), ``"sum"`` their sum and ``"mean"``
            their mean over the ``D`` dimensions.""",
    },
)


# ---------------------------------------------------------------------------------- examples
def pair_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """Two views ``(8, 4)`` of eight samples, the second a noisy copy of the first."""
    gen = generator(seed)
    z1 = normal(8, 4, dtype=dtype, gen=gen)
    return Example((z1, z1 + normal(8, 4, dtype=dtype, gen=gen, scale=0.5)))


def embedding_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """Eight embeddings ``(8, 4)``."""
    return Example((normal(8, 4, dtype=dtype, gen=generator(seed)),))


# ------------------------------------------------------------------------------------ checks
def check_views(query: object, key: object, fn: str) -> tuple[Tensor, Tensor]:
    """Two floating ``(N, D)`` tensors of one shape, ``D > 0``."""
    q = check_tensor(query, "query", fn, floating=True, ndim=2)
    k = check_tensor(key, "key", fn, floating=True, ndim=2)
    check_same_shape(q, k, fn, ("query", "key"))
    if q.shape[1] == 0:
        raise InputError(f"{fn}: expected query with a feature dimension > 0, got {shape_str(q)}")
    return q, k


# ----------------------------------------------------------------------- global statistics
class Stats:
    """Sums over the (global) batch: ``sum(x)`` reduced over processes with autograd when
    ``gather`` is not ``"none"``, and the global number of samples ``count``."""

    def __init__(self, reference: Tensor, gather: str) -> None:
        self.reduce = gather != "none" and vdist.is_distributed()
        n = reference.new_tensor(float(reference.shape[0]))
        self.count = vdist.all_reduce_sum(n) if self.reduce else n

    def sum(self, x: Tensor) -> Tensor:
        """``x`` summed over dim 0 and over processes."""
        s = x.sum(0)
        return all_reduce_sum_with_grad(s) if self.reduce else s

    def mean(self, x: Tensor) -> Tensor:
        return div(self.sum(x), self.count)

    def centered(self, x: Tensor) -> Tensor:
        """``x`` minus the global mean of its columns."""
        return x - self.mean(x)

    def second_moment(self, a: Tensor, b: Tensor, unbiased: bool) -> Tensor:
        """``sum_n a_n^T b_n`` over the global batch, divided by ``N`` (or ``N - 1``; 0 for a
        batch of one sample)."""
        s = a.transpose(0, 1) @ b
        s = all_reduce_sum_with_grad(s) if self.reduce else s
        return div(s, self.count - 1.0 if unbiased else self.count)

    def variance(self, centered: Tensor, unbiased: bool) -> Tensor:
        """Per-column variance of globally centred ``centered``."""
        s = self.sum(centered.square())
        return div(s, self.count - 1.0 if unbiased else self.count)


def off_diagonal_squares(c: Tensor) -> Tensor:
    """``sum_{k != j} c_jk^2`` per row ``j`` of a square matrix."""
    sq = c.square()
    return sq.sum(1) - sq.diagonal()
