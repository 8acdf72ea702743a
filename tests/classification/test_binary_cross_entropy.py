"""binary_cross_entropy_loss against torch.nn.functional and a float64 loop.

Convention mapping:
* logits: ``F.binary_cross_entropy_with_logits`` with the same ``weight`` (elementwise, NumPy
  broadcasting) and mean over all elements.
* ``pos_weight`` (C,): ours applies along dim 1. For ``(N, C)`` that is torch's behaviour; for
  ``(N, C, H, W)`` torch needs ``pos_weight.view(C, 1, 1)`` (it broadcasts against the last
  dimension, and silently weights image columns when W == C).
* probabilities (``from_logits=False``): ``F.binary_cross_entropy`` (logs clamped at -100).
* ``label_smoothing=eps``: torch on the target ``y (1 - eps) + eps / 2``.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import visionloss as vl
from tests.helpers import gradcheck, grads
from tests.reference import classification as ref

from ._data import binary, logits, soft

PW = torch.tensor([1.0, 3.0, 0.25], dtype=torch.float64)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(
    "shape, opts, torch_opts",
    [
        pytest.param((6, 3), {}, {}, id="plain"),
        pytest.param((6, 3), {"pos_weight": PW}, {"pos_weight": PW}, id="pos_weight-NC"),
        pytest.param(
            (2, 3, 4, 5), {"pos_weight": PW}, {"pos_weight": PW.view(3, 1, 1)}, id="pos_weight-NCHW"
        ),
        pytest.param(
            (2, 3, 4),
            {"weight": torch.rand(3, 1, dtype=torch.float64)},
            {"weight": None},
            id="weight",
        ),
        pytest.param((7,), {"pos_weight": 2.5}, {"pos_weight": torch.tensor(2.5)}, id="1d"),
    ],
)
@pytest.mark.parametrize("target", [binary, soft], ids=["hard", "soft"])
def test_logits_match_torch(reduction, shape, opts, torch_opts, target):
    x, y = logits(*shape), target(*shape)
    if "weight" in opts:
        torch_opts = {"weight": opts["weight"]}
    torch_opts = {
        k: (v.double() if isinstance(v, torch.Tensor) else v) for k, v in torch_opts.items()
    }
    value, (gx, gy) = grads(vl.binary_cross_entropy_loss, x, y, reduction=reduction, **opts)
    expected, (rx, ry) = grads(
        F.binary_cross_entropy_with_logits, x, y, reduction=reduction, **torch_opts
    )
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(gx, rx)
    torch.testing.assert_close(gy, ry)


def test_torch_pos_weight_lands_on_the_width_when_w_equals_c():
    x, y = logits(2, 3, 4, 3), binary(2, 3, 4, 3)
    ours = vl.binary_cross_entropy_loss(x, y, pos_weight=PW, reduction="none")
    torch_raw = F.binary_cross_entropy_with_logits(x, y, pos_weight=PW, reduction="none")
    torch_fixed = F.binary_cross_entropy_with_logits(
        x, y, pos_weight=PW.view(3, 1, 1), reduction="none"
    )
    torch.testing.assert_close(ours, torch_fixed)
    assert not torch.allclose(ours, torch_raw)  # no error from torch, a different loss
    torch.testing.assert_close(ours, ref.binary_cross_entropy(x, y, PW))
    # torch's raw (C,) weights columns: our loss with the class axis moved last reproduces it
    moved = vl.binary_cross_entropy_loss(
        x.movedim(3, 1), y.movedim(3, 1), pos_weight=PW, reduction="none"
    ).movedim(1, 3)
    torch.testing.assert_close(moved, torch_raw)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_module_matches_torch_bce_with_logits_module(reduction):
    """The docstring's "pos_weight as in torch.nn.BCEWithLogitsLoss", Module against Module,
    with an elementwise weight too (ours per call, torch's at construction)."""
    x, y = logits(6, 3), soft(6, 3)
    w = soft(6, 3, seed=7)
    ours = vl.BinaryCrossEntropyLoss(pos_weight=PW, reduction=reduction)
    theirs = torch.nn.BCEWithLogitsLoss(weight=w, pos_weight=PW, reduction=reduction)
    value, (gx, gy) = grads(lambda a, b: ours(a, b, weight=w), x, y)
    expected, (rx, ry) = grads(theirs, x, y)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(gx, rx)
    torch.testing.assert_close(gy, ry)


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_probabilities_match_torch_including_saturated_ones(reduction):
    p = torch.sigmoid(logits(4, 3))
    p[0, 0], p[0, 1], p[1, 0] = 0.0, 1.0, 1.0  # log 0 clamps at -100, gradients stay finite
    y = binary(4, 3)
    y[0, 0], y[0, 1], y[1, 0] = 1.0, 0.0, 1.0
    value, (gp, gy) = grads(
        vl.binary_cross_entropy_loss, p, y, from_logits=False, reduction=reduction
    )
    expected, (rp, ry) = grads(F.binary_cross_entropy, p, y, reduction=reduction)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(gp, rp)
    assert torch.isfinite(gp).all() and torch.isfinite(gy).all()


def test_probabilities_and_logits_agree():
    x, y = logits(3, 4), soft(3, 4)
    pw = torch.tensor([1.0, 2.0, 0.5, 4.0], dtype=torch.float64)
    torch.testing.assert_close(
        vl.binary_cross_entropy_loss(torch.sigmoid(x), y, from_logits=False, pos_weight=pw),
        vl.binary_cross_entropy_loss(x, y, pos_weight=pw),
    )


@pytest.mark.parametrize("eps", [0.1, 1.0])
def test_label_smoothing_is_symmetric(eps):
    x, y = logits(5, 2), binary(5, 2)
    expected = F.binary_cross_entropy_with_logits(x, y * (1 - eps) + eps / 2)
    torch.testing.assert_close(vl.binary_cross_entropy_loss(x, y, label_smoothing=eps), expected)


def test_hand_values():
    x = torch.tensor([[0.0, 2.0]])
    out = vl.binary_cross_entropy_loss(x, torch.tensor([[1.0, 0.0]]), reduction="none")
    # log 2 ; -log(1 - sigmoid(2)) = log(1 + e^2)
    torch.testing.assert_close(out, torch.tensor([[0.693147, 2.126928]]))
    out = vl.binary_cross_entropy_loss(
        torch.zeros(1, 2), torch.ones(1, 2), pos_weight=torch.tensor([1.0, 3.0]), reduction="none"
    )
    torch.testing.assert_close(out, torch.tensor([[1.0, 3.0]]) * 0.693147)


@pytest.mark.parametrize("dtype", [torch.bool, torch.long, torch.uint8])
def test_bool_and_integer_targets_are_accepted(dtype):
    x, y = logits(4, 3), binary(4, 3)
    torch.testing.assert_close(
        vl.binary_cross_entropy_loss(x, y.to(dtype)), vl.binary_cross_entropy_loss(x, y)
    )


def test_gradcheck_probabilities_and_pos_weight():
    p = torch.sigmoid(logits(2, 3, 2))
    y = 0.1 + 0.8 * soft(2, 3, 2)
    gradcheck(
        lambda a, b: vl.binary_cross_entropy_loss(a, b, from_logits=False, pos_weight=PW), p, y
    )
    gradcheck(lambda a, b: vl.binary_cross_entropy_loss(a, b, label_smoothing=0.2), p, y)


@pytest.mark.parametrize(
    "call, error, match",
    [
        pytest.param(
            lambda: vl.binary_cross_entropy_loss(torch.zeros(2, 3), torch.zeros(3, 2)),
            ValueError,
            r"expected target of shape \(2, 3\) matching input, got \(3, 2\)",
            id="shape",
        ),
        pytest.param(
            lambda: vl.binary_cross_entropy_loss(torch.zeros(2), torch.tensor([0.0, 2.0])),
            ValueError,
            r"target values in \[0, 1\], got values in \[0.0, 2.0\]",
            id="target-range",
        ),
        pytest.param(
            lambda: vl.binary_cross_entropy_loss(
                torch.tensor([0.5, 1.5]), torch.ones(2), from_logits=False
            ),
            ValueError,
            r"probabilities in \[0, 1\] with from_logits=False",
            id="probability-range",
        ),
        pytest.param(
            lambda: vl.binary_cross_entropy_loss(
                torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4, 4), pos_weight=torch.ones(4)
            ),
            ValueError,
            r"pos_weight of shape \(\) or \(3,\), one value per class along "
            r"dim 1 of input \(2, 3, 4, 4\), got \(4,\)",
            id="pos_weight-shape",
        ),
        pytest.param(
            lambda: vl.binary_cross_entropy_loss(
                torch.zeros(2, 3), torch.zeros(2, 3), pos_weight=torch.ones(3).long()
            ),
            TypeError,
            "pos_weight to be a floating-point tensor",
            id="pos_weight-dtype",
        ),
        pytest.param(
            lambda: vl.binary_cross_entropy_loss(
                torch.zeros(2, 3), torch.zeros(2, 3), weight=torch.ones(2)
            ),
            ValueError,
            r"weight broadcastable to \(2, 3\), got \(2,\)",
            id="weight",
        ),
        pytest.param(
            lambda: vl.binary_cross_entropy_loss(
                torch.zeros(2), torch.zeros(2), label_smoothing=2.0
            ),
            ValueError,
            r"label_smoothing in \[0, 1\]",
            id="smoothing",
        ),
    ],
)
def test_bad_inputs(call, error, match):
    with pytest.raises(error, match="binary_cross_entropy_loss: .*" + match):
        call()


def test_a_confident_wrong_logit_costs_its_magnitude():
    x = torch.tensor([1e4, -1e4, 20.0], requires_grad=True)
    out = vl.binary_cross_entropy_loss(x, torch.tensor([0.0, 1.0, 0.0]), reduction="none")
    torch.testing.assert_close(out, torch.tensor([1e4, 1e4, 20.0]))
    (g,) = torch.autograd.grad(out.sum(), x)
    torch.testing.assert_close(g, torch.tensor([1.0, -1.0, 1.0]))


def test_infinite_logits_are_outside_the_contract():
    """Logits must be finite: +-inf gives NaN (right side) or inf (wrong side)."""
    x = torch.tensor([math.inf, -math.inf])
    out = vl.binary_cross_entropy_loss(x, torch.tensor([1.0, 0.0]), reduction="none")
    assert torch.isnan(out).all()
    out = vl.binary_cross_entropy_loss(x, torch.tensor([0.0, 1.0]), reduction="none")
    assert torch.isinf(out).all()
