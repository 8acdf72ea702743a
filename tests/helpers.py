"""Small assertions shared by the test modules."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def gradcheck(fn: Callable[..., Tensor], *inputs: Tensor, **kwargs) -> None:
    """float64 ``torch.autograd.gradcheck`` of ``fn(*inputs)`` (inputs are made float64 leaves
    that require grad when they are floating point)."""
    leaves = [
        x.detach().double().requires_grad_(True) if x.is_floating_point() else x for x in inputs
    ]
    assert torch.autograd.gradcheck(lambda *xs: fn(*xs, **kwargs), leaves, eps=1e-6, atol=1e-5)


def grads(fn: Callable[..., Tensor], *inputs: Tensor, **kwargs) -> tuple[Tensor, list[Tensor]]:
    """``(value, [d value / d x for each floating input])`` with fresh leaves."""
    leaves = [x.detach().clone().requires_grad_(x.is_floating_point()) for x in inputs]
    value = fn(*leaves, **kwargs)
    diff = [x for x in leaves if x.requires_grad]
    g = torch.autograd.grad(value.sum(), diff, allow_unused=True)
    return value.detach(), [torch.zeros_like(x) if gi is None else gi for x, gi in zip(diff, g)]


def assert_finite_graph(value: Tensor, *inputs: Tensor) -> None:
    """``value`` is finite, attached to the graph, and gives finite gradients to ``inputs``."""
    assert torch.isfinite(value).all(), value
    assert value.requires_grad, "result is detached from the graph"
    g = torch.autograd.grad(value.sum(), inputs, allow_unused=True)
    for gi in g:
        assert gi is None or torch.isfinite(gi).all(), gi
