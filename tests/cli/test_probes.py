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


# the designed reasons: a loss without a curve gives exactly one of these
DESIGNED = {
    "perceptual": "network",
    "style": "network",
    "content": "network",
    "content_style": "network",
    "lpips": "network",
    "texture": "network",
    "topology": "network",
    "dino": "center",
    "swav": "sinkhorn_iterations",
}


@pytest.mark.parametrize("name", ALL)
def test_every_registered_loss_draws_or_gives_a_designed_one_line_reason(name):
    # 11 points: the sweep runs every registered loss, some on 176 x 176 images
    result = _probes.probe(name, points=11)
    if result.curves:
        for curve in result.curves:
            assert len(curve.x) == len(curve.y) == len(curve.dy) == 11
            assert all(math.isfinite(v) for v in curve.y + curve.dy)
            # a view that teaches: the loss moves on it (not a rounding-level wiggle)
            spread = max(curve.y) - min(curve.y)
            assert spread > 1e-6 * max(1.0, max(abs(v) for v in curve.y)), (name, curve.y)
    else:
        assert result.reason, f"{name}: neither a curve nor a reason"
        assert "\n" not in result.reason and len(result.reason) < 300
        # "no probe fits" means no layout matches the loss's arguments: an accident, not a
        # design; a designed reason is one of NO_VIEW's, for an option the loss takes
        designed = {r.format(name=name) for r in _probes.NO_VIEW.values()}
        assert result.reason in designed, result.reason
        if name in DESIGNED:
            option = DESIGNED[name]
            assert result.reason == _probes.NO_VIEW[option].format(name=name)


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
    # the legend names the options in force: gamma swept, alpha off (RetinaNet Fig. 1)
    assert [c.label for c in result.curves] == [
        "focal (gamma=0, alpha=None)",
        "focal (gamma=0.5, alpha=None)",
        "focal (gamma=1, alpha=None)",
        "focal (gamma=2, alpha=None)",
        "focal (gamma=5, alpha=None)",
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


# --- the views of the detection, segmentation-shape, quality, metric-head and self-supervised
# losses --------------------------------------------------------------------------------------

REGISTERED = {s.name for s in visionloss.list_losses()}


def _needs(*names):
    missing = [n for n in names if n not in REGISTERED]
    return pytest.mark.skipif(bool(missing), reason=f"not registered: {missing}")


def test_every_kind_names_a_registered_loss_and_a_layout_of_its_arguments():
    # a stale name (a loss renamed) would silently fall back to its family's default layout
    assert set(_probes.KINDS) <= REGISTERED
    for name, kind in _probes.KINDS.items():
        spec = visionloss.get_loss(name)
        entry = _probes.LAYOUTS[(spec.family, _probes._signature(spec)[0])]
        assert isinstance(entry, dict) and kind in entry, (name, kind)


@pytest.mark.parametrize(
    "name, axes",
    [
        ("dice", ("probability", "logit", "shift")),
        ("boundary", ("shift",)),
        ("hausdorff_dt", ("shift",)),
        ("mcc", ("shift",)),
        ("probiou", ("rotation", "offset")),
        ("balanced_l1", ("error",)),
        ("distribution_focal", ("bins",)),
        ("arcface", ("angle",)),
        ("subcenter_arcface", ("angle",)),
        ("proxy_nca", ("angle",)),
        ("npair", ("similarity", "negative")),
        ("ssim", ("noise",)),
        ("ms_ssim", ("noise",)),
        ("barlow_twins", ("view_noise",)),
        ("negative_cosine", ("similarity", "negative")),
        ("koleo", ("distance",)),
        ("feature_matching", ("error",)),
        ("patch_nce", ("similarity", "negative")),
    ],
)
def test_default_axes(name, axes):
    if name not in REGISTERED:
        pytest.skip(f"{name} is not registered")
    layout = _probes._layout(visionloss.get_loss(name))
    assert not isinstance(layout, str), layout
    assert layout.axes == axes


@pytest.mark.parametrize("name", sorted(DESIGNED))
def test_losses_without_a_view_give_the_designed_reason(name):
    if name not in REGISTERED:
        pytest.skip(f"{name} is not registered")
    result = _probes.probe(name)
    assert not result.curves
    assert result.reason == _probes.NO_VIEW[DESIGNED[name]].format(name=name)
    assert f"visionloss show {name}" in result.reason


def _softplus(v):
    return math.log1p(math.exp(-abs(v))) + max(v, 0.0)


def _balanced_l1(d, alpha=0.5, gamma=1.5, beta=1.0):
    # Libra R-CNN Eq. (8), with alpha ln(b + 1) = gamma
    b = math.exp(gamma / alpha) - 1
    d = abs(d)
    if d < beta:
        return alpha / b * (b * d + 1) * math.log(b * d / beta + 1) - alpha * d
    return gamma * d + gamma / b - alpha * beta


# (loss, axis, curve by hand, points kept): values on the probe's own inputs
VIEWS = [
    # the embedding at angle t from its class weight, the other class's at 90 degrees (logit
    # 0): softmax cross entropy of the margin logit s phi against 0 is softplus(-s phi)
    pytest.param(
        "arcface",
        "angle",
        lambda t: _softplus(-64 * math.cos(t + 0.5)),
        lambda t: t < math.pi - 0.5 - 0.05,  # insightface's fallback beyond pi - m
        id="arcface",
    ),
    pytest.param(
        "cosface",
        "angle",
        lambda t: _softplus(-64 * (math.cos(t) - 0.35)),
        lambda t: True,
        id="cosface",
    ),
    # d = 2 - 2 cos t to its proxy, 2 to the other: softplus((d - 2) / T), T = 1
    pytest.param(
        "proxy_nca", "angle", lambda t: _softplus(-2 * math.cos(t)), lambda t: True, id="proxy_nca"
    ),
    # GFL Eq. (6) with bins 0 and 1 and target 0.3: -(0.7 log(1 - y) + 0.3 log y)
    pytest.param(
        "distribution_focal",
        "bins",
        lambda y: -(0.7 * math.log(1 - y) + 0.3 * math.log(y)),
        lambda y: True,
        id="distribution_focal",
    ),
    # one coordinate of the four in error, summed over the coordinates
    pytest.param("balanced_l1", "error", _balanced_l1, lambda d: True, id="balanced_l1"),
    # pix2pixHD: lambda 10, layer weight 4 / T = 4, one layer
    pytest.param(
        "feature_matching", "error", lambda d: 40 * abs(d), lambda d: True, id="feature_matching"
    ),
    # two unit vectors at distance d: -log(d) up to DINOv2's eps
    pytest.param("koleo", "distance", lambda d: -math.log(d), lambda d: d > 0.05, id="koleo"),
    # SimSiam: -cos averaged over the probe's two pairs, the second at similarity 1
    pytest.param(
        "negative_cosine", "similarity", lambda s: (-s - 1) / 2, lambda s: True, id="simsiam"
    ),
]


@pytest.mark.parametrize("name, axis, expected, kept", VIEWS)
def test_views_match_values_by_hand(name, axis, expected, kept):
    if name not in REGISTERED:
        pytest.skip(f"{name} is not registered")
    (curve,) = _probes.probe(name, against=axis, points=21).curves
    checked = 0
    for x, y in zip(curve.x, curve.y):
        if kept(x):
            assert y == pytest.approx(expected(x), rel=1e-6, abs=1e-7), (x, y)
            checked += 1
    assert checked >= 10


def _curve(name, axis, points=25):
    (curve,) = _probes.probe(name, against=axis, points=points).curves
    return curve


@_needs("dice", "boundary", "hausdorff_dt")
def test_shape_losses_keep_growing_where_dice_has_saturated():
    # past a shift of 4 pixels the 4 x 4 squares no longer overlap: Dice is flat there, the
    # distance-based losses still see how far the prediction is (Kervadec et al.'s argument)
    dice = _curve("dice", "shift")
    index = {round(x, 6): i for i, x in enumerate(dice.x)}
    near, far = index[5.0], index[6.0]
    assert abs(dice.y[far] - dice.y[near]) < 1e-3
    for name in ("boundary", "hausdorff_dt"):
        curve = _curve(name, "shift")
        assert curve.y[far] > curve.y[near] + 1e-2, name
        assert min(curve.y) == curve.y[index[0.0]], name  # best at the target


@_needs("probiou", "kld", "gwd")
@pytest.mark.parametrize("name", ["probiou", "kld", "gwd"])
def test_rotated_box_losses_are_even_in_the_angle_and_zero_at_the_target(name):
    curve = _curve(name, "rotation")
    assert curve.y == pytest.approx(curve.y[::-1], abs=1e-9)
    assert curve.y[len(curve.y) // 2] == pytest.approx(0.0, abs=1e-9)
    assert max(curve.y) > 0.1


@_needs("ssim", "ms_ssim", "psnr", "gradient_difference", "focal_frequency", "ms_ssim_l1")
@pytest.mark.parametrize(
    "name", ["ssim", "ms_ssim", "psnr", "gradient_difference", "focal_frequency", "ms_ssim_l1"]
)
def test_quality_losses_grow_with_the_noise(name):
    curve = _curve(name, "noise", points=6)
    assert all(b > a for a, b in zip(curve.y, curve.y[1:])), curve.y
    if name != "psnr":  # -PSNR of identical images is -10 log10(eps)
        assert curve.y[0] == pytest.approx(0.0, abs=1e-9)


@_needs("barlow_twins", "vicreg")
@pytest.mark.parametrize("name", ["barlow_twins", "vicreg"])
def test_two_view_losses_grow_with_the_noise_between_the_views(name):
    curve = _curve(name, "view_noise", points=6)
    assert all(b > a for a, b in zip(curve.y, curve.y[1:])), curve.y


@pytest.mark.parametrize(
    "name", [s.name for s in visionloss.list_losses() if _probes.default_sweep(s.name)]
)
def test_every_default_sweep_draws(name):
    # `visionloss plot NAME` alone: the library's sweep draws at least one curve
    option, values, fixed = _probes.default_sweep(name)
    result = _probes.probe(name, sweep=(option, values), fixed=fixed, preset=True, points=11)
    assert result.curves, result.reason


@_needs("varifocal")
def test_a_preset_sweep_that_does_not_act_on_the_view_is_drawn_once():
    # varifocal's gamma weighs the negatives (p^gamma); the probe's target is a positive,
    # and focal's alpha=None is no value of varifocal's alpha (it weighs the negatives)
    option, values, fixed = _probes.default_sweep("varifocal")
    assert option == "gamma" and "alpha" not in fixed
    result = _probes.probe("varifocal", sweep=(option, values), fixed=fixed, preset=True, points=11)
    assert [c.label for c in result.curves] == ["varifocal (alpha=0.75, gamma=2)"]
    assert result.notes == ["gamma does not change varifocal on this view"]
