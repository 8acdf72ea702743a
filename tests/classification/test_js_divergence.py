"""js_divergence_loss against its definition through torch's kl_div and a float64 loop.

torch and the peer libraries have no JS divergence; the mapping is the definition
``JS = (KL(p || m) + KL(q || m)) / 2`` with ``m = (p + q) / 2``, each KL by ``F.kl_div``.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import visionloss as vl
from tests.helpers import assert_finite_graph, gradcheck, grads
from tests.reference import classification as ref

from ._data import logits

SHAPES = [pytest.param((5, 4), id="NC"), pytest.param((2, 4, 3, 3), id="NCHW")]


def _torch_js(x, t, reduction="batchmean", temperature=1.0):
    q, p = F.softmax(x / temperature, 1), F.softmax(t / temperature, 1)
    log_m = ((p + q) / 2).log()
    kl = F.kl_div(log_m, p, reduction=reduction) + F.kl_div(log_m, q, reduction=reduction)
    return temperature**2 * kl / 2


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reduction", ["batchmean", "sum"])
@pytest.mark.parametrize("temperature", [1.0, 2.5])
def test_matches_definition_through_torch(shape, reduction, temperature):
    x, t = logits(*shape), logits(*shape, seed=7)
    value, (gx, gt) = grads(
        lambda a, b: vl.js_divergence_loss(a, b, reduction=reduction, temperature=temperature), x, t
    )
    expected, (rx, rt) = grads(lambda a, b: _torch_js(a, b, reduction, temperature), x, t)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(gx, rx)
    torch.testing.assert_close(gt, rt)


def test_matches_float64_loop_and_is_symmetric():
    x, t = logits(6, 5), logits(6, 5, seed=7)
    out = vl.js_divergence_loss(x, t, reduction="none")
    torch.testing.assert_close(out, ref.js(x, t))
    torch.testing.assert_close(out, vl.js_divergence_loss(t, x, reduction="none"))
    assert ((out >= 0) & (out <= math.log(2))).all()


def test_disjoint_supports_give_log_2_with_finite_gradients():
    a = torch.tensor([[0.0, -math.inf, -math.inf], [0.0, 0.0, -math.inf]], requires_grad=True)
    b = torch.tensor([[-math.inf, 0.0, 0.0], [-math.inf, -math.inf, 0.0]], requires_grad=True)
    out = vl.js_divergence_loss(a, b, reduction="none")
    torch.testing.assert_close(out, torch.full((2,), math.log(2)))
    assert_finite_graph(out, a, b)
    assert torch.isinf(vl.kl_divergence_loss(a, b))  # where the KL is infinite


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_disjoint_supports_and_opposite_saturated_logits_are_flat_at_the_maximum(temperature):
    a = torch.tensor([[0.0, -math.inf, -math.inf], [1e4, -1e4, -1e4]], requires_grad=True)
    b = torch.tensor([[-math.inf, 0.0, 0.0], [-1e4, 1e4, -1e4]], requires_grad=True)
    out = vl.js_divergence_loss(a, b, temperature=temperature, reduction="none")
    torch.testing.assert_close(out, torch.full((2,), temperature**2 * math.log(2)))
    ga, gb = torch.autograd.grad(out.sum(), (a, b))
    assert torch.equal(ga, torch.zeros_like(ga)) and torch.equal(gb, torch.zeros_like(gb))


def test_hand_value_and_zero_for_equal():
    # p = [1, 0], q = [1/2, 1/2]: m = [3/4, 1/4]
    p = torch.tensor([[0.0, -math.inf]], dtype=torch.float64)
    q = torch.zeros(1, 2, dtype=torch.float64)
    expected = 0.5 * math.log(4 / 3) + 0.5 * (0.5 * math.log(2 / 3) + 0.5 * math.log(2))
    assert vl.js_divergence_loss(q, p).item() == pytest.approx(expected, rel=1e-12)
    x = logits(3, 4)
    assert vl.js_divergence_loss(x, x).abs().item() < 1e-12


def test_gradcheck():
    gradcheck(
        lambda a, b: vl.js_divergence_loss(a, b, temperature=1.5),
        logits(2, 3, 2),
        logits(2, 3, 2, seed=7),
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        pytest.param({"temperature": -1.0}, "temperature > 0", id="temperature"),
        pytest.param(
            {"reduction": "elementwise"}, "'batchmean', 'mean', 'sum', 'none'", id="reduction"
        ),
    ],
)
def test_bad_options(kwargs, match):
    with pytest.raises(ValueError, match="js_divergence_loss: .*" + match):
        vl.js_divergence_loss(torch.zeros(2, 3), torch.zeros(2, 3), **kwargs)
    with pytest.raises(ValueError, match="JSDivergenceLoss: .*" + match):
        vl.JSDivergenceLoss(**kwargs)
