"""Generalized Dice loss (Sudre et al. 2017)."""

from __future__ import annotations

from typing import Annotated, Any

import torch
from torch import Tensor

from .._core import numerics
from .._core.declare import loss_function
from .._core.options import Choice, Reduction
from .._core.reduction import reduce_loss
from .._core.registry import register_loss
from ._overlap import (
    OVERLAP_DOCS,
    Stats,
    activation_options,
    class_options,
    measure,
    overlap_examples,
    sum_options,
)

WeightType = Annotated[str, Choice("square", "simple", "uniform")]
# no "include": the volume weight of an absent class is infinite
GDLEmpty = Annotated[str, Choice("penalize", "exclude")]


def generalized_dice_from_stats(
    st: Stats,
    class_weight: Tensor,
    *,
    weight_type: str,
    empty: str,
    smooth: tuple[float, float],
) -> tuple[Tensor, Tensor]:
    """``(loss, counted)`` per image (or for the batch), both ``(B',)``."""
    g = st.target_sum
    present = g > 0
    safe_g = torch.where(present, g, torch.ones_like(g))
    if weight_type == "square":
        w = safe_g.reciprocal().square()
    elif weight_type == "simple":
        w = safe_g.reciprocal()
    else:
        w = torch.ones_like(g)
    w = torch.where(present, w, torch.zeros_like(w))
    if empty == "penalize":  # an absent class weighs as much as the rarest present one
        w = torch.where(present, w, w.amax(1, keepdim=True))
    w = w * class_weight
    num = 2.0 * (w * st.intersection).sum(1) + smooth[0]
    den = (w * (st.pred_sum + g)).sum(1) + smooth[1]
    loss = 1.0 - numerics.div(num, den, default=1.0)
    any_present = present.any(1)
    has_pixels = st.count[:, 0] > 0
    if empty == "exclude":
        return loss, has_pixels & any_present
    fp_rate = (class_weight * st.prob_sum / st.count.clamp_min(1.0)).sum(1)
    fp_rate = numerics.div(fp_rate, class_weight.sum())
    return torch.where(any_present, loss, fp_rate), has_pixels


@loss_function(OVERLAP_DOCS, options=(activation_options, sum_options, class_options))
def generalized_dice_loss(
    input: Tensor,
    target: Tensor,
    *,
    weight_type: WeightType = "square",
    empty: GDLEmpty = "penalize",
    reduction: Reduction = "mean",
    **options: Any,
) -> Tensor:
    r"""Generalized Dice loss: one Dice over all classes, weighted by inverse target volume.

    Each class of an image is weighted by the inverse square of its target volume.

    .. math::
        L_b = 1 - \frac{2 \sum_c r_c \sum_i p_{ci} g_{ci} + s_{nr}}
                       {\sum_c r_c \sum_i (p_{ci} + g_{ci}) + s_{dr}},
        \qquad r_c = \frac{w_c}{\left(\sum_i g_{ci}\right)^2}

    ``weight_type="simple"`` uses :math:`1 / \sum_i g` and ``"uniform"`` 1 (MONAI's
    ``w_type``); ``weight`` (``(C,)``, optional) multiplies the volume weights.

    Absent classes (:math:`\sum_i g_c = 0`, where :math:`r_c` is infinite), per ``empty``:

    * ``"penalize"`` (default): an absent class gets the largest weight of the image's
      present classes (the NiftyNet / MONAI rule), so its false positives cost as much as
      those of the rarest present class. An image where no selected class is present (an
      empty foreground with ``include_background=False``) gets the class-weighted mean of the
      soft false-positive rates :math:`\sum_i p_{ci} / n` (MONAI returns 0 there, with no
      gradient).
    * ``"exclude"``: absent classes get weight 0 and an image with no present class leaves
      the mean.

    {{degenerate}}

    Args:
        weight_type: ``"square"`` (Sudre et al., default), ``"simple"`` or ``"uniform"``.
        empty: ``"penalize"`` or ``"exclude"``, see above.
        reduction: ``"mean"`` over the images (counted ones), ``"sum"`` or ``"none"``.

    Shape:
        ``"none"``: ``(B,)`` with ``per_image``, else ``(1,)``; 0 for images left out.

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Sudre, Li, Vercauteren, Ourselin, Cardoso, *Generalised Dice overlap as a deep
        learning loss function for highly unbalanced segmentations*, DLMIA 2017,
        arXiv:1707.03237.

    Example:
        >>> import torch
        >>> p = torch.tensor([[[[1.0, 1.0, 1.0, 0.0]], [[0.0, 0.0, 0.0, 1.0]]]])
        >>> t = torch.tensor([[[0, 0, 1, 1]]])  # I = 2, 1; P + G = 5, 3; both weights 1/2^2
        >>> generalized_dice_loss(p, t, activation="none")  # 1 - 2 (2 + 1) / (5 + 3)
        tensor(0.2500)
    """
    fn = "generalized_dice_loss"
    prep, st, smooth = measure(input, target, fn=fn, **options)
    loss, counted = generalized_dice_from_stats(
        st, prep.class_weight, weight_type=weight_type, empty=empty, smooth=smooth
    )
    return reduce_loss(loss, reduction, fn=fn, mask=counted)


GeneralizedDiceLoss = register_loss(
    "generalized_dice",
    family="segmentation",
    function=generalized_dice_loss,
    module="GeneralizedDiceLoss",
    aliases=("gdl",),
    formula="1 - 2 sum_c r_c sum pg / sum_c r_c sum (p + g), r_c = 1/(sum g_c)^2",
    reference="Sudre et al., DLMIA 2017, arXiv:1707.03237",
    examples=overlap_examples,
).module
