"""kl_divergence_loss against torch.nn.functional.kl_div and a float64 loop.

Convention mapping: ``kl_divergence_loss(x, t)`` (forward) is
``F.kl_div(log_softmax(x), softmax(t))``, that is KL(softmax(t) || softmax(x)): torch's input is
the log of the *second* argument of the KL. ``"batchmean"`` and ``"sum"`` agree with torch;
our ``"none"`` is torch's ``"none"`` summed over the classes (one value per distribution) and
our ``"mean"`` averages those values, where torch's ``"mean"`` also divides by ``C``.
``direction="reverse"`` swaps the roles. Distillation (Hinton et al.):
``T^2 * F.kl_div(log_softmax(s / T), softmax(t / T), reduction="batchmean")``.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import visionloss as vl
from tests.helpers import assert_finite_graph, gradcheck, grads
from tests.reference import classification as ref

from ._data import labels, logits, one_hot

SHAPES = [pytest.param((5, 4), id="NC"), pytest.param((2, 4, 3, 3), id="NCHW")]


def _torch_kl(x, t, reduction, direction="forward", temperature=1.0):
    log_q, log_p = F.log_softmax(x / temperature, 1), F.log_softmax(t / temperature, 1)
    if direction == "reverse":
        log_q, log_p = log_p, log_q
    return temperature**2 * F.kl_div(log_q, log_p, reduction=reduction, log_target=True)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("direction", ["forward", "reverse"])
@pytest.mark.parametrize("temperature", [1.0, 4.0])
@pytest.mark.parametrize("reduction", ["batchmean", "sum"])
def test_matches_torch_kl_div(shape, direction, temperature, reduction):
    x, t = logits(*shape), logits(*shape, seed=7)
    opts = {"direction": direction, "temperature": temperature, "reduction": reduction}
    value, (gx, gt) = grads(lambda a, b: vl.kl_divergence_loss(a, b, **opts), x, t)
    expected, (rx, rt) = grads(
        lambda a, b: _torch_kl(a, b, reduction, direction, temperature), x, t
    )
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(gx, rx)
    torch.testing.assert_close(gt, rt)


@pytest.mark.parametrize("shape", SHAPES)
def test_none_and_mean_are_per_distribution(shape):
    x, t = logits(*shape), logits(*shape, seed=7)
    elementwise = F.kl_div(F.log_softmax(x, 1), F.softmax(t, 1), reduction="none")
    none = vl.kl_divergence_loss(x, t, reduction="none")
    torch.testing.assert_close(none, elementwise.sum(1))
    torch.testing.assert_close(vl.kl_divergence_loss(x, t, reduction="mean"), none.mean())
    # torch's reduction="mean" is elementwise.mean(): it also divides by C (and warns)
    torch.testing.assert_close(
        vl.kl_divergence_loss(x, t, reduction="mean"), elementwise.mean() * shape[1]
    )


@pytest.mark.parametrize("direction", ["forward", "reverse"])
def test_matches_float64_loop(direction):
    x, t = logits(6, 5), logits(6, 5, seed=7)
    expected = ref.kl(t, x) if direction == "forward" else ref.kl(x, t)
    torch.testing.assert_close(
        vl.kl_divergence_loss(x, t, direction=direction, reduction="none"), expected
    )


def test_seed_003_call_is_not_a_kl_divergence():
    P = torch.tensor([0.4, 0.3, 0.3], dtype=torch.float64)
    Q = torch.tensor([0.3, 0.4, 0.3], dtype=torch.float64)
    seed = F.kl_div(P.log(), Q, reduction="batchmean", log_target=True)
    # log_target=True reads Q as log-probabilities: sum exp(Q) (Q - log P), over 3 "batch" rows
    torch.testing.assert_close(seed, (Q.exp() * (Q - P.log())).sum() / 3)
    kl_qp = (Q * (Q / P).log()).sum()
    assert not math.isclose(seed.item(), kl_qp.item(), rel_tol=0.1)
    assert F.kl_div(P.log(), P, reduction="batchmean", log_target=True) > 1  # not 0 for P == P
    # the correct calls, and ours
    torch.testing.assert_close(F.kl_div(P.log(), Q, reduction="sum"), kl_qp)
    torch.testing.assert_close(vl.kl_divergence_loss(P.log()[None], Q.log()[None]), kl_qp)
    assert vl.kl_divergence_loss(P.log()[None], P.log()[None]).item() == 0.0


def test_hand_values_and_asymmetry():
    s, t = torch.tensor([[2.0, 0.0]], dtype=torch.float64), torch.zeros(1, 2, dtype=torch.float64)
    q1 = 1 / (1 + math.exp(-2.0))
    forward = 0.5 * math.log(0.5 / q1) + 0.5 * math.log(0.5 / (1 - q1))
    reverse = q1 * math.log(q1 / 0.5) + (1 - q1) * math.log((1 - q1) / 0.5)
    assert vl.kl_divergence_loss(s, t).item() == pytest.approx(forward, rel=1e-12)
    assert vl.kl_divergence_loss(s, t, direction="reverse").item() == pytest.approx(
        reverse, rel=1e-12
    )
    assert forward != pytest.approx(reverse)


def test_log_probabilities_are_accepted_as_they_are():
    x, t = logits(4, 6), logits(4, 6, seed=7)
    torch.testing.assert_close(
        vl.kl_divergence_loss(x, t), vl.kl_divergence_loss(F.log_softmax(x, 1), F.log_softmax(t, 1))
    )


def test_zero_probability_targets_give_cross_entropy_with_finite_gradients():
    x = logits(5, 4).requires_grad_(True)
    y = labels(5, num_classes=4)
    hard = one_hot(y, 4).log().requires_grad_(True)  # 0 and -inf
    out = vl.kl_divergence_loss(x, hard)  # KL(one-hot || q) = CE - H(one-hot) = CE
    torch.testing.assert_close(out, vl.cross_entropy_loss(x, y))
    gx, gt = torch.autograd.grad(out, (x, hard))
    assert torch.isfinite(gx).all() and torch.isfinite(gt).all()
    reverse = vl.kl_divergence_loss(x, hard, direction="reverse")  # q has mass where p has none
    assert torch.isinf(reverse)


def test_zero_probability_on_the_first_side_contributes_zero_in_both_directions():
    """KL(a || b) with a_c = 0: forward puts the target first, reverse the input."""
    zero = torch.tensor([[0.0, -math.inf, 0.0]], dtype=torch.float64, requires_grad=True)
    full = torch.tensor([[0.5, -1.0, 0.0]], dtype=torch.float64, requires_grad=True)
    p = torch.tensor([[0.5, 0.0, 0.5]], dtype=torch.float64)
    q = torch.softmax(full.detach(), 1)
    expected = (p[:, [0, 2]] * (p[:, [0, 2]] / q[:, [0, 2]]).log()).sum()
    for out in (
        vl.kl_divergence_loss(full, zero),  # KL(softmax(zero) || softmax(full))
        vl.kl_divergence_loss(zero, full, direction="reverse"),
    ):
        torch.testing.assert_close(out, expected)
        assert_finite_graph(out, zero, full)


def test_infinite_divergence_is_inf_with_a_finite_forward_gradient():
    """Forward KL(p || q) with q_c = 0 < p_c: the input (q) gets a finite gradient."""
    x = torch.tensor([[0.0, -math.inf, 0.0]], requires_grad=True)
    out = vl.kl_divergence_loss(x, torch.zeros(1, 3))
    assert torch.isinf(out)
    (g,) = torch.autograd.grad(out, x)
    assert torch.isfinite(g).all()


def test_infinite_reverse_divergence_has_a_finite_gradient():
    # KL(q || p) with p_c = 0 < q_c is +inf; the infinity is a constant of the input, so the
    # gradient is that of the finite terms (here those of the two classes both sides support)
    x = torch.zeros(1, 3, requires_grad=True)
    out = vl.kl_divergence_loss(x, torch.tensor([[0.0, -math.inf, 0.0]]), direction="reverse")
    assert torch.isinf(out) and out > 0
    (g,) = torch.autograd.grad(out, x)
    assert torch.isfinite(g).all()
    # the finite part: sum over c in {0, 2} of q_c (log q_c - log p_c) with p = (1/2, 0, 1/2)
    y = x.detach().clone().requires_grad_(True)
    q = torch.log_softmax(y, 1)
    finite = (q.exp() * (q - math.log(0.5)))[:, [0, 2]].sum()
    (expected,) = torch.autograd.grad(finite, y)
    torch.testing.assert_close(g, expected)


def test_distillation_temperature_scaling():
    s, t = logits(8, 10), logits(8, 10, seed=7)
    T = 3.0
    expected = T * T * F.kl_div(F.log_softmax(s / T, 1), F.softmax(t / T, 1), reduction="batchmean")
    torch.testing.assert_close(vl.kl_divergence_loss(s, t, temperature=T), expected)
    torch.testing.assert_close(vl.KLDivergenceLoss(temperature=T)(s, t), expected)


def test_gradcheck_both_sides_and_nonnegativity():
    x, t = logits(2, 3, 2), logits(2, 3, 2, seed=7)
    gradcheck(lambda a, b: vl.kl_divergence_loss(a, b, temperature=2.0), x, t)
    gradcheck(lambda a, b: vl.kl_divergence_loss(a, b, direction="reverse"), x, t)
    assert (vl.kl_divergence_loss(x, t, reduction="none") >= 0).all()
    same = vl.kl_divergence_loss(x.requires_grad_(True), x.detach())
    assert same.abs().item() < 1e-12
    assert_finite_graph(same, x)


@pytest.mark.parametrize(
    "call, match",
    [
        pytest.param(
            lambda: vl.kl_divergence_loss(
                torch.zeros(2, 3), torch.zeros(2, 3), direction="backward"
            ),
            r"direction to be 'forward' \(KL\(target \|\| input\)\) or 'reverse'",
            id="direction",
        ),
        pytest.param(
            lambda: vl.kl_divergence_loss(torch.zeros(2, 3), torch.zeros(2, 3), temperature=0.0),
            "temperature > 0",
            id="temperature",
        ),
        pytest.param(
            lambda: vl.kl_divergence_loss(torch.zeros(2, 3), torch.zeros(2, 4)),
            r"expected target of shape \(2, 3\) matching input, got \(2, 4\)",
            id="shape",
        ),
        pytest.param(
            lambda: vl.kl_divergence_loss(torch.zeros(3), torch.zeros(3)),
            "at least 2 dims",
            id="1d",
        ),
        pytest.param(
            lambda: vl.kl_divergence_loss(torch.zeros(2, 3), torch.zeros(2, 3), reduction="avg"),
            "'batchmean', 'mean', 'sum', 'none', got 'avg'",
            id="reduction",
        ),
    ],
)
def test_bad_inputs(call, match):
    with pytest.raises(ValueError, match="kl_divergence_loss: .*" + match):
        call()


def test_bad_module_options():
    with pytest.raises(ValueError, match="KLDivergenceLoss: .*reduction"):
        vl.KLDivergenceLoss(reduction="avg")
    with pytest.raises(ValueError, match="KLDivergenceLoss: .*direction"):
        vl.KLDivergenceLoss(direction="p||q")
    with pytest.raises(TypeError, match="kl_divergence_loss: expected target to be a floating"):
        vl.kl_divergence_loss(torch.zeros(2, 3), torch.zeros(2, 3).long())
