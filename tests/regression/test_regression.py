"""The regression family against torch.nn.functional (and a loop reference for Charbonnier).

Convention mapping: torch's ``smooth_l1_loss(beta)`` and ``huber_loss(delta)`` are the same
quantities as ours; torch has no elementwise ``weight``, so weighted cases are compared to
``(w * F.*(reduction="none")).mean()``: our mean divides by the element count, mmdetection's
``weight_reduce_loss`` convention (checked against a loop of mmdetection's code, which cannot
be installed here). Charbonnier with ``eps=1e-3`` and ``"sum"`` is LapSRN's loss (a loop of
its MatConvNet code, value and hand-written gradient).
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import visionloss as vl
from tests.conftest import HALF_DTYPES, assert_close_dtype
from tests.helpers import assert_finite_graph, gradcheck, grads
from tests.reference import regression as ref

# (our function, options, torch reference taking reduction="none")
CASES = [
    pytest.param(vl.l1_loss, {}, lambda x, y: F.l1_loss(x, y, reduction="none"), id="l1"),
    pytest.param(vl.mse_loss, {}, lambda x, y: F.mse_loss(x, y, reduction="none"), id="mse"),
    pytest.param(
        vl.smooth_l1_loss,
        {"beta": 0.5},
        lambda x, y: F.smooth_l1_loss(x, y, beta=0.5, reduction="none"),
        id="smooth_l1",
    ),
    pytest.param(
        vl.smooth_l1_loss,
        {"beta": 0.0},
        lambda x, y: F.l1_loss(x, y, reduction="none"),
        id="smooth_l1-beta0-is-l1",
    ),
    pytest.param(
        vl.huber_loss,
        {"delta": 2.0},
        lambda x, y: F.huber_loss(x, y, delta=2.0, reduction="none"),
        id="huber",
    ),
    pytest.param(
        vl.charbonnier_loss, {"eps": 0.1}, lambda x, y: ref.charbonnier(x, y, 0.1), id="charbonnier"
    ),
]
FUNCS = [
    pytest.param(vl.l1_loss, vl.L1Loss, {}, id="l1"),
    pytest.param(vl.mse_loss, vl.MSELoss, {}, id="mse"),
    pytest.param(vl.smooth_l1_loss, vl.SmoothL1Loss, {"beta": 0.3}, id="smooth_l1"),
    pytest.param(vl.huber_loss, vl.HuberLoss, {"delta": 0.7}, id="huber"),
    pytest.param(vl.charbonnier_loss, vl.CharbonnierLoss, {"eps": 0.01}, id="charbonnier"),
]


def _data(shape=(3, 5, 7), dtype=torch.float64):
    g = torch.Generator().manual_seed(1)
    return (
        torch.randn(shape, generator=g, dtype=dtype) * 2,
        torch.randn(shape, generator=g, dtype=dtype) * 2,
    )


@pytest.mark.parametrize("fn, opts, peer", CASES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_matches_reference_values_and_gradients(fn, opts, peer, reduction):
    x, y = _data()
    expected = peer(x, y)
    expected = {"mean": expected.mean(), "sum": expected.sum(), "none": expected}[reduction]
    value, (gx, gy) = grads(fn, x, y, reduction=reduction, **opts)
    ref_value, (rx, ry) = grads(
        lambda a, b: {"mean": torch.mean, "sum": torch.sum, "none": lambda t: t}[reduction](
            peer(a, b)
        ),
        x,
        y,
    )
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(gx, rx)
    torch.testing.assert_close(gy, ry)


@pytest.mark.parametrize("fn, opts, peer", CASES)
def test_elementwise_weight_scales_each_term(fn, opts, peer):
    x, y = _data()
    w = torch.rand(5, 1, dtype=torch.float64)  # broadcast over the last dim
    expected = (w * peer(x, y)).mean()
    torch.testing.assert_close(fn(x, y, weight=w, **opts), expected)


@pytest.mark.parametrize(
    "fn, opts, x, y, expected",
    [
        pytest.param(vl.l1_loss, {}, [1.0, -2.0], [0.0, 0.0], [1.0, 2.0], id="l1"),
        pytest.param(vl.mse_loss, {}, [1.0, -2.0], [0.0, 0.0], [1.0, 4.0], id="mse"),
        # |d| < beta: 0.5 * 0.25 / 1 ; |d| >= beta: 3 - 0.5
        pytest.param(
            vl.smooth_l1_loss, {"beta": 1.0}, [0.5, 3.0], [0.0, 0.0], [0.125, 2.5], id="smooth_l1"
        ),
        # delta * (|d| - delta / 2) = 2 * (3 - 1)
        pytest.param(vl.huber_loss, {"delta": 2.0}, [1.0, 3.0], [0.0, 0.0], [0.5, 4.0], id="huber"),
        # sqrt(3^2 + 4^2)
        pytest.param(
            vl.charbonnier_loss, {"eps": 4.0}, [3.0, 0.0], [0.0, 0.0], [5.0, 4.0], id="charbonnier"
        ),
    ],
)
def test_hand_values(fn, opts, x, y, expected):
    out = fn(torch.tensor(x), torch.tensor(y), reduction="none", **opts)
    torch.testing.assert_close(out, torch.tensor(expected))


@pytest.mark.parametrize("fn, module, opts", FUNCS)
def test_gradcheck(fn, module, opts):
    x, y = _data((2, 3))
    x = x + 0.05  # keep away from the kinks of l1 / smooth l1 for finite differences
    gradcheck(fn, x, y, **opts)


@pytest.mark.parametrize("fn, module, opts", FUNCS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_module_equals_function(fn, module, opts, reduction):
    x, y = _data()
    m = module(reduction=reduction, **opts)
    torch.testing.assert_close(m(x, y), fn(x, y, reduction=reduction, **opts))
    assert (
        vl.build_loss(vl.get_loss(fn.__name__.removesuffix("_loss")).name, **opts)(x, y).shape == ()
    )


@pytest.mark.parametrize("fn, module, opts", FUNCS)
def test_none_keeps_input_shape(fn, module, opts):
    x, y = _data((2, 3, 4))
    assert fn(x, y, reduction="none", **opts).shape == (2, 3, 4)


@pytest.mark.parametrize("fn, module, opts", FUNCS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_empty_input_is_zero_with_graph(fn, module, opts, reduction):
    x = torch.zeros(0, 3, requires_grad=True)
    out = fn(x, torch.zeros(0, 3), reduction=reduction, **opts)
    if reduction == "none":
        assert out.shape == (0, 3)
    else:
        assert out.item() == 0.0  # also for Charbonnier, whose minimum is eps
        assert_finite_graph(out, x)


@pytest.mark.parametrize("fn, module, opts", FUNCS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_all_zero_weight_gives_zero_with_zero_gradient(fn, module, opts, reduction):
    x, y = _data((2, 3))
    value, (gx, gy) = grads(
        fn, x, y, weight=torch.zeros(2, 3, dtype=x.dtype), reduction=reduction, **opts
    )
    assert torch.equal(value, torch.zeros_like(value))
    assert torch.equal(gx, torch.zeros_like(gx)) and torch.equal(gy, torch.zeros_like(gy))


@pytest.mark.parametrize("fn, module, opts", FUNCS)
def test_zero_error_has_finite_zero_gradient(fn, module, opts):
    x = torch.ones(4, requires_grad=True)
    out = fn(x, torch.ones(4), **opts)
    (g,) = torch.autograd.grad(out, x)
    assert torch.equal(g, torch.zeros(4))


@pytest.mark.parametrize("fn, module, opts", FUNCS)
@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_half_inputs_computed_in_fp32(fn, module, opts, dtype):
    x, y = _data(dtype=torch.float32)
    x, y = x * 100, y * 100  # squares overflow fp16 if computed in it (mse of 1e4 errors)
    out = fn(x.to(dtype), y.to(dtype), **opts)
    assert out.dtype == torch.float32
    assert_close_dtype(out, fn(x.to(dtype).float(), y.to(dtype).float(), **opts), dtype)
    big = torch.full((4,), 6e4, dtype=dtype)
    assert torch.isfinite(fn(big, -big, **opts))


@pytest.mark.parametrize("fn, module, opts", FUNCS)
@pytest.mark.parametrize(
    "args, error, match",
    [
        pytest.param(
            lambda: (torch.zeros(2, 3), torch.zeros(3, 2)),
            ValueError,
            r"expected target of shape \(2, 3\) matching input, got \(3, 2\)",
            id="shape",
        ),
        pytest.param(
            lambda: (torch.zeros(2, dtype=torch.long), torch.zeros(2)),
            TypeError,
            "floating-point",
            id="int-input",
        ),
        pytest.param(lambda: ([0.0, 1.0], torch.zeros(2)), TypeError, "torch.Tensor", id="list"),
    ],
)
def test_bad_inputs(fn, module, opts, args, error, match):
    with pytest.raises(error, match=fn.__name__ + ".*" + match):
        fn(*args(), **opts)


@pytest.mark.parametrize("fn, module, opts", FUNCS)
def test_bad_reduction_and_weight(fn, module, opts):
    x = torch.zeros(2, 3)
    with pytest.raises(ValueError, match=f"{fn.__name__}: expected reduction .* got 'avg'"):
        fn(x, x, reduction="avg", **opts)
    with pytest.raises(ValueError, match="weight broadcastable to"):
        fn(x, x, weight=torch.ones(4), **opts)
    with pytest.raises(ValueError, match="reduction"):
        module(reduction="batchmean", **opts)


@pytest.mark.parametrize(
    "fn, name",
    [
        pytest.param(vl.smooth_l1_loss, "beta", id="beta"),
        pytest.param(vl.huber_loss, "delta", id="delta"),
        pytest.param(vl.charbonnier_loss, "eps", id="eps"),
    ],
)
def test_bad_options(fn, name):
    with pytest.raises(ValueError, match=f"{fn.__name__}: expected {name}"):
        fn(torch.zeros(2), torch.zeros(2), **{name: -1.0})


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
def test_charbonnier_does_not_overflow_for_large_finite_errors(dtype):
    """sqrt(d^2 + eps^2) overflows float32 beyond |d| ~ 1.8e19 (bf16 holds such values)."""
    x = torch.tensor([1e20, -3e30], dtype=dtype, requires_grad=True)
    out = vl.charbonnier_loss(x, torch.zeros(2, dtype=dtype), reduction="none")
    torch.testing.assert_close(out, x.detach().float().abs())
    (g,) = torch.autograd.grad(out.sum(), x)
    torch.testing.assert_close(g.float(), torch.tensor([1.0, -1.0]))


def test_huber_is_delta_times_smooth_l1():
    x, y = _data()
    torch.testing.assert_close(
        vl.huber_loss(x, y, delta=0.4), 0.4 * vl.smooth_l1_loss(x, y, beta=0.4)
    )


def test_mse_of_fp16_extremes_is_squared_in_fp32():
    big = torch.tensor([6e4], dtype=torch.float16)
    out = vl.mse_loss(big, -big)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, torch.tensor(1.44e10))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("beta", [0.5, 1.0])
@pytest.mark.parametrize(
    "weight",
    [
        pytest.param(None, id="no-weight"),
        pytest.param(_data((5, 1))[0].abs(), id="weight-broadcast"),
        pytest.param((_data()[1] > 0).double(), id="weight-0-1"),
    ],
)
def test_weighted_smooth_l1_is_mmdetection(reduction, beta, weight):
    """The docstring's "the convention of mmdetection's weight_reduce_loss": the elementwise
    weight multiplies each term and the mean divides by the element count."""
    x, y = _data()
    value, (gx, gy) = grads(vl.smooth_l1_loss, x, y, beta=beta, weight=weight, reduction=reduction)
    expected, (rx, ry) = grads(
        lambda a, b: ref.mmdet_smooth_l1(a, b, beta, weight, reduction), x, y
    )
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(gx, rx)
    torch.testing.assert_close(gy, ry)


def test_charbonnier_is_lapsrn_with_eps_1e_3_and_sum():
    """The docstring's "the LapSRN form" and "default 1e-3, as LapSRN": LapSRN puts 1e-6
    under the root (``sqrt(d^2 + 1e-6)``) and sums; its backward is ``d / e``."""
    x, y = _data()
    expected, expected_grad = ref.lapsrn_charbonnier(x, y)
    value, (gx, gy) = grads(vl.charbonnier_loss, x, y, reduction="sum")  # default eps
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(gx, expected_grad)
    torch.testing.assert_close(gy, -expected_grad)


@pytest.mark.parametrize("fn, module, opts", FUNCS)
def test_negative_weights_raise_and_nan_weights_give_nan(fn, module, opts):
    x, y = _data((2, 3))
    w = torch.ones(2, 3, dtype=x.dtype)
    w[1, 2] = -0.5
    with pytest.raises(ValueError, match=rf"^{fn.__name__}: expected weight >= 0"):
        fn(x, y, weight=w, **opts)
    with pytest.raises(ValueError, match=rf"^{fn.__name__}: expected weight >= 0"):
        module(**opts)(x, y, weight=w)
    w[1, 2] = math.nan
    assert torch.isnan(fn(x, y, weight=w, **opts))
    previous = vl.set_value_checks(False)
    try:
        w[1, 2] = -0.5
        assert torch.isfinite(fn(x, y, weight=w, **opts))
    finally:
        vl.set_value_checks(previous)


@pytest.mark.parametrize("fn, module, opts", FUNCS)
def test_negative_weights_raise_under_torch_compile(fn, module, opts):
    x, y = _data((2, 3))
    w = -torch.ones(2, 3, dtype=x.dtype)
    torch._dynamo.reset()
    try:
        with pytest.raises(Exception, match=f"{fn.__name__}: expected weight >= 0"):
            torch.compile(fn, backend="eager", fullgraph=True)(x, y, weight=w, **opts)
    finally:
        torch._dynamo.reset()


@pytest.mark.parametrize("fn, module, opts", FUNCS)
@pytest.mark.parametrize("side", [0, 1], ids=["input", "target"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_a_nan_input_gives_a_nan_loss(fn, module, opts, side, reduction):
    args = list(_data((2, 3)))
    args[side][1, 1] = math.nan
    assert torch.isnan(fn(*args, reduction=reduction, **opts))
