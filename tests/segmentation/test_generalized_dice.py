"""generalized_dice_loss against MONAI and the float64 reference, and by hand.

Convention mapping (ours <- peer): MONAI ``GeneralizedDiceLoss(softmax=True,
to_onehot_y=True, w_type=w, smooth_nr=s, smooth_dr=s, batch=b)`` is
``generalized_dice_loss(weight_type=w, smooth=s, per_image=not b)`` with the default
``empty="penalize"``: both give an absent class the largest weight of the image's present
classes. MONAI computes the class weights in float32 even for float64 inputs, hence the
tolerance. NiftyNet's ``generalised_dice_loss`` (not installable; float64 transcription in
``tests/reference/segmentation.py``, citing its lines), one value per image averaged over the
batch, is ``generalized_dice_loss(weight_type=w.lower())`` where every class has
``sum p + sum g >= 1`` (NiftyNet clamps that per-class denominator at 1, ours adds ``smooth``):
the same absent-class rule.

MONAI defect: on an image where no selected class is present (an empty foreground with
``include_background=False``) every weight is 0 and MONAI returns ``1 - s / s = 0`` with zero
gradient, so false positives there are free; we test ours against the reference.
"""

from __future__ import annotations

import pytest
import torch
from monai.losses import GeneralizedDiceLoss as MonaiGDL

import visionloss as vl
from tests.helpers import grads
from tests.reference import segmentation as ref
from tests.segmentation.cases import labels, logits


def _close(ours, peer, x):
    v, (g,) = grads(ours, x)
    pv, (pg,) = grads(peer, x)
    torch.testing.assert_close(v, pv, rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(g, pg, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("w_type", ["square", "simple", "uniform"])
@pytest.mark.parametrize("batch", [False, True], ids=["per-image", "batch"])
@pytest.mark.parametrize("include_background", [True, False], ids=["bg", "nobg"])
def test_matches_monai(w_type, batch, include_background):
    x, t = logits(), labels()  # class 2 absent from image 1
    peer = MonaiGDL(
        softmax=True,
        to_onehot_y=True,
        w_type=w_type,
        batch=batch,
        include_background=include_background,
    )
    _close(
        lambda a: vl.generalized_dice_loss(
            a,
            t,
            weight_type=w_type,
            smooth=1e-5,
            per_image=not batch,
            include_background=include_background,
        ),
        lambda a: peer(a, t.unsqueeze(1)),
        x,
    )


def test_an_image_without_foreground_still_penalizes_false_positives():
    x = logits((2, 2, 4, 5))
    t = labels(num_classes=2, absent=False)
    t[1] = 0  # image 1: background only
    value, (g,) = grads(lambda a: vl.generalized_dice_loss(a, t, include_background=False), x)
    expected, (rg,) = grads(lambda a: ref.generalized_dice(a, t, include_background=False), x)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(g, rg)
    assert (g[1, 1] > 0).all()  # foreground logits of the empty image are pushed down
    monai_value, (monai_g,) = grads(
        lambda a: MonaiGDL(softmax=True, to_onehot_y=True, include_background=False)(
            a, t.unsqueeze(1)
        ),
        x,
    )
    assert torch.equal(monai_g[1], torch.zeros_like(monai_g[1]))  # MONAI: no gradient there


def test_exclude_drops_absent_classes_and_empty_images():
    x = logits((2, 2, 4, 5))
    t = labels(num_classes=2, absent=False)
    t[1] = 0
    out = vl.generalized_dice_loss(x, t, include_background=False, empty="exclude")
    torch.testing.assert_close(
        out, vl.generalized_dice_loss(x[:1], t[:1], include_background=False)
    )


def test_hand_value_sudre():
    # class 0: G = 3, I = 2.5, P = 2.9; class 1: G = 1, I = 0.5, P = 1.1
    p = torch.tensor([[[[0.9, 0.8, 0.8, 0.4]], [[0.1, 0.2, 0.2, 0.6]]]], dtype=torch.float64)
    t = torch.tensor([[[0, 0, 0, 1]]])
    i0, p0, g0 = 0.9 + 0.8 + 0.8, 2.9, 3.0
    i1, p1, g1 = 0.6, 1.1, 1.0
    w0, w1 = 1 / g0**2, 1 / g1**2
    expected = 1 - 2 * (w0 * i0 + w1 * i1) / (w0 * (p0 + g0) + w1 * (p1 + g1))
    out = vl.generalized_dice_loss(p, t, activation="none")
    torch.testing.assert_close(out, torch.tensor(expected, dtype=torch.float64))


def test_rare_class_weighs_more_than_in_plain_dice():
    """The point of the volume weights: an error on the rare class costs more."""
    t = torch.zeros(1, 1, 20, dtype=torch.long)
    t[0, 0, :2] = 1  # class 1 is rare
    base = torch.nn.functional.one_hot(t, 2).movedim(-1, 1).double()
    miss_rare = base.clone()
    miss_rare[0, :, 0, 0] = torch.tensor([1.0, 0.0])  # one rare pixel missed
    gdl = vl.generalized_dice_loss(miss_rare, t, activation="none", per_image=False)
    micro = vl.generalized_dice_loss(miss_rare, t, activation="none", weight_type="uniform")
    assert gdl > 2 * micro


def test_single_selected_class_is_dice():
    x, t = logits((2, 2, 4, 5)), labels(num_classes=2, absent=False)
    torch.testing.assert_close(
        vl.generalized_dice_loss(x, t, include_background=False),
        vl.dice_loss(x, t, include_background=False),
    )


def test_bad_options():
    with pytest.raises(ValueError, match="generalized_dice_loss: expected weight_type"):
        vl.generalized_dice_loss(logits(), labels(), weight_type="cubic")
    with pytest.raises(
        ValueError, match="generalized_dice_loss: expected empty to be one of 'penalize', 'exclude'"
    ):
        vl.generalized_dice_loss(logits(), labels(), empty="include")
    with pytest.raises(ValueError, match="GeneralizedDiceLoss: expected weight_type"):
        vl.GeneralizedDiceLoss(weight_type="cubic")


@pytest.mark.parametrize("w_type", ["square", "simple", "uniform"])
def test_matches_niftynet_where_its_clamp_is_inactive(w_type):
    x, t = logits(), labels()  # class 2 absent from image 1: the absent-class rule applies
    p = torch.softmax(x, 1)
    g = torch.nn.functional.one_hot(t, 3).movedim(-1, 1)
    assert ((p + g).sum((2, 3)) >= 1).all()  # NiftyNet's max(P + G, 1) changes nothing
    _close(
        lambda a: vl.generalized_dice_loss(a, t, weight_type=w_type),
        lambda a: ref.niftynet_generalised_dice(a, t, w_type.capitalize()),
        x,
    )
