"""Varifocal loss (VarifocalNet, Zhang et al. 2021)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .._core.declare import loss_function
from .._core.options import Bool, Fraction, NonNegative
from .._core.registry import register_loss
from ._common import FocalModule, Normalizer, binary_loss, binary_options, binary_terms
from ._dense import DENSE_DOCS, score_examples


def _vfl_terms(
    x: Tensor, y: Tensor, *, fn: str, alpha: float, gamma: float, iou_weighted: bool
) -> Tensor:
    pos, neg = binary_terms(x, from_logits=True)  # -log p, -log(1 - p)
    bce = y * pos + (1 - y) * neg
    positive = y > 0
    # negatives: alpha |p - 0|^gamma = alpha p^gamma, in log space
    neg_scale = alpha * torch.exp(gamma * -pos) if gamma != 0 else torch.full_like(x, alpha)
    pos_scale = y if iou_weighted else torch.ones_like(y)
    return torch.where(positive, pos_scale, neg_scale) * bce


@loss_function(DENSE_DOCS, options=binary_options)
def varifocal_loss(
    input: Tensor,
    target: Tensor,
    *,
    alpha: Fraction = 0.75,
    gamma: NonNegative = 2.0,
    iou_weighted: Bool = True,
    normalizer: Normalizer = None,
    **options: Any,
) -> Tensor:
    r"""Varifocal loss: an asymmetric focal loss against an IoU-aware classification score;
    the negatives are down-weighted by :math:`\alpha p^\gamma`, the positives weighted by
    their target.

    .. math::
        \ell_i = \begin{cases}
            -q_i\,\big[q_i \log p_i + (1 - q_i) \log(1 - p_i)\big] & q_i > 0 \\
            -\alpha\, p_i^\gamma \log(1 - p_i) & q_i = 0
        \end{cases},\qquad p_i = \sigma(x_i)

    :math:`q` is the IoU of the predicted box with its ground truth at the ground-truth class,
    0 elsewhere. ``iou_weighted=False`` weights the positives by 1 instead of :math:`q`
    (mmdetection's option). Same values and gradients as mmdetection's ``varifocal_loss``
    (with ``reduction="sum"`` or ``normalizer=`` its ``avg_factor``) and as ultralytics'
    ``VarifocalLoss`` (whose reduction is a mean over dim 1 then a sum). The modulating
    factor :math:`p^\gamma` is computed in log space, and is not detached (as in both peers).

    Degenerate cases: an empty input gives 0 for ``"mean"`` and ``"sum"``, attached to the
    graph; no positive gives the down-weighted loss of the negatives alone.
    {{saturated}}

    Args:
        alpha: weight in [0, 1] of the negatives (default 0.75, the paper's).
        gamma: exponent ``>= 0`` of the negatives' factor :math:`p^\gamma` (default 2).
        iou_weighted: weight the positives by their target :math:`q` (default True).

    Shape:
        ``input``, ``target``: ``(*)``; output: scalar, or ``(*)`` for ``"none"``.

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Zhang et al., *VarifocalNet: An IoU-aware Dense Object Detector*, CVPR 2021,
        arXiv:2008.13367, Eq. (2).

    Example:
        >>> import torch
        >>> x = torch.tensor([[2.0, -1.0], [0.0, -3.0]])
        >>> q = torch.tensor([[0.8, 0.0], [0.0, 0.0]])
        >>> varifocal_loss(x, q, reduction="none")
        tensor([[4.2154e-01, 1.6994e-02],
                [1.2997e-01, 8.1962e-05]])
    """
    return binary_loss(
        input,
        target.detach() if isinstance(target, Tensor) else target,
        _vfl_terms,
        fn="varifocal_loss",
        alpha=alpha,
        gamma=gamma,
        iou_weighted=iou_weighted,
        normalizer=normalizer,
        **options,
    )


VarifocalLoss = register_loss(
    "varifocal",
    family="classification",
    function=varifocal_loss,
    module="VarifocalLoss",
    base=FocalModule,
    aliases=("vfl",),
    formula="q > 0: q BCE(x, q); q = 0: alpha p^gamma BCE(x, 0)",
    reference="Zhang et al., VarifocalNet, CVPR 2021, arXiv:2008.13367",
    examples=score_examples,
).module
