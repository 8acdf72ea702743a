"""Tversky loss."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from .._core.checks import check_positive
from .._core.module import LossModule
from .._core.registry import register_loss
from ._overlap import Smooth, module_options, overlap_loss, tversky_score


def tversky_loss(
    input: Tensor,
    target: Tensor,
    *,
    alpha: float = 0.3,
    beta: float = 0.7,
    activation: str = "softmax",
    smooth: Smooth = 0.0,
    squared: bool = False,
    per_image: bool = True,
    weight: Tensor | Sequence[float] | None = None,
    include_background: bool = True,
    classes: Sequence[int] | None = None,
    ignore_index: int | None = None,
    empty: str = "penalize",
    reduction: str = "mean",
) -> Tensor:
    r"""Tversky loss: an overlap score that weighs false positives and false negatives apart.

    .. math::
        \ell_{bc} = 1 - \frac{TP + s_{nr}}{TP + \alpha\, FP + \beta\, FN + s_{dr}},
        \quad TP = \sum_i p g,\; FP = \sum_i p - TP,\; FN = \sum_i g - TP

    ``alpha`` weighs false positives and ``beta`` false negatives (Salehi et al. 2017, whose
    best setting for small lesions, ``alpha=0.3, beta=0.7``, is the default). ``alpha = beta =
    0.5`` is the Dice score (at ``smooth=0``; :func:`dice_loss` ``smooth=s`` equals ``smooth=s/2``
    here), ``alpha = beta = 1`` the Jaccard score.

    Degenerate cases: as :func:`dice_loss`: 0 with a graph and zero gradients for an empty
    input, all pixels ignored or all-zero class weights; finite values and gradients for
    saturated logits. An empty target mask follows ``empty``.

    Args:
        input: as in :func:`dice_loss`.
        target: as in :func:`dice_loss`.
        alpha: weight of the false positives, ``>= 0``.
        beta: weight of the false negatives, ``>= 0``.
        activation: as in :func:`dice_loss`.
        smooth: as in :func:`dice_loss`.
        squared: as in :func:`dice_loss`.
        per_image: as in :func:`dice_loss`.
        weight: as in :func:`dice_loss`.
        include_background: as in :func:`dice_loss`.
        classes: as in :func:`dice_loss`.
        ignore_index: as in :func:`dice_loss`.
        empty: as in :func:`dice_loss`.
        reduction: as in :func:`dice_loss`.

    Shape:
        ``"none"``: ``(B, K)`` with ``per_image``, else ``(K,)``.

    Returns:
        the loss; float32 for fp16/bf16 inputs.

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
    check_positive(alpha, "alpha", "tversky_loss", allow_zero=True)
    check_positive(beta, "beta", "tversky_loss", allow_zero=True)

    def score(st, smooth_nr, smooth_dr):
        return tversky_score(st, alpha, beta, smooth_nr, smooth_dr)

    return overlap_loss(
        input,
        target,
        fn="tversky_loss",
        score=score,
        activation=activation,
        smooth=smooth,
        squared=squared,
        per_image=per_image,
        weight=weight,
        include_background=include_background,
        classes=classes,
        ignore_index=ignore_index,
        empty=empty,
        reduction=reduction,
    )


class TverskyLoss(LossModule):
    """Module form of :func:`tversky_loss`."""

    function = tversky_loss

    def __init__(
        self,
        *,
        alpha: float = 0.3,
        beta: float = 0.7,
        activation: str = "softmax",
        smooth: Smooth = 0.0,
        squared: bool = False,
        per_image: bool = True,
        weight: Tensor | Sequence[float] | None = None,
        include_background: bool = True,
        classes: Sequence[int] | None = None,
        ignore_index: int | None = None,
        empty: str = "penalize",
        reduction: str = "mean",
    ) -> None:
        check_positive(alpha, "alpha", "TverskyLoss", allow_zero=True)
        check_positive(beta, "beta", "TverskyLoss", allow_zero=True)
        super().__init__(
            **module_options(
                "TverskyLoss",
                alpha=alpha,
                beta=beta,
                activation=activation,
                smooth=smooth,
                squared=squared,
                per_image=per_image,
                weight=weight,
                include_background=include_background,
                classes=classes,
                ignore_index=ignore_index,
                empty=empty,
                reduction=reduction,
            )
        )


register_loss(
    "tversky",
    family="segmentation",
    function=tversky_loss,
    module=TverskyLoss,
    formula="1 - (TP + s) / (TP + alpha FP + beta FN + s)",
    reference="Salehi et al., MLMI 2017, arXiv:1706.05721",
)
