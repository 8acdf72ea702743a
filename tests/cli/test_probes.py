"""The curves of ``visionloss plot``: every registered loss either draws or gives a one-line
reason, and the curves are the library's own values and gradients."""

from __future__ import annotations

import math

import pytest

import visionloss
from visionloss.cli import _probes

# evaluated at collection time, so the tests cover every loss registered by then
ALL = [pytest.param(s.name, id=s.name) for s in visionloss.list_losses()]

# the curves the issue names (those that exist): they must draw, not give a reason
MUST_DRAW = [
    pytest.param(name, axis, id=f"{name}-{axis}")
    for name, axis in [
        ("l1", "error"),
        ("mse", "error"),
        ("smooth_l1", "error"),
        ("huber", "error"),
        ("binary_cross_entropy", "probability"),
        ("focal", "probability"),
        ("focal", "logit"),
        ("dice", "probability"),
        ("iou", "offset"),
        ("giou", "offset"),
        ("diou", "offset"),
        ("ciou", "iou"),
    ]
    if name in {s.name for s in visionloss.list_losses()}
]


@pytest.mark.parametrize("name", ALL)
def test_every_registered_loss_draws_or_gives_a_one_line_reason(name):
    result = _probes.probe(name, points=41)
    if result.curves:
        for curve in result.curves:
            assert len(curve.x) == len(curve.y) == len(curve.dy) == 41
            assert all(math.isfinite(v) for v in curve.y + curve.dy)
    else:
        assert result.reason, f"{name}: neither a curve nor a reason"
        assert "\n" not in result.reason and len(result.reason) < 300


@pytest.mark.parametrize("name, axis", MUST_DRAW)
def test_named_curves_draw(name, axis):
    result = _probes.probe(name, against=axis, points=41)
    assert result.curves, result.reason


def test_regression_curve_is_the_loss_and_its_derivative():
    (curve,) = _probes.probe("mse").curves
    for x, y, dy in zip(curve.x, curve.y, curve.dy):
        assert y == pytest.approx(x * x, abs=1e-12)
        assert dy == pytest.approx(2 * x, abs=1e-9)


def test_huber_gradient_is_clipped_at_delta():
    (curve,) = _probes.probe("huber", options={"delta": 0.5}).curves
    assert max(abs(g) for g in curve.dy) == pytest.approx(0.5)


@pytest.mark.skipif(
    "focal" not in {s.name for s in visionloss.list_losses()}, reason="focal is not registered"
)
def test_single_focal_draws_retinanet_figure_1():
    option, values, fixed = _probes.default_sweep("focal")
    assert (option, values) == ("gamma", (0.0, 0.5, 1.0, 2.0, 5.0))
    result = _probes.probe("focal", sweep=(option, values), fixed=fixed)
    assert [c.label for c in result.curves] == [
        "focal (gamma=0)",
        "focal (gamma=0.5)",
        "focal (gamma=1)",
        "focal (gamma=2)",
        "focal (gamma=5)",
    ]
    # RetinaNet Eq. (4) without alpha: FL(p_t) = -(1 - p_t)^gamma log(p_t)
    for gamma, curve in zip(values, result.curves):
        assert curve.axis == "probability"
        for p, y in zip(curve.x[::20], curve.y[::20]):
            assert y == pytest.approx(-((1 - p) ** gamma) * math.log(p), rel=1e-6)


def test_unknown_axis_for_a_family_is_a_reason_not_an_error():
    result = _probes.probe("l1", against="similarity")
    assert not result.curves
    assert result.reason == "no 'similarity' probe for the regression family (it has: error)"


def test_a_loss_whose_signature_fits_no_attempt_gives_a_reason(monkeypatch):
    spec = visionloss.get_loss("l1")

    def needs_three(input, target, extra):  # no attempt passes a third argument
        return (input - target).abs().mean()

    monkeypatch.setattr(type(spec), "function", property(lambda self: needs_three), raising=False)
    result = _probes.probe("l1")
    assert not result.curves
    assert result.reason.startswith("no probe fits its signature (TypeError: ")
    assert "\n" not in result.reason


def test_sweep_values_that_fail_are_skipped_with_a_note():
    result = _probes.probe("huber", sweep=("delta", [1.0, -1.0]))
    assert [c.label for c in result.curves] == ["huber (delta=1)"]
    assert result.notes and result.notes[0].startswith("huber (delta=-1): skipped (")
