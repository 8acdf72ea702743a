"""jaccard_loss against MONAI and segmentation_models_pytorch, and by hand.

Convention mapping (ours <- peer):

* MONAI ``DiceLoss(jaccard=True, softmax=True, to_onehot_y=True, smooth_nr=s, smooth_dr=s)``
  is ``jaccard_loss(smooth=s / 2, empty="include")``: MONAI computes
  ``1 - (2 I + s) / (2 (P + G - I) + s)``. ``squared_pred=True`` is ``squared=True``.
* smp ``JaccardLoss("multiclass", smooth=s)`` is ``jaccard_loss(smooth=s, per_image=False)``
  on batches where every class is present (smp zeroes the loss of absent classes, see
  test_dice.py).
"""

from __future__ import annotations

import pytest
import torch
from monai.losses import DiceLoss as MonaiDice
from segmentation_models_pytorch.losses import JaccardLoss as SmpJaccard

import visionloss as vl
from tests.helpers import grads
from tests.segmentation.cases import labels, logits, with_ignored


def _close(ours, peer, x):
    v, (g,) = grads(ours, x)
    pv, (pg,) = grads(peer, x)
    torch.testing.assert_close(v, pv)
    torch.testing.assert_close(g, pg)


@pytest.mark.parametrize(
    "ours, monai",
    [
        pytest.param({"smooth": 0.5e-5}, {}, id="default"),
        pytest.param(
            {"smooth": 0.5, "squared": True},
            {"smooth_nr": 1.0, "smooth_dr": 1.0, "squared_pred": True},
            id="squared",
        ),
        pytest.param(
            {"smooth": 0.5e-5, "per_image": False, "include_background": False},
            {"batch": True, "include_background": False},
            id="batch-nobg",
        ),
    ],
)
def test_matches_monai(ours, monai):
    x, t = logits(), labels()
    peer = MonaiDice(jaccard=True, softmax=True, to_onehot_y=True, **monai)
    _close(
        lambda a: vl.jaccard_loss(a, t, empty="include", **ours),
        lambda a: peer(a, t.unsqueeze(1)),
        x,
    )


@pytest.mark.parametrize(
    "ours, smp",
    [
        pytest.param({}, {}, id="default"),
        pytest.param(
            {"smooth": 1.0, "ignore_index": 255},
            {"smooth": 1.0, "ignore_index": 255},
            id="smooth-ignore",
        ),
    ],
)
def test_matches_smp(ours, smp):
    x, t = logits(), labels()
    if "ignore_index" in ours:
        t = with_ignored(t)
    peer = SmpJaccard("multiclass", **smp)
    _close(lambda a: vl.jaccard_loss(a, t, per_image=False, **ours), lambda a: peer(a, t), x)


@pytest.mark.parametrize(
    "p, t, expected",
    [
        # IoU = 0.5 / (1 + 1 - 0.5) for each class
        pytest.param([[[0.5, 0.5]], [[0.5, 0.5]]], [[0, 1]], 1 - 1 / 3, id="half"),
        # class 0: I = 0.8, P = 1.1, G = 1 -> 0.8 / 1.3; class 1: I = 0.7, P = 0.9, G = 1
        pytest.param(
            [[[0.8, 0.3]], [[0.2, 0.7]]], [[0, 1]], 1 - (0.8 / 1.3 + 0.7 / 1.2) / 2, id="soft"
        ),
    ],
)
def test_hand_values(p, t, expected):
    out = vl.jaccard_loss(
        torch.tensor([p], dtype=torch.float64), torch.tensor([t]), activation="none"
    )
    torch.testing.assert_close(out, torch.tensor(expected, dtype=torch.float64))


def test_jaccard_is_tversky_one_one_and_relates_to_dice():
    x, t = logits(), labels()
    torch.testing.assert_close(
        vl.jaccard_loss(x, t, smooth=0.3), vl.tversky_loss(x, t, alpha=1.0, beta=1.0, smooth=0.3)
    )
    # per pair, J = D / (2 - D) for the same sums (the formulas themselves: "include")
    d = 1 - vl.dice_loss(x, t, reduction="none", empty="include")
    j = 1 - vl.jaccard_loss(x, t, reduction="none", empty="include")
    torch.testing.assert_close(j, d / (2 - d))
