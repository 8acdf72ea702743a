"""hausdorff_er_loss, mcc_loss, log_cosh_dice_loss, generalized_wasserstein_dice_loss and
dice_topk_loss against their peers, and by hand.

Convention mapping (ours <- peer):

* kornia ``HausdorffERLoss(alpha, k)`` / ``HausdorffERLoss3D`` on ``softmax(x)`` with the
  target ``t[:, None]`` is ``hausdorff_er_loss(x, t, alpha=alpha, erosions=k)``: kornia's
  ``"mean"`` averages a ``(C, B, 1, *spatial)`` map, ours the pixels of each pair then the
  pairs (the same number when nothing is ignored). kornia builds its kernel in float32, hence
  tolerances of 1e-5 relative and 1e-7 absolute.
* MONAI ``MCCLoss(softmax=True, to_onehot_y=True, smooth_nr=a, smooth_dr=b, batch=bt)`` is
  ``mcc_loss(smooth=(a, b), per_image=not bt, empty="include")``; smp ``MCCLoss(eps)`` (on
  sigmoid probabilities, one channel, summed over the batch, ``eps`` added to each count) is
  ``mcc_loss(activation="none", per_image=False)`` up to ``eps`` (1e-12 here).
* Jadon's ``log_cosh_dice_loss`` is ``log(cosh(dice_loss))`` of the whole batch's Dice: ours
  with ``per_image=False`` and one class (a float64 transcription below).
* MONAI ``GeneralizedWassersteinDiceLoss(M, weighting_mode=w)`` is
  ``generalized_wasserstein_dice_loss(dist_matrix=M, weighting=w)`` (MONAI builds the GDL
  class weights in float32: 1e-7 relative tolerance there).
* nnU-Net ``DC_and_topk_loss`` is ``dice_loss(include_background=False, smooth=1e-5,
  empty="include") - 1 + TopKLoss(k)``; ours keeps one class selection for both terms, so the
  test compares the terms with the same selection.
"""

from __future__ import annotations

import math

import kornia
import pytest
import torch
from monai.losses import GeneralizedWassersteinDiceLoss as MonaiGWDL
from monai.losses import MCCLoss as MonaiMCC
from segmentation_models_pytorch.losses import MCCLoss as SmpMCC

import visionloss as vl
from tests.helpers import assert_finite_graph, gradcheck, grads
from tests.reference import segmentation_shape as ref
from tests.segmentation.cases import labels, logits, one_hot, with_ignored


def _close(ours, peer, x, **tol):
    v, (g,) = grads(ours, x)
    pv, (pg,) = grads(peer, x)
    torch.testing.assert_close(v, pv, **tol)
    torch.testing.assert_close(g, pg, **tol)


# ------------------------------------------------------------------------- hausdorff_er
@pytest.mark.parametrize("alpha, k", [(2.0, 10), (1.0, 3), (0.5, 1)])
def test_hausdorff_er_matches_kornia_2d(alpha, k):
    x, t = logits((2, 3, 12, 13)), labels((2, 12, 13))
    peer = kornia.losses.HausdorffERLoss(alpha=alpha, k=k)
    _close(
        lambda a: vl.hausdorff_er_loss(a, t, alpha=alpha, erosions=k),
        lambda a: peer(a.softmax(1), t[:, None]),
        x,
        rtol=1e-5,
        atol=1e-7,
    )


def test_hausdorff_er_matches_kornia_3d():
    x, t = logits((2, 3, 5, 6, 7)), labels((2, 5, 6, 7))
    peer = kornia.losses.HausdorffERLoss3D()
    _close(
        lambda a: vl.hausdorff_er_loss(a, t),
        lambda a: peer(a.softmax(1), t[:, None]),
        x,
        rtol=1e-5,
        atol=1e-7,
    )


def test_hausdorff_er_grows_with_the_error_thickness():
    t = torch.zeros(1, 16, 16, dtype=torch.long)
    values = []
    for width in (1, 3, 6):
        p = torch.zeros(1, 2, 16, 16, dtype=torch.float64)
        p[:, 0] = 1.0
        p[0, :, 4:12, 4 : 4 + width] = torch.tensor([0.0, 1.0]).view(2, 1, 1)  # FP block
        values.append(vl.hausdorff_er_loss(p, t, activation="none", classes=[1]).item())
    assert values[0] < values[1] < values[2]


# ---------------------------------------------------------------------------------- mcc
@pytest.mark.parametrize("batch", [False, True])
def test_mcc_matches_monai(batch):
    x, t = logits(), labels()
    peer = MonaiMCC(softmax=True, to_onehot_y=True, batch=batch)
    _close(
        lambda a: vl.mcc_loss(a, t, smooth=(0.0, 1e-5), per_image=not batch, empty="include"),
        lambda a: peer(a, t[:, None]),
        x,
    )


def test_mcc_matches_smp():
    x = logits((3, 1, 6, 7))
    g = torch.Generator().manual_seed(4)
    t = (torch.rand(3, 1, 6, 7, generator=g) < 0.4).double()
    peer = SmpMCC(eps=1e-12)
    _close(
        lambda a: vl.mcc_loss(a.sigmoid(), t, activation="none", per_image=False),
        lambda a: peer(a.sigmoid(), t),
        x,
    )


def test_mcc_by_hand():
    p = torch.tensor([[[[0.8, 0.4, 0.1, 0.3]]]], dtype=torch.float64)
    t = torch.tensor([[[[1.0, 1.0, 0.0, 0.0]]]], dtype=torch.float64)
    tp, fp, fn, tn = 1.2, 0.4, 0.8, 1.6
    mcc = (tp * tn - fp * fn) / math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    assert vl.mcc_loss(p, t, activation="none").item() == pytest.approx(1 - mcc)


# ------------------------------------------------------------------------ log_cosh_dice
def _jadon(x, t):
    p = torch.softmax(x, 1)[:, 1]
    g = (t == 1).double()
    dice = 1 - 2 * (p * g).sum() / (p.sum() + g.sum())
    return torch.log((torch.exp(dice) + torch.exp(-dice)) / 2)


def test_log_cosh_dice_matches_jadon():
    x, t = logits((2, 2, 6, 7)), labels((2, 6, 7), num_classes=2)
    _close(
        lambda a: vl.log_cosh_dice_loss(a, t, per_image=False, classes=[1]),
        lambda a: _jadon(a, t),
        x,
    )


def test_log_cosh_dice_is_log_cosh_of_each_pair():
    x, t = logits(), with_ignored(labels())
    pairs = vl.dice_loss(x, t, ignore_index=255, reduction="none")
    ours = vl.log_cosh_dice_loss(x, t, ignore_index=255, reduction="none")
    torch.testing.assert_close(ours, torch.log(torch.cosh(pairs)))


# ---------------------------------------------------------------------------------- GWDL
M3 = torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 0.5], [1.0, 0.5, 0.0]], dtype=torch.float64)


@pytest.mark.parametrize("weighting", ["default", "GDL"])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_gwdl_matches_monai(weighting, reduction):
    x, t = logits(), labels()
    peer = MonaiGWDL(M3, weighting_mode=weighting, reduction=reduction)
    _close(
        lambda a: vl.generalized_wasserstein_dice_loss(
            a, t, dist_matrix=M3, weighting=weighting, reduction=reduction
        ),
        lambda a: peer(a, t),
        x,
        rtol=1e-6,
        atol=1e-9,
    )


def test_gwdl_one_hot_equals_indices_and_ignore():
    x, t = logits(), labels()
    torch.testing.assert_close(
        vl.generalized_wasserstein_dice_loss(x, one_hot(t), dist_matrix=M3),
        vl.generalized_wasserstein_dice_loss(x, t, dist_matrix=M3),
    )
    ti = with_ignored(t)
    keep = ti != 255
    # ignored pixels leave every sum: the same as the loss over the kept pixels only
    flat_x = x.movedim(1, -1)[keep].T.unsqueeze(0).unsqueeze(-1)  # (1, C, n, 1)
    flat_t = t[keep].view(1, -1, 1)
    img0 = vl.generalized_wasserstein_dice_loss(x[:1], ti[:1], dist_matrix=M3, ignore_index=255)
    k0 = keep[:1]
    x0 = x[:1].movedim(1, -1)[k0].T.reshape(1, 3, -1, 1)
    t0 = t[:1][k0].reshape(1, -1, 1)
    torch.testing.assert_close(img0, vl.generalized_wasserstein_dice_loss(x0, t0, dist_matrix=M3))
    assert flat_x.shape[2] == flat_t.shape[1]


def test_gwdl_plain_labels_is_foreground_dice():
    x, t = logits((2, 2, 5, 6)), labels((2, 5, 6), num_classes=2)
    m = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(
        vl.generalized_wasserstein_dice_loss(x, t, dist_matrix=m, smooth=0.0),
        vl.dice_loss(x, t, classes=[1], empty="include"),
    )


def test_gwdl_bad_matrix():
    x, t = logits(), labels()
    with pytest.raises(
        ValueError,
        match=r"generalized_wasserstein_dice_loss: expected dist_matrix of shape \(3, 3\)",
    ):
        vl.generalized_wasserstein_dice_loss(x, t, dist_matrix=torch.zeros(2, 2))
    with pytest.raises(ValueError, match=r"dist_matrix >= 0"):
        vl.generalized_wasserstein_dice_loss(x, t, dist_matrix=-M3)


# ----------------------------------------------------------------------------- dice_topk
def test_dice_topk_is_the_sum_of_its_terms():
    x, t = logits(), with_ignored(labels())
    opts = {"ignore_index": 255, "include_background": False}
    ours = vl.dice_topk_loss(x, t, k=20.0, lambda_dice=0.7, lambda_topk=1.3, **opts)
    expected = 0.7 * vl.dice_loss(x, t, **opts) + 1.3 * vl.topk_cross_entropy_loss(
        x, t, k=20.0, **opts
    )
    torch.testing.assert_close(ours, expected)


def test_dice_topk_matches_nnunet_terms():
    x, t = logits(), labels()
    ours = vl.dice_topk_loss(x, t, k=10.0, smooth=1e-5, empty="include")
    dice = vl.dice_loss(x, t, smooth=1e-5, empty="include")
    torch.testing.assert_close(ours, dice + ref.topk_nnunet(x, t, k=10.0))


# ------------------------------------------------------------------------- degenerate
FNS = [
    pytest.param(lambda x, t: vl.hausdorff_er_loss(x, t, ignore_index=255), id="hausdorff_er"),
    pytest.param(lambda x, t: vl.mcc_loss(x, t, ignore_index=255), id="mcc"),
    pytest.param(lambda x, t: vl.log_cosh_dice_loss(x, t, ignore_index=255), id="log_cosh_dice"),
    pytest.param(
        lambda x, t: vl.generalized_wasserstein_dice_loss(
            x, t, dist_matrix=torch.ones(2, 2) - torch.eye(2), ignore_index=255
        ),
        id="gwdl",
    ),
    pytest.param(lambda x, t: vl.dice_topk_loss(x, t, ignore_index=255), id="dice_topk"),
]


@pytest.mark.parametrize(
    "target",
    [
        pytest.param(torch.zeros(2, 6, 5, dtype=torch.long), id="empty-foreground"),
        pytest.param(torch.ones(2, 6, 5, dtype=torch.long), id="full-foreground"),
        pytest.param(torch.full((2, 6, 5), 255), id="all-ignored"),
    ],
)
@pytest.mark.parametrize("fn", FNS)
def test_degenerate_targets(fn, target):
    x = logits((2, 2, 6, 5), dtype=torch.float32).requires_grad_(True)
    value = fn(x, target)
    assert_finite_graph(value, x)
    if int((target == 255).all()):
        assert value.item() == 0.0


GRADCHECK = [
    pytest.param(lambda x, t: vl.hausdorff_er_loss(x, t, erosions=2), id="hausdorff_er-2-erosions"),
    *FNS[1:],
]


@pytest.mark.parametrize("fn", GRADCHECK)
def test_gradcheck(fn):
    gradcheck(fn, logits((1, 2, 5, 4)), labels((1, 5, 4), num_classes=2))
