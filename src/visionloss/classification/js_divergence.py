"""Jensen-Shannon divergence between two categorical distributions given as logits."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from .._core.declare import loss_function
from .._core.registry import register_loss
from ._common import (
    DIVERGENCE_DOCS,
    DivergenceModule,
    divergence_loss,
    divergence_options,
    kl_terms,
    pair_examples,
)


def _js_terms(log_q: Tensor, log_p: Tensor) -> tuple[Tensor, None]:
    """JS(p, q) per distribution; never infinite (``m >= p / 2`` and ``m >= q / 2``)."""
    neg_inf = float("-inf")
    both_zero = (log_p == neg_inf) & (log_q == neg_inf)
    zero = log_p.new_zeros(())
    log_m = torch.logaddexp(
        torch.where(both_zero, zero, log_p), torch.where(both_zero, zero, log_q)
    ) - math.log(2.0)
    return 0.5 * (kl_terms(log_p, log_m)[0] + kl_terms(log_q, log_m)[0]), None


@loss_function(DIVERGENCE_DOCS, options=divergence_options)
def js_divergence_loss(input: Tensor, target: Tensor, **options: Any) -> Tensor:
    r"""Jensen-Shannon divergence between the categorical distributions of two logit tensors.

    .. math::
        \mathrm{JS}(p, q) = \tfrac12 \mathrm{KL}(p \,\|\, m) + \tfrac12 \mathrm{KL}(q \,\|\, m),
        \qquad m = \tfrac12 (p + q)

    with :math:`q = \operatorname{softmax}(x / T)`, :math:`p = \operatorname{softmax}(t / T)`
    over dim 1 and the result multiplied by :math:`T^2` (as :func:`kl_divergence_loss`).
    Symmetric, bounded by :math:`\log 2` (natural log) per distribution at ``T = 1``, and finite
    when the supports differ. :math:`\log m` is computed as ``logaddexp(log p, log q) - log 2``.

    {{empty}} Probability 0 may be on both sides at once. Disjoint supports (and saturated logits, e.g.
    ``+-1e4``, that pick different classes) give the maximum :math:`T^2 \log 2` with a zero
    gradient: the divergence is flat there. {{support}}

    Shape:
        {{shape}}

    Returns:
        the divergence in nats, in ``[0, T^2 log 2]``; float32 for fp16/bf16 inputs.

    Reference:
        Lin, *Divergence Measures Based on the Shannon Entropy*, IEEE Trans. Inf. Theory 37(1),
        1991.

    Example:
        >>> import torch
        >>> a = torch.tensor([[0.0, float("-inf")]])   # log-probabilities of [1, 0]
        >>> b = torch.tensor([[float("-inf"), 0.0]])   # [0, 1]: disjoint supports
        >>> js_divergence_loss(a, b)                     # log 2, where KL would be infinite
        tensor(0.6931)
    """
    return divergence_loss(input, target, _js_terms, fn="js_divergence_loss", **options)


JSDivergenceLoss = register_loss(
    "js_divergence",
    family="classification",
    function=js_divergence_loss,
    module="JSDivergenceLoss",
    base=DivergenceModule,
    aliases=("js",),
    formula="T^2 [KL(p || m) + KL(q || m)] / 2, m = (p + q) / 2",
    reference="Lin, IEEE Trans. Inf. Theory 1991",
    examples=pair_examples,
).module
