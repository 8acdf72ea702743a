"""Conventions shared by every segmentation overlap loss, tested on all eight at once:
float64 reference values and gradients over a table of option sets, gradcheck, reductions and
the ``"none"`` shapes, Module = function = registry, 1-D/2-D/3-D inputs, fp16/bf16, degenerate
cases, the empty-mask policies, option pairs that interact, and bad inputs.

The reference (``tests/reference/segmentation.py``) loops over images, classes and pixels.
"""

from __future__ import annotations

import math

import pytest
import torch

import visionloss as vl
from tests.conftest import HALF_DTYPES, assert_close_dtype
from tests.helpers import assert_finite_graph, gradcheck, grads
from tests.segmentation.cases import (
    COMPOUND,
    LOSSES,
    NAMES,
    PAIR_LOSSES,
    labels,
    logits,
    one_hot,
    soft,
    supports,
    with_ignored,
)


def _multilabel():
    g = torch.Generator().manual_seed(5)
    t = (torch.rand(2, 3, 4, 5, generator=g) > 0.6).double()
    t[1, 2] = 0.0  # an empty channel
    return logits(), t


def _binary():
    t = labels(num_classes=2, absent=False)
    t[1] = 0  # an image without foreground
    return logits((2, 1, 4, 5)), t


DATA = {
    "index": lambda: (logits(), labels()),
    "ignored": lambda: (logits(), with_ignored(labels())),
    "multilabel": _multilabel,
    "binary": _binary,
    "soft": lambda: (logits(), soft(labels())),
    "onehot": lambda: (logits(), one_hot(labels())),
    "probs": lambda: (torch.softmax(logits(), 1), labels()),
}

# (id, options, data)
SCENARIOS = [
    ("default", {}, "index"),
    ("smooth-squared", {"smooth": (0.5, 1.0), "squared": True}, "index"),
    ("batch", {"per_image": False}, "index"),
    ("weight-nobg", {"weight": [0.5, 2.0, 1.0], "include_background": False}, "index"),
    ("classes", {"classes": [2, 0]}, "index"),
    ("ignore", {"ignore_index": 255}, "ignored"),
    (
        "ignore-batch-weight",
        {"ignore_index": 255, "per_image": False, "weight": [1.0, 0.2, 3.0]},
        "ignored",
    ),
    ("exclude", {"empty": "exclude"}, "index"),
    ("include-smooth", {"empty": "include", "smooth": 1.0}, "index"),
    ("sigmoid-multilabel", {"activation": "sigmoid"}, "multilabel"),
    ("sigmoid-binary", {"activation": "sigmoid"}, "binary"),
    ("sigmoid-index", {"activation": "sigmoid", "include_background": False}, "index"),
    ("soft-target", {}, "soft"),
    ("onehot-target", {"smooth": 0.1}, "onehot"),
    ("probabilities", {"activation": "none"}, "probs"),
]


def _reference_cases():
    cases = []
    for name in NAMES:
        fn, _, own, _ = LOSSES[name]
        for sid, options, data in SCENARIOS:
            opts = {**own, **options}
            if not supports(name, opts, data):
                continue
            reductions = ["mean", "sum"] + (["none"] if name in PAIR_LOSSES else [])
            for reduction in reductions:
                cases.append(
                    pytest.param(name, opts, data, reduction, id=f"{name}-{sid}-{reduction}")
                )
    return cases


def _ref_options(opts):
    out = dict(opts)
    if isinstance(out.get("smooth"), (int, float)):
        out["smooth"] = (float(out["smooth"]),) * 2
    return out


@pytest.mark.parametrize("name, opts, data, reduction", _reference_cases())
def test_matches_float64_reference_values_and_gradients(name, opts, data, reduction):
    fn, _, _, reference = LOSSES[name]
    x, t = DATA[data]()
    value, (gx,) = grads(lambda a: fn(a, t, reduction=reduction, **opts), x)
    expected, (rx,) = grads(lambda a: reference(a, t, reduction=reduction, **_ref_options(opts)), x)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(gx, rx)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("per_image", [True, False], ids=["per-image", "batch"])
def test_gradcheck(name, per_image):
    fn, _, own, _ = LOSSES[name]
    x = logits((2, 3, 2, 3), seed=7)
    t = labels((2, 2, 3), seed=8)
    gradcheck(lambda a: fn(a, t, per_image=per_image, **own), x)


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck_sigmoid_ignore_weight(name):
    fn, _, own, _ = LOSSES[name]
    x = logits((2, 3, 2, 3), seed=9)
    t = with_ignored(labels((2, 2, 3), seed=10), value=-1, seed=11)
    gradcheck(
        lambda a: fn(a, t, activation="sigmoid", ignore_index=-1, weight=[0.3, 1.0, 2.0], **own), x
    )


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_module_equals_function_and_registry(name, reduction):
    fn, module, own, _ = LOSSES[name]
    x, t = logits(), labels()
    opts = {**own, "weight": [1.0, 2.0, 0.5], "ignore_index": 255}
    expected = fn(x, t, reduction=reduction, **opts)
    torch.testing.assert_close(module(reduction=reduction, **opts)(x, t), expected)
    built = vl.build_loss(name, reduction=reduction, **opts)
    assert isinstance(built, module)
    assert "weight" in dict(built.named_buffers())  # the list became a buffer
    torch.testing.assert_close(built.double()(x, t), expected)
    assert vl.get_loss(name).family == "segmentation"


@pytest.mark.parametrize("name", PAIR_LOSSES)
def test_none_is_one_value_per_image_and_class(name):
    fn, _, own, _ = LOSSES[name]
    x, t = logits(), labels()
    per_pair = fn(x, t, reduction="none", **own)
    assert per_pair.shape == (2, 3)
    assert fn(x, t, reduction="none", include_background=False, **own).shape == (2, 2)
    batch = fn(x, t, reduction="none", per_image=False, **own)
    assert batch.shape == (3,)
    # with the default policy every pair counts, so the mean is the mean of "none"
    torch.testing.assert_close(fn(x, t, **own), per_pair.mean())
    torch.testing.assert_close(fn(x, t, reduction="sum", **own), per_pair.sum())


def test_generalized_dice_none_is_one_value_per_image():
    x, t = logits(), labels()
    assert vl.generalized_dice_loss(x, t, reduction="none").shape == (2,)
    assert vl.generalized_dice_loss(x, t, reduction="none", per_image=False).shape == (1,)


@pytest.mark.parametrize("name", COMPOUND)
def test_compound_losses_refuse_none(name):
    fn, module, own, _ = LOSSES[name]
    with pytest.raises(ValueError, match=f"{name}_loss: reduction='none' is not defined"):
        fn(logits(), labels(), reduction="none", **own)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "spatial",
    [pytest.param((20,), id="1d"), pytest.param((4, 5), id="2d"), pytest.param((2, 2, 5), id="3d")],
)
def test_spatial_dims_one_to_three(name, spatial):
    """The losses only see the flattened pixels: any spatial layout of the same data gives the
    same value."""
    fn, _, own, _ = LOSSES[name]
    x, t = logits(), with_ignored(labels())
    expected = fn(x.reshape(2, 3, 20), t.reshape(2, 20), ignore_index=255, **own)
    xs = x.reshape(2, 3, *spatial).requires_grad_()
    out = fn(xs, t.reshape(2, *spatial), ignore_index=255, **own)
    torch.testing.assert_close(out, expected)
    assert_finite_graph(out, xs)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_half_inputs_are_computed_in_fp32(name, dtype):
    fn, _, own, _ = LOSSES[name]
    x = logits((2, 3, 8, 8), seed=4, dtype=torch.float32) * 4
    t = labels((2, 8, 8))
    xh = x.to(dtype).requires_grad_()
    out = fn(xh, t, **own)
    assert out.dtype == torch.float32
    assert_close_dtype(out, fn(x.to(dtype).float(), t, **own), dtype)
    assert_finite_graph(out, xh)
    big = torch.full((2, 3, 4, 4), 6e4).to(dtype) * torch.tensor([1.0, -1.0, 0.0]).view(1, 3, 1, 1)
    assert torch.isfinite(fn(big, labels((2, 4, 4)), **own))


@pytest.mark.parametrize("name", NAMES)
def test_fp16_volume_gives_the_fp32_value(name):
    """A 2x3x64^3 fp16 volume (where MONAI's DiceLoss already returns 1.0 and smp's NaN, see
    test_dice.py; dice_loss is also tested at 128^3 there): all sums are float32."""
    fn, _, own, _ = LOSSES[name]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 64, 64, 64, generator=g).half()
    t = torch.randint(0, 3, (2, 64, 64, 64), generator=g)
    out = fn(x, t, **own)
    assert out.dtype == torch.float32
    assert_close_dtype(out, fn(x.float(), t, **own), torch.float16)


# ---------------------------------------------------------------- degenerate cases


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "shape", [pytest.param((0, 3, 4, 5), id="no-images"), pytest.param((2, 3, 0), id="no-pixels")]
)
def test_empty_input_is_zero_with_graph(name, shape):
    fn, _, own, _ = LOSSES[name]
    x = torch.zeros(shape, requires_grad=True)
    out = fn(x, torch.zeros((shape[0], *shape[2:]), dtype=torch.long), **own)
    assert out.item() == 0.0
    assert_finite_graph(out, x)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("per_image", [True, False], ids=["per-image", "batch"])
def test_all_pixels_ignored_is_zero_with_zero_gradient(name, per_image):
    fn, _, own, _ = LOSSES[name]
    x = logits(dtype=torch.float32).requires_grad_()
    out = fn(x, torch.full((2, 4, 5), -1), ignore_index=-1, per_image=per_image, **own)
    assert out.item() == 0.0
    (g,) = torch.autograd.grad(out, x)
    assert torch.equal(g, torch.zeros_like(x))


def _reductions(name):
    return ["sum", *(["none"] if name not in COMPOUND else [])]


@pytest.mark.parametrize(
    "name, reduction", [pytest.param(n, r, id=f"{n}-{r}") for n in NAMES for r in _reductions(n)]
)
@pytest.mark.parametrize(
    "shape", [pytest.param((0, 3, 4, 5), id="no-images"), pytest.param((2, 3, 0), id="no-pixels")]
)
def test_empty_input_sum_is_zero_and_none_holds_zeros(name, reduction, shape):
    fn, _, own, _ = LOSSES[name]
    x = torch.zeros(shape, requires_grad=True)
    out = fn(x, torch.zeros((shape[0], *shape[2:]), dtype=torch.long), reduction=reduction, **own)
    assert torch.equal(out, torch.zeros_like(out))
    if reduction == "sum":
        assert_finite_graph(out, x)
    elif shape[0] == 0:
        assert out.numel() == 0


@pytest.mark.parametrize(
    "name, reduction", [pytest.param(n, r, id=f"{n}-{r}") for n in NAMES for r in _reductions(n)]
)
@pytest.mark.parametrize("per_image", [True, False], ids=["per-image", "batch"])
def test_all_pixels_ignored_sum_and_none_are_zero_with_zero_gradient(name, reduction, per_image):
    fn, _, own, _ = LOSSES[name]
    x = logits(dtype=torch.float32).requires_grad_()
    t = torch.full((2, 4, 5), -1)
    out = fn(x, t, ignore_index=-1, per_image=per_image, reduction=reduction, **own)
    assert torch.equal(out, torch.zeros_like(out))
    (g,) = torch.autograd.grad(out.sum(), x)
    assert torch.equal(g, torch.zeros_like(x))


@pytest.mark.parametrize("name", NAMES)
def test_all_zero_class_weights_give_zero_with_zero_gradient(name):
    fn, _, own, _ = LOSSES[name]
    x = logits().requires_grad_()
    out = fn(x, labels(), weight=[0.0, 0.0, 0.0], **own)
    assert out.item() == 0.0
    (g,) = torch.autograd.grad(out, x)
    assert torch.equal(g, torch.zeros_like(x))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("activation", ["softmax", "sigmoid"])
@pytest.mark.parametrize(
    "scale, dtype",
    [
        pytest.param(1e4, torch.float32, id="1e4-fp32"),
        pytest.param(6e4, torch.float16, id="6e4-fp16"),
    ],
)
def test_saturated_logits_are_finite_and_zero_when_right(name, activation, scale, dtype):
    fn, _, own, _ = LOSSES[name]
    t = labels()
    sign = one_hot(t) * 2 - 1  # +1 on the target class, -1 elsewhere
    right = (sign * scale).to(dtype).requires_grad_()
    wrong = (-sign * scale).to(dtype).requires_grad_()
    good = fn(right, t, activation=activation, **own)
    assert good.item() == 0.0
    assert_finite_graph(good, right)
    bad = fn(wrong, t, activation=activation, **own)
    assert bad.item() > 0.5
    assert_finite_graph(bad, wrong)


def test_lovasz_hinge_of_wrong_logits_is_one_plus_the_margin():
    t = labels(absent=False)
    x = (1 - 2 * one_hot(t)) * 1e4  # every pixel of every channel wrong by 1e4
    torch.testing.assert_close(
        vl.lovasz_loss(x, t, activation="sigmoid"), torch.tensor(1 + 1e4, dtype=x.dtype)
    )


@pytest.mark.parametrize("name", COMPOUND)
def test_compound_confident_wrong_prediction_costs_the_logit_gap(name):
    fn, _, own, _ = LOSSES[name]
    t = labels(absent=False)
    x = (1 - 2 * one_hot(t)) * 1e4  # target class at -1e4, the two others at +1e4
    dice = vl.dice_loss(x, t)
    lam = own.get("lambda_ce", own.get("lambda_focal", 1.0))
    # -log p_target = gap + log 2 (two wrong classes), the focal factor (1 - p)^gamma is 1
    torch.testing.assert_close(fn(x, t, **own), dice + lam * (2e4 + math.log(2)))


# overlap losses whose value on probabilities is exactly 0 for a perfect prediction and exactly
# 1 for a disjoint one at smooth = 0
EXACT = ["dice", "jaccard", "tversky", "focal_tversky", "generalized_dice", "lovasz"]


@pytest.mark.parametrize("name", EXACT)
def test_perfect_prediction_is_zero_and_disjoint_is_one(name):
    fn, _, own, _ = LOSSES[name]
    t = labels(absent=False)  # every class in every image: no empty pair
    perfect = one_hot(t)
    assert fn(perfect, t, activation="none", **own).item() == 0.0
    disjoint = one_hot((t + 1) % 3)
    torch.testing.assert_close(
        fn(disjoint, t, activation="none", **own), torch.tensor(1.0, dtype=torch.float64)
    )


@pytest.mark.parametrize("name", COMPOUND)
def test_compound_perfect_logits_are_near_zero(name):
    fn, _, own, _ = LOSSES[name]
    t = labels()
    out = fn(one_hot(t) * 40.0, t, **own)
    assert 0.0 <= out.item() < 1e-12


def _empty_image():
    """One binary image without foreground and a prediction with false positives."""
    p = torch.tensor([[[[0.9, 0.2, 0.0, 0.1]]]], dtype=torch.float64)  # (1, 1, 1, 4)
    return p, torch.zeros(1, 1, 4, dtype=torch.long)


@pytest.mark.parametrize(
    "name", ["dice", "jaccard", "tversky", "focal_tversky", "generalized_dice"]
)
def test_penalize_gives_false_positives_on_an_empty_image_a_gradient(name):
    fn, _, own, _ = LOSSES[name]
    p, t = _empty_image()
    value, (g,) = grads(lambda a: fn(a, t, activation="none", **own), p)
    exponent = own.get("gamma", 1.0) if name == "focal_tversky" else 1.0
    # the soft false-positive rate sum(p) / n = 1.2 / 4 (raised to gamma for focal Tversky)
    torch.testing.assert_close(value, torch.tensor(0.3, dtype=torch.float64) ** exponent)
    assert (g > 0).all(), g  # every false positive (and the zero) is pushed down


def test_lovasz_on_an_empty_image_penalizes_the_worst_false_positive():
    p, t = _empty_image()
    value, (g,) = grads(lambda a: vl.lovasz_loss(a, t, activation="none"), p)
    assert value.item() == pytest.approx(0.9)  # the extension of |S| / |S| is max error
    assert g.flatten().tolist() == [1.0, 0.0, 0.0, 0.0]
    assert vl.lovasz_loss(p, t, activation="none", empty="include").item() == value.item()


@pytest.mark.parametrize("name", ["dice", "jaccard", "tversky", "focal_tversky"])
@pytest.mark.parametrize(
    "empty, smooth, expected, moves",
    [
        # the formula at smooth = 0: 0 / (FP term) = 0 -> loss 1, flat (peers' default of 1e-5
        # smoothing makes it almost flat)
        pytest.param("include", 0.0, 1.0, False, id="include-smooth0"),
        # with smooth = 1 the loss s / (FP term + s) moves false positives
        pytest.param("include", 1.0, None, True, id="include-smooth1"),
        pytest.param("exclude", 0.0, 0.0, False, id="exclude"),
        pytest.param("exclude", 1.0, 0.0, False, id="exclude-smooth1"),
    ],
)
def test_empty_mask_policy_against_smooth(name, empty, smooth, expected, moves):
    fn, _, own, _ = LOSSES[name]
    p, t = _empty_image()
    value, (g,) = grads(lambda a: fn(a, t, activation="none", empty=empty, smooth=smooth, **own), p)
    if expected is not None:
        assert value.item() == pytest.approx(expected)
    assert bool((g != 0).any()) is moves


def test_include_counts_an_empty_pair_with_empty_prediction_as_perfect():
    t = torch.zeros(1, 1, 4, dtype=torch.long)
    assert vl.dice_loss(torch.zeros(1, 1, 1, 4), t, activation="none", empty="include") == 0.0


# ---------------------------------------------------------------- option pairs that interact


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("per_image", [True, False], ids=["per-image", "batch"])
def test_a_fully_ignored_image_leaves_the_loss_of_the_others(name, per_image):
    fn, _, own, _ = LOSSES[name]
    x, t = logits(), labels()
    t_ignored = t.clone()
    t_ignored[1] = 255
    expected = fn(x[:1], t[:1], per_image=per_image, **own)
    torch.testing.assert_close(
        fn(x, t_ignored, ignore_index=255, per_image=per_image, **own), expected
    )


@pytest.mark.parametrize("name", [*PAIR_LOSSES, *COMPOUND])
def test_include_background_false_is_a_zero_background_weight(name):
    """The weight vector is indexed by class id; dropping class 0 equals weighing it 0."""
    fn, _, own, _ = LOSSES[name]
    x, t = logits(), labels()
    w = [0.7, 1.5, 0.4]
    torch.testing.assert_close(
        fn(x, t, weight=w, include_background=False, **own), fn(x, t, weight=[0.0, 1.5, 0.4], **own)
    )
    torch.testing.assert_close(
        fn(x, t, classes=[1, 2], weight=w, **own),
        fn(x, t, weight=w, include_background=False, **own),
    )


@pytest.mark.parametrize("name", PAIR_LOSSES)
def test_uniform_weight_changes_nothing(name):
    fn, _, own, _ = LOSSES[name]
    x, t = logits(), labels()
    torch.testing.assert_close(fn(x, t, weight=[2.0, 2.0, 2.0], **own), fn(x, t, **own))


@pytest.mark.parametrize("name", NAMES)
def test_class_order_does_not_matter(name):
    fn, _, own, _ = LOSSES[name]
    x, t = logits(), labels()
    torch.testing.assert_close(fn(x, t, classes=[2, 0], **own), fn(x, t, classes=[0, 2], **own))


# ---------------------------------------------------------------- bad inputs

BAD = [
    pytest.param(
        lambda: (logits(), labels((2, 4, 6))),
        {},
        ValueError,
        r"expected target of shape \(2, 4, 5\) \(class indices\) or \(2, 3, 4, 5\) .*"
        r"matching input \(2, 3, 4, 5\), got \(2, 4, 6\)",
        id="spatial-shape",
    ),
    pytest.param(
        lambda: (logits(), one_hot(labels(), 4)),
        {},
        ValueError,
        r"got \(2, 4, 4, 5\)",
        id="channel-mismatch",
    ),
    pytest.param(
        lambda: (logits(), labels() + 3),
        {},
        ValueError,
        r"class indices in \[0, 2\].*got values in \[3, 5\]",
        id="index-out-of-range",
    ),
    pytest.param(
        lambda: (logits(), labels()), {"ignore_index": 9}, None, None, id="ignore-index-accepted"
    ),
    pytest.param(
        lambda: (logits(), labels().double()),
        {},
        TypeError,
        "integer class indices",
        id="float-index-target",
    ),
    pytest.param(
        lambda: (logits((2, 3)), torch.zeros(2, dtype=torch.long)),
        {},
        ValueError,
        r"1 to 3 spatial dims, got \(2, 3\)",
        id="no-spatial-dim",
    ),
    pytest.param(
        lambda: (logits((1, 3, 2, 2, 2, 2)), labels((1, 2, 2, 2, 2))),
        {},
        ValueError,
        "1 to 3 spatial dims",
        id="4-spatial-dims",
    ),
    pytest.param(
        lambda: (labels((2, 3, 4)), labels()), {}, TypeError, "floating-point", id="int-input"
    ),
    pytest.param(
        lambda: (logits((2, 1, 4, 5)), labels(num_classes=2)),
        {},
        ValueError,
        "activation='softmax' needs at least 2 channels",
        id="softmax-one-channel",
    ),
    pytest.param(
        lambda: (logits((2, 1, 4, 5)), labels(num_classes=2)),
        {"activation": "sigmoid", "include_background": False},
        ValueError,
        "leaves no class",
        id="no-class-left",
    ),
    pytest.param(
        lambda: (logits(), labels()),
        {"weight": [1.0, 2.0]},
        ValueError,
        r"expected weight of shape \(3,\)",
        id="weight-length",
    ),
    pytest.param(
        lambda: (logits(), labels()),
        {"weight": [1.0, -2.0, 1.0]},
        ValueError,
        "expected weight >= 0",
        id="weight-negative",
    ),
    pytest.param(
        lambda: (logits(), labels()),
        {"activation": "softplus"},
        ValueError,
        "expected activation to be one of",
        id="activation",
    ),
    pytest.param(
        lambda: (logits(), labels()),
        {"empty": "skip"},
        ValueError,
        "expected empty to be one of",
        id="empty",
    ),
    pytest.param(
        lambda: (logits(), labels()),
        {"classes": [1, 3]},
        ValueError,
        r"expected classes in \[0, 2\].*got \[3\]",
        id="classes-range",
    ),
    pytest.param(
        lambda: (logits(), labels()),
        {"classes": [1, 1]},
        ValueError,
        "distinct classes",
        id="classes-duplicate",
    ),
    pytest.param(
        lambda: (logits(), labels()),
        {"classes": [1], "include_background": False},
        ValueError,
        "either classes or include_background",
        id="classes-and-nobg",
    ),
    pytest.param(
        lambda: (logits(), labels()),
        {"smooth": -1.0},
        ValueError,
        "expected smooth >= 0",
        id="smooth-negative",
    ),
    pytest.param(
        lambda: (logits(), labels()),
        {"smooth": (1.0, 2.0, 3.0)},
        ValueError,
        "a number or a pair",
        id="smooth-triple",
    ),
    pytest.param(
        lambda: (logits(), labels()),
        {"reduction": "avg"},
        ValueError,
        "expected reduction to be one of",
        id="reduction",
    ),
    pytest.param(lambda: ([[0.0]], labels()), {}, TypeError, "torch.Tensor", id="list-input"),
]


@pytest.mark.parametrize(
    "name, make, options, error, match",
    [
        pytest.param(name, *case.values, id=f"{case.id}-{name}")
        for case in BAD
        for name in NAMES
        if supports(name, case.values[1])
    ],
)
def test_bad_inputs(name, make, options, error, match):
    fn, _, own, _ = LOSSES[name]
    opts = {**own, **options}
    x, t = make()
    if error is None:
        fn(x, t, **opts)
        return
    with pytest.raises(error, match=f"{fn.__name__}: .*{match}" if match else None):
        fn(x, t, **opts)


@pytest.mark.parametrize("name", NAMES)
def test_module_validates_options_at_construction(name):
    _, module, own, _ = LOSSES[name]
    with pytest.raises(ValueError, match="reduction"):
        module(reduction="batchmean", **own)
    with pytest.raises(ValueError, match="activation"):
        module(activation="relu", **own)
    with pytest.raises(ValueError, match="empty"):
        module(empty="drop", **own)


@pytest.mark.parametrize("name", ["dice", "generalized_dice", "lovasz", "dice_focal"])
def test_compiles_without_graph_breaks(name):
    """Value checks are skipped under tracing, nothing synchronises with the host."""
    fn, _, own, _ = LOSSES[name]
    x = logits(dtype=torch.float32)
    t = with_ignored(labels())
    compiled = torch.compile(
        lambda a, b: fn(a, b, ignore_index=255, **own), backend="eager", fullgraph=True
    )
    torch.testing.assert_close(compiled(x, t), fn(x, t, ignore_index=255, **own))
