"""softmax_focal_loss against kornia, MONAI, cross entropy and a float64 loop.

Convention mapping:
* ``kornia.losses.focal_loss(x, y, alpha, gamma)``: its scalar ``alpha`` is our per-class
  ``[1 - alpha, alpha, ..., alpha]`` (class 0 is background), and its ``"mean"`` divides by
  ``C`` times the number of locations, ignored ones included: ours = kornia's sum / valid
  locations, i.e. kornia's mean times ``C`` when nothing is ignored.
* ``monai.losses.FocalLoss(use_softmax=True)``: a ``(N, C, *)`` map whose mean divides by ``C``
  as well (ours = MONAI's mean times ``C``); the same ``[1 - alpha, alpha, ...]`` scalar alpha; a
  sequence alpha is our per-class alpha; probability targets follow the same formula as ours.
* ``gamma=0, alpha=None`` is :func:`cross_entropy_loss` (bitwise) and ``F.cross_entropy``.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import visionloss as vl
from tests.helpers import assert_finite_graph, gradcheck, grads
from tests.reference import classification as ref

from ._data import distribution, labels, logits, one_hot

kornia_losses = pytest.importorskip("kornia.losses")
monai_losses = pytest.importorskip("monai.losses")

C = 4
SHAPE = (2, C, 3, 5)


def _data(dtype=torch.float64):
    return logits(*SHAPE, dtype=dtype), labels(2, 3, 5, num_classes=C)


def _background_alpha(alpha: float, dtype=torch.float64):
    return torch.tensor([1 - alpha] + [alpha] * (C - 1), dtype=dtype)


@pytest.mark.parametrize("alpha", [None, 0.25], ids=["no-alpha", "alpha"])
@pytest.mark.parametrize("gamma", [0.0, 2.0])
def test_matches_kornia(alpha, gamma):
    x, y = _data()
    ours_alpha = None if alpha is None else _background_alpha(alpha)
    value, (gx,) = grads(lambda a: vl.softmax_focal_loss(a, y, alpha=ours_alpha, gamma=gamma), x)
    expected, (rx,) = grads(
        lambda a: C * kornia_losses.focal_loss(a, y, alpha=alpha, gamma=gamma, reduction="mean"), x
    )
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(gx, rx)
    torch.testing.assert_close(
        vl.softmax_focal_loss(x, y, alpha=ours_alpha, gamma=gamma, reduction="none"),
        kornia_losses.focal_loss(x, y, alpha=alpha, gamma=gamma, reduction="none").sum(1),
    )


def test_kornia_ignore_index_keeps_ignored_pixels_in_its_mean():
    x, y = _data()
    y[0, 0] = -100
    valid = (y != -100).sum()
    ours = vl.softmax_focal_loss(x, y, ignore_index=-100, reduction="sum")
    kornia_sum = kornia_losses.focal_loss(x, y, alpha=None, reduction="sum", ignore_index=-100)
    torch.testing.assert_close(ours, kornia_sum)
    torch.testing.assert_close(vl.softmax_focal_loss(x, y, ignore_index=-100), kornia_sum / valid)


@pytest.mark.parametrize(
    "alpha, ours_alpha",
    [
        pytest.param(None, None, id="no-alpha"),
        pytest.param(0.25, _background_alpha(0.25, torch.float32), id="scalar"),
        pytest.param([0.1, 0.2, 0.3, 0.4], torch.tensor([0.1, 0.2, 0.3, 0.4]), id="sequence"),
    ],
)
def test_matches_monai_index_targets(alpha, ours_alpha):
    x, y = _data(torch.float32)  # MONAI computes in fp32
    monai = monai_losses.FocalLoss(use_softmax=True, to_onehot_y=True, gamma=2.0, alpha=alpha)
    value, (gx,) = grads(lambda a: vl.softmax_focal_loss(a, y, alpha=ours_alpha), x)
    expected, (rx,) = grads(lambda a: C * monai(a, y.unsqueeze(1)), x)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(gx, rx)


def test_matches_monai_probability_targets():
    x = logits(*SHAPE, dtype=torch.float32)
    q = distribution(*SHAPE, dtype=torch.float32)
    monai = monai_losses.FocalLoss(use_softmax=True, gamma=1.5, reduction="none")
    torch.testing.assert_close(
        vl.softmax_focal_loss(x, q, gamma=1.5, reduction="none"), monai(x, q).sum(1)
    )


@pytest.mark.parametrize("ignore", [None, 2])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gamma_0_without_alpha_is_cross_entropy(ignore, reduction):
    x, y = _data(torch.float32)
    a, (ga,) = grads(
        vl.softmax_focal_loss, x, y, gamma=0.0, ignore_index=ignore, reduction=reduction
    )
    b, (gb,) = grads(vl.cross_entropy_loss, x, y, ignore_index=ignore, reduction=reduction)
    # Same values, not the same bits: the cross entropy's mean and sum of class indices run
    # torch's fused kernel, whose summation order differs from the focal loss's log_softmax path.
    torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(ga, gb, rtol=1e-6, atol=1e-7)
    torch_ignore = -100 if ignore is None else ignore
    c, (gc,) = grads(F.cross_entropy, x, y, ignore_index=torch_ignore, reduction=reduction)
    torch.testing.assert_close(a, c)
    torch.testing.assert_close(ga, gc)


def test_index_and_one_hot_targets_agree():
    x, y = _data()
    a = torch.tensor([0.3, 0.6, 0.9, 0.2], dtype=torch.float64)
    wmap = torch.rand(2, 3, 5, dtype=torch.float64)
    v1, (g1,) = grads(lambda u: vl.softmax_focal_loss(u, y, alpha=a, gamma=2.5, weight_map=wmap), x)
    v2, (g2,) = grads(
        lambda u: vl.softmax_focal_loss(u, one_hot(y, C), alpha=a, gamma=2.5, weight_map=wmap), x
    )
    torch.testing.assert_close(v1, v2)
    torch.testing.assert_close(g1, g2)


@pytest.mark.parametrize("gamma", [0.5, 2.0])
@pytest.mark.parametrize("alpha", [None, [0.1, 0.4, 0.2, 0.3]], ids=["no-alpha", "alpha"])
def test_matches_float64_loop(gamma, alpha):
    x, y = logits(6, C), labels(6, num_classes=C)
    out = vl.softmax_focal_loss(
        x,
        y,
        gamma=gamma,
        reduction="none",
        alpha=None if alpha is None else torch.tensor(alpha).double(),
    )
    torch.testing.assert_close(out, ref.softmax_focal(x, y.tolist(), alpha, gamma))


def test_hand_values():
    x = torch.tensor([[4.0, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    p = torch.softmax(x[0], 0)[0]
    out = vl.softmax_focal_loss(x, torch.tensor([0, 1]), gamma=2.0, reduction="none")
    third = torch.tensor(1 / 3, dtype=torch.float64)
    torch.testing.assert_close(
        out, torch.stack([-((1 - p) ** 2) * p.log(), -((2 / 3) ** 2) * third.log()])
    )
    # a scalar alpha scales every class alike
    torch.testing.assert_close(
        vl.softmax_focal_loss(x, torch.tensor([0, 1]), alpha=0.5, reduction="none"),
        0.5 * vl.softmax_focal_loss(x, torch.tensor([0, 1]), reduction="none"),
    )


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_certain_predictions_have_finite_zero_gradient(gamma):
    x = torch.tensor([[1e4, -1e4, -1e4]], requires_grad=True)
    out = vl.softmax_focal_loss(x, torch.tensor([0]), gamma=gamma)
    assert out.item() == 0.0
    assert_finite_graph(out, x)
    q = torch.tensor([[0.7, 0.3, 0.0]])
    assert_finite_graph(vl.softmax_focal_loss(x, q, gamma=gamma), x)


def test_certain_wrong_prediction_costs_the_logit_gap():
    x = torch.tensor([[1e4, -1e4, -1e4]], requires_grad=True)
    out = vl.softmax_focal_loss(x, torch.tensor([1]), gamma=2.0)
    torch.testing.assert_close(out, torch.tensor(2e4))
    assert_finite_graph(out, x)


def test_all_zero_probability_target_gives_zero_and_counts_in_the_mean():
    x = logits(3, C).requires_grad_(True)
    q = distribution(3, C)
    q[1] = 0.0
    none = vl.softmax_focal_loss(x, q, reduction="none")
    assert none[1].item() == 0.0 and (none[[0, 2]] > 0).all()
    torch.testing.assert_close(vl.softmax_focal_loss(x, q), none.sum() / 3)
    (g,) = torch.autograd.grad(none[1], x)
    assert torch.equal(g, torch.zeros_like(g))


def test_all_ignored_is_zero_with_graph():
    x, y = _data()
    x.requires_grad_(True)
    out = vl.softmax_focal_loss(x, torch.full_like(y, 7), ignore_index=7)
    assert out.item() == 0.0
    assert_finite_graph(out, x)


def test_gradcheck_with_ignore_alpha_and_soft_targets():
    y = labels(2, 3, num_classes=C)
    y[0, 1] = 7
    a = torch.tensor([0.3, 0.6, 0.9, 0.2], dtype=torch.float64)
    gradcheck(
        lambda u: vl.softmax_focal_loss(u, y, ignore_index=7, gamma=1.5, alpha=a),
        logits(2, C, 3, scale=1.0),
    )
    q = distribution(2, C, 2)
    gradcheck(lambda u, v: vl.softmax_focal_loss(u, v, gamma=2.0), logits(2, C, 2), q)


@pytest.mark.parametrize(
    "kwargs, target, error, match",
    [
        pytest.param(
            {}, torch.tensor([0, 4]), ValueError, r"class indices in \[0, 3\]", id="label-range"
        ),
        pytest.param(
            {"alpha": torch.ones(3) / 3},
            torch.tensor([0, 1]),
            ValueError,
            r"alpha of shape \(\) or \(4,\)",
            id="alpha-shape",
        ),
        pytest.param({"gamma": -0.5}, torch.tensor([0, 1]), ValueError, "gamma >= 0", id="gamma"),
        pytest.param(
            {"weight_map": torch.ones(3)},
            torch.tensor([0, 1]),
            ValueError,
            r"weight_map broadcastable to \(2,\)",
            id="weight-map",
        ),
        pytest.param(
            {},
            torch.zeros(2, 3),
            ValueError,
            r"expected target of shape \(2, 4\)",
            id="probability-shape",
        ),
    ],
)
def test_bad_inputs(kwargs, target, error, match):
    with pytest.raises(error, match="softmax_focal_loss: .*" + match):
        vl.softmax_focal_loss(torch.zeros(2, C), target, **kwargs)
