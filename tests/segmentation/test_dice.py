"""dice_loss against MONAI, segmentation_models_pytorch and kornia, and by hand.

Convention mapping (ours <- peer):

* MONAI ``DiceLoss(softmax=True, to_onehot_y=True, smooth_nr=s, smooth_dr=s, batch=b,
  squared_pred=q, include_background=i, weight=w_sel, ignore_index=k)`` is ``dice_loss(
  smooth=s, per_image=not b, squared=q, include_background=i, weight=w, ignore_index=k,
  empty="include")``: MONAI keeps every (image, class) pair in its mean. Its target carries a
  channel dim ``(B, 1, ...)``; its ``weight`` lists the selected classes only and its mean
  divides the weighted sum by the number of pairs where ours divides by the summed weights, so
  the tests use weights whose mean over the selected classes is 1.
* smp ``DiceLoss("multiclass", smooth=s, ignore_index=k, classes=c, class_weights=w)`` is
  ``dice_loss(smooth=2 s, per_image=False, ...)`` (smp adds ``s`` to ``I`` and to
  ``(P + G) / 2``) on batches where every class is present: smp
  multiplies the loss of an absent class by 0 yet keeps it in the mean (no mode of ours does
  that; see the defect test below). ``"binary"`` / ``"multilabel"`` are
  ``activation="sigmoid"`` with a dense target.
* kornia ``dice_loss(average="macro", eps=e, weight=w, ignore_index=k)`` is ``dice_loss(
  smooth=(0, e), empty="exclude", ...)`` on batches where every image has the same number of
  present classes (kornia averages the classes of each image first, we pool the pairs).
  kornia's default ``average="micro"`` (one Dice over all classes of an image) is another
  quantity.
"""

from __future__ import annotations

import kornia
import pytest
import torch
from monai.losses import DiceLoss as MonaiDice
from segmentation_models_pytorch.losses import DiceLoss as SmpDice

import visionloss as vl
from tests.helpers import grads
from tests.reference import segmentation as ref
from tests.segmentation.cases import labels, logits, one_hot, with_ignored


def _close(ours, peer, x, rtol=1e-7, atol=1e-9):
    v, (g,) = grads(ours, x)
    pv, (pg,) = grads(peer, x)
    torch.testing.assert_close(v, pv, rtol=rtol, atol=atol)
    torch.testing.assert_close(g, pg, rtol=rtol, atol=atol)


@pytest.mark.parametrize(
    "ours, monai, spatial, ignore",
    [
        pytest.param({}, {}, (4, 5), False, id="default"),
        pytest.param({"per_image": False}, {"batch": True}, (4, 5), False, id="batch"),
        pytest.param(
            {"squared": True, "smooth": 1.0},
            {"squared_pred": True, "smooth_nr": 1.0, "smooth_dr": 1.0},
            (2, 2, 5),
            False,
            id="squared-3d",
        ),
        pytest.param(
            {"include_background": False, "weight": [9.0, 0.5, 1.5]},
            {"include_background": False, "weight": [0.5, 1.5]},
            (4, 5),
            False,
            id="nobg-weight",
        ),
        pytest.param({"ignore_index": 255}, {"ignore_index": 255}, (4, 5), True, id="ignore"),
        pytest.param(
            {"smooth": (0.0, 1e-3)},
            {"smooth_nr": 0.0, "smooth_dr": 1e-3},
            (20,),
            False,
            id="smooth-pair-1d",
        ),
    ],
)
def test_matches_monai(ours, monai, spatial, ignore):
    x = logits((2, 3, *spatial))
    t = labels().reshape(2, *spatial)
    if ignore:
        t = with_ignored(t)
    peer = MonaiDice(
        softmax=True, to_onehot_y=True, **{"smooth_nr": 1e-5, "smooth_dr": 1e-5, **monai}
    )
    _close(
        lambda a: vl.dice_loss(a, t, empty="include", **{"smooth": 1e-5, **ours}),
        lambda a: peer(a, t.unsqueeze(1)),
        x,
    )


def test_matches_monai_sigmoid_multilabel():
    x = logits()
    t = (torch.rand(2, 3, 4, 5, generator=torch.Generator().manual_seed(3)) > 0.5).double()
    peer = MonaiDice(sigmoid=True)
    _close(
        lambda a: vl.dice_loss(a, t, activation="sigmoid", smooth=1e-5, empty="include"),
        lambda a: peer(a, t),
        x,
    )


@pytest.mark.parametrize(
    "ours, smp",
    [
        pytest.param({}, {}, id="default"),
        pytest.param({"smooth": 2.0}, {"smooth": 1.0}, id="smooth"),
        pytest.param(
            {"classes": [0, 2], "weight": [1.0, 5.0, 3.0]},
            {"classes": [0, 2], "class_weights": [1.0, 5.0, 3.0]},
            id="classes-weight",
        ),
        pytest.param({"ignore_index": 255}, {"ignore_index": 255}, id="ignore"),
    ],
)
def test_matches_smp_multiclass(ours, smp):
    x = logits()
    t = labels()  # every class present in the batch
    if "ignore_index" in ours:
        t = with_ignored(t)
    peer = SmpDice("multiclass", **smp)
    _close(lambda a: vl.dice_loss(a, t, per_image=False, **ours), lambda a: peer(a, t), x)


@pytest.mark.parametrize("mode", ["binary", "multilabel"])
def test_matches_smp_sigmoid_modes(mode):
    c = 1 if mode == "binary" else 3
    x = logits((2, c, 4, 5))
    t = (torch.rand(2, c, 4, 5, generator=torch.Generator().manual_seed(3)) > 0.5).double()
    peer = SmpDice(mode)
    _close(
        lambda a: vl.dice_loss(a, t, activation="sigmoid", per_image=False), lambda a: peer(a, t), x
    )


def test_smp_gives_false_positives_of_an_absent_class_no_gradient():
    """smp defect: ``loss *= y_true.sum(dims) > 0`` zeroes the loss of a class absent from
    the batch, so predicting it costs nothing (its term is 0 with zero gradient) while it still
    counts in the mean. We test ours against the float64 reference instead."""
    x = logits()
    t = labels() % 2  # class 2 absent from the batch
    value, (g,) = grads(lambda a: vl.dice_loss(a, t, per_image=False), x)
    expected, (rg,) = grads(lambda a: ref.overlap(a, t, ref.dice_score, per_image=False), x)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(g, rg)
    assert (g[:, 2] > 0).any()  # pushes the absent class's logits down
    smp_value, (smp_g,) = grads(lambda a: SmpDice("multiclass")(a, t), x)
    assert not torch.allclose(smp_value, value)


@pytest.mark.parametrize(
    "ours, kornia_opts",
    [
        pytest.param({}, {}, id="default"),
        pytest.param({"weight": [0.2, 1.0, 3.0]}, {"weight": [0.2, 1.0, 3.0]}, id="weight"),
        pytest.param({"ignore_index": 255}, {"ignore_index": 255}, id="ignore"),
    ],
)
def test_matches_kornia_macro(ours, kornia_opts):
    x = logits()
    t = labels(absent=False)  # every class in every image
    if "ignore_index" in ours:
        t = with_ignored(t)
    if "weight" in kornia_opts:
        kornia_opts = {
            **kornia_opts,
            "weight": torch.tensor(kornia_opts["weight"], dtype=torch.float64),
        }
    _close(
        lambda a: vl.dice_loss(a, t, smooth=(0.0, 1e-8), empty="exclude", **ours),
        lambda a: kornia.losses.dice_loss(a, t, average="macro", **kornia_opts),
        x,
    )


@pytest.mark.parametrize(
    "p, t, options, expected",
    [
        # I = 0.5 of P + G = 2 per class: 1 - 2 * 0.5 / 2
        pytest.param([[[0.5, 0.5]], [[0.5, 0.5]]], [[0, 1]], {}, 0.5, id="half"),
        # class 0: 2 * 1.1 / (1.1 + 2); class 1 (absent): its false-positive rate 0.9 / 2
        pytest.param([[[0.8, 0.3]], [[0.2, 0.7]]], [[0, 0]], {}, None, id="absent-class"),
        # V-Net: 2 * 0.8 / (0.64 + 0.09 + 1)
        pytest.param(
            [[[0.8, 0.3]], [[0.2, 0.7]]],
            [[0, 1]],
            {"squared": True, "classes": [0]},
            1 - 1.6 / 1.73,
            id="squared",
        ),
        # (2 * 0 + 1) / (1 + 0 + 1) with smooth 1 on an empty pair under "include"
        pytest.param(
            [[[0.0, 0.0]], [[1.0, 1.0]]],
            [[1, 1]],
            {"smooth": 1.0, "classes": [0], "empty": "include"},
            0.0,
            id="smooth-empty-clean",
        ),
    ],
)
def test_hand_values(p, t, options, expected):
    probs = torch.tensor([p], dtype=torch.float64)  # (1, 2, 1, 2)
    target = torch.tensor([t])
    out = vl.dice_loss(probs, target, activation="none", **options)
    if expected is None:
        expected = ((1 - 2.2 / 3.1) + 0.45) / 2
    torch.testing.assert_close(out, torch.tensor(expected, dtype=torch.float64))


def test_volume_in_fp16_gives_the_fp32_loss():
    """2x3x128^3 fp16 logits (the size where MONAI's DiceLoss returns exactly 1.0 with a zero
    gradient, its fp16 sums overflowing at 65504, and smp's returns NaN, inf / inf; both already
    fail at 2x3x64^3): every sum is taken in fp32 here, so the value is the fp32 one."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 128, 128, 128, generator=g).half()
    t = torch.randint(0, 3, (2, 128, 128, 128), generator=g)
    xh = x.clone().requires_grad_()
    out = vl.dice_loss(xh, t)
    expected = vl.dice_loss(x.float(), t)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)
    assert 0.5 < out.item() < 0.9
    (out * 2.0**16).backward()  # as a GradScaler would: fp16 gradients of a 4M-voxel mean
    assert torch.isfinite(xh.grad).all() and (xh.grad != 0).any()


def test_one_hot_and_index_targets_agree():
    x, t = logits(), with_ignored(labels())
    dense = one_hot(t.clamp_max(2))
    dense[(t == 255).unsqueeze(1).expand_as(dense)] = 255.0
    torch.testing.assert_close(
        vl.dice_loss(x, dense, ignore_index=255), vl.dice_loss(x, t, ignore_index=255)
    )
