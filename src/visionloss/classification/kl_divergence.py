"""Kullback-Leibler divergence between two categorical distributions given as logits."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .._core.declare import loss_function
from .._core.registry import register_loss
from ._common import (
    DIVERGENCE_DOCS,
    Direction,
    DivergenceModule,
    divergence_loss,
    divergence_options,
    kl_terms,
    pair_examples,
)


def _kl_terms(log_q: Tensor, log_p: Tensor, *, direction: str) -> tuple[Tensor, Tensor]:
    """KL(p || q) (``"forward"``) or KL(q || p) per distribution, as ``(finite, infinite)``."""
    return kl_terms(log_p, log_q) if direction == "forward" else kl_terms(log_q, log_p)


@loss_function(DIVERGENCE_DOCS, options=divergence_options)
def kl_divergence_loss(
    input: Tensor, target: Tensor, *, direction: Direction = "forward", **options: Any
) -> Tensor:
    r"""KL divergence between the categorical distributions of two tensors of logits.

    With :math:`q = \operatorname{softmax}(x / T)` from ``input`` (the model, e.g. the student)
    and :math:`p = \operatorname{softmax}(t / T)` from ``target`` (the reference, e.g. the
    teacher), over dim 1:

    .. math::
        \text{forward:}\ T^2\, \mathrm{KL}(p \,\|\, q) = T^2 \sum_c p_c (\log p_c - \log q_c),
        \qquad
        \text{reverse:}\ T^2\, \mathrm{KL}(q \,\|\, p)

    ``direction="forward"`` (default) is the mass-covering KL of distillation (Hinton et al.),
    the quantity ``torch.nn.functional.kl_div(log q, p)`` computes; ``"reverse"`` is the
    mode-seeking one. The arguments keep the library-wide names ``input`` (the prediction, the
    student) and ``target`` (the reference, the teacher) so the loss drops into
    :class:`~visionloss.CombinedLoss` and ``build_loss`` like every other; the direction of the
    divergence is therefore the explicit ``direction`` word, whose error message spells out
    which KL each value means. Both sides may be logits or log-probabilities (``log_softmax`` leaves
    log-probabilities unchanged; ``-inf`` entries, i.e. probability 0, are fine: ``0 log 0 = 0``).
    For probabilities pass ``probs.log()``. Gradients reach both sides; detach the teacher
    yourself.

    **Why** ``F.kl_div(P.log(), Q, log_target=True)`` **(seed 003) is not a KL divergence.**
    ``F.kl_div(input, target)`` expects ``input`` to be log-probabilities of the *second*
    argument of the KL and ``target`` probabilities of the first: it returns
    :math:`\sum Q (\log Q - \log P) = \mathrm{KL}(Q \| P)` for ``F.kl_div(P.log(), Q)``.
    ``log_target=True`` declares that ``target`` already holds *log*-probabilities, so with
    plain probabilities ``Q`` torch computes :math:`\sum_c e^{Q_c} (Q_c - \log P_c)`, which is
    neither :math:`\mathrm{KL}(Q\|P)` nor :math:`\mathrm{KL}(P\|Q)` and is not even 0 when
    ``P == Q``. In addition ``reduction="batchmean"`` divides by ``input.size(0)``, which for
    the seed's 1-D tensors is the number of classes (3), not a batch size. The correct calls
    are ``F.kl_div(P.log(), Q, reduction="sum")`` or ``F.kl_div(P.log(), Q.log(),
    log_target=True, reduction="sum")``, here ``kl_divergence_loss(P.log()[None],
    Q.log()[None])``.

    {{empty}} In :math:`\mathrm{KL}(a \| b)` a class with :math:`a_c = 0`
    contributes 0 (``0 log 0 = 0``) with finite gradients; a class with :math:`b_c = 0 < a_c`
    makes the divergence infinite and the result is ``inf``, with the finite gradient of the
    other classes in both directions (the infinity is a constant); :func:`js_divergence_loss`
    stays finite there. Saturated logits (e.g. ``+-1e4``) give finite values and gradients.
    {{support}}

    Args:
        direction: ``"forward"``: KL(target || input); ``"reverse"``: KL(input || target).

    Shape:
        {{shape}}

    Returns:
        the divergence (>= 0); float32 for fp16/bf16 inputs.

    Reference:
        Kullback & Leibler, *On Information and Sufficiency*, Ann. Math. Statist. 22(1), 1951;
        Hinton et al., *Distilling the Knowledge in a Neural Network*, arXiv:1503.02531.

    Example:
        >>> import torch, torch.nn.functional as F
        >>> P = torch.tensor([0.4, 0.3, 0.3]); Q = torch.tensor([0.3, 0.4, 0.3])
        >>> F.kl_div(P.log(), Q, reduction="batchmean", log_target=True)  # seed 003: not a KL
        tensor(2.0216)
        >>> F.kl_div(P.log(), P, reduction="batchmean", log_target=True)  # not 0 for P == P
        tensor(2.0080)
        >>> kl_divergence_loss(P.log()[None], Q.log()[None])               # KL(Q || P)
        tensor(0.0288)
        >>> kl_divergence_loss(P.log()[None], P.log()[None])
        tensor(0.)
        >>> s, t = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 0.0]])
        >>> kl_divergence_loss(s, t), kl_divergence_loss(s, t, direction="reverse")
        (tensor(0.4338), tensor(0.3278))
    """
    return divergence_loss(
        input, target, _kl_terms, fn="kl_divergence_loss", direction=direction, **options
    )


KLDivergenceLoss = register_loss(
    "kl_divergence",
    family="classification",
    function=kl_divergence_loss,
    module="KLDivergenceLoss",
    base=DivergenceModule,
    aliases=("kl", "kl_div"),
    formula="T^2 sum_c p_c (log p_c - log q_c), p = softmax(target/T), q = softmax(input/T)",
    reference="Kullback & Leibler 1951; distillation: Hinton et al., arXiv:1503.02531",
    examples=pair_examples,
).module
