"""Defects of the peer segmentation losses named by issue 3, each asserted on the installed peer
next to our value (in the style of ``tests/boxes/test_torchvision.py::
test_torchvision_defects_we_avoid``); a test is skipped when its peer is not installed.

Not assertable here: kornia's ``tversky_loss`` before 0.9 took ``alpha`` and ``beta`` but did
not use them (every setting gave the Dice loss); the installed kornia is newer, where they
weight the false positives and false negatives as ours do (``test_tversky.py`` compares them).

The last section holds two regression tests of our own audit findings that touch the same
machinery (registry alias of the Lovász loss, the false-positive rate of ``squared``).
"""

from __future__ import annotations

import inspect
from functools import cache

import pytest
import torch

import visionloss as vl
from tests.conftest import assert_close_dtype
from tests.helpers import grads
from tests.segmentation.cases import labels, logits, with_ignored


@cache
def _fp16_volume() -> tuple[torch.Tensor, torch.Tensor]:
    """2x3x64^3 fp16 logits and class indices: each class holds ~87,000 voxels per image,
    more than fp16's largest value (65,504)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 64, 64, 64, generator=g).half()
    t = torch.randint(0, 3, (2, 64, 64, 64), generator=g)
    return x, t


@cache
def _ours_on_fp16_volume() -> tuple[torch.Tensor, torch.Tensor]:
    x, t = _fp16_volume()
    value, (g,) = grads(lambda a: vl.dice_loss(a, t, smooth=1e-5), x)
    assert_close_dtype(value, vl.dice_loss(x.float(), t, smooth=1e-5), torch.float16)
    assert torch.isfinite(g).all() and g.abs().max() > 0
    return value, g


def test_monai_dice_is_exactly_one_with_zero_gradient_on_an_fp16_volume():
    """MONAI's DiceLoss sums in the input dtype: the per-class target and prediction sums
    overflow to inf, so 1 - (2 I + s) / (inf + s) is exactly 1.0 and the gradient is 0 (the
    network stops learning without any error). Ours sums in fp32. Mapping: MONAI
    ``DiceLoss(softmax=True, to_onehot_y=True)`` (per image, smooth 1e-5) is ours with
    ``smooth=1e-5``; in fp32 the two agree."""
    monai_losses = pytest.importorskip("monai.losses")
    x, t = _fp16_volume()
    peer = monai_losses.DiceLoss(softmax=True, to_onehot_y=True)
    value, (g,) = grads(lambda a: peer(a, t.unsqueeze(1)), x)
    assert value.item() == 1.0
    assert torch.count_nonzero(g) == 0
    ours, _ = _ours_on_fp16_volume()
    assert ours.item() < 0.7  # about 2/3 for random logits
    torch.testing.assert_close(ours, peer(x.float(), t.unsqueeze(1)), rtol=1e-4, atol=1e-5)


def test_smp_dice_is_nan_on_an_fp16_volume():
    """smp's DiceLoss also sums in fp16, over the whole batch: the intersection and the
    cardinality overflow, inf / inf = NaN. Ours is the fp32 value."""
    smp_losses = pytest.importorskip("segmentation_models_pytorch.losses")
    x, t = _fp16_volume()
    value = smp_losses.DiceLoss("multiclass", from_logits=True)(x, t)
    assert torch.isnan(value)
    ours, _ = _ours_on_fp16_volume()
    assert torch.isfinite(ours)


def test_smp_gives_no_gradient_to_false_positives_of_an_empty_image():
    """smp multiplies the loss of a class absent from the target by 0 (``loss *= mask``), so
    false positives on an empty image cost nothing. Ours (``empty="penalize"``, the default)
    is the soft false-positive rate: by hand, logits 0 give p = 0.5, loss 0.5 and gradient
    sigmoid'(0) / n = 0.25 / 40 on every pixel."""
    smp_losses = pytest.importorskip("segmentation_models_pytorch.losses")
    x = torch.zeros(2, 1, 4, 5)
    empty = torch.zeros(2, 1, 4, 5)
    value, (g,) = grads(lambda a: smp_losses.DiceLoss("binary", from_logits=True)(a, empty), x)
    assert value.item() == 0.0 and torch.count_nonzero(g) == 0
    ours, (og,) = grads(lambda a: vl.dice_loss(a, empty, activation="sigmoid", per_image=False), x)
    torch.testing.assert_close(ours, torch.tensor(0.5))
    torch.testing.assert_close(og, torch.full_like(x, 0.25 / 40))


def test_smp_focal_tversky_applies_the_exponent_after_the_class_mean():
    """smp's ``TverskyLoss(gamma=g)`` returns ``mean_c(1 - TI_c) ** g`` (``aggregate_loss``);
    Abraham and Khan, and ours, take ``mean_c((1 - TI_c) ** g)``. Mapping: smp multiclass
    aggregates the batch (ours ``per_image=False``), alpha on false positives in both."""
    smp_losses = pytest.importorskip("segmentation_models_pytorch.losses")
    t = labels(absent=False)  # every class present: smp's class mask is all 1
    x = logits()
    x[:, 0] = torch.where(t == 0, 10.0, -10.0)  # class 0 right everywhere, 1 and 2 guessed
    opts = {"alpha": 0.3, "beta": 0.7}
    per_class = vl.tversky_loss(x, t, per_image=False, reduction="none", **opts)  # (1, 3)
    smp = smp_losses.TverskyLoss("multiclass", gamma=0.75, **opts)(x, t)
    torch.testing.assert_close(smp, per_class.mean() ** 0.75)
    ours = vl.focal_tversky_loss(x, t, per_image=False, gamma=0.75, **opts)
    torch.testing.assert_close(ours, (per_class**0.75).mean())
    assert smp - ours > 0.02  # Jensen's gap: class 0 is predicted well, the others are not


@pytest.mark.parametrize(
    "module, name, ours",
    [
        # MONAI has ignore_index on DiceLoss, TverskyLoss and FocalLoss, not on its
        # generalized Dice nor on the compound losses built from them: the user must mask
        pytest.param("monai.losses", "GeneralizedDiceLoss", vl.generalized_dice_loss, id="gdl"),
        pytest.param("monai.losses", "DiceCELoss", vl.dice_ce_loss, id="dice_ce"),
        pytest.param("monai.losses", "DiceFocalLoss", vl.dice_focal_loss, id="dice_focal"),
        # kornia's dice_loss and tversky_loss take ignore_index, its Lovász-softmax does not
        pytest.param("kornia.losses", "lovasz_softmax_loss", vl.lovasz_loss, id="kornia-lovasz"),
    ],
)
def test_peers_without_ignore_index(module, name, ours):
    """These peers cannot leave pixels out (this fails, and the table in the docs needs an
    update, the day a peer gains the option). Ours take ignore_index, and an ignored pixel
    gets exactly zero gradient."""
    peer = getattr(pytest.importorskip(module), name)
    assert "ignore_index" not in inspect.signature(peer).parameters
    assert "ignore_index" in inspect.signature(ours).parameters
    x, t = logits(), with_ignored(labels())
    _, (g,) = grads(lambda a: ours(a, t, ignore_index=255), x)
    ignored = (t == 255).unsqueeze(1).expand_as(g)
    assert ignored.any() and torch.count_nonzero(g[ignored]) == 0
    assert torch.count_nonzero(g[~ignored]) > 0


# ---------------------------------------------------------------- our own audit findings


def test_no_alias_builds_the_lovasz_hinge_as_softmax():
    """``lovasz_hinge`` was an alias of ``lovasz``, whose default is the softmax loss; aliases
    carry no options, so the alias is gone and the hinge is ``activation="sigmoid"``."""
    with pytest.raises(ValueError, match="unknown loss 'lovasz_hinge'; did you mean 'lovasz'"):
        vl.build_loss("lovasz_hinge")
    assert vl.build_loss("lovasz_softmax").activation == "softmax"
    assert vl.build_loss("lovasz", activation="sigmoid").activation == "sigmoid"


_P = [0.5, 0.5, 0.0, 0.0]  # class 1 of one image: sum p = 1, sum p^2 = 0.5 over n = 4 pixels


@pytest.mark.parametrize(
    "fn, opts, expected",
    [
        pytest.param(vl.dice_loss, {}, 1 / 4, id="dice"),
        pytest.param(vl.jaccard_loss, {}, 1 / 4, id="jaccard"),
        pytest.param(vl.tversky_loss, {}, 1 / 4, id="tversky"),
        pytest.param(vl.focal_tversky_loss, {}, (1 / 4) ** 0.75, id="focal_tversky"),
        pytest.param(vl.dice_loss, {"per_image": False}, 2 / 8, id="dice-batch"),
        # pixel 0 of image 0 ignored: (0.5 / 3 + 1 / 4) / 2
        pytest.param(vl.dice_loss, {"ignore_index": 255}, 5 / 24, id="dice-ignore"),
    ],
)
def test_squared_penalize_uses_the_soft_false_positive_rate(fn, opts, expected):
    """``empty="penalize"``: an empty pair's loss is sum p / n, the documented soft
    false-positive rate, also with ``squared=True`` (where sum p^2 / n gave half of it here),
    and every valid pixel gets a positive gradient."""
    p1 = torch.tensor([_P, _P], dtype=torch.float64)
    x = torch.stack([1 - p1, p1], 1).requires_grad_(True)  # (2, 2, 4) probabilities
    target = torch.zeros(2, 4, dtype=torch.long)  # class 1 empty in both images
    if "ignore_index" in opts:
        target[0, 0] = 255
    out = fn(x, target, activation="none", squared=True, classes=[1], **opts)
    torch.testing.assert_close(out, torch.tensor(expected, dtype=torch.float64))
    (g,) = torch.autograd.grad(out, x)
    valid = target != 255
    assert (g[:, 1][valid] > 0).all() and torch.count_nonzero(g[:, 1][~valid]) == 0


def test_generalized_dice_squared_penalize_uses_the_soft_false_positive_rate():
    p1 = torch.tensor([_P], dtype=torch.float64)
    x = torch.stack([1 - p1, p1], 1)
    out = vl.generalized_dice_loss(
        x, torch.zeros(1, 4, dtype=torch.long), activation="none", squared=True, classes=[1]
    )
    torch.testing.assert_close(out, torch.tensor(0.25, dtype=torch.float64))
