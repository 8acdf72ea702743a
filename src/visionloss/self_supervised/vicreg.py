"""VICReg: variance, invariance and covariance regularisation of two views."""

from __future__ import annotations

from typing import Annotated

import torch
from torch import Tensor

from .._core.declare import loss_function
from .._core.dtypes import compute_dtype, upcast
from .._core.numerics import sqrt
from .._core.options import NonNegative, Number, Reduction
from .._core.reduction import reduce_loss
from .._core.registry import register_loss
from ._common import SSL_DOCS, BatchGather, Stats, check_views, off_diagonal_squares, pair_examples

Coefficient = Annotated[float, Number(0)]
Margin = Annotated[float, Number(0, lo_open=True)]


@loss_function(SSL_DOCS)
def vicreg_loss(
    query: Tensor,
    key: Tensor,
    *,
    invariance_weight: Coefficient = 25.0,
    variance_weight: Coefficient = 25.0,
    covariance_weight: Coefficient = 1.0,
    gamma: Margin = 1.0,
    eps: NonNegative = 1e-4,
    gather: BatchGather = "none",
    reduction: Reduction = "mean",
) -> Tensor:
    r"""VICReg: invariance between two views, and a variance and a covariance term on each
    view that keep the embeddings from collapsing.

    .. math::
        \mathcal{L} = \lambda\, s(Z, Z') + \mu\, \tfrac12 \big(v(Z) + v(Z')\big)
                      + \nu\, \big(c(Z) + c(Z')\big)

    with :math:`s = \frac{1}{ND} \sum_n \lVert z_n - z'_n \rVert^2`, :math:`v(Z) = \frac1D
    \sum_j \max(0, \gamma - \sqrt{\mathrm{Var}(z_{\cdot j}) + \epsilon})` and :math:`c(Z) =
    \frac1D \sum_{j \ne k} \mathrm{Cov}(Z)_{jk}^2` (unbiased variance and covariance). The
    factor ``1/2`` of the variance term is the authors' code (and lightly's and
    pytorch-metric-learning's ``VICRegLoss``); the paper's Eq. (6) writes ``v(Z) + v(Z')``:
    set ``variance_weight`` to twice the paper's ``mu`` for that form. Every term is a mean
    over the ``D`` feature dimensions, so the loss is the mean of per-dimension terms
    ``t_j``: the default ``reduction="mean"`` is the paper's loss.

    {{feature_terms}}

    Degenerate inputs: a batch of one sample has variance and covariance 0 (the unbiased
    estimate's ``N - 1 = 0`` gives 0), collapsed embeddings have standard deviation
    ``sqrt(eps)``: the value and the gradients are finite.

    Args:
        invariance_weight: ``lambda >= 0`` (default 25).
        variance_weight: ``mu >= 0`` (default 25).
        covariance_weight: ``nu >= 0`` (default 1).
        gamma: the target standard deviation, ``> 0`` (default 1).
        eps: added to the variance before the square root (default ``1e-4``).

    Shape:
        output: scalar, or ``(D,)`` per feature dimension for ``"none"``.

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Bardes, Ponce and LeCun, *VICReg: Variance-Invariance-Covariance Regularization for
        Self-Supervised Learning*, ICLR 2022, arXiv:2105.04906 (Eq. 1-6, Algorithm 1).

    Example:
        >>> import torch
        >>> z = torch.tensor([[2.0, 0.0], [0.0, 2.0]])  # std sqrt(2) > 1, Cov off-diag -2
        >>> vicreg_loss(z, z, eps=0.0)  # covariance only: each dim (-2)^2 per view
        tensor(8.)
    """
    fn = "vicreg_loss"
    check_views(query, key, fn)
    dtype = compute_dtype(query, key)
    z1, z2 = upcast(query, dtype), upcast(key, dtype)
    stats = Stats(z1, gather)
    invariance = stats.mean((z1 - z2).square())
    variance = torch.zeros_like(invariance)
    covariance = torch.zeros_like(invariance)
    for z in (z1, z2):
        c = stats.centered(z)
        std = sqrt(stats.variance(c, unbiased=True) + eps)
        variance = variance + 0.5 * torch.relu(gamma - std)
        covariance = covariance + off_diagonal_squares(stats.second_moment(c, c, unbiased=True))
    terms = (
        invariance_weight * invariance + variance_weight * variance + covariance_weight * covariance
    )
    return reduce_loss(terms, reduction, fn=fn)


VICRegLoss = register_loss(
    "vicreg",
    family="self_supervised",
    function=vicreg_loss,
    module="VICRegLoss",
    formula="lambda s(Z,Z') + mu (v(Z) + v(Z'))/2 + nu (c(Z) + c(Z'))",
    reference="Bardes et al., VICReg, ICLR 2022, arXiv:2105.04906",
    examples=pair_examples,
).module
