"""The one place where ``reduction`` words are validated and applied.

Policy (see the conventions page of the docs):

* ``"none"`` returns the per-element (or per-sample) loss unchanged.
* ``"sum"`` sums the valid elements.
* ``"mean"`` divides that sum by the number of valid elements (or by an explicit
  ``denominator`` / ``normalizer``). A mean over nothing is ``0.0 * loss.sum()``: zero, still
  attached to the graph, never NaN. No host synchronisation happens on any path.
"""

from __future__ import annotations

import torch
from torch import Tensor

REDUCTIONS = ("mean", "sum", "none")


def check_reduction(reduction: str, fn: str) -> str:
    """Return ``reduction`` if it is one of ``"mean" | "sum" | "none"``, else raise ValueError."""
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(
            f"{fn}: expected reduction to be one of 'mean', 'sum', 'none', got {reduction!r}"
        )
    return reduction


def safe_divide(numerator: Tensor, denominator: Tensor | float) -> Tensor:
    """``numerator / denominator`` where a zero denominator yields zero (numerator is then 0)."""
    if isinstance(denominator, Tensor):
        denominator = denominator.to(numerator.dtype).clamp_min(torch.finfo(numerator.dtype).tiny)
        return numerator / denominator
    return numerator / denominator if denominator > 0 else numerator * 0.0


def reduce_loss(
    loss: Tensor,
    reduction: str,
    *,
    fn: str,
    mask: Tensor | None = None,
    weight: Tensor | None = None,
    denominator: Tensor | float | None = None,
    normalizer: Tensor | float | None = None,
) -> Tensor:
    """Reduce an elementwise loss.

    Args:
        loss: the per-element loss.
        reduction: ``"mean" | "sum" | "none"``.
        fn: name of the public function, used in error messages.
        mask: optional boolean (or 0/1) tensor broadcastable to ``loss``; invalid elements are
            zeroed (with ``torch.where``, so a NaN/inf there cannot leak) and leave the mean.
        weight: optional tensor broadcastable to ``loss`` multiplied in before reducing.
        denominator: overrides the count of the mean (e.g. the sum of class weights, as
            ``torch.nn.functional.cross_entropy`` does). Zero gives a zero mean.
        normalizer: RetinaNet-style normaliser for ``"mean"``: the sum divided by
            ``normalizer`` (e.g. the number of positive anchors, or a sum of fractional
            weights as Focal-EIoU), or by 1 where it is ``<= 0`` (no positives: the sum, as
            RetinaNet's ``max(num_pos, 1)`` for counts).

    Returns:
        the reduced loss (a 0-dim tensor) or, for ``"none"``, ``loss`` with invalid entries zeroed.
    """
    check_reduction(reduction, fn)
    if weight is not None:
        loss = loss * weight
    if mask is not None:
        mask = mask.to(torch.bool) if mask.dtype != torch.bool else mask
        loss = torch.where(mask, loss, loss.new_zeros(()))
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return total
    if normalizer is not None:
        if isinstance(normalizer, Tensor):
            n = normalizer.to(total.dtype)
            return total / torch.where(n > 0, n, n.new_ones(()))
        n = float(normalizer)
        return total / (n if n > 0 else 1.0)
    if denominator is None:
        if mask is None:
            denominator = float(loss.numel())
        else:
            denominator = torch.broadcast_to(mask, loss.shape).sum()
    return safe_divide(total, denominator)
