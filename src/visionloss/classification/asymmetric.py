"""Asymmetric loss (ASL, Ridnik et al. 2021): multi-label (sigmoid) and single-label (softmax)
forms."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .._core import numerics
from .._core.declare import DocParts, loss_function
from .._core.numerics import focal_factor
from .._core.options import Bool, Fraction, NonNegative
from .._core.registry import register_loss
from ..errors import InputError
from ._common import (
    CLASSIFICATION_DOCS,
    binary_loss,
    binary_options,
    index_examples,
    index_options,
    smoothing_options,
    softmax_loss,
)
from ._dense import DENSE_DOCS, multilabel_examples


def _power(base: Tensor, gamma: float) -> Tensor:
    """``base ** gamma`` for ``base`` in [0, 1]: torch's pow where its gradient is finite at 0
    (``gamma == 0`` or ``>= 1``), the guarded one otherwise."""
    if gamma == 0:
        return torch.ones_like(base)
    if gamma == 1:
        return base
    return base.pow(gamma) if gamma >= 1 else numerics.pow(base, gamma)


def _asl_terms(
    x: Tensor,
    y: Tensor,
    *,
    fn: str,
    gamma_pos: float,
    gamma_neg: float,
    clip: float,
    detach_focusing: bool,
) -> Tensor:
    log_p = F.logsigmoid(x)
    q = torch.sigmoid(-x)  # 1 - p, without cancellation
    # (1 - p)^gamma+ as exp(gamma+ log(1 - p)), log(1 - p) = log p - x
    pos_w = torch.exp(gamma_pos * (log_p - x)) if gamma_pos not in (0, 1) else _power(q, gamma_pos)
    if clip > 0:
        # shifted probability p_m = max(p - m, 0): 1 - p_m = min(1 - p + m, 1) >= m, so its
        # log is well conditioned; a negative with p <= m costs 0 with a zero gradient
        log_neg = torch.log((q + clip).clamp(max=1))
        neg_w = _power((1 - q - clip).clamp(min=0), gamma_neg)
    else:
        log_neg = log_p - x
        neg_w = (
            torch.exp(gamma_neg * log_p) if gamma_neg not in (0, 1) else _power(1 - q, gamma_neg)
        )
    if detach_focusing:
        pos_w, neg_w = pos_w.detach(), neg_w.detach()
    return -(y * pos_w * log_p + (1 - y) * neg_w * log_neg)


ASL_DOCS = DocParts(
    args={
        "gamma_pos": """focusing exponent ``>= 0`` of the positives (the target class):
            default 1, the authors' code; the paper's COCO setting is 0.""",
        "gamma_neg": """focusing exponent ``>= 0`` of the negatives (the other classes),
            default 4.""",
        "detach_focusing": """no gradient through the focusing weights (default False; the
            authors' ``disable_torch_grad_focal_loss``).""",
    }
)


def asl_options(
    *,
    gamma_pos: NonNegative = 1.0,
    gamma_neg: NonNegative = 4.0,
    detach_focusing: Bool = False,
) -> None:
    """The focusing options of the two ASL forms."""


@loss_function(DENSE_DOCS | ASL_DOCS, options=(asl_options, binary_options))
def asymmetric_loss(
    input: Tensor, target: Tensor, *, clip: Fraction = 0.05, **options: Any
) -> Tensor:
    r"""Asymmetric loss for multi-label classification (ASL): focal factors of different
    strength for positives and negatives, and a probability margin that discards easy
    negatives.

    .. math::
        \ell = -y\,(1 - p)^{\gamma_+} \log p - (1 - y)\, p_m^{\gamma_-} \log(1 - p_m),
        \qquad p = \sigma(x),\; p_m = \max(p - m, 0)

    ``clip`` is the margin :math:`m`; :math:`\log(1 - p_m) = \min(\log(\sigma(-x) + m), 0)`
    is computed in log space (exact where :math:`p \to 1`), and a negative with
    :math:`p \le m` costs 0 with a zero gradient. ``detach_focusing=True`` treats the
    focusing weights as constants.

    timm's ``AsymmetricLossMultiLabel(gamma_neg, gamma_pos, clip)`` (the authors' code)
    returns the sum (``reduction="sum"`` here) and clamps the probabilities at ``1e-8`` before
    the logs; the values agree for logits within about ``+-18``.

    Degenerate cases: an empty input gives 0 for ``"mean"`` and ``"sum"``, attached to the
    graph; an image without positive labels is the loss of its negatives. {{saturated}}

    Args:
        target: the same shape, floating point, values in [0, 1] (multi-hot labels).
        clip: probability margin :math:`m` in [0, 1] of the negatives (default 0.05; 0: off).

    Shape:
        ``input``, ``target``: ``(*)``, e.g. ``(N, C)``; output: scalar, or ``(*)`` for
        ``"none"``.

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Ridnik et al., *Asymmetric Loss For Multi-Label Classification*, ICCV 2021,
        arXiv:2009.14119, Eqs. (4)-(7).

    Example:
        >>> import torch
        >>> x = torch.tensor([[3.0, -3.0, -4.0]])
        >>> y = torch.tensor([[1.0, 1.0, 0.0]])
        >>> asymmetric_loss(x, y, reduction="none")  # the easy negative costs 0
        tensor([[2.3043e-03, 2.9040e+00, 0.0000e+00]])
    """
    return binary_loss(
        input,
        target.detach() if isinstance(target, Tensor) else target,
        _asl_terms,
        fn="asymmetric_loss",
        clip=clip,
        **options,
    )


AsymmetricLoss = register_loss(
    "asymmetric",
    family="classification",
    function=asymmetric_loss,
    module="AsymmetricLoss",
    aliases=("asl",),
    formula="-y (1-p)^g+ log p - (1-y) p_m^g- log(1-p_m), p_m = max(p - m, 0)",
    reference="Ridnik et al., Asymmetric Loss For Multi-Label Classification, ICCV 2021, "
    "arXiv:2009.14119",
    examples=multilabel_examples,
).module


def _softmax_asl_terms(
    log_p: Tensor,
    target: Tensor,
    index: bool,
    *,
    fn: str,
    gamma_pos: float,
    gamma_neg: float,
    detach_focusing: bool,
    label_smoothing: float,
) -> tuple[Tensor, None]:
    if not index:
        raise InputError(
            f"{fn}: expected target of integer class indices of shape (N, *), got "
            f"probabilities of shape {tuple(target.shape)}"
        )
    onehot = torch.zeros_like(log_p).scatter_(1, target.unsqueeze(1), 1.0)
    # (1 - p_c)^gamma+ at the target class, p_c^gamma- elsewhere
    pos_w = focal_factor(log_p, gamma_pos)
    neg_w = torch.exp(gamma_neg * log_p) if gamma_neg != 0 else torch.ones_like(log_p)
    w = torch.where(onehot > 0, pos_w, neg_w)
    if detach_focusing:
        w = w.detach()
    q = onehot
    if label_smoothing:
        q = (1 - label_smoothing) * onehot + label_smoothing / log_p.shape[1]
    return -(q * w * log_p).sum(1), None


@loss_function(
    CLASSIFICATION_DOCS | ASL_DOCS, options=(asl_options, smoothing_options, index_options)
)
def softmax_asymmetric_loss(input: Tensor, target: Tensor, **options: Any) -> Tensor:
    r"""Asymmetric loss, single-label (softmax) form: every class is a one-vs-rest term with
    the asymmetric focusing of :func:`asymmetric_loss` (without the margin).

    .. math::
        \ell_i = -\sum_c \tilde q_{ic}\, w_{ic} \log p_{ic},\qquad
        w_{ic} = \begin{cases} (1 - p_{ic})^{\gamma_+} & c = y_i \\ p_{ic}^{\gamma_-} & c \ne
        y_i \end{cases},\quad p_i = \operatorname{softmax}(x_i)

    :math:`\tilde q` is the one-hot target smoothed by ``label_smoothing``; the weights use
    the one-hot target. Equals timm's ``AsymmetricLossSingleLabel(gamma_pos, gamma_neg,
    eps)`` with ``label_smoothing=eps`` (timm's default 0.1) and ``reduction="mean"``.

    Degenerate cases: {{ignored}}. {{saturated}}

    Args:
        target: class indices of shape ``(N, *)`` (an integer dtype, values in ``[0, C)`` or
            ``ignore_index``).

    Shape:
        ``input``: ``(N, C, *)``; ``target``: ``(N, *)``; output: scalar, or ``(N, *)`` for
        ``"none"``.

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Ridnik et al., *Asymmetric Loss For Multi-Label Classification*, ICCV 2021,
        arXiv:2009.14119 (the authors' single-label form, ``AsymmetricLossSingleLabel``).

    Example:
        >>> import torch
        >>> softmax_asymmetric_loss(torch.tensor([[2.0, 0.0, -1.0]]), torch.tensor([0]))
        tensor(0.0265)
    """
    return softmax_loss(input, target, _softmax_asl_terms, fn="softmax_asymmetric_loss", **options)


SoftmaxAsymmetricLoss = register_loss(
    "softmax_asymmetric",
    family="classification",
    function=softmax_asymmetric_loss,
    module="SoftmaxAsymmetricLoss",
    formula="-sum_c q_c w_c log p_c, w = (1-p)^g+ (target), p^g- (others)",
    reference="Ridnik et al., Asymmetric Loss For Multi-Label Classification, ICCV 2021, "
    "arXiv:2009.14119",
    examples=index_examples,
).module
