"""cycle_consistency_loss and identity_loss (CycleGAN): lambda-weighted L1 against
torch.nn.functional.l1_loss, hand values, reductions, gradcheck, half inputs, CPU autocast,
bad inputs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import visionloss as vl
from tests.conftest import HALF_DTYPES, assert_close_dtype
from tests.helpers import assert_finite_graph, gradcheck, grads

# (function, Module, options, weight of the L1 term)
LOSSES = [
    pytest.param(vl.cycle_consistency_loss, vl.CycleConsistencyLoss, {}, 10.0, id="cycle"),
    pytest.param(
        vl.cycle_consistency_loss, vl.CycleConsistencyLoss, {"lambda_": 4.0}, 4.0, id="cycle-lambda"
    ),
    pytest.param(vl.identity_loss, vl.IdentityLoss, {}, 5.0, id="identity"),
    pytest.param(
        vl.identity_loss,
        vl.IdentityLoss,
        {"lambda_": 10.0, "lambda_identity": 0.1},
        1.0,
        id="identity-0.1",
    ),
]


def _images(seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(2, 3, 5, 6, generator=g, dtype=dtype) * 2 - 1


@pytest.mark.parametrize("fn, module, opts, weight", LOSSES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_matches_weighted_torch_l1(fn, module, opts, weight, reduction):
    x, y = _images(), _images(1)
    value, (gx, gy) = grads(fn, x, y, reduction=reduction, **opts)
    expected, (ex, ey) = grads(lambda a, b: weight * F.l1_loss(a, b, reduction=reduction), x, y)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(gx, ex)
    torch.testing.assert_close(gy, ey)
    torch.testing.assert_close(module(reduction=reduction, **opts)(x, y), value)


def test_hand_values_and_the_full_cycle_term():
    x = torch.zeros(1, 3, 2, 2)
    torch.testing.assert_close(vl.cycle_consistency_loss(x + 0.1, x), torch.tensor(1.0))
    torch.testing.assert_close(vl.identity_loss(x + 0.2, x), torch.tensor(1.0))  # 0.5*10*0.2
    # CycleGAN adds both directions: F(G(x)) vs x and G(F(y)) vs y
    both = vl.cycle_consistency_loss(x + 0.1, x) + vl.cycle_consistency_loss(x - 0.3, x)
    torch.testing.assert_close(both, torch.tensor(4.0))


@pytest.mark.parametrize("fn, module, opts, weight", LOSSES)
def test_gradcheck(fn, module, opts, weight):
    x, y = _images(), _images(1)
    gradcheck(fn, x[:1, :1], y[:1, :1], **opts)


@pytest.mark.parametrize("fn, module, opts, weight", LOSSES)
@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_half_inputs_computed_in_fp32(fn, module, opts, weight, dtype):
    x, y = _images(dtype=torch.float32), _images(1, dtype=torch.float32)
    out = fn(x.to(dtype), y.to(dtype), **opts)
    assert out.dtype == torch.float32
    assert_close_dtype(out, fn(x.to(dtype).float(), y.to(dtype).float(), **opts), dtype)


@pytest.mark.parametrize("fn, module, opts, weight", LOSSES)
@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_cpu_autocast(fn, module, opts, weight, dtype):
    """A generator run under autocast returns a half-precision reconstruction; the loss,
    computed in the same region, is float32, close to the fp32 run, with a finite graph."""
    torch.manual_seed(0)
    net = torch.nn.Conv2d(3, 3, 3, padding=1)
    x = _images(dtype=torch.float32).requires_grad_(True)
    y = _images(1, dtype=torch.float32)
    ref = fn(net(x), y, **opts)
    with torch.autocast("cpu", dtype=dtype):
        rec = net(x)
        assert rec.dtype == dtype
        out = fn(rec, y, **opts)
        by_module = module(**opts)(rec, y)
    assert out.dtype == by_module.dtype == torch.float32
    assert_finite_graph(out, x, *net.parameters())
    assert_close_dtype(out, ref, dtype)
    torch.testing.assert_close(by_module, out)


@pytest.mark.parametrize("fn, module, opts, weight", LOSSES)
def test_empty_and_zero_error(fn, module, opts, weight):
    x = torch.zeros(0, 3, 4, 4, requires_grad=True)
    out = fn(x, torch.zeros(0, 3, 4, 4), **opts)
    assert out.item() == 0.0
    assert_finite_graph(out, x)
    y = torch.ones(1, 3, 2, 2, requires_grad=True)
    (g,) = torch.autograd.grad(fn(y, torch.ones(1, 3, 2, 2), **opts), y)
    assert torch.equal(g, torch.zeros_like(g))


@pytest.mark.parametrize(
    "call, error, match",
    [
        pytest.param(
            lambda: vl.cycle_consistency_loss(torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 2, 3)),
            ValueError,
            r"cycle_consistency_loss: expected target of shape \(1, 3, 2, 2\) matching "
            r"input, got \(1, 3, 2, 3\)",
            id="shape",
        ),
        pytest.param(
            lambda: vl.identity_loss(torch.zeros(2), torch.zeros(2), lambda_identity=-0.5),
            ValueError,
            "identity_loss: expected lambda_identity >= 0",
            id="lambda-identity",
        ),
        pytest.param(
            lambda: vl.cycle_consistency_loss(torch.zeros(2), torch.zeros(2), lambda_=-1.0),
            ValueError,
            "cycle_consistency_loss: expected lambda_ >= 0",
            id="lambda",
        ),
        pytest.param(
            lambda: vl.identity_loss(torch.zeros(2, dtype=torch.long), torch.zeros(2)),
            TypeError,
            "identity_loss: expected input to be a floating-point",
            id="int",
        ),
        pytest.param(
            lambda: vl.CycleConsistencyLoss(reduction="avg"),
            ValueError,
            "expected reduction",
            id="reduction",
        ),
    ],
)
def test_bad_inputs(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_registry_names():
    assert isinstance(vl.build_loss("cycle"), vl.CycleConsistencyLoss)
    assert isinstance(vl.build_loss("identity", lambda_identity=0.1), vl.IdentityLoss)
