"""hausdorff_dt_loss against MONAI's HausdorffDTLoss / LogHausdorffDTLoss and Karimi's eq. 8.

Convention mapping (ours <- peer):

* MONAI ``HausdorffDTLoss(alpha, softmax=True, to_onehot_y=True, include_background=ib)`` is
  ``hausdorff_dt_loss(alpha=alpha, include_background=ib)``: the mean over each (image,
  class)'s pixels of ``(p - g)^2 (d_P^alpha + d_G^alpha)`` with ``d`` the unsigned distance to
  the boundary of ``p > 0.5`` and of the target (zeros for an empty or full mask), then the
  mean over the pairs. MONAI's default ``include_background=False`` differs from ours (True,
  the family default).
* MONAI ``LogHausdorffDTLoss`` is ``log(1 + HD)`` of the whole mean; ours (``log=True``) takes
  the log of each pair: equal for one image and one class, and the tests check that case.
"""

from __future__ import annotations

import pytest
import torch
from monai.losses import HausdorffDTLoss as MonaiHD
from monai.losses import LogHausdorffDTLoss as MonaiLogHD

import visionloss as vl
from tests.helpers import assert_finite_graph, gradcheck, grads
from tests.reference import segmentation_shape as ref
from tests.segmentation.cases import logits, one_hot
from tests.segmentation.test_boundary import _blobs


@pytest.mark.parametrize("alpha", [1.0, 2.0, 0.5])
@pytest.mark.parametrize("include_background", [True, False])
def test_matches_monai(alpha, include_background):
    t = _blobs()
    x = logits((2, 3, 12, 14))
    peer = MonaiHD(
        alpha=alpha, softmax=True, to_onehot_y=True, include_background=include_background
    )
    v, (g,) = grads(
        lambda a: vl.hausdorff_dt_loss(a, t, alpha=alpha, include_background=include_background), x
    )
    pv, (pg,) = grads(lambda a: peer(a, t[:, None]), x)
    torch.testing.assert_close(v, pv)
    torch.testing.assert_close(g, pg)


def test_matches_monai_3d_sigmoid():
    g = torch.Generator().manual_seed(2)
    t = (torch.rand(2, 1, 6, 7, 8, generator=g) < 0.4).double()
    x = logits((2, 1, 6, 7, 8))
    peer = MonaiHD(sigmoid=True, include_background=True)
    v, (gr,) = grads(lambda a: vl.hausdorff_dt_loss(a, t, activation="sigmoid"), x)
    pv, (pg,) = grads(lambda a: peer(a, t), x)
    torch.testing.assert_close(v, pv)
    torch.testing.assert_close(gr, pg)


def test_log_form_matches_monai_for_one_pair():
    t = _blobs((1, 12, 14), num_classes=2)
    x = logits((1, 2, 12, 14))
    peer = MonaiLogHD(softmax=True, to_onehot_y=True, include_background=False)
    v, (g,) = grads(lambda a: vl.hausdorff_dt_loss(a, t, log=True, classes=[1]), x)
    pv, (pg,) = grads(lambda a: peer(a, t[:, None]), x)
    torch.testing.assert_close(v, pv)
    torch.testing.assert_close(g, pg)


def test_matches_karimi_reference():
    t = _blobs()
    x = logits((2, 3, 12, 14))
    expected = ref.hausdorff_dt(torch.softmax(x, 1), one_hot(t))
    torch.testing.assert_close(vl.hausdorff_dt_loss(x, t), expected)


def test_by_hand():
    t = torch.tensor([[0, 0, 1, 1, 0, 0]])
    p = torch.tensor([[[1.0, 1, 0, 0, 0, 1], [0.0, 0, 1, 1, 1, 0]]], dtype=torch.float64)
    # one error at x=4, d_G = d_P = 1: (1 + 1) / 6
    assert vl.hausdorff_dt_loss(p, t, activation="none", classes=[1]).item() == pytest.approx(1 / 3)
    assert vl.hausdorff_dt_loss(
        p, t, activation="none", classes=[1], alpha=3.0
    ).item() == pytest.approx(1 / 3)


def test_spacing_scales_the_distances():
    t = _blobs()
    x = logits((2, 3, 12, 14))
    a = vl.hausdorff_dt_loss(x, t, spacing=2.0, alpha=2.0)
    b = vl.hausdorff_dt_loss(x, t, alpha=2.0)
    torch.testing.assert_close(a, 4 * b)


@pytest.mark.parametrize(
    "target",
    [
        pytest.param(torch.zeros(2, 6, 5, dtype=torch.long), id="empty-foreground"),
        pytest.param(torch.ones(2, 6, 5, dtype=torch.long), id="full-foreground"),
        pytest.param(torch.full((2, 6, 5), 255), id="all-ignored"),
    ],
)
@pytest.mark.parametrize("log", [False, True])
def test_degenerate_targets(target, log):
    x = logits((2, 2, 6, 5), dtype=torch.float32).requires_grad_(True)
    assert_finite_graph(vl.hausdorff_dt_loss(x, target, ignore_index=255, log=log), x)


def test_gradcheck():
    t = _blobs((1, 7, 8))
    gradcheck(lambda a: vl.hausdorff_dt_loss(a, t, log=True), logits((1, 3, 7, 8)))
