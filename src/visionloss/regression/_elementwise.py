"""Shared machinery of the regression family: a loss that is a function of the elementwise
difference ``input - target``. Its shared docs, its example inputs, the penalty that smooth L1
and Huber share, and the one body (checks, dtype policy, reduction)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import torch
from torch import Tensor

from .._core.checks import check_broadcastable, check_same_shape, check_tensor, require
from .._core.declare import DocParts
from .._core.dtypes import compute_dtype, upcast
from .._core.examples import Example, generator, normal, uniform
from .._core.options import PER_CALL, Reduction
from .._core.reduction import reduce_loss

ElementWeight = Annotated[Tensor | None, PER_CALL]


def elementwise_options(*, weight: ElementWeight = None, reduction: Reduction = "mean") -> None:
    """The options every regression loss takes (an option group: declared once, listed in
    each loss's real signature)."""


REGRESSION_DOCS = DocParts(
    args={
        "input": "predictions, any shape, floating point.",
        "target": "same shape as ``input``.",
        "weight": """optional elementwise weight ``>= 0`` broadcastable to ``input`` (a
            per-call argument: the Module takes it in ``forward``).""",
        "reduction": """``"mean"`` (sum over the number of elements), ``"sum"`` or
            ``"none"``.""",
    },
    paragraphs={
        "degenerate": """Degenerate cases: an empty input gives 0 for ``"mean"`` and ``"sum"``,
            attached to the graph (never NaN), and an empty tensor for ``"none"``. A
            ``weight`` of 0 removes an element's term and its gradient but not its count in
            the mean, so an all-zero weight gives 0 with zero gradients. The gradient at
            ``x = y`` is 0.""",
        "io": """Shape:
                ``input``, ``target``: ``(*)``; output: scalar, or ``(*)`` for ``"none"``.

            Returns:
                the loss; float32 for fp16/bf16 inputs.""",
    },
)


def smooth_l1_penalty(diff: Tensor, *, beta: float) -> Tensor:
    """``0.5 d^2 / beta`` for ``|d| < beta`` else ``|d| - 0.5 beta`` (``|d|`` when beta = 0)."""
    ad = diff.abs()
    if beta == 0:
        return ad
    return torch.where(ad < beta, 0.5 * diff.square() / beta, ad - 0.5 * beta)


def elementwise_loss(
    input: Tensor,
    target: Tensor,
    *,
    fn: str,
    penalty: Callable[..., Tensor],
    weight: Tensor | None,
    reduction: str,
    **options: Any,
) -> Tensor:
    """``reduce(weight * penalty(input - target, **options))``, computed in fp32 for half
    inputs (the options were checked by the public function).

    The mean divides by the number of elements (not by the sum of weights), so a weight of 0
    acts as "this element contributes nothing" while the scale stays that of the unweighted
    mean, the convention of mmdetection's ``weight_reduce_loss``.
    """
    check_tensor(input, "input", fn, floating=True)
    check_tensor(target, "target", fn, floating=True)
    check_same_shape(input, target, fn)
    dtype = compute_dtype(input, target)
    loss = penalty(upcast(input, dtype) - upcast(target, dtype), **options)
    if weight is not None:
        check_tensor(weight, "weight", fn, floating=True)
        check_broadcastable(weight, input.shape, "weight", fn)
        # a negative weight turns the loss into a gain; NaN passes (the loss is then NaN)
        require(~(weight.detach() < 0), f"{fn}: expected weight >= 0; a negative value was found")
        weight = upcast(weight, dtype)
    return reduce_loss(loss, reduction, fn=fn, weight=weight)


def regression_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """Input and target ``(2, 3, 8)`` whose differences stay away from 0 and from 1 (the kinks
    of L1, and of smooth L1 / Huber at their default ``beta = delta = 1``)."""
    gen = generator(seed)
    target = normal(2, 3, 8, dtype=torch.float64, gen=gen)
    size = uniform(2, 3, 8, dtype=torch.float64, gen=gen, lo=0.2, hi=0.8)
    size = size + (size > 0.5) * 0.7  # |d| in [0.2, 0.5] or [1.2, 1.5]
    sign = torch.where(normal(2, 3, 8, dtype=torch.float64, gen=gen) < 0, -1.0, 1.0)
    return Example(((target + sign * size).to(dtype), target.to(dtype)))
