"""``_core.vectors.normalize``: the unit vectors of the embedding families (ArcFace's cosines,
NT-Xent's, CLIP's...), with its written-out backward and its float32 fast norm.

References: a float64 ``x / ||x||`` through autograd (independent of both the fast float32 norm
and the float64 one of ``inverse_norm``), and torch's ``F.normalize`` where its ``eps`` does not
act (it divides by ``max(||x||, 1e-12)``, so it differs from us only for vectors below 1e-12).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck, gradgradcheck

from visionloss._core import vectors
from visionloss._core.vectors import normalize

_inverse_norm = vectors.inverse_norm  # the float64 norm, before a test's spy replaces it


def _reference(x: torch.Tensor, dim: int) -> torch.Tensor:
    """``x / ||x||`` in float64 through autograd (a zero vector: 0)."""
    x64 = x.double()
    n = x64.pow(2).sum(dim, keepdim=True).sqrt()
    return x64 / torch.where(n == 0, torch.ones_like(n), n)


def _value_and_grad(fn, x: torch.Tensor, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    leaf = x.detach().clone().requires_grad_(True)
    y = fn(leaf)
    (dx,) = torch.autograd.grad(y, leaf, g.to(y.dtype))
    return y.detach(), dx


@pytest.mark.parametrize(
    "scale, fast",
    [
        pytest.param(1.0, True, id="unit"),
        pytest.param(1e15, True, id="large-fast"),
        pytest.param(1e-10, True, id="small-fast"),
        pytest.param(1e25, False, id="huge-float64-norm"),  # squares overflow float32
        pytest.param(1e-25, False, id="tiny-float64-norm"),  # squares subnormal in float32
    ],
)
@pytest.mark.parametrize("dim", [1, 0, -1])
def test_float32_matches_float64_reference(scale, fast, dim, monkeypatch):
    """Values and gradients against the float64 reference, on both sides of the fast norm's
    range (a spy checks which norm ran)."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(7, 5, 3, generator=g) * scale
    up = torch.randn(7, 5, 3, generator=g)
    calls = []
    monkeypatch.setattr(
        vectors, "inverse_norm", lambda *a: calls.append(a) or _inverse_norm(*a), raising=True
    )
    y, dx = _value_and_grad(lambda t: normalize(t, dim), x, up)
    ry, rdx = _value_and_grad(lambda t: _reference(t, dim), x, up)
    assert (not calls) == fast
    assert y.dtype == torch.float32
    torch.testing.assert_close(y.double(), ry, rtol=2e-6, atol=0)
    # the gradient is of the order of 1 / ||x||
    torch.testing.assert_close(dx.double() * scale, rdx.double() * scale, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_torch_normalize(dtype):
    """Against ``F.normalize`` (norms far above its eps): values and gradients."""
    g = torch.Generator().manual_seed(2)
    x = torch.randn(64, 33, generator=g, dtype=dtype)
    up = torch.randn(64, 33, generator=g, dtype=dtype)
    y, dx = _value_and_grad(lambda t: normalize(t, 1), x, up)
    ry, rdx = _value_and_grad(lambda t: F.normalize(t, dim=1), x, up)
    torch.testing.assert_close(y, ry)
    torch.testing.assert_close(dx, rdx)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_zero_vector_stays_zero_with_zero_gradient(dtype):
    x = torch.randn(4, 6, dtype=dtype)
    x[1] = 0.0
    x[3] = torch.finfo(dtype).tiny / 4  # subnormal entries only: a zero vector too
    y, dx = _value_and_grad(lambda t: normalize(t, 1), x, torch.ones(4, 6, dtype=dtype))
    assert torch.equal(y[1], torch.zeros(6, dtype=dtype)) and torch.equal(y[3], y[1])
    assert torch.equal(dx[1], torch.zeros(6, dtype=dtype)) and torch.equal(dx[3], dx[1])
    assert torch.isfinite(dx).all()
    torch.testing.assert_close(y[0].norm(), torch.ones((), dtype=dtype))


def test_nan_vector_is_nan_and_others_are_not():
    x = torch.randn(3, 4)
    x[2, 1] = float("nan")
    y, dx = _value_and_grad(lambda t: normalize(t, 1), x, torch.ones(3, 4))
    assert y[2].isnan().all() and torch.isfinite(y[:2]).all()
    assert dx[2].isnan().all() and torch.isfinite(dx[:2]).all()


def test_gradcheck_and_second_derivative():
    """float64 first derivative of the written-out backward, and the second derivative
    (``create_graph=True`` differentiates the plain product) against finite differences (away
    from a zero vector, where the map jumps and finite differences mean nothing)."""
    x = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    for dim in (0, 1):
        assert gradcheck(lambda t, d=dim: normalize(t, d), (x,))
        assert gradgradcheck(lambda t, d=dim: normalize(t, d), (x,))


def test_compiled_matches_eager():
    """Under ``torch.compile`` the plain product is traced: same values and gradients."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(16, 8, generator=g)
    up = torch.randn(16, 8, generator=g)
    compiled = torch.compile(lambda t: normalize(t, 1), backend="aot_eager", fullgraph=True)
    y, dx = _value_and_grad(compiled, x, up)
    ry, rdx = _value_and_grad(lambda t: normalize(t, 1), x, up)
    torch.testing.assert_close(y, ry)
    torch.testing.assert_close(dx, rdx)


@pytest.mark.parametrize(
    "dtype, compute, out",
    [
        (torch.bfloat16, torch.float32, torch.bfloat16),  # the contrastive losses' operands
        (torch.bfloat16, torch.float32, torch.float32),
        (torch.float16, torch.float32, torch.float32),
        (torch.float32, torch.float64, torch.float32),
    ],
)
def test_compute_and_out_dtypes_are_the_casts_around_it(dtype, compute, out):
    """``normalize(x, compute=, out=)`` gives the numbers of ``normalize(x.to(compute))
    .to(out)`` bit for bit, values and gradients (the gradient returned in ``x``'s dtype), in
    one autograd node; its second derivatives are those of the composite too."""
    g0 = torch.Generator().manual_seed(3)
    x = torch.randn(6, 5, generator=g0).to(dtype)
    g = torch.randn(6, 5, generator=g0)

    def composite(t):
        return normalize(t.to(compute)).to(out)

    def fused(t):
        return normalize(t, compute=compute, out=out)

    got, want = _value_and_grad(fused, x, g), _value_and_grad(composite, x, g)
    assert got[0].dtype == out and got[1].dtype == dtype
    for a, b in zip(got, want):
        assert torch.equal(a, b)
    leaf = x.detach().clone().requires_grad_(True)
    assert fused(leaf).grad_fn.next_functions[0][0] is not None  # one node, on the leaf
    assert type(fused(leaf).grad_fn).__name__ == "_NormalizeBackward"
    # second derivatives: the gradient's gradient along g2, fused against the composite
    g2 = torch.randn(6, 5, generator=g0).to(dtype)
    hvp = []
    for fn in (fused, composite):
        leaf = x.detach().clone().requires_grad_(True)
        (dx,) = torch.autograd.grad(fn(leaf), leaf, g.to(out), create_graph=True)
        (ddx,) = torch.autograd.grad(dx, leaf, g2)
        hvp.append(ddx)
    assert hvp[0].abs().sum() > 0
    torch.testing.assert_close(hvp[0], hvp[1])
