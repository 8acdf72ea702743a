"""Jensen-Shannon divergence between two categorical distributions given as logits."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .._core.registry import register_loss
from ._common import (
    DivergenceModule,
    check_kl_reduction,
    check_temperature,
    distribution_log_probs,
    kl_terms,
    reduce_divergence,
)


def js_divergence_loss(
    input: Tensor,
    target: Tensor,
    *,
    temperature: float = 1.0,
    reduction: str = "batchmean",
) -> Tensor:
    r"""Jensen-Shannon divergence between the categorical distributions of two logit tensors.

    .. math::
        \mathrm{JS}(p, q) = \tfrac12 \mathrm{KL}(p \,\|\, m) + \tfrac12 \mathrm{KL}(q \,\|\, m),
        \qquad m = \tfrac12 (p + q)

    with :math:`q = \operatorname{softmax}(x / T)`, :math:`p = \operatorname{softmax}(t / T)`
    over dim 1 and the result multiplied by :math:`T^2` (as :func:`kl_divergence_loss`).
    Symmetric, bounded by :math:`\log 2` (natural log) per distribution at ``T = 1``, and finite
    when the supports differ. :math:`\log m` is computed as ``logaddexp(log p, log q) - log 2``.

    Degenerate cases: an empty input (``N = 0`` or an empty ``*``) gives 0 for every
    reduction but ``"none"`` (an empty tensor), attached to the graph. Probability 0 (a
    ``-inf`` entry) is allowed on either side, also on both at once. Disjoint supports (and
    saturated logits, e.g. ``+-1e4``, that pick different classes) give the maximum
    :math:`T^2 \log 2` with a zero gradient: the divergence is flat there. Each distribution
    needs at least one finite entry and none equal to ``+inf``; otherwise the result is
    undefined.

    Args:
        input: logits (or log-probabilities) ``(N, C, *)``.
        target: logits (or log-probabilities) of the same shape.
        temperature: ``T > 0``.
        reduction: ``"batchmean"`` (default), ``"mean"`` (over the ``N * prod(*)``
            distributions), ``"sum"`` or ``"none"``.

    Shape:
        ``input``, ``target``: ``(N, C, *)``; output: scalar, or ``(N, *)`` for ``"none"``.

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
    fn = "js_divergence_loss"
    check_kl_reduction(reduction, fn)
    log_q, log_p = distribution_log_probs(input, target, temperature, fn)
    neg_inf = float("-inf")
    both_zero = (log_p == neg_inf) & (log_q == neg_inf)
    zero = log_p.new_zeros(())
    log_m = torch.logaddexp(
        torch.where(both_zero, zero, log_p), torch.where(both_zero, zero, log_q)
    ) - math.log(2.0)
    values = 0.5 * (kl_terms(log_p, log_m) + kl_terms(log_q, log_m))
    if temperature != 1:
        values = values * float(temperature) ** 2
    return reduce_divergence(values, reduction, fn)


class JSDivergenceLoss(DivergenceModule):
    """Module form of :func:`js_divergence_loss`."""

    function = js_divergence_loss

    def __init__(self, *, temperature: float = 1.0, reduction: str = "batchmean") -> None:
        check_temperature(temperature, "JSDivergenceLoss")
        super().__init__(temperature=temperature, reduction=reduction)


register_loss(
    "js_divergence",
    family="classification",
    function=js_divergence_loss,
    module=JSDivergenceLoss,
    aliases=("js",),
    formula="T^2 [KL(p || m) + KL(q || m)] / 2, m = (p + q) / 2",
    reference="Lin, IEEE Trans. Inf. Theory 1991",
)
