"""Tversky loss."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .._core.declare import loss_function
from .._core.registry import register_loss
from ._overlap import OVERLAP_DOCS, TVERSKY_OPTIONS, overlap_examples, overlap_loss, tversky_score


@loss_function(OVERLAP_DOCS, options=TVERSKY_OPTIONS)
def tversky_loss(input: Tensor, target: Tensor, **options: Any) -> Tensor:
    r"""Tversky loss: an overlap score that weighs false positives and false negatives apart.

    .. math::
        \ell_{bc} = 1 - \frac{TP + s_{nr}}{TP + \alpha\, FP + \beta\, FN + s_{dr}},
        \quad TP = \sum_i p g,\; FP = \sum_i p - TP,\; FN = \sum_i g - TP

    ``alpha`` weighs false positives and ``beta`` false negatives (Salehi et al. 2017, whose
    best setting for small lesions, ``alpha=0.3, beta=0.7``, is the default). ``alpha = beta =
    0.5`` is the Dice score (at ``smooth=0``; :func:`dice_loss` ``smooth=s`` equals ``smooth=s/2``
    here), ``alpha = beta = 1`` the Jaccard score.

    {{degenerate}}

    {{pairs}}

    Reference:
        Salehi, Erdogmus, Gholipour, *Tversky loss function for image segmentation using 3D
        fully convolutional deep networks*, MLMI 2017, arXiv:1706.05721.

    Example:
        >>> import torch
        >>> p = torch.tensor([[[[1.0, 1.0, 0.0, 0.0]]]])  # (B, 1, H, W) probabilities
        >>> t = torch.tensor([[[1, 0, 1, 1]]])  # TP = 1, FP = 1, FN = 2
        >>> tversky_loss(p, t, activation="none", alpha=0.3, beta=0.7)  # 1 - 1 / 2.7
        tensor(0.6296)
    """
    return overlap_loss(input, target, fn="tversky_loss", score=tversky_score, **options)


TverskyLoss = register_loss(
    "tversky",
    family="segmentation",
    function=tversky_loss,
    module="TverskyLoss",
    formula="1 - (TP + s) / (TP + alpha FP + beta FN + s)",
    reference="Salehi et al., MLMI 2017, arXiv:1706.05721",
    examples=overlap_examples,
).module
