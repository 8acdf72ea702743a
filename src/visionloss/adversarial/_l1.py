"""The weighted L1 shared by CycleGAN's cycle-consistency and identity losses."""

from __future__ import annotations

from torch import Tensor

from .._core.checks import check_positive, check_same_shape, check_tensor
from .._core.dtypes import compute_dtype, upcast
from .._core.reduction import check_reduction, reduce_loss


def weighted_l1(input: Tensor, target: Tensor, weight: float, reduction: str, fn: str) -> Tensor:
    """``weight * |input - target|`` reduced; fp32 for half inputs."""
    check_reduction(reduction, fn)
    check_tensor(input, "input", fn, floating=True)
    check_tensor(target, "target", fn, floating=True)
    check_same_shape(input, target, fn)
    dtype = compute_dtype(input, target)
    diff = (upcast(input, dtype) - upcast(target, dtype)).abs()
    return reduce_loss(weight * diff, reduction, fn=fn)


def check_lambda(value: float, name: str, fn: str) -> None:
    check_positive(value, name, fn, allow_zero=True)
