"""dice_focal_loss: its focal term against torchvision and the reference, the whole loss
against MONAI.

Convention mapping (ours <- peer):

* With sigmoid, the focal term (``lambda_dice=0``) is ``torchvision.ops.sigmoid_focal_loss(
  input, g, alpha=a, gamma=y, reduction="mean")`` (``alpha=None`` is torchvision's
  ``alpha=-1``). MONAI ``DiceFocalLoss(sigmoid=True, gamma=y, alpha=a, smooth_nr=s,
  smooth_dr=s)`` is ``dice_focal_loss(activation="sigmoid", gamma=y, alpha=a, smooth=s,
  empty="include")``; its ``include_background=False`` and ``weight=w_sel`` (the weights of
  the selected classes, of mean 1: MONAI's Dice mean divides by the number of pairs) apply to
  both terms, as ours; ``to_onehot_y=True`` with class indices ``(B, 1, ...)`` is our class
  indices, and MONAI's one-hot input our one-hot input (the two forms agree in both).
  MONAI has no ``classes``.
* With softmax, the focal term at ``gamma=0`` is the CE term of ``dice_ce_loss``.

MONAI defect: ``DiceFocalLoss(softmax=True)`` does not pass ``use_softmax`` to its
``FocalLoss``, so its focal term is a sigmoid focal loss on logits whose Dice term went
through a softmax; we test ours against the float64 reference there.
"""

from __future__ import annotations

import pytest
import torch
from monai.losses import DiceFocalLoss as MonaiDiceFocal
from monai.losses import DiceLoss as MonaiDice
from torchvision.ops import sigmoid_focal_loss

import visionloss as vl
from tests.helpers import grads
from tests.reference import segmentation as ref
from tests.segmentation.cases import labels, logits, one_hot, with_ignored


def _close(ours, peer, x, **tol):
    v, (g,) = grads(ours, x)
    pv, (pg,) = grads(peer, x)
    torch.testing.assert_close(v, pv, **tol)
    torch.testing.assert_close(g, pg, **tol)


@pytest.mark.parametrize("gamma, alpha", [(2.0, None), (2.0, 0.25), (0.5, 0.75), (0.0, None)])
@pytest.mark.parametrize("target", ["dense", "index"])
def test_sigmoid_focal_term_is_torchvision(gamma, alpha, target):
    x = logits()
    t = labels()
    dense = one_hot(t)
    tt = dense if target == "dense" else t
    _close(
        lambda a: vl.dice_focal_loss(
            a, tt, activation="sigmoid", lambda_dice=0.0, gamma=gamma, alpha=alpha
        ),
        lambda a: sigmoid_focal_loss(
            a, dense, alpha=-1 if alpha is None else alpha, gamma=gamma, reduction="mean"
        ),
        x,
    )


@pytest.mark.parametrize("gamma, alpha", [(2.0, None), (1.0, 0.3)])
def test_matches_monai_sigmoid(gamma, alpha):
    x = logits()
    t = (torch.rand(2, 3, 4, 5, generator=torch.Generator().manual_seed(3)) > 0.5).double()
    peer = MonaiDiceFocal(sigmoid=True, gamma=gamma, alpha=alpha)
    _close(
        lambda a: vl.dice_focal_loss(
            a, t, activation="sigmoid", gamma=gamma, alpha=alpha, smooth=1e-5, empty="include"
        ),
        lambda a: peer(a, t),
        x,
        rtol=1e-6,
        atol=1e-8,
    )  # MONAI's focal term runs in fp32


@pytest.mark.parametrize("target", ["index", "onehot"])
@pytest.mark.parametrize(
    "ours, monai",
    [
        pytest.param({}, {}, id="default"),
        pytest.param({"include_background": False}, {"include_background": False}, id="nobg"),
        pytest.param(
            {"include_background": False, "weight": [9.0, 0.5, 1.5]},
            {"include_background": False, "weight": [0.5, 1.5]},
            id="nobg-weight",
        ),
        pytest.param({"weight": [0.5, 2.0, 0.5]}, {"weight": [0.5, 2.0, 0.5]}, id="weight"),
    ],
)
def test_sigmoid_target_forms_match_monai(ours, monai, target):
    x, t = logits(), labels()
    if "weight" in monai:
        monai = {**monai, "weight": torch.tensor(monai["weight"], dtype=torch.float64)}
    if target == "index":
        peer = MonaiDiceFocal(sigmoid=True, to_onehot_y=True, gamma=2.0, **monai)
        ours_t, peer_t = t, t.unsqueeze(1)
    else:
        peer = MonaiDiceFocal(sigmoid=True, gamma=2.0, **monai)
        ours_t, peer_t = one_hot(t), one_hot(t)
    _close(
        lambda a: vl.dice_focal_loss(
            a, ours_t, activation="sigmoid", smooth=1e-5, empty="include", **ours
        ),
        lambda a: peer(a, peer_t),
        x,
        rtol=1e-6,
        atol=1e-8,
    )  # MONAI's focal term runs in fp32


def test_softmax_focal_term_against_reference():
    x, t = logits(), with_ignored(labels())
    opts = {"weight": [0.5, 2.0, 1.0], "ignore_index": 255}
    _close(
        lambda a: vl.dice_focal_loss(a, t, lambda_dice=0.0, gamma=2.0, **opts),
        lambda a: ref.softmax_focal(a, t, gamma=2.0, **opts),
        x,
    )


def test_softmax_focal_where_monai_uses_a_sigmoid():
    x, t = logits(), labels()
    value, (g,) = grads(lambda a: vl.dice_focal_loss(a, t, smooth=1e-5, empty="include"), x)
    expected, (rg,) = grads(
        lambda a: (
            ref.overlap(a, t, ref.dice_score, smooth=(1e-5, 1e-5), empty="include")
            + ref.softmax_focal(a, t, gamma=2.0)
        ),
        x,
    )
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(g, rg)
    monai = MonaiDiceFocal(softmax=True, to_onehot_y=True)(x, t.unsqueeze(1))
    monai_dice = MonaiDice(softmax=True, to_onehot_y=True)(x, t.unsqueeze(1))
    sigmoid_focal = sigmoid_focal_loss(x, one_hot(t), alpha=-1, gamma=2.0, reduction="mean")
    torch.testing.assert_close(monai, monai_dice + sigmoid_focal, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("activation", ["softmax", "sigmoid"])
def test_gamma_zero_is_dice_ce(activation):
    x, t = logits(), with_ignored(labels())
    opts = {"activation": activation, "weight": [0.5, 2.0, 1.0], "ignore_index": 255}
    torch.testing.assert_close(
        vl.dice_focal_loss(x, t, gamma=0.0, **opts), vl.dice_ce_loss(x, t, **opts)
    )


def test_bad_options():
    with pytest.raises(
        ValueError, match="dice_focal_loss: alpha .* applies to activation='sigmoid'"
    ):
        vl.dice_focal_loss(logits(), labels(), alpha=0.25)
    with pytest.raises(ValueError, match=r"dice_focal_loss: expected alpha in \[0, 1\]"):
        vl.dice_focal_loss(logits(), labels(), activation="sigmoid", alpha=1.5)
    with pytest.raises(ValueError, match="dice_focal_loss: expected gamma >= 0"):
        vl.dice_focal_loss(logits(), labels(), gamma=-1.0)
    with pytest.raises(ValueError, match="DiceFocalLoss: expected lambda_focal >= 0"):
        vl.DiceFocalLoss(lambda_focal=-1.0)


def test_hand_value():
    x = torch.zeros(1, 2, 1, 2)  # p = 0.5: Dice loss 0.5, focal (1 - 0.5)^2 log 2
    t = torch.tensor([[[0, 1]]])
    torch.testing.assert_close(
        vl.dice_focal_loss(x, t), torch.tensor(0.5 + 0.25 * 0.6931471805599453)
    )
