"""Poly-1 loss (PolyLoss, Leng et al. 2022): softmax and sigmoid forms."""

from __future__ import annotations

from typing import Annotated, Any

import torch
from torch import Tensor

from .._core.declare import loss_function
from .._core.numerics import focal_factor
from .._core.options import NonNegative, Number
from .._core.registry import register_loss
from ._common import (
    CLASSIFICATION_DOCS,
    binary_examples,
    binary_loss,
    binary_options,
    binary_terms,
    index_examples,
    index_options,
    softmax_loss,
)
from ._dense import DENSE_DOCS

# Poly-1's epsilon may be negative (the paper's ImageNet setting is +2, detection uses -1),
# but 1 + epsilon (the gradient's leading coefficient) must stay >= 0: epsilon >= -1
Epsilon = Annotated[float, Number(-1)]


def _poly_terms(
    log_p: Tensor, target: Tensor, index: bool, *, fn: str, epsilon: float
) -> tuple[Tensor, None]:
    if index:
        log_pt = log_p.gather(1, target.unsqueeze(1)).squeeze(1)
        return -log_pt - epsilon * torch.expm1(log_pt), None
    ce = -(target * log_p).sum(1)
    pt = (target * log_p.exp()).sum(1)
    return ce + epsilon * (1 - pt), None


@loss_function(CLASSIFICATION_DOCS, options=index_options)
def poly_loss(input: Tensor, target: Tensor, *, epsilon: Epsilon = 1.0, **options: Any) -> Tensor:
    r"""Poly-1 loss: cross entropy plus :math:`\epsilon` times the first term of its Taylor
    expansion in :math:`1 - p_t`.

    .. math::
        \ell_i = -\log p_{i,t} + \epsilon\,(1 - p_{i,t}),
        \qquad p_i = \operatorname{softmax}(x_i)

    With probability targets :math:`q`, :math:`-\sum_c q_c \log p_c + \epsilon(1 - \sum_c q_c
    p_c)` (the paper's code with label smoothing: :math:`p_t` is the smoothed target's dot
    product with the probabilities). ``epsilon=0`` is :func:`cross_entropy_loss`. For a class
    index, :math:`1 - p_t` is computed as ``-expm1(log p_t)`` (no cancellation near 1).

    Degenerate cases: {{ignored}}. {{saturated}}

    Args:
        epsilon: coefficient of :math:`1 - p_t`, ``>= -1`` (default 1; the paper uses 2 on
            ImageNet and -1 for detection).

    Shape:
        ``input``: ``(N, C, *)``; ``target``: ``(N, *)`` or ``(N, C, *)``; output: scalar, or
        ``(N, *)`` for ``"none"``.

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Leng et al., *PolyLoss: A Polynomial Expansion Perspective of Classification Loss
        Functions*, ICLR 2022, arXiv:2204.12511, Eq. (2).

    Example:
        >>> import torch
        >>> x = torch.tensor([[2.0, 0.0, -1.0]])
        >>> poly_loss(x, torch.tensor([0]))
        tensor(0.3261)
    """
    return softmax_loss(input, target, _poly_terms, fn="poly_loss", epsilon=epsilon, **options)


PolyLoss = register_loss(
    "poly",
    family="classification",
    function=poly_loss,
    module="PolyLoss",
    aliases=("poly1",),
    formula="-log p_t + epsilon (1 - p_t), p = softmax(x)",
    reference="Leng et al., PolyLoss, ICLR 2022, arXiv:2204.12511",
    examples=index_examples,
).module


def _sigmoid_poly_terms(x: Tensor, y: Tensor, *, fn: str, epsilon: float, gamma: float) -> Tensor:
    pos, neg = binary_terms(x, from_logits=True)  # -log p, -log(1 - p)
    # 1 - p_t = y (1 - p) + (1 - y) p, with 1 - p = sigmoid(-x) (no cancellation)
    one_minus_pt = y * torch.sigmoid(-x) + (1 - y) * torch.sigmoid(x)
    if gamma == 0:
        return y * pos + (1 - y) * neg + epsilon * one_minus_pt
    focal = y * focal_factor(-pos, gamma) * pos + (1 - y) * focal_factor(-neg, gamma) * neg
    log_one_minus_pt = torch.log(one_minus_pt.clamp_min(torch.finfo(x.dtype).tiny))
    return focal + epsilon * torch.exp((gamma + 1) * log_one_minus_pt)


@loss_function(DENSE_DOCS, options=binary_options)
def sigmoid_poly_loss(
    input: Tensor,
    target: Tensor,
    *,
    epsilon: Epsilon = 1.0,
    gamma: NonNegative = 0.0,
    **options: Any,
) -> Tensor:
    r"""Poly-1 loss, sigmoid form: binary cross entropy (or the focal loss) plus
    :math:`\epsilon` times the next term of its expansion in :math:`1 - p_t`.

    .. math::
        \ell_i = \mathrm{FL}_\gamma(x_i, y_i) + \epsilon\,(1 - p_{i,t})^{\gamma + 1},
        \qquad p_t = y\,\sigma(x) + (1 - y)(1 - \sigma(x))

    with :math:`\mathrm{FL}_\gamma = -y (1-p)^\gamma \log p - (1-y) p^\gamma \log(1-p)`
    (no :math:`\alpha`); ``gamma=0`` is BCE + :math:`\epsilon(1 - p_t)` (the paper's Poly-1
    for multi-label classification), ``gamma > 0`` its Poly-1 focal loss (RetinaNet).
    ``epsilon=0, gamma=0`` is :func:`binary_cross_entropy_loss`.

    Degenerate cases: an empty input gives 0 for ``"mean"`` and ``"sum"``, attached to the
    graph. {{saturated}}

    Args:
        target: the same shape, floating point, values in [0, 1].
        epsilon: coefficient of :math:`(1 - p_t)^{\gamma+1}`, ``>= -1`` (default 1).
        gamma: focusing parameter ``>= 0`` (default 0: BCE).

    Shape:
        ``input``, ``target``: ``(*)``; output: scalar, or ``(*)`` for ``"none"``.

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Leng et al., *PolyLoss*, ICLR 2022, arXiv:2204.12511, Eq. (2) and Sec. 5 (Poly-1
        focal loss).

    Example:
        >>> import torch
        >>> sigmoid_poly_loss(torch.tensor([2.0, -1.0]), torch.tensor([1.0, 1.0]),
        ...                   reduction="none")
        tensor([0.2461, 2.0443])
    """
    return binary_loss(
        input,
        target,
        _sigmoid_poly_terms,
        fn="sigmoid_poly_loss",
        epsilon=epsilon,
        gamma=gamma,
        **options,
    )


SigmoidPolyLoss = register_loss(
    "sigmoid_poly",
    family="classification",
    function=sigmoid_poly_loss,
    module="SigmoidPolyLoss",
    formula="FL_gamma(x, y) + epsilon (1 - p_t)^(gamma + 1), p = sigmoid(x)",
    reference="Leng et al., PolyLoss, ICLR 2022, arXiv:2204.12511",
    examples=binary_examples,
).module
