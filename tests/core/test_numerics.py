"""The guarded primitives of ``_core/numerics.py``: finite values and gradients for every finite
input over the whole float range (subnormals included), exact values where the plain formula
is representable, NaN passed through, double backward."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from visionloss._core import numerics as N

DTYPES = {32: torch.float32, 64: torch.float64}


def _floats(width: int, **kw):
    return st.floats(allow_nan=False, allow_infinity=False, width=width, **kw)


def _value_and_grads(fn, *values, dtype):
    xs = [torch.tensor(v, dtype=dtype, requires_grad=True) for v in values]
    out = fn(*xs)
    if not out.requires_grad:  # a constant (focal_factor with gamma 0)
        return out, []
    grads = torch.autograd.grad(out.sum(), xs, allow_unused=True)
    return out, [torch.zeros(()) if g is None else g for g in grads]


def _assert_finite(out, grads):
    assert torch.isfinite(out).all(), out
    for g in grads:
        assert torch.isfinite(g).all(), g


@pytest.mark.parametrize("width", [32, 64])
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_div_is_finite_everywhere(width, data):
    num = data.draw(_floats(width))
    den = data.draw(_floats(width))
    out, grads = _value_and_grads(lambda a, b: N.div(a, b, 0.5), num, den, dtype=DTYPES[width])
    _assert_finite(out, grads)
    tiny, big = torch.finfo(DTYPES[width]).tiny, torch.finfo(DTYPES[width]).max
    if abs(den) < tiny:
        assert out.item() == 0.5 and grads[0].item() == 0.0 and grads[1].item() == 0.0
    elif abs(num / den) < big:
        assert out.item() == pytest.approx(
            torch.tensor(num, dtype=DTYPES[width]).item()
            / torch.tensor(den, dtype=DTYPES[width]).item(),
            rel=1e-6,
        )


def _function_div(num, den, default):
    """The autograd Function's value and gradient of ``num``, the reference of the fast path."""
    x = num.detach().clone().requires_grad_(True)
    d = den.to(x.dtype).expand_as(x)
    out = N._Div.apply(x, d, default)
    (g,) = torch.autograd.grad(out.sum(), x)
    return out.detach(), g


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize(
    "den",
    [
        pytest.param(torch.tensor(7), id="int-count"),
        pytest.param(torch.tensor(1), id="int-one"),
        pytest.param(torch.tensor(3.5), id="float-count"),
        pytest.param(torch.tensor(-2.0), id="negative"),
        pytest.param(torch.tensor(1e30), id="huge"),
        pytest.param(torch.tensor(0), id="zero-count"),
        pytest.param(torch.tensor(1e-30), id="tiny-overflows"),
        pytest.param(torch.tensor(0.25), id="below-one"),
        pytest.param(torch.tensor(float("nan")), id="nan"),
    ],
)
def test_div_by_a_host_count_equals_the_function(dtype, den):
    # a 0-dim CPU denominator without a gradient (the mean of masked terms) is read on the
    # host and, where |den| >= 1, divided as a number; elsewhere the Function runs as before
    num = torch.tensor([3.0, -1e10, 0.0, 1e38], dtype=dtype)
    x = num.clone().requires_grad_(True)
    out = N.div(x, den, 0.5)
    (g,) = torch.autograd.grad(out.sum(), x)
    ref, ref_g = _function_div(num, den, 0.5)
    torch.testing.assert_close(out.detach(), ref, rtol=0, atol=0, equal_nan=True)
    # the Function multiplies by 1 / den, the division divides: one rounding apart
    torch.testing.assert_close(g, ref_g, rtol=2 * torch.finfo(dtype).eps, atol=0, equal_nan=True)


def test_div_host_count_path_skips_the_function(monkeypatch):
    calls = []
    monkeypatch.setattr(N._Div, "apply", lambda *a: calls.append(1) or a[0] / a[1])
    x = torch.ones(3, requires_grad=True)
    N.div(x.sum(), torch.tensor(4))  # fast path
    assert calls == []
    N.div(x.sum(), torch.tensor(4.0, requires_grad=True))  # a gradient for den: the Function
    N.div(x.sum().half(), torch.tensor(4))  # fp16 keeps the Function's rounding of den
    N.div(x.sum(), torch.tensor(0.5))  # |den| < 1 may overflow: the Function clamps
    assert len(calls) == 3


@pytest.mark.parametrize("width", [32, 64])
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_sqrt_is_finite_everywhere(width, data):
    x = data.draw(_floats(width))
    out, grads = _value_and_grads(N.sqrt, x, dtype=DTYPES[width])
    _assert_finite(out, grads)
    if x >= torch.finfo(DTYPES[width]).tiny:
        assert out.item() == pytest.approx(math.sqrt(x), rel=1e-6)
    else:
        assert out.item() == 0.0 and grads[0].item() == 0.0


@pytest.mark.parametrize("width", [32, 64])
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_pow_is_finite_everywhere(width, data):
    x = data.draw(_floats(width))
    e = data.draw(st.floats(0.01, 8.0).filter(lambda v: v != 1.0))  # 1 returns x itself
    out, grads = _value_and_grads(lambda t: N.pow(t, e), x, dtype=DTYPES[width])
    _assert_finite(out, grads)
    if x < torch.finfo(DTYPES[width]).tiny:
        assert out.item() == 0.0


@pytest.mark.parametrize("width", [32, 64])
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_norm_is_finite_everywhere(width, data):
    v = data.draw(st.lists(_floats(width), min_size=1, max_size=4))
    x = torch.tensor(v, dtype=DTYPES[width], requires_grad=True)
    out = N.norm(x)
    (g,) = torch.autograd.grad(out, x)
    _assert_finite(out, [g])
    assert (g.abs() <= 1 + 1e-6).all()
    exact = math.hypot(*(float(a) for a in x.detach().double()))
    info = torch.finfo(DTYPES[width])
    if x.detach().abs().max() < info.tiny:  # below the smallest normal number counts as zero
        assert out.item() == 0.0
    elif exact < info.max:
        assert out.item() == pytest.approx(exact, rel=1e-5)


@pytest.mark.parametrize("width", [32, 64])
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_log1mexp_and_focal_factor_are_finite_everywhere(width, data):
    x = data.draw(_floats(width, max_value=0.0))
    gamma = data.draw(st.floats(0.0, 5.0))
    out, grads = _value_and_grads(N.log1mexp, x, dtype=DTYPES[width])
    _assert_finite(out, grads)
    out, grads = _value_and_grads(lambda t: N.focal_factor(t, gamma), x, dtype=DTYPES[width])
    _assert_finite(out, grads)
    assert 0.0 <= out.item() <= 1.0


@pytest.mark.parametrize(
    "fn",
    [
        pytest.param(lambda x: N.div(x, x + 2.0), id="div"),
        pytest.param(lambda x: N.sqrt(x), id="sqrt"),
        pytest.param(lambda x: N.pow(x, 0.7), id="pow"),
        pytest.param(lambda x: N.norm(x, dim=0, keepdim=True), id="norm"),
        pytest.param(lambda x: N.log1mexp(-x), id="log1mexp"),
        pytest.param(lambda x: N.focal_factor(-x, 2.0), id="focal_factor"),
    ],
)
def test_gradcheck_and_double_backward(fn):
    x = torch.tensor([0.3, 1.7, 4.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


@pytest.mark.parametrize(
    "fn",
    [
        pytest.param(lambda x: N.div(x, torch.ones_like(x)), id="div-num"),
        pytest.param(lambda x: N.div(torch.ones_like(x), x), id="div-den"),
        pytest.param(N.sqrt, id="sqrt"),
        pytest.param(lambda x: N.pow(x, 0.5), id="pow"),
        pytest.param(lambda x: N.norm(x, dim=0), id="norm"),
        pytest.param(N.log1mexp, id="log1mexp"),
        pytest.param(lambda x: N.focal_factor(x, 2.0), id="focal_factor"),
    ],
)
def test_nan_passes_through(fn):
    assert torch.isnan(fn(torch.tensor([float("nan")]))).all()


def test_focal_factor_matches_the_plain_formula():
    p = torch.tensor([1e-6, 0.1, 0.5, 0.9, 0.999], dtype=torch.float64)
    for gamma in (0.0, 0.5, 2.0):
        assert torch.allclose(N.focal_factor(p.log(), gamma), (1 - p) ** gamma, rtol=1e-12)
