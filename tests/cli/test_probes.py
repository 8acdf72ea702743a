"""The curves of ``visionloss plot``: every registered loss either draws or gives a designed
one-line reason, the curves are the library's own values and gradients, and an option value the
loss rejects is told apart from a loss that has no probe."""

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
def test_every_registered_loss_draws_or_gives_a_designed_one_line_reason(name):
    result = _probes.probe(name, points=41)
    if result.curves:
        for curve in result.curves:
            assert len(curve.x) == len(curve.y) == len(curve.dy) == 41
            assert all(math.isfinite(v) for v in curve.y + curve.dy)
    else:
        assert result.reason, f"{name}: neither a curve nor a reason"
        assert "\n" not in result.reason and len(result.reason) < 300
        # "no probe fits" means no layout matches the loss's arguments: an accident, not a design
        assert not result.reason.startswith("no probe fits"), result.reason


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
    result = _probes.probe("focal", sweep=(option, values), fixed=fixed, preset=True)
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


def test_unknown_axis_for_a_loss_is_a_reason_not_an_error():
    result = _probes.probe("l1", against="similarity")
    assert not result.curves
    assert result.reason == "no 'similarity' probe for l1 (it has: error)"


# (loss, axis, options, exact curve): values worked out by hand on the probe's inputs
EXACT = [
    # a step of height h in an 8 x 8 image: 8 of the 64 pixels see a difference h
    pytest.param(
        "total_variation", "step", {}, lambda h: abs(h) / 8, id="total_variation-anisotropic"
    ),
    pytest.param(
        "total_variation",
        "step",
        {"kind": "squared"},
        lambda h: h * h / 8,
        id="total_variation-squared",
    ),
    # D(x) = s x: R1 = gamma / 2 * s^2, WGAN-GP = lambda (|s| - 1)^2 (Gulrajani et al., Alg. 1)
    pytest.param("r1", "slope", {}, lambda s: 5.0 * s * s, id="r1"),
    pytest.param("gradient_penalty", "slope", {}, lambda s: 10 * (abs(s) - 1) ** 2, id="wgan-gp"),
    # two pristine and two forged 4 x 4 patches: each anchor has one positive (similarity 1)
    # and two negatives (similarity s), tau = 0.1
    pytest.param(
        "patch_contrast",
        "negative",
        {},
        lambda s: math.log(1 + 2 * math.exp((s - 1) / 0.1)),
        id="patch_contrast",
    ),
    # 32 pristine queries, mean positive logit 1 / tau, 32 forged negatives at s / tau
    pytest.param(
        "pixel_info_nce",
        "negative",
        {},
        lambda s: math.log(1 + 32 * math.exp((s - 1) / 0.1)),
        id="pixel_info_nce",
    ),
]


@pytest.mark.parametrize("name, axis, options, expected", EXACT)
def test_probe_curves_match_values_by_hand(name, axis, options, expected):
    assert _probes.default_axis(name) == axis
    (curve,) = _probes.probe(name, options=options, points=21).curves
    assert curve.axis == axis
    for x, y in zip(curve.x, curve.y):
        assert y == pytest.approx(expected(x), rel=1e-6, abs=1e-9)


def test_gradient_penalty_gradient_is_autograd_through_the_input_gradient():
    (curve,) = _probes.probe("gradient_penalty", points=21).curves
    for s, dy in zip(curve.x, curve.dy):
        if abs(s) > 1e-9:  # d/ds 10 (|s| - 1)^2
            assert dy == pytest.approx(20 * (abs(s) - 1) * math.copysign(1, s), abs=1e-6)


@pytest.mark.parametrize("name", ["perceptual", "style", "content"])
def test_feature_network_losses_give_the_designed_reason(name):
    result = _probes.probe(name)
    assert not result.curves
    assert result.reason.startswith("compares two images through a feature network")
    assert f"visionloss show {name}" in result.reason


def test_dense_contrastive_losses_have_only_the_negative_axis():
    assert _probes.probe("info_nce", against="negative", points=11).curves
    result = _probes.probe("patch_contrast", against="similarity")
    assert result.reason == "no 'similarity' probe for patch_contrast (it has: negative)"


def test_a_rejected_option_value_raises_option_error_naming_it():
    with pytest.raises(_probes.OptionError, match=r"^huber: delta=-1 rejected \(ValueError: "):
        _probes.probe("huber", options={"delta": -1})


def test_the_rejection_reason_comes_from_the_layout_that_draws_with_defaults():
    # focal's probe has four input layouts; the message is the first one's (the one that
    # draws), not whichever layout was tried last
    with pytest.raises(_probes.OptionError, match=r"focal_loss: expected gamma >= 0"):
        _probes.probe("focal", options={"gamma": -1.0}, points=11)


def test_a_rejected_sweep_value_of_the_user_raises_option_error():
    with pytest.raises(_probes.OptionError, match=r"^huber: delta=-1.0 rejected"):
        _probes.probe("huber", sweep=("delta", [1.0, -1.0]), points=11)


def test_option_names_are_the_keyword_options():
    spec = visionloss.get_loss("huber")
    names = _probes.option_names(spec)
    assert {"delta", "reduction"} <= names
    assert "input" not in names and "target" not in names
    assert _probes.takes_option(spec, "delta") and not _probes.takes_option(spec, "gamma")


def test_a_loss_whose_arguments_have_no_layout_gives_a_reason_naming_them(monkeypatch):
    spec = visionloss.get_loss("l1")

    def needs_three(input, target, extra):  # no regression layout takes a third argument
        return (input - target).abs().mean()

    monkeypatch.setattr(type(spec), "function", property(lambda self: needs_three), raising=False)
    result = _probes.probe("l1")
    assert not result.curves
    assert (
        result.reason
        == "no probe fits its arguments (input, target, extra) in the regression family"
    )


def test_an_error_of_the_loss_itself_propagates(monkeypatch):
    spec = visionloss.get_loss("l1")

    def broken(input, target):  # the layout fits; the loss has a bug
        raise RuntimeError("a bug in the loss")

    monkeypatch.setattr(type(spec), "function", property(lambda self: broken), raising=False)
    with pytest.raises(RuntimeError, match="a bug in the loss"):
        _probes.probe("l1", points=5)


def test_preset_sweep_values_that_fail_are_skipped_with_a_note():
    result = _probes.probe("huber", sweep=("delta", [1.0, -1.0]), preset=True)
    assert [c.label for c in result.curves] == ["huber (delta=1)"]
    assert result.notes and result.notes[0].startswith("huber (delta=-1): skipped (")
