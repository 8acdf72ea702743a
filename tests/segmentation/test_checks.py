"""Checks and conventions shared by the segmentation family that no single loss owns.

* Class indices and the equivalent one-hot target give one value and one gradient, for the
  compound losses' pixel terms too, with every combination of ``weight``,
  ``include_background``, ``classes`` (and ``ignore_index``): the softmax CE / focal term
  divides by the summed class weight of the targets, as ``cross_entropy_loss``.
* Values are checked with ``require`` (an immediate error on the CPU, a device-side assertion
  under ``torch.compile`` and on a GPU): probabilities given with ``activation="none"``, dense
  targets and tensor class weights outside their domain raise instead of giving a plausible
  number (a negative "probability" used to give 0 with zero gradient).
* A property test over random shapes: finite values and gradients, means of Dice / Jaccard /
  Tversky in [0, 1], index == one-hot, for every overlap loss.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import visionloss as vl
from tests.helpers import grads
from tests.segmentation.cases import (
    COMPOUND,
    LOSSES,
    NAMES,
    labels,
    logits,
    one_hot,
    soft,
    with_ignored,
)
from visionloss.errors import InputError, OptionError

W = [0.5, 2.0, 1.0]

# (id, options): every combination of weight x class selection (classes and
# include_background=False exclude each other)
SELECTIONS = [
    ("all", {}),
    ("nobg", {"include_background": False}),
    ("classes-2", {"classes": [2]}),
    ("classes-0-2", {"classes": [0, 2]}),
    ("classes-2-1", {"classes": [2, 1]}),
]
COMBINATIONS = [
    pytest.param(
        {**selection, **({} if weight is None else {"weight": weight})},
        id=f"{sid}-{'w' if weight else 'unweighted'}",
    )
    for sid, selection in SELECTIONS
    for weight in (None, W)
]


def _dense(t: torch.Tensor, ignore: int | None) -> torch.Tensor:
    """The one-hot target of class indices ``t``; an ignored pixel holds ``ignore`` in every
    channel (the dense form of ``ignore_index``)."""
    if ignore is None:
        return one_hot(t)
    valid = t != ignore
    g = one_hot(torch.where(valid, t, 0))
    return torch.where(valid.unsqueeze(1), g, float(ignore))


def _same(fn, x, a, b, **options):
    va, (ga,) = grads(lambda z: fn(z, a, **options), x)
    vb, (gb,) = grads(lambda z: fn(z, b, **options), x)
    torch.testing.assert_close(va, vb)
    torch.testing.assert_close(ga, gb)


# ---------------------------------------------------------------- index == one-hot


@pytest.mark.parametrize("options", COMBINATIONS)
@pytest.mark.parametrize("ignore", [None, 255], ids=["all-pixels", "ignored"])
@pytest.mark.parametrize("activation", ["softmax", "sigmoid"])
@pytest.mark.parametrize(
    "fn, own",
    [
        pytest.param(vl.dice_ce_loss, {}, id="dice_ce"),
        pytest.param(vl.dice_focal_loss, {"gamma": 1.5}, id="dice_focal"),
    ],
)
def test_compound_pixel_term_index_equals_one_hot(fn, own, activation, ignore, options):
    """The pixel term alone (``lambda_dice=0``) and the whole loss: one value, one gradient
    for the two target forms (before the fix the softmax CE term gave 0.605 / 1.091 with
    weights and 1.108 / 0.720 without the background)."""
    x = logits()
    t = labels() if ignore is None else with_ignored(labels(), value=ignore)
    opts = {**own, **options, "activation": activation, "ignore_index": ignore}
    _same(fn, x, t, _dense(t, ignore), lambda_dice=0.0, **opts)
    _same(fn, x, t, _dense(t, ignore), **opts)


@pytest.mark.parametrize("options", COMBINATIONS)
@pytest.mark.parametrize("name", [n for n in NAMES if n not in COMPOUND])
def test_overlap_index_equals_one_hot(name, options):
    fn, _, own, _ = LOSSES[name]
    x, t = logits(), labels()
    _same(fn, x, t, one_hot(t), **own, **options)


def _selected_weight(options: dict) -> torch.Tensor:
    """``w'``: the class weight with 0 for the classes that are not selected."""
    w = torch.tensor(options.get("weight", [1.0, 1.0, 1.0]), dtype=torch.float64)
    keep = torch.zeros(3, dtype=torch.bool)
    if "classes" in options:
        keep[options["classes"]] = True
    else:
        keep[0 if options.get("include_background", True) else 1 :] = True
    return w * keep


@pytest.mark.parametrize("options", COMBINATIONS)
@pytest.mark.parametrize("target", ["index", "onehot", "soft"])
def test_softmax_ce_term_is_cross_entropy_loss(options, target):
    """The convention, stated once: the softmax CE term is ``cross_entropy_loss(weight=w')``
    for every target form (which is ``F.cross_entropy(weight=w')`` for class indices)."""
    x, t = logits(), labels()
    tt = {"index": t, "onehot": one_hot(t), "soft": soft(t)}[target]
    w = _selected_weight(options)
    value, (g,) = grads(lambda a: vl.dice_ce_loss(a, tt, lambda_dice=0.0, **options), x)
    expected, (rg,) = grads(lambda a: vl.cross_entropy_loss(a, tt, weight=w), x)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(g, rg)
    if target == "index":
        torch.testing.assert_close(
            value, torch.nn.functional.cross_entropy(x, t, weight=w), rtol=1e-12, atol=1e-12
        )


def test_soft_target_with_weights_differs_from_torchs_probability_target_mean():
    """``F.cross_entropy`` with probability targets and ``weight`` divides by the number of
    pixels, ours (and ``cross_entropy_loss``) by the targets' summed class weight; at one-hot
    targets torch's two forms disagree, ours agree."""
    x, t = logits(), labels()
    w = torch.tensor(W, dtype=torch.float64)
    g = one_hot(t)
    ours = vl.dice_ce_loss(x, g, lambda_dice=0.0, weight=W)
    torch_index = torch.nn.functional.cross_entropy(x, t, weight=w)
    torch_probs = torch.nn.functional.cross_entropy(x, g, weight=w)
    torch.testing.assert_close(ours, torch_index)
    torch.testing.assert_close(torch_probs * t.numel() / w[t].sum(), torch_index)
    assert not torch.allclose(torch_probs, torch_index)


# ---------------------------------------------------------------- values checked by require

NONE_LOSSES = [n for n in NAMES if n not in COMPOUND]  # the compound losses refuse "none"


@pytest.mark.parametrize("bad", [-0.1, 1.5, -math.inf], ids=["negative", "above-one", "-inf"])
@pytest.mark.parametrize("name", NONE_LOSSES)
def test_activation_none_refuses_values_outside_the_unit_interval(name, bad):
    """A negative "probability" used to give 0 with zero gradient (every sum clamped away)."""
    fn, _, own, _ = LOSSES[name]
    p = torch.softmax(logits(), 1)
    p[0, 1, 0, 0] = bad
    with pytest.raises(InputError, match=f"{fn.__name__}: expected input of probabilities in"):
        fn(p, labels(), activation="none", **own)


@pytest.mark.parametrize("name", NONE_LOSSES)
def test_activation_none_nan_gives_a_nan_loss(name):
    """A NaN is no error: it gives a non-finite loss (the convention for NaN inputs)."""
    fn, _, own, _ = LOSSES[name]
    p = torch.softmax(logits(), 1)
    p[0, 1, 0, 0] = math.nan
    assert not torch.isfinite(fn(p, labels(), activation="none", **own))


@pytest.mark.parametrize(
    "value, ignore",
    [
        pytest.param(2.0, None, id="two"),
        pytest.param(-1.0, None, id="minus-one"),
        pytest.param(255.0, None, id="255-without-ignore_index"),
        pytest.param(2.0, 255, id="two-with-ignore_index"),
    ],
)
@pytest.mark.parametrize("activation", ["softmax", "sigmoid"])
@pytest.mark.parametrize("name", NAMES)
def test_dense_target_outside_the_unit_interval_raises(name, activation, value, ignore):
    fn, _, own, _ = LOSSES[name]
    g = one_hot(labels())
    g[1, 2, 3, 4] = value
    with pytest.raises(InputError, match=f"{fn.__name__}: expected a one-hot / soft target"):
        fn(logits(), g, activation=activation, ignore_index=ignore, **own)


@pytest.mark.parametrize("name", NAMES)
def test_dense_target_may_hold_ignore_index(name):
    fn, _, own, _ = LOSSES[name]
    t = with_ignored(labels())
    torch.testing.assert_close(
        fn(logits(), _dense(t, 255), ignore_index=255, **own),
        fn(logits(), t, ignore_index=255, **own),
    )


@pytest.mark.parametrize(
    "weight",
    [[1.0, -1.0, 1.0], [1.0, math.inf, 1.0], [1.0, math.nan, 1.0]],
    ids=["negative", "inf", "nan"],
)
@pytest.mark.parametrize("name", NAMES)
def test_tensor_class_weights_are_checked(name, weight):
    fn, module, own, _ = LOSSES[name]
    w = torch.tensor(weight, dtype=torch.float64)
    with pytest.raises(OptionError, match=f"{fn.__name__}: expected weight >= 0 and finite"):
        fn(logits(), labels(), weight=w, **own)
    with pytest.raises(OptionError, match=f"{fn.__name__}: expected weight >= 0 and finite"):
        module(weight=w, **own)(logits(), labels())


@pytest.mark.parametrize(
    "case",
    [
        pytest.param("none", id="probabilities"),
        pytest.param("target", id="dense-target"),
        pytest.param("weight", id="tensor-weight"),
    ],
)
def test_checks_hold_under_compile(case):
    """Under ``torch.compile`` the checks are device-side assertions: the call fails (a
    RuntimeError carrying the message) instead of returning a number."""
    x, t = logits(dtype=torch.float32), labels()
    options: dict = {}
    if case == "none":
        x = torch.softmax(x, 1) - 0.5
        options["activation"] = "none"
    elif case == "target":
        t = one_hot(t).float() * 2.0
    else:
        options["weight"] = torch.tensor([1.0, -1.0, 1.0])
    torch._dynamo.reset()
    try:
        compiled = torch.compile(lambda a, b: vl.dice_loss(a, b, **options), backend="eager")
        with pytest.raises((RuntimeError, ValueError), match="dice_loss: expected"):
            compiled(x, t)
    finally:
        torch._dynamo.reset()


def test_value_checks_can_be_switched_off():
    p = torch.softmax(logits(), 1) * 2.0
    previous = vl.set_value_checks(False)
    try:
        assert torch.isfinite(vl.dice_loss(p, labels(), activation="none"))
    finally:
        vl.set_value_checks(previous)
    with pytest.raises(InputError):
        vl.dice_loss(p, labels(), activation="none")


# ---------------------------------------------------------------- property test

BOUNDED = {"dice", "jaccard", "tversky"}  # a mean of losses in [0, 1]


@settings(max_examples=30, deadline=None)
@given(
    batch=st.integers(1, 3),
    channels=st.integers(1, 4),
    spatial=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    activation=st.sampled_from(["softmax", "sigmoid"]),
    seed=st.integers(0, 2**16),
    scale=st.sampled_from([0.5, 3.0, 30.0]),
)
def test_random_shapes_property(batch, channels, spatial, activation, seed, scale):
    """Random ``(B, C, 1-3 spatial dims)`` shapes, index and one-hot targets, every overlap
    loss: finite value and gradients, a mean in [0, 1] for Dice / Jaccard / Tversky, and the
    two target forms agree (a 1-channel input is a sigmoid binary mask: indices 0 / 1)."""
    if channels == 1:
        activation = "sigmoid"
    gen = torch.Generator().manual_seed(seed)
    shape = (batch, channels, *spatial)
    x = torch.randn(shape, generator=gen, dtype=torch.float64) * scale
    t = torch.randint(0, max(channels, 2), (batch, *spatial), generator=gen)
    if channels == 1:
        g = t.unsqueeze(1).double()
    else:
        g = torch.nn.functional.one_hot(t, channels).movedim(-1, 1).double()
    for name in NAMES:
        fn, _, own, _ = LOSSES[name]
        opts = {**own, "activation": activation}
        value, (gx,) = grads(lambda a, fn=fn, opts=opts: fn(a, t, **opts), x)
        assert torch.isfinite(value), (name, shape)
        assert torch.isfinite(gx).all(), (name, shape)
        if name in BOUNDED:
            assert -1e-12 <= value.item() <= 1 + 1e-12, (name, shape, value)
        dense, (gd,) = grads(lambda a, fn=fn, opts=opts: fn(a, g, **opts), x)
        torch.testing.assert_close(value, dense, msg=lambda m, name=name: f"{name}: {m}")
        torch.testing.assert_close(gx, gd, msg=lambda m, name=name: f"{name}: {m}")
