"""boundary_loss against MONAI's BoundaryLoss and Kervadec's SurfaceLoss, and by hand.

Convention mapping (ours <- peer):

* MONAI ``BoundaryLoss(softmax=True, to_onehot_y=True, include_background=ib)`` (1.6) is
  ``boundary_loss(include_background=ib)``: both take the mean of ``p * phi`` over the pixels
  of each (image, class), then over the pairs; MONAI's target is ``t[:, None]``.
* Kervadec's ``SurfaceLoss(idc=[1, ...])`` on softmax probabilities is ``boundary_loss(
  classes=idc)``: a mean over images, classes and pixels (the same number when every pair
  has all its pixels). Kervadec's maps and ours agree except for a full mask (see
  ``test_distance_map``), where scipy's ``edt`` of an array without zeros is meaningless.
"""

from __future__ import annotations

import pytest
import torch
from monai.losses import BoundaryLoss as MonaiBoundary

import visionloss as vl
from tests.helpers import assert_finite_graph, gradcheck, grads
from tests.reference import segmentation_shape as ref
from tests.segmentation.cases import labels, logits, one_hot


def _blobs(shape=(2, 12, 14), num_classes=3, seed=0):
    """Class indices with a blob of each class per image (every mask has an interface)."""
    g = torch.Generator().manual_seed(seed)
    t = torch.zeros(shape, dtype=torch.long)
    for b in range(shape[0]):
        for c in range(1, num_classes):
            i, j = (int(v) for v in torch.randint(0, 6, (2,), generator=g))
            t[b, i : i + 4 + c, j : j + 5] = c
    return t


@pytest.mark.parametrize("include_background", [True, False])
def test_matches_monai(include_background):
    t = _blobs()
    x = logits((2, 3, 12, 14))
    peer = MonaiBoundary(softmax=True, to_onehot_y=True, include_background=include_background)
    v, (g,) = grads(lambda a: vl.boundary_loss(a, t, include_background=include_background), x)
    pv, (pg,) = grads(lambda a: peer(a, t[:, None]), x)
    torch.testing.assert_close(v, pv)
    torch.testing.assert_close(g, pg)


def test_matches_monai_3d_sigmoid_none():
    g = torch.Generator().manual_seed(1)
    t = (torch.rand(2, 2, 6, 7, 8, generator=g) < 0.4).double()
    x = logits((2, 2, 6, 7, 8))
    peer = MonaiBoundary(sigmoid=True, reduction="none")
    ours = vl.boundary_loss(x, t, activation="sigmoid", reduction="none")
    torch.testing.assert_close(ours, peer(x, t))


@pytest.mark.parametrize("spacing", [None, (0.5, 2.0)], ids=["isotropic", "anisotropic"])
def test_matches_kervadec(spacing):
    t = _blobs()
    x = logits((2, 3, 12, 14))
    probs = torch.softmax(x, 1)
    expected = ref.boundary(probs, one_hot(t), idc=[1, 2], resolution=spacing)
    ours = vl.boundary_loss(x, t, include_background=False, spacing=spacing)
    torch.testing.assert_close(ours, expected)


def test_precomputed_map_equals_computed():
    t = _blobs()
    x = logits((2, 3, 12, 14))
    dm = vl.signed_distance_map(t, num_classes=3, spacing=(1.0, 3.0)).double()
    torch.testing.assert_close(
        vl.boundary_loss(x, t, distance_map=dm, classes=[1, 2]),
        vl.boundary_loss(x, t, spacing=(1.0, 3.0), classes=[1, 2]),
    )
    module = vl.BoundaryLoss(classes=[1, 2])
    torch.testing.assert_close(
        module(x, t, distance_map=dm), vl.boundary_loss(x, t, distance_map=dm, classes=[1, 2])
    )


def test_by_hand_1d():
    # class-1 mask at 2..4: map [2, 1, 0, -1, 0, 1]; all mass inside -> (0 - 1 + 0) / 6
    t = torch.tensor([[0, 0, 1, 1, 1, 0]])
    p = torch.stack([1.0 - (t == 1).double(), (t == 1).double()], 1)
    assert vl.boundary_loss(p, t, activation="none", classes=[1]).item() == pytest.approx(-1 / 6)
    # all mass outside: (2 + 1 + 1) / 6
    q = 1.0 - p
    assert vl.boundary_loss(q, t, activation="none", classes=[1]).item() == pytest.approx(4 / 6)


def test_ignore_index_leaves_the_mean():
    t = _blobs()
    x = logits((2, 3, 12, 14))
    ti = t.clone()
    ti[:, :, -3:] = 255  # ignored columns: no pixel there counts
    none = vl.boundary_loss(x, ti, ignore_index=255, reduction="none")
    dm = vl.signed_distance_map(ti, num_classes=3, ignore_index=255)
    p = torch.softmax(x, 1)
    expected = (p * dm)[..., :-3].sum((2, 3)) / (12 * 11)
    torch.testing.assert_close(none, expected)


def test_weights_and_sum():
    t, x = _blobs(), logits((2, 3, 12, 14))
    w = torch.tensor([0.0, 1.0, 3.0])
    pairs = vl.boundary_loss(x, t, reduction="none")
    torch.testing.assert_close(vl.boundary_loss(x, t, weight=w), (pairs * w).sum() / (w.sum() * 2))
    torch.testing.assert_close(vl.boundary_loss(x, t, reduction="sum"), pairs.sum())


@pytest.mark.parametrize(
    "target",
    [
        pytest.param(torch.zeros(2, 6, 5, dtype=torch.long), id="empty-foreground"),
        pytest.param(torch.ones(2, 6, 5, dtype=torch.long), id="full-foreground"),
        pytest.param(torch.full((2, 6, 5), 255), id="all-ignored"),
    ],
)
def test_degenerate_targets(target):
    x = logits((2, 2, 6, 5), dtype=torch.float32).requires_grad_(True)
    value = vl.boundary_loss(x, target, ignore_index=255)
    assert_finite_graph(value, x)
    assert value.item() == 0.0  # no interface (or no pixel): the maps are zero


def test_gradcheck():
    t = _blobs((1, 7, 8))
    gradcheck(lambda a: vl.boundary_loss(a, t, reduction="sum"), logits((1, 3, 7, 8)))


def test_bad_distance_map():
    x, t = logits(), labels()
    with pytest.raises(ValueError, match=r"boundary_loss: expected distance_map of shape"):
        vl.boundary_loss(x, t, distance_map=torch.zeros(2, 2, 4, 5))
    with pytest.raises(ValueError, match=r"boundary_loss: expected spacing of 2 values"):
        vl.boundary_loss(x, t, spacing=(1.0, 1.0, 1.0))
