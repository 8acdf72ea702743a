"""Softmax (multiclass) focal loss."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .._core.declare import loss_function
from .._core.numerics import focal_factor
from .._core.registry import register_loss
from ._common import (
    CLASSIFICATION_DOCS,
    Alpha,
    class_vector,
    focal_options,
    index_examples,
    index_options,
    softmax_loss,
)


def _softmax_focal_terms(
    log_p: Tensor,
    target: Tensor,
    index: bool,
    *,
    fn: str,
    alpha: float | Tensor | None,
    gamma: float,
) -> tuple[Tensor, None]:
    """``(loss, None)`` of :func:`softmax_loss` for the focal loss (the mean counts
    locations: ``alpha`` is a weight, not a normaliser)."""
    a = class_vector(alpha, log_p, "alpha", fn, log_p.dtype)
    if index:
        log_pt = log_p.gather(1, target.unsqueeze(1))
        loss = -log_pt
        if gamma != 0:
            loss = focal_factor(log_pt, gamma) * loss
        if a is not None:
            a_t = (
                a if not isinstance(a, Tensor) or a.dim() == 0 else a.flatten()[target].unsqueeze(1)
            )
            loss = a_t * loss
        return loss.squeeze(1), None
    terms = -target * log_p
    if gamma != 0:
        terms = focal_factor(log_p, gamma) * terms
    if a is not None:
        terms = a * terms
    return terms.sum(1), None


@loss_function(CLASSIFICATION_DOCS, options=(focal_options, index_options))
def softmax_focal_loss(
    input: Tensor, target: Tensor, *, alpha: Alpha = None, **options: Any
) -> Tensor:
    r"""Multiclass focal loss on softmax(input) over dim 1.

    .. math::
        \ell_i = -m_i \sum_c \alpha_c\, q_{ic}\, (1 - p_{ic})^\gamma \log p_{ic},
        \qquad p_i = \operatorname{softmax}(x_i)

    For a class index :math:`y_i` (one-hot :math:`q_i`) this is
    :math:`-\alpha_{y_i} (1 - p_{i y_i})^\gamma \log p_{i y_i}`. :math:`(1 - p)^\gamma` is
    computed as :math:`\exp(\gamma \log(1 - e^{\log p}))` with an accurate ``log1mexp``, so a
    confident prediction (:math:`p \to 1`) gives a factor of 0 with a finite gradient. The mean
    divides by the number of valid locations (``alpha`` is a weight, not a normaliser), so
    ``gamma=0, alpha=None`` equals :func:`cross_entropy_loss` exactly, values and gradients.

    Peers: MONAI's ``FocalLoss(use_softmax=True)`` returns an ``(N, C, *)`` map and its mean
    divides by ``C`` times the locations (ours = MONAI's mean times ``C``); its scalar
    ``alpha`` means ``[1 - alpha, alpha, ..., alpha]`` (background first), as in kornia's
    ``focal_loss``, whose mean also divides by ``C`` times the locations (ignored ones included).
    Here a scalar ``alpha`` scales every class alike.

    Degenerate cases: {{ignored}}; an all-zero ``weight_map`` gives 0. A probability target
    that is all zero at a location gives 0 there, and the location still counts in the mean. A
    certain correct prediction (e.g. logits ``+-1e4``) gives 0 with a finite, zero gradient; a
    certain wrong one costs about the logit gap (the modulating factor is 1). Logits must be
    finite.

    Args:
        alpha: None (default), a number (every class), or per-class weights of shape ``(C,)``
            (a tensor or a sequence of numbers).
        reduction: ``"mean"`` (over valid locations), ``"sum"`` or ``"none"``.

    Shape:
        ``input``: ``(N, C, *)``; output: scalar, or ``(N, *)`` for ``"none"``.

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Lin et al., *Focal Loss for Dense Object Detection*, ICCV 2017, arXiv:1708.02002,
        Eq. (5) applied to the softmax probability of the target class.

    Example:
        >>> import torch
        >>> x = torch.tensor([[4.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
        >>> y = torch.tensor([0, 1])
        >>> softmax_focal_loss(x, y, gamma=2.0, reduction="none")
        tensor([4.4924e-05, 4.8827e-01])
        >>> from visionloss import cross_entropy_loss
        >>> torch.equal(softmax_focal_loss(x, y, gamma=0.0), cross_entropy_loss(x, y))
        True
    """
    return softmax_loss(
        input, target, _softmax_focal_terms, fn="softmax_focal_loss", alpha=alpha, **options
    )


SoftmaxFocalLoss = register_loss(
    "softmax_focal",
    family="classification",
    function=softmax_focal_loss,
    module="SoftmaxFocalLoss",
    formula="-alpha_y (1 - p_y)^gamma log p_y, p = softmax(x)",
    reference="Lin et al., Focal Loss for Dense Object Detection, ICCV 2017, arXiv:1708.02002",
    examples=index_examples,
).module
