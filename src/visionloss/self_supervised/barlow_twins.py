"""Barlow Twins: the cross-correlation of two views driven to the identity."""

from __future__ import annotations

from typing import Annotated

from torch import Tensor

from .._core.declare import loss_function
from .._core.dtypes import compute_dtype, upcast
from .._core.numerics import div, sqrt
from .._core.options import NonNegative, Number, Reduction
from .._core.reduction import reduce_loss
from .._core.registry import register_loss
from ._common import SSL_DOCS, BatchGather, Stats, check_views, off_diagonal_squares, pair_examples

Lambda = Annotated[float, Number(0)]


@loss_function(SSL_DOCS)
def barlow_twins_loss(
    query: Tensor,
    key: Tensor,
    *,
    off_diagonal_weight: Lambda = 5e-3,
    eps: NonNegative = 1e-5,
    gather: BatchGather = "none",
    reduction: Reduction = "sum",
) -> Tensor:
    r"""Barlow Twins: the cross-correlation of two views' standardised embeddings is driven to
    the identity matrix.

    .. math::
        C_{jk} = \frac1N \sum_n \hat z^A_{n,j} \hat z^B_{n,k}, \qquad
        t_j = (1 - C_{jj})^2 + \lambda \sum_{k \ne j} C_{jk}^2, \qquad
        \mathcal{L} = \sum_j t_j

    with each column standardised over the batch, :math:`\hat z = (z - \mu) /
    \sqrt{\sigma^2 + \epsilon}` (biased variance: the paper's code applies
    ``BatchNorm1d(affine=False)``, ``eps = 1e-5``, as lightly's ``BarlowTwinsLoss`` does).
    The default ``reduction="sum"`` is the paper's loss.

    {{feature_terms}}

    Degenerate inputs: a constant column (zero variance, a batch of one sample, collapsed
    embeddings) standardises to zeros, so its diagonal term is 1 with finite gradients (also
    with ``eps=0``).

    Args:
        off_diagonal_weight: ``lambda >= 0``, the weight of the redundancy-reduction terms
            (default ``5e-3``, the paper's value).
        eps: added to the variance before the square root (default ``1e-5``, BatchNorm's).

    Shape:
        output: scalar, or ``(D,)`` per feature dimension for ``"none"``.

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Zbontar, Jing, Misra, LeCun and Deny, *Barlow Twins: Self-Supervised Learning via
        Redundancy Reduction*, ICML 2021, arXiv:2103.03230 (Eq. 1-2).

    Example:
        >>> import torch
        >>> z = torch.tensor([[1.0, 1.0], [-1.0, -1.0]])  # two perfectly correlated dims
        >>> barlow_twins_loss(z, z, eps=0.0, off_diagonal_weight=1.0)  # C = all ones
        tensor(2.)
    """
    fn = "barlow_twins_loss"
    check_views(query, key, fn)
    dtype = compute_dtype(query, key)
    stats = Stats(query, gather)
    standard = []
    for z in (upcast(query, dtype), upcast(key, dtype)):
        c = stats.centered(z)
        standard.append(div(c, sqrt(stats.variance(c, unbiased=False) + eps)))
    corr = stats.second_moment(standard[0], standard[1], unbiased=False)
    terms = (1.0 - corr.diagonal()).square() + off_diagonal_weight * off_diagonal_squares(corr)
    return reduce_loss(terms, reduction, fn=fn)


BarlowTwinsLoss = register_loss(
    "barlow_twins",
    family="self_supervised",
    function=barlow_twins_loss,
    module="BarlowTwinsLoss",
    formula="sum_j (1 - C_jj)^2 + lambda sum_{j != k} C_jk^2",
    reference="Zbontar et al., Barlow Twins, ICML 2021, arXiv:2103.03230",
    examples=pair_examples,
).module
