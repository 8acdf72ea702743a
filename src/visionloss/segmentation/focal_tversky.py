"""Focal Tversky loss."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from .._core.checks import check_positive
from .._core.module import LossModule
from .._core.registry import register_loss
from ._overlap import Smooth, module_options, overlap_loss, tversky_score


def focal_tversky_loss(
    input: Tensor,
    target: Tensor,
    *,
    alpha: float = 0.3,
    beta: float = 0.7,
    gamma: float = 0.75,
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
    r"""Focal Tversky loss: the Tversky loss of each (image, class) raised to ``gamma``
    before the class mean.

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
      raises the class mean instead, a different loss).

    The gradient stays finite at a perfect prediction (``1 - TI = 0``) although
    :math:`x^{\gamma}` has an infinite slope there for ``gamma < 1``: it is 0 there.

    Degenerate cases: as :func:`dice_loss`: 0 with a graph and zero gradients for an empty
    input, all pixels ignored or all-zero class weights; finite values and gradients for
    saturated logits. An empty target mask follows ``empty``.

    Args:
        input: as in :func:`dice_loss`.
        target: as in :func:`dice_loss`.
        alpha: weight of the false positives, ``>= 0``.
        beta: weight of the false negatives, ``>= 0``.
        gamma: exponent of each pair's Tversky loss, ``> 0`` (1 is :func:`tversky_loss`).
        activation: as in :func:`dice_loss`.
        smooth: as in :func:`dice_loss`.
        squared: as in :func:`dice_loss`.
        per_image: as in :func:`dice_loss`.
        weight: as in :func:`dice_loss`.
        include_background: as in :func:`dice_loss`.
        classes: as in :func:`dice_loss`.
        ignore_index: as in :func:`dice_loss`.
        empty: as in :func:`dice_loss` (the exponent applies to an empty pair's
            ``"penalize"`` loss too).
        reduction: as in :func:`dice_loss`.

    Shape:
        ``"none"``: ``(B, K)`` with ``per_image``, else ``(K,)``.

    Returns:
        the loss; float32 for fp16/bf16 inputs.

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
    fn = "focal_tversky_loss"
    check_positive(alpha, "alpha", fn, allow_zero=True)
    check_positive(beta, "beta", fn, allow_zero=True)
    check_positive(gamma, "gamma", fn)

    def score(st, smooth_nr, smooth_dr):
        return tversky_score(st, alpha, beta, smooth_nr, smooth_dr)

    return overlap_loss(
        input,
        target,
        fn=fn,
        score=score,
        exponent=float(gamma),
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


class FocalTverskyLoss(LossModule):
    """Module form of :func:`focal_tversky_loss`."""

    function = focal_tversky_loss

    def __init__(
        self,
        *,
        alpha: float = 0.3,
        beta: float = 0.7,
        gamma: float = 0.75,
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
        check_positive(alpha, "alpha", "FocalTverskyLoss", allow_zero=True)
        check_positive(beta, "beta", "FocalTverskyLoss", allow_zero=True)
        check_positive(gamma, "gamma", "FocalTverskyLoss")
        super().__init__(
            **module_options(
                "FocalTverskyLoss",
                alpha=alpha,
                beta=beta,
                gamma=gamma,
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
    "focal_tversky",
    family="segmentation",
    function=focal_tversky_loss,
    module=FocalTverskyLoss,
    formula="(1 - TI)^gamma per class, then the class mean (gamma = 1/paper's gamma)",
    reference="Abraham & Khan, ISBI 2019, arXiv:1810.07842",
)
