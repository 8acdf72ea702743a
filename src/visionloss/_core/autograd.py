"""Second derivatives of the hand-written backward passes.

A custom ``torch.autograd.Function`` whose backward reuses values saved without a graph (a
derivative computed with the value, probabilities of a fused pass) is fast, but differentiating
that backward again (``create_graph=True``: MAML, gradient penalties on a loss) would treat
those values as constants and give a wrong second derivative, silently. Autograd runs a
backward with grad mode on exactly when ``create_graph=True``; there, the Functions of this
library call :func:`differentiable_grad` instead, which recomputes the same value with plain
differentiable operations and differentiates that graph. First derivatives keep the fast path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

__all__ = ["differentiable_grad", "double_backward"]


def double_backward() -> bool:
    """True inside a backward pass run with ``create_graph=True``."""
    return torch.is_grad_enabled()


def differentiable_grad(
    function: Callable[..., Any], inputs: Sequence[Any], grads: Sequence[Tensor | None]
) -> tuple[Tensor | None, ...]:
    """The vector-Jacobian product of ``function(*inputs)`` (a tensor or a tuple of tensors)
    with ``grads``, for each tensor input that requires grad (None for the others), as a
    differentiable function of the inputs.

    Each input enters ``function`` through an alias of its own, so that the products are the
    partial derivatives even when one input is computed from another (ArcFace's target
    column from its cosines: a gradient taken at the inputs themselves would count the path
    through the dependent input twice, once here and once by the caller's graph)."""
    with torch.enable_grad():
        inputs = [t.view_as(t) if isinstance(t, Tensor) and t.requires_grad else t for t in inputs]
        outs = function(*inputs)
    outs = outs if isinstance(outs, tuple) else (outs,)
    pairs = [
        (o, g) for o, g in zip(outs, grads) if g is not None and o.requires_grad and o.numel() > 0
    ]
    wrt = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    if not pairs or not wrt:
        return tuple(None for _ in inputs)
    got = iter(
        torch.autograd.grad(
            [o for o, _ in pairs],
            wrt,
            [g for _, g in pairs],
            create_graph=True,
            allow_unused=True,
        )
    )
    return tuple(next(got) if isinstance(t, Tensor) and t.requires_grad else None for t in inputs)
