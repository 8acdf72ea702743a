"""lovasz_loss against segmentation_models_pytorch and kornia (both carry Berman's reference
code), the float64 set-function reference, and by hand.

Convention mapping (ours <- peer):

* smp ``LovaszLoss("multiclass", per_image=b, ignore_index=k)`` is ``lovasz_loss(
  per_image=b, empty="exclude", ignore_index=k)`` (Berman's ``classes="present"``) on batches
  where every image has the same number of present classes (smp averages per image first).
  smp ``"binary"`` is ``activation="sigmoid"`` (the Lovász hinge on the logits).
  smp fails on float64 input (its ``_lovasz_grad`` casts to float32, then ``torch.dot``
  refuses the mixed dtypes), so the smp comparisons run in float32.
* kornia ``lovasz_softmax_loss(weight=w)`` is ``lovasz_loss(weight=w)`` with the default
  ``empty="penalize"`` (Berman's ``classes="all"``, per image); kornia's weighted mean divides
  by C where ours divides by the summed weights, so the tests use weights of mean 1.
  ``lovasz_hinge_loss`` is ``activation="sigmoid"``.
"""

from __future__ import annotations

import kornia
import pytest
import torch
from segmentation_models_pytorch.losses import LovaszLoss as SmpLovasz

import visionloss as vl
from tests.helpers import grads
from tests.reference import segmentation as ref
from tests.segmentation.cases import labels, logits, with_ignored


def _close(ours, peer, x, **tol):
    v, (g,) = grads(ours, x)
    pv, (pg,) = grads(peer, x)
    torch.testing.assert_close(v, pv, **tol)
    torch.testing.assert_close(g, pg, **tol)


@pytest.mark.parametrize("per_image", [False, True], ids=["batch", "per-image"])
@pytest.mark.parametrize("ignore", [False, True], ids=["all", "ignore"])
def test_matches_smp_multiclass(per_image, ignore):
    x = logits((2, 3, 6, 7), dtype=torch.float32)
    t = labels((2, 6, 7), absent=False)
    if ignore:
        t = with_ignored(t)
    peer = SmpLovasz("multiclass", per_image=per_image, ignore_index=255 if ignore else None)
    _close(
        lambda a: vl.lovasz_loss(
            a, t, per_image=per_image, empty="exclude", ignore_index=255 if ignore else None
        ),
        lambda a: peer(a, t),
        x,
    )


@pytest.mark.parametrize("per_image", [False, True], ids=["batch", "per-image"])
def test_matches_smp_binary_hinge(per_image):
    x = logits((3, 1, 6, 7), dtype=torch.float32)
    t = labels((3, 6, 7), num_classes=2, absent=False)
    peer = SmpLovasz("binary", per_image=per_image)
    _close(
        lambda a: vl.lovasz_loss(a, t, activation="sigmoid", per_image=per_image),
        lambda a: peer(a, t),
        x,
    )


@pytest.mark.parametrize("weight", [None, [0.5, 1.5, 1.0]], ids=["unweighted", "weighted"])
def test_matches_kornia_softmax(weight):
    x, t = logits((2, 3, 6, 7)), labels((2, 6, 7))  # class 2 absent from image 1: kept
    w = None if weight is None else torch.tensor(weight, dtype=torch.float64)
    _close(
        lambda a: vl.lovasz_loss(a, t, weight=weight),
        lambda a: kornia.losses.lovasz_softmax_loss(a, t, weight=w),
        x,
    )


def test_matches_kornia_hinge():
    x = logits((3, 1, 6, 7))
    t = labels((3, 6, 7), num_classes=2)
    _close(
        lambda a: vl.lovasz_loss(a, t, activation="sigmoid"),
        lambda a: kornia.losses.lovasz_hinge_loss(a, t),
        x,
    )


def test_many_rows_at_once_equal_one_image_at_a_time():
    """The vectorised sort over (image, class) rows gives each image's own value."""
    x = logits((6, 4, 5, 5), seed=3)
    t = with_ignored(labels((6, 5, 5), num_classes=4, seed=4))
    batched = vl.lovasz_loss(x, t, ignore_index=255, reduction="none")
    rows = torch.cat(
        [
            vl.lovasz_loss(x[i : i + 1], t[i : i + 1], ignore_index=255, reduction="none")
            for i in range(6)
        ]
    )
    torch.testing.assert_close(batched, rows)


def test_hand_value():
    """Class 1 of the docstring example, from Berman et al. Alg. 1: errors sorted
    [0.6, 0.2, 0.1] with foreground [1, 1, 0]; Jaccard of the prefixes 1/2, 2/2, 3/3."""
    p = torch.tensor([[[[0.9, 0.2, 0.6]], [[0.1, 0.8, 0.4]]]], dtype=torch.float64)
    t = torch.tensor([[[0, 1, 1]]])
    out = vl.lovasz_loss(p, t, activation="none", reduction="none")
    torch.testing.assert_close(
        out, torch.tensor([[0.6 / 2 + 0.2 / 6 + 0.1 / 3, 0.6 / 2 + 0.2 / 2]], dtype=torch.float64)
    )


def test_equals_one_minus_iou_at_a_hard_prediction():
    """At 0/1 probabilities the extension is the set function itself: 1 - IoU."""
    t = labels((1, 4, 5), absent=False)
    pred = (t + (torch.arange(20).view(1, 4, 5) % 3 == 0)) % 3  # a third of pixels wrong
    p = torch.nn.functional.one_hot(pred, 3).movedim(-1, 1).double()
    out = vl.lovasz_loss(p, t, activation="none", reduction="none")
    iou = [((pred == c) & (t == c)).sum() / ((pred == c) | (t == c)).sum() for c in range(3)]
    torch.testing.assert_close(out, 1 - torch.stack(iou).double().unsqueeze(0))


def test_soft_targets_are_fractional_foreground():
    x = logits()
    t = torch.softmax(logits(seed=5), 1)
    value = vl.lovasz_loss(x, t)
    assert torch.isfinite(value) and 0 < value.item() < 1
    hard = torch.nn.functional.one_hot(t.argmax(1), 3).movedim(-1, 1).double()
    torch.testing.assert_close(vl.lovasz_loss(x, hard), ref.lovasz(x, t.argmax(1)))
