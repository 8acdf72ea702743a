"""Cross entropy (softmax over dim 1) with class weights, ignore_index, label smoothing, soft
targets and an optional per-pixel weight map (the U-Net pixel-weighted cross entropy)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .._core.declare import loss_function
from .._core.dtypes import compute_dtype, upcast
from .._core.options import ClassWeights, IgnoreIndex, Reduction
from .._core.reduction import reduce_loss
from .._core.registry import register_loss
from ._common import (
    CLASSIFICATION_DOCS,
    Smoothing,
    WeightMap,
    as_class_view,
    check_logits,
    class_weight,
    index_examples,
    index_target,
    is_index_target,
    location_shape,
    location_weight,
)


@loss_function(CLASSIFICATION_DOCS)
def cross_entropy_loss(
    input: Tensor,
    target: Tensor,
    *,
    weight: ClassWeights = None,
    ignore_index: IgnoreIndex = None,
    label_smoothing: Smoothing = 0.0,
    weight_map: WeightMap = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Cross entropy between softmax(input) over dim 1 and class indices or probabilities.

    With target distribution :math:`q_i` (one-hot for class indices), smoothed as
    :math:`\tilde q_{ic} = (1 - \varepsilon) q_{ic} + \varepsilon / C`, class weights
    :math:`w_c` and a per-location weight map :math:`m_i`:

    .. math::
        \ell_i = -m_i \sum_c w_c\, \tilde q_{ic} \log \operatorname{softmax}(x_i)_c ,
        \qquad
        \text{mean} = \frac{\sum_{i\ \text{valid}} \ell_i}
                           {\sum_{i\ \text{valid}} \sum_c w_c\, q_{ic}}

    The mean divides by the total class weight of the (unsmoothed) targets of the valid
    locations: ``sum(weight[target])`` for class indices, the number of valid locations without
    ``weight``. The weight map multiplies the numerator only, so it rescales locations without
    changing the scale of the mean (as an elementwise ``weight`` in the regression family).

    Index targets and the equivalent one-hot probability targets give the same value, weighted
    or not. ``torch.nn.functional.cross_entropy`` differs for probability targets with
    ``weight``: it divides by the number of locations ``N * prod(*)`` instead of the total
    weight, so its two target forms disagree once the weights are not all 1. With class indices
    (and any ``label_smoothing``, ``ignore_index``) this function equals torch's.

    The U-Net pixel-weighted cross entropy (Ronneberger et al. 2015) is
    ``cross_entropy_loss(input, target, weight_map=unet_weight_map(mask))``; see
    :func:`unet_weight_map`. It is not a separate loss.

    Degenerate cases: when every target is ignored (or the input is empty) the mean is 0,
    attached to the graph (torch returns NaN). Logits must be finite.

    Args:
        weight: optional class weights of shape ``(C,)`` (a tensor, or a sequence of numbers
            ``>= 0``).
        reduction: ``"mean"`` (see above), ``"sum"`` or ``"none"``.

    Shape:
        ``input``: ``(N, C, *)``; ``target``: ``(N, *)`` or ``(N, C, *)``; output: scalar, or
        ``(N, *)`` for ``"none"`` (ignored locations hold 0).

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Standard multinomial cross entropy; label smoothing: Szegedy et al., *Rethinking the
        Inception Architecture*, CVPR 2016, arXiv:1512.00567; weight map: Ronneberger et al.,
        *U-Net*, MICCAI 2015, arXiv:1505.04597, Eq. (1).

    Example:
        >>> import torch
        >>> x = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
        >>> y = torch.tensor([0, 2])
        >>> cross_entropy_loss(x, y, reduction="none")
        tensor([0.2395, 1.0986])
        >>> w = torch.tensor([1.0, 1.0, 3.0])
        >>> a = cross_entropy_loss(x, y, weight=w)                          # (0.2395 + 3 * 1.0986) / 4
        >>> b = cross_entropy_loss(x, torch.eye(3)[y], weight=w)            # same for one-hot targets
        >>> torch.allclose(a, b), round(a.item(), 4)
        (True, 0.8838)
        >>> cross_entropy_loss(x, torch.tensor([-1, -1]), ignore_index=-1)  # all ignored: 0, not NaN
        tensor(0.)
    """
    fn = "cross_entropy_loss"
    check_logits(input, fn)
    index = is_index_target(input, target, fn)
    dtype = compute_dtype(input, target)
    num_classes = input.shape[1]
    w = class_weight(weight, num_classes, fn, dtype, input.device)
    wmap = location_weight(weight_map, location_shape(input), fn, dtype)
    log_p = F.log_softmax(upcast(input, dtype), dim=1)
    eps = float(label_smoothing)
    valid = None
    if index:
        safe, valid = index_target(input, target, ignore_index, fn)
        loss = -log_p.gather(1, safe.unsqueeze(1)).squeeze(1)
        target_weight = None if w is None else w[safe]
        if target_weight is not None:
            loss = target_weight * loss
        if eps > 0:
            all_classes = log_p if w is None else log_p * as_class_view(w, log_p.dim())
            loss = (1 - eps) * loss - (eps / num_classes) * all_classes.sum(1)
    else:
        q = upcast(target, dtype)
        smoothed = q if eps == 0 else (1 - eps) * q + eps / num_classes
        if w is not None:
            w_view = as_class_view(w, log_p.dim())
            smoothed = smoothed * w_view
            target_weight = (q * w_view).sum(1)
        else:
            target_weight = None
        loss = -(smoothed * log_p).sum(1)
    denominator = None
    if target_weight is not None:
        if valid is not None:
            target_weight = torch.where(valid, target_weight, target_weight.new_zeros(()))
        denominator = target_weight.sum()
    return reduce_loss(loss, reduction, fn=fn, mask=valid, weight=wmap, denominator=denominator)


CrossEntropyLoss = register_loss(
    "cross_entropy",
    family="classification",
    function=cross_entropy_loss,
    module="CrossEntropyLoss",
    aliases=("ce", "pixel_weighted_ce"),
    formula="-sum_c w_c q_c log softmax(x)_c, mean over the targets' class weight",
    reference="label smoothing: Szegedy et al., arXiv:1512.00567; "
    "weight map: Ronneberger et al., U-Net, arXiv:1505.04597",
    examples=index_examples,
).module
