"""The hand-derived backward of the pooled SSIM map (``_ssim_stats.PooledSSIM``).

gradcheck in float64 (2-D and 3-D, ``"valid"`` and reflect-padded ``"same"``, the full SSIM
and the contrast-structure term, both inputs), values and gradients equal to the plain
autograd graph of ``pooled_map`` in float32, the adjoint of the Gaussian filter by its
defining identity, and the zero-denominator convention (value 1, zero gradient).
"""

from __future__ import annotations

import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck

from visionloss.quality._ssim import gaussian_window
from visionloss.quality._ssim_stats import (
    PooledSSIM,
    gaussian_filter,
    gaussian_filter_adjoint,
    pooled_map,
)

C1, C2 = 1e-4, 9e-4


def _pair(shape, dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    y = torch.rand(shape, generator=gen, dtype=torch.float64) * 0.6 + 0.2
    x = (y + 0.1 * torch.randn(shape, generator=gen, dtype=torch.float64)).clamp(0, 1)
    return x.to(dtype), y.to(dtype)


SHAPES = [pytest.param((2, 2, 9, 10), id="2d"), pytest.param((1, 2, 7, 8, 9), id="3d")]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("full", [True, False])
def test_gradcheck_both_inputs(shape, padding, full):
    x, y = _pair(shape)
    w = gaussian_window(5, 1.5, torch.float64, "cpu")
    x.requires_grad_(True)
    y.requires_grad_(True)
    assert gradcheck(lambda a, b: PooledSSIM.apply(a, b, w, C1, C2, padding, full), (x, y))


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_second_derivative_through_the_plain_graph(padding):
    x, y = _pair((1, 1, 8, 9))
    w = gaussian_window(5, 1.5, torch.float64, "cpu")
    x.requires_grad_(True)
    assert gradgradcheck(lambda a: PooledSSIM.apply(a, y, w, C1, C2, padding, True), (x,))


@pytest.mark.parametrize("shape", [(4, 3, 40, 36), (2, 1, 12, 14, 16)])
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("full", [True, False])
def test_equals_the_plain_graph(shape, padding, full):
    x, y = _pair(shape, torch.float32, seed=1)
    w = gaussian_window(11 if len(shape) == 4 else 7, 1.5, torch.float32, "cpu")
    a, b = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ya, yb = y.clone().requires_grad_(True), y.clone().requires_grad_(True)
    fast = PooledSSIM.apply(a, ya, w, C1, C2, padding, full)
    plain = pooled_map(b, yb, w, C1, C2, padding, full)
    torch.testing.assert_close(fast, plain, rtol=1e-5, atol=1e-6)
    weights = torch.randn(fast.shape, generator=torch.Generator().manual_seed(2))
    ga = torch.autograd.grad((fast * weights).sum(), (a, ya))
    gb = torch.autograd.grad((plain * weights).sum(), (b, yb))
    for u, v in zip(ga, gb):
        torch.testing.assert_close(u, v, rtol=1e-4, atol=1e-8)


@pytest.mark.parametrize("shape", [(2, 3, 13, 17), (1, 2, 9, 10, 11)])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_filter_adjoint_identity(shape, padding):
    """<filter(z), g> = <z, adjoint(g)> for random z and g."""
    gen = torch.Generator().manual_seed(3)
    w = gaussian_window(7, 1.5, torch.float64, "cpu")
    z = torch.randn(shape, generator=gen, dtype=torch.float64)
    fz = gaussian_filter(z, w, padding)
    g = torch.randn(fz.shape, generator=gen, dtype=torch.float64)
    adj = gaussian_filter_adjoint(g, w, padding)
    assert adj.shape == z.shape
    torch.testing.assert_close((fz * g).sum(), (z * adj).sum(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(2, 3, 13, 17), (1, 2, 9, 10, 11)])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_shifted_slice_filters_equal_the_convolutions(monkeypatch, shape, padding):
    """Under torch.compile the filter is a sum of shifted slices (no convolution in the
    forward's graph, so inductor keeps the maps' layout): the same numbers as the depthwise
    convolutions, and the transposed convolutions of the backward are its adjoint."""
    gen = torch.Generator().manual_seed(4)
    w = gaussian_window(7, 1.5, torch.float64, "cpu")
    w = w * torch.linspace(0.5, 1.5, 7, dtype=torch.float64)  # not symmetric
    z = torch.randn(shape, generator=gen, dtype=torch.float64)
    conv_fz = gaussian_filter(z, w, padding)
    g = torch.randn(conv_fz.shape, generator=gen, dtype=torch.float64)
    adj = gaussian_filter_adjoint(g, w, padding)  # transposed convolutions, compiled or not
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    fz = gaussian_filter(z, w, padding)
    torch.testing.assert_close(fz, conv_fz, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close((fz * g).sum(), (z * adj).sum(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_compiled_pooled_map_equals_eager(padding):
    """The Function compiled by inductor (shifted-slice filter) against eager, values and
    gradients of both inputs."""
    x, y = _pair((2, 3, 24, 20), dtype=torch.float32)
    w = gaussian_window(7, 1.5, torch.float32, "cpu")

    def pooled(a, b):
        return PooledSSIM.apply(a, b, w, C1, C2, padding, True)

    x.requires_grad_(True)
    y.requires_grad_(True)
    g = torch.rand(2, 3)
    eager = pooled(x, y)
    e_grads = torch.autograd.grad(eager, (x, y), g)
    compiled = torch.compile(pooled, fullgraph=True, dynamic=False)(x, y)
    c_grads = torch.autograd.grad(compiled, (x, y), g)
    torch.testing.assert_close(compiled, eager, rtol=1e-5, atol=1e-6)
    for c, e in zip(c_grads, e_grads):
        torch.testing.assert_close(c, e, rtol=1e-4, atol=1e-6)


def test_zero_denominators_give_one_with_zero_gradient():
    """Constant images with K1 = K2 = 0: every local variance and (for zero images) mean is
    0, so each quotient is 0/0: SSIM 1 and a zero gradient, finite, as in the plain graph."""
    x = torch.zeros(1, 1, 12, 12, dtype=torch.float64, requires_grad=True)
    y = torch.zeros(1, 1, 12, 12, dtype=torch.float64)
    w = gaussian_window(5, 1.5, torch.float64, "cpu")
    value = PooledSSIM.apply(x, y, w, 0.0, 0.0, "valid", True)
    (g,) = torch.autograd.grad(value.sum(), x)
    assert value.item() == 1.0
    assert torch.isfinite(g).all() and (g == 0).all()
