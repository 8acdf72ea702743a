"""The one reduction path of every family.

Policy (see the conventions page of the docs):

* ``"none"`` returns the per-element (or per-sample) loss unchanged (weighted, and zero where
  masked out).
* ``"sum"`` sums the valid elements.
* ``"mean"`` divides that sum by the number of valid elements, or by an explicit
  ``denominator`` (the summed class weights, as ``torch.nn.functional.cross_entropy`` does) or
  ``normalizer`` (RetinaNet's number of positives). A mean over nothing is zero, still attached
  to the graph, never NaN. No host synchronisation happens on any path.
* ``gather="local"``: the elements are split over processes; sums and counts are reduced over
  the process group so the value equals the single-process loss of the whole batch and the
  gradient is ``W`` times this process's share (DDP's average is then exact).

The word itself is checked once, where the public function is called (the ``Reduction``
option type); :func:`reduce_loss` trusts it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .. import distributed as vdist
from ..errors import InputError, OptionError
from .checks import check_broadcastable, shape_str
from .options import REDUCTIONS

__all__ = ["REDUCTIONS", "check_reduction", "reduce_loss"]


def check_reduction(reduction: str, fn: str) -> str:
    """Return ``reduction`` if it is one of ``"mean" | "sum" | "none"``, else raise OptionError
    (for code paths that take a reduction word outside a declared option)."""
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise OptionError(
            f"{fn}: expected reduction to be one of 'mean', 'sum', 'none', got {reduction!r}"
        )
    return reduction


def reduce_loss(
    loss: Tensor,
    reduction: str,
    *,
    fn: str = "reduce_loss",
    mask: Tensor | None = None,
    weight: Tensor | None = None,
    denominator: Tensor | float | None = None,
    normalizer: Tensor | float | None = None,
    gather: str = "none",
    last_dim_first: bool = False,
) -> Tensor:
    """Reduce an elementwise loss.

    Args:
        loss: the per-element loss.
        reduction: ``"mean" | "sum" | "none"`` (already checked).
        fn: name of the public function, for messages.
        mask: optional boolean (or 0/1) tensor broadcastable to ``loss``; invalid elements are
            zeroed (with ``torch.where``, so a NaN/inf there cannot leak) and leave the mean.
        weight: optional tensor that broadcasts to ``loss``'s shape (never the other way: a
            ``(N, 1)`` weight for ``N`` elements is an error, not an ``(N, N)`` loss),
            multiplied in before reducing.
        denominator: the mean's divisor instead of the count of valid elements. Zero gives a
            zero mean.
        normalizer: RetinaNet-style divisor of the mean: the sum divided by ``normalizer``, or
            by 1 where it is ``<= 0`` (no positives: the sum, as ``max(num_pos, 1)``).
        gather: ``"local"`` when the elements are split over processes (see the module doc).
        last_dim_first: under ``torch.compile``, sum the last dim first (inductor's CPU code
            for the distribution focal loss, whose elements come from gathers, runs 1.15x
            faster that way; the sigmoid focal loss runs 1.1x slower, so it is not the
            default).

    Returns:
        the reduced loss (a 0-dim tensor) or, for ``"none"``, ``loss`` with the weights applied
        and invalid entries zeroed.
    """
    if weight is not None:
        check_broadcastable(weight, loss.shape, "weight", fn)
        loss = loss * weight
    if mask is not None:
        mask = mask if mask.dtype == torch.bool else mask.to(torch.bool)
        loss = torch.where(mask, loss, loss.new_zeros(()))
    if reduction == "none":
        return loss
    if last_dim_first and loss.ndim > 1 and torch.compiler.is_compiling():
        total = loss.sum(-1).sum()
    else:
        total = loss.sum()
    if reduction == "sum":
        return vdist.global_sum(total, gather=gather)
    if reduction != "mean":
        check_reduction(reduction, fn)
    count: Tensor | float
    if normalizer is not None:
        if isinstance(normalizer, Tensor) and normalizer.numel() != 1:
            raise InputError(
                f"{fn}: expected normalizer to be a number or a one-element tensor, got shape "
                f"{shape_str(normalizer)}"
            )
        n = torch.as_tensor(normalizer, dtype=total.dtype, device=total.device).reshape(())
        count = torch.where(n > 0, n, torch.ones_like(n))
    elif denominator is not None:
        count = denominator
    elif mask is None:
        count = float(loss.numel())
    else:
        count = torch.broadcast_to(mask, loss.shape).sum().to(total.dtype)
    return vdist.global_mean(total, count, gather=gather)
