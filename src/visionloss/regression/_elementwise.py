"""Shared machinery of the regression family: checks, dtype policy and reduction for a loss
that is a function of the elementwise difference ``input - target``."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from .._core.checks import check_broadcastable, check_same_shape, check_tensor
from .._core.dtypes import compute_dtype, upcast
from .._core.reduction import check_reduction, reduce_loss


def elementwise_loss(
    input: Tensor,
    target: Tensor,
    penalty: Callable[[Tensor], Tensor],
    *,
    weight: Tensor | None,
    reduction: str,
    fn: str,
) -> Tensor:
    """``reduce(weight * penalty(input - target))``, computed in fp32 for half inputs.

    The mean divides by the number of elements (not by the sum of weights), so a weight of 0
    acts as "this element contributes nothing" while the scale stays that of the unweighted
    mean, the convention of mmdetection's ``weight_reduce_loss``.
    """
    check_reduction(reduction, fn)
    check_tensor(input, "input", fn, floating=True)
    check_tensor(target, "target", fn, floating=True)
    check_same_shape(input, target, fn)
    dtype = compute_dtype(input, target)
    diff = upcast(input, dtype) - upcast(target, dtype)
    loss = penalty(diff)
    if weight is not None:
        check_tensor(weight, "weight", fn, floating=True)
        check_broadcastable(weight, input.shape, "weight", fn)
        weight = upcast(weight, dtype)
    return reduce_loss(loss, reduction, fn=fn, weight=weight)
