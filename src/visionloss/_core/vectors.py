"""Vector maths shared by the embedding families (metric, contrastive)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .autograd import differentiable_grad, double_backward
from .numerics import inverse_norm

# float32 norms in this range were summed without overflow (every partial sum is at most
# n^2 <= 2^120) and with no digit lost to subnormal squares (those add at most 2^-149 each
# against n^2 >= 2^-80); outside it (and for 0, inf, NaN) the float64 norm is taken
_FAST_LOW, _FAST_HIGH = 2.0**-40, 2.0**60


def normalize(
    x: Tensor, dim: int = -1, *, compute: torch.dtype | None = None, out: torch.dtype | None = None
) -> Tensor:
    """``x`` scaled to unit L2 norm along ``dim``; a zero vector (all entries below the dtype's
    smallest normal number) stays zero, with a zero gradient (``F.normalize`` divides by
    ``max(norm, 1e-12)`` and so gives a zero vector a gradient of ``1e12``). The norm is taken
    without overflow (entries up to the dtype's maximum), and a NaN entry makes the whole
    vector NaN rather than zero, so a NaN embedding is never mistaken for a zero one. The
    guards act on the per-vector norms; ``x`` is read twice and multiplied once, as in
    ``F.normalize``.

    Eager, the backward is written out (:class:`_Normalize`): ``d x = (g - y (g . y)) / ||x||``
    with ``y`` the output, three passes over ``x``'s size, where autograd's graph of ``x *
    inverse_norm(x)`` took the float64 norm's backward (float64 copies of ``x`` and of the
    gradient). Under ``torch.compile`` the plain product is traced (inductor fuses it).

    ``compute`` and ``out`` (default: ``x``'s dtype): the dtype the unit vectors are computed
    in and the one they are returned in, as ``normalize(x.to(compute)).to(out)``, with the
    same numbers (the gradient computed in ``compute``, returned in ``x``'s dtype) but one
    autograd node instead of three (bf16 embeddings normalised in float32 for a bf16
    product: the contrastive losses' operands)."""
    compute = x.dtype if compute is None else compute
    out = compute if out is None else out
    if torch.compiler.is_compiling():
        y = x.to(compute)
        return (y * inverse_norm(y, dim)).to(out)
    result: Tensor = _Normalize.apply(x, dim, compute, out)
    return result


def _fast_inverse_norm(x: Tensor, dim: int) -> Tensor:
    """:func:`inverse_norm` of ``x``; for float32 on a CPU from torch's float32 norm (one pass,
    as ``F.normalize``) when every norm lies in ``[2^-40, 2^60]``, where that sum is exact to
    float32 rounding (the float64 sum's conversion and the all-below-``tiny`` pass took 1.4 ms
    of 1.8 on 2048 x 512; the range test costs a host sync, free on a CPU)."""
    if x.dtype == torch.float32 and x.device.type == "cpu" and x.numel() > 0:
        n = torch.linalg.vector_norm(x, dim=dim, keepdim=True)
        low, high = torch.aminmax(n)  # NaN in either fails both tests
        if low.item() >= _FAST_LOW and high.item() <= _FAST_HIGH:
            return n.reciprocal_()
    return inverse_norm(x, dim)


class _Normalize(torch.autograd.Function):
    """``y = x / ||x||`` along ``dim`` with ``d x = (g - y (g . y)) / ||x||`` (0 for a zero
    vector, whose inverse norm is 0), computed in ``compute`` and returned in ``out`` (the
    gradient in ``compute``, returned in ``x``'s dtype). Keeps ``x`` (in ``compute``) and the
    inverse norms, as autograd's product did; under ``create_graph=True`` the backward
    differentiates that product."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, dim: int, compute: torch.dtype, out: torch.dtype) -> Tensor:
        xc = x.to(compute)
        inv = _fast_inverse_norm(xc, dim)
        # x itself for a second derivative (its graph), and its copy in ``compute``
        ctx.save_for_backward(x, inv, None if xc is x else xc)
        ctx.dim, ctx.compute = dim, compute
        return (xc * inv).to(out)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, None, None, None]:
        x, inv, xc = ctx.saved_tensors
        dim, compute = ctx.dim, ctx.compute
        grad = grad.to(compute)
        if double_backward():
            (dx,) = differentiable_grad(
                lambda t: (u := t.to(compute)) * inverse_norm(u, dim), (x,), (grad,)
            )
            return dx, None, None, None
        y = (x if xc is None else xc) * inv
        along = torch.linalg.vecdot(y, grad, dim=dim).unsqueeze(dim)
        dx = torch.addcmul(grad, y, along, value=-1.0).mul_(inv)
        return dx.to(x.dtype), None, None, None
