"""dice_ce_loss: its CE term against torch.nn.functional, the whole loss against MONAI.

Convention mapping (ours <- peer):

* The CE term (``lambda_dice=0``) with softmax is ``F.cross_entropy(input, target,
  weight=w', ignore_index=k)`` where ``w'`` is ``weight`` with 0 on the classes that are not
  selected; with dense (soft) targets ``cross_entropy_loss(input, target, weight=w')``, which
  divides by the summed weight of the targets (``F.cross_entropy`` with probability targets
  divides by the number of pixels instead: with weights its two target forms disagree, and
  issue "No silent wrong numbers" asked for one CE term for both forms, so the soft-target
  row now compares with ``cross_entropy_loss``; without weights the two agree). With
  sigmoid it is ``F.binary_cross_entropy_with_logits(input[:, S], g[:, S],
  weight=w[S])`` over the selected channels ``S``.
* MONAI ``DiceCELoss(softmax=True, to_onehot_y=True, smooth_nr=s, smooth_dr=s, weight=w,
  lambda_dice=a, lambda_ce=b)`` is ``dice_ce_loss(smooth=s, weight=w, lambda_dice=a,
  lambda_ce=b, empty="include")`` with a weight of mean 1 (MONAI's Dice term divides the
  weighted sum by the number of pairs, ours by the summed weights), with class indices
  ``(B, 1, ...)`` given to MONAI and class indices or the one-hot target to ours (both give
  one value). MONAI given the one-hot target itself (``to_onehot_y=False``) passes it to
  ``nn.CrossEntropyLoss`` as probabilities, whose weighted mean divides by the number of
  pixels: its two target forms disagree once the weights are not all 1, so ours is compared
  with its index form. MONAI has no ``classes``, and its ``include_background=False`` leaves
  the background out of the Dice term only (ours: out of both), so those options have no
  MONAI counterpart; they are tested against ``F.cross_entropy`` / ``cross_entropy_loss``
  (here and in ``test_checks.py``).

nnU-Net's default ``DC_and_CE_loss`` (not a dependency; float64 transcription in
``tests/reference/segmentation.py``, citing its lines) pairs the Dice without the background
with the CE with it: it is ``dice_loss(x, t, include_background=False, smooth=1e-5,
empty="include", per_image=not batch_dice) - 1 + F.cross_entropy(x, t)`` (nnU-Net returns
``-Dice``, a constant 1 below our ``1 - Dice``), which the ``dice_ce_loss`` docstring
recommends for that pairing.

MONAI defect: ``DiceCELoss(sigmoid=True)`` on more than one channel scores its Dice term with
a sigmoid but its CE term with ``nn.CrossEntropyLoss``, a softmax over the channels (it picks
BCE only for a single channel), so the two terms disagree about the activation; we test ours
against the float64 reference there.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from monai.losses import DiceCELoss as MonaiDiceCE
from monai.losses import DiceLoss as MonaiDice

import visionloss as vl
from tests.helpers import grads
from tests.reference import segmentation as ref
from tests.segmentation.cases import labels, logits, one_hot, soft, with_ignored


def _close(ours, peer, x, **tol):
    v, (g,) = grads(ours, x)
    pv, (pg,) = grads(peer, x)
    torch.testing.assert_close(v, pv, **tol)
    torch.testing.assert_close(g, pg, **tol)


W = [0.5, 2.0, 1.0]


@pytest.mark.parametrize(
    "ours, torch_weight, target",
    [
        pytest.param({}, None, "index", id="plain"),
        pytest.param({"weight": W}, W, "index", id="weight"),
        pytest.param(
            {"weight": W, "include_background": False}, [0.0, 2.0, 1.0], "index", id="weight-nobg"
        ),
        pytest.param({"classes": [2]}, [0.0, 0.0, 1.0], "index", id="classes"),
        pytest.param({"ignore_index": -100, "weight": W}, W, "ignored", id="ignore-weight"),
        pytest.param({"weight": W}, W, "soft", id="soft-target"),
        pytest.param({}, None, "3d", id="3d"),
    ],
)
def test_ce_term_is_torch_cross_entropy(ours, torch_weight, target):
    x, t = logits(), labels()
    if target == "ignored":
        t = with_ignored(t, value=-100)
    elif target == "soft":
        t = soft(t)
    elif target == "3d":
        x, t = x.reshape(2, 3, 2, 2, 5), t.reshape(2, 2, 2, 5)
    w = None if torch_weight is None else torch.tensor(torch_weight, dtype=torch.float64)
    if target == "soft":  # one convention for index and dense targets (module docstring)
        reference = lambda a: vl.cross_entropy_loss(a, t, weight=w)  # noqa: E731
    else:
        reference = lambda a: F.cross_entropy(a, t, weight=w)  # noqa: E731
    _close(lambda a: vl.dice_ce_loss(a, t, lambda_dice=0.0, **ours), reference, x)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_ce_term_sigmoid_is_torch_bce(reduction):
    x = logits()
    t = (torch.rand(2, 3, 4, 5, generator=torch.Generator().manual_seed(3)) > 0.5).double()
    w = torch.tensor(W, dtype=torch.float64).view(1, 3, 1, 1)
    _close(
        lambda a: vl.dice_ce_loss(
            a, t, activation="sigmoid", lambda_dice=0.0, weight=W, reduction=reduction
        ),
        lambda a: F.binary_cross_entropy_with_logits(a, t, weight=w, reduction=reduction),
        x,
    )
    # class indices with sigmoid: the channels of the one-hot target, never built
    t_idx = labels()
    _close(
        lambda a: vl.dice_ce_loss(a, t_idx, activation="sigmoid", lambda_dice=0.0),
        lambda a: F.binary_cross_entropy_with_logits(a, one_hot(t_idx)),
        x,
    )


@pytest.mark.parametrize(
    "ours, monai",
    [
        pytest.param({}, {}, id="default"),
        pytest.param(
            {"weight": [0.5, 1.5, 1.0]}, {"weight": torch.tensor([0.5, 1.5, 1.0])}, id="weight"
        ),
        pytest.param(
            {"lambda_dice": 0.3, "lambda_ce": 2.0, "per_image": False},
            {"lambda_dice": 0.3, "lambda_ce": 2.0, "batch": True},
            id="lambdas-batch",
        ),
        pytest.param({"reduction": "sum"}, {"reduction": "sum"}, id="sum"),
    ],
)
def test_matches_monai_softmax(ours, monai):
    x, t = logits(), labels()
    if "weight" in monai:
        monai = {**monai, "weight": monai["weight"].double()}
    peer = MonaiDiceCE(softmax=True, to_onehot_y=True, **monai)
    _close(
        lambda a: vl.dice_ce_loss(a, t, smooth=1e-5, empty="include", **ours),
        lambda a: peer(a, t.unsqueeze(1)),
        x,
    )


@pytest.mark.parametrize("target", ["index", "onehot"])
@pytest.mark.parametrize(
    "weight", [None, [0.5, 1.5, 1.0], [2.0, 0.25, 0.75]], ids=["unweighted", "w1", "w2"]
)
def test_both_target_forms_match_monai_with_class_indices(weight, target):
    x, t = logits(), labels()
    monai = {} if weight is None else {"weight": torch.tensor(weight, dtype=torch.float64)}
    peer = MonaiDiceCE(softmax=True, to_onehot_y=True, smooth_nr=1e-5, smooth_dr=1e-5, **monai)
    tt = t if target == "index" else one_hot(t)
    _close(
        lambda a: vl.dice_ce_loss(a, tt, smooth=1e-5, empty="include", weight=weight),
        lambda a: peer(a, t.unsqueeze(1)),
        x,
    )


def test_monai_one_hot_target_with_weights_is_torchs_probability_mean():
    """MONAI's own index / one-hot disagreement: with a one-hot target its CE term is
    ``F.cross_entropy`` with probability targets, which divides by the number of pixels."""
    x, t = logits(), labels()
    w = torch.tensor([0.5, 1.5, 1.0], dtype=torch.float64)
    opts = {"softmax": True, "smooth_nr": 1e-5, "smooth_dr": 1e-5, "weight": w}
    dice = MonaiDice(softmax=True, smooth_nr=1e-5, smooth_dr=1e-5, weight=w)(x, one_hot(t))
    monai_onehot = MonaiDiceCE(**opts)(x, one_hot(t))
    torch.testing.assert_close(monai_onehot, dice + F.cross_entropy(x, one_hot(t), weight=w))
    monai_index = MonaiDiceCE(to_onehot_y=True, **opts)(x, t.unsqueeze(1))
    assert not torch.allclose(monai_onehot, monai_index)
    ours = vl.dice_ce_loss(x, one_hot(t), smooth=1e-5, empty="include", weight=w.tolist())
    torch.testing.assert_close(ours, monai_index)


def test_matches_monai_sigmoid_single_channel():
    x = logits((2, 1, 4, 5))
    t = labels(num_classes=2).unsqueeze(1).double()
    peer = MonaiDiceCE(sigmoid=True)
    _close(
        lambda a: vl.dice_ce_loss(a, t, activation="sigmoid", smooth=1e-5, empty="include"),
        lambda a: peer(a, t),
        x,
    )


def test_sigmoid_multichannel_uses_bce_where_monai_uses_softmax_ce():
    x, t = logits(), one_hot(labels())
    value, (g,) = grads(lambda a: vl.dice_ce_loss(a, t, activation="sigmoid"), x)
    dice = lambda a: ref.overlap(a, t, ref.dice_score, activation="sigmoid")  # noqa: E731
    expected, (rg,) = grads(lambda a: dice(a) + ref.sigmoid_focal(a, t), x)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(g, rg)
    monai = MonaiDiceCE(sigmoid=True)(x, t)
    monai_dice = MonaiDice(sigmoid=True)(x, t)
    torch.testing.assert_close(monai, monai_dice + F.cross_entropy(x, t))  # the softmax CE


def test_terms_share_one_activation_weight_and_selection():
    x, t = logits(), with_ignored(labels())
    opts = {"weight": W, "include_background": False, "ignore_index": 255}
    both = vl.dice_ce_loss(x, t, lambda_dice=0.4, lambda_ce=1.7, **opts)
    dice = vl.dice_loss(x, t, **opts)
    ce = vl.dice_ce_loss(x, t, lambda_dice=0.0, **opts)
    torch.testing.assert_close(both, 0.4 * dice + 1.7 * ce)


def test_activation_none_and_bad_lambdas_rejected():
    with pytest.raises(
        ValueError, match="dice_ce_loss: expected activation to be one of 'softmax', 'sigmoid'"
    ):
        vl.dice_ce_loss(torch.softmax(logits(), 1), labels(), activation="none")
    with pytest.raises(ValueError, match="dice_ce_loss: expected lambda_ce >= 0"):
        vl.dice_ce_loss(logits(), labels(), lambda_ce=-1.0)
    with pytest.raises(ValueError, match="DiceCELoss: expected lambda_dice >= 0"):
        vl.DiceCELoss(lambda_dice=-1.0)


def test_hand_value():
    x = torch.zeros(1, 2, 1, 2)  # p = 0.5 everywhere: Dice loss 0.5, CE log 2
    t = torch.tensor([[[0, 1]]])
    torch.testing.assert_close(
        vl.dice_ce_loss(x, t, lambda_dice=2.0, lambda_ce=3.0),
        torch.tensor(2 * 0.5 + 3 * 0.6931471805599453),
    )


@pytest.mark.parametrize("batch_dice", [False, True], ids=["per-image", "batch-dice"])
def test_nnunet_pairing_is_dice_without_background_plus_cross_entropy(batch_dice):
    x, t = logits(), labels()
    _close(
        lambda a: (
            vl.dice_loss(
                a,
                t,
                include_background=False,
                smooth=1e-5,
                empty="include",
                per_image=not batch_dice,
            )
            - 1.0
            + F.cross_entropy(a, t)
        ),
        lambda a: ref.nnunet_dc_and_ce(a, t, batch_dice=batch_dice),
        x,
    )
