"""Focal Tversky loss."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .._core.declare import loss_function
from .._core.options import Positive
from .._core.registry import register_loss
from ._overlap import OVERLAP_DOCS, TVERSKY_OPTIONS, overlap_examples, overlap_loss, tversky_score


@loss_function(OVERLAP_DOCS, options=TVERSKY_OPTIONS)
def focal_tversky_loss(
    input: Tensor, target: Tensor, *, gamma: Positive = 0.75, **options: Any
) -> Tensor:
    r"""Focal Tversky loss: the Tversky loss of each (image, class) raised to ``gamma``.

    The powers are averaged over the pairs with the class weights.

    .. math::
        \ell_{bc} = \left(1 - TI_{bc}\right)^{\gamma}, \quad
        TI = \frac{TP + s_{nr}}{TP + \alpha\, FP + \beta\, FN + s_{dr}}, \quad
        L = \frac{\sum_{b,c} w_c\, \ell_{bc}}{\sum_{b,c} w_c}

    Conventions, against the paper (Abraham and Khan 2019):

    * The paper writes :math:`\sum_c (1 - TI_c)^{1/\gamma}` with :math:`\gamma \in [1, 3]`
      and uses :math:`\gamma = 4/3`; ``gamma`` here is the exponent itself, so the paper's
      setting is ``gamma = 1 / (4/3) = 0.75`` (the default) and its range is ``[1/3, 1]``.
      ``gamma < 1`` raises the loss of well-segmented classes and focuses on the hard ones.
    * The paper's :math:`\alpha` multiplies the false negatives and :math:`\beta` the false
      positives (mirrored from Salehi et al.); here, as in :func:`tversky_loss`, ``alpha``
      weighs false positives and ``beta`` false negatives. The paper's ``alpha=0.7,
      beta=0.3`` is the default ``alpha=0.3, beta=0.7`` here.
    * The exponent is applied to each pair before averaging (smp's ``TverskyLoss(gamma)``
      raises the class mean instead, a different loss), also to an empty pair's
      ``empty="penalize"`` loss.

    The gradient stays finite at a perfect prediction (``1 - TI = 0``) although
    :math:`x^{\gamma}` has an infinite slope there for ``gamma < 1``: it is 0 there.

    {{degenerate}}

    Args:
        gamma: exponent of each pair's Tversky loss, ``> 0`` (1 is :func:`tversky_loss`).

    {{pairs}}

    Reference:
        Abraham and Khan, *A Novel Focal Tversky Loss Function with Improved Attention U-Net
        for Lesion Segmentation*, ISBI 2019, arXiv:1810.07842.

    Example:
        >>> import torch
        >>> p = torch.tensor([[[[1.0, 1.0, 0.0, 0.0]]]])  # (B, 1, H, W) probabilities
        >>> t = torch.tensor([[[1, 0, 1, 1]]])  # Tversky loss 1 - 1/2.7 = 0.6296
        >>> focal_tversky_loss(p, t, activation="none", gamma=0.75)  # 0.6296 ** 0.75
        tensor(0.7068)
    """
    return overlap_loss(
        input, target, fn="focal_tversky_loss", score=tversky_score, gamma=gamma, **options
    )


FocalTverskyLoss = register_loss(
    "focal_tversky",
    family="segmentation",
    function=focal_tversky_loss,
    module="FocalTverskyLoss",
    formula="(1 - TI)^gamma per class, then the class mean (gamma = 1/paper's gamma)",
    reference="Abraham & Khan, ISBI 2019, arXiv:1810.07842",
    examples=overlap_examples,
).module
