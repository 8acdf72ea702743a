"""lovasz_loss against segmentation_models_pytorch and kornia (both carry Berman's reference
code), the float64 set-function reference, and by hand.

Convention mapping (ours <- peer):

* smp ``LovaszLoss("multiclass", per_image=b, ignore_index=k)`` is ``lovasz_loss(
  per_image=b, empty="exclude", ignore_index=k)`` (Berman's ``classes="present"``) on batches
  where every image has the same number of present classes (smp averages per image first).
  smp ``"binary"`` is ``activation="sigmoid"`` (the Lovász hinge on the logits).
  smp fails on float64 input (its ``_lovasz_grad`` casts to float32, then ``torch.dot``
  refuses the mixed dtypes), so the smp comparisons run in float32.
* Berman's reference code (not installable; float64 transcription in
  ``tests/reference/segmentation.py``, citing its lines) ``lovasz_softmax(softmax(x), t,
  classes="present", per_image=False, ignore=k)`` is ``lovasz_loss(x, t, empty="exclude",
  per_image=False, ignore_index=k)``; ``classes="all"`` is ``empty="penalize"`` (or
  ``"include"``), per image or not. With ``per_image=True`` and ``classes="present"`` Berman
  averages the present classes of each image, then the images, where ours pools the
  (image, class) pairs: they differ when the images have different numbers of present
  classes. Berman's Lovász-sigmoid, ``lovasz_softmax(p, t, classes=[1])`` on one channel of
  probabilities, is ``lovasz_loss(p, t, activation="none", per_image=False)``.
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


def _berman_batch():
    """4 channels, labels 0-2 (class 3 absent from the batch), class 2 absent from image 1:
    ``classes="present"`` matters per batch and per image, and the images hold different
    numbers of present classes."""
    x = logits((2, 4, 5, 6), seed=7)
    t = labels((2, 5, 6), num_classes=3, seed=8)
    return x, t


@pytest.mark.parametrize("ignore", [None, 255], ids=["all-pixels", "ignored"])
def test_exclude_is_bermans_present_over_the_batch(ignore):
    x, t = _berman_batch()
    if ignore is not None:
        t = with_ignored(t, value=ignore)
    _close(
        lambda a: vl.lovasz_loss(a, t, empty="exclude", per_image=False, ignore_index=ignore),
        lambda a: ref.berman_lovasz_softmax(torch.softmax(a, 1), t, "present", False, ignore),
        x,
    )


@pytest.mark.parametrize("per_image", [False, True], ids=["batch", "per-image"])
@pytest.mark.parametrize("empty", ["penalize", "include"])
def test_penalize_and_include_are_bermans_all(empty, per_image):
    x, t = _berman_batch()
    _close(
        lambda a: vl.lovasz_loss(a, t, empty=empty, per_image=per_image),
        lambda a: ref.berman_lovasz_softmax(torch.softmax(a, 1), t, "all", per_image),
        x,
    )


def test_exclude_per_image_pools_pairs_where_berman_averages_images():
    """Berman's ``per_image=True`` is a mean of per-image means; ours pools the (image, class)
    pairs, so the sentence "exclude is Berman's present" holds only with ``per_image=False``."""
    x, t = _berman_batch()
    berman = ref.berman_lovasz_softmax(torch.softmax(x, 1), t, "present", per_image=True)
    ours = vl.lovasz_loss(x, t, empty="exclude", per_image=True)
    assert not torch.allclose(ours, berman)
    images = [vl.lovasz_loss(x[i : i + 1], t[i : i + 1], empty="exclude") for i in range(2)]
    torch.testing.assert_close(berman, torch.stack(images).mean())


def test_lovasz_sigmoid_is_bermans_one_channel_softmax_with_classes_one():
    x = logits((2, 1, 5, 6), seed=9)
    t = labels((2, 5, 6), num_classes=2, seed=10)
    _close(
        lambda a: vl.lovasz_loss(torch.sigmoid(a), t, activation="none", per_image=False),
        lambda a: ref.berman_lovasz_softmax(torch.sigmoid(a), t, classes=[1]),  # (B, 1, H, W)
        x,
    )


def test_per_image_false_is_bermans_and_smps_default():
    """The ``per_image`` docstring: ``False`` is the default of Berman's ``lovasz_softmax``
    (line 153) and of smp's ``LovaszLoss``."""
    import inspect

    assert inspect.signature(ref.berman_lovasz_softmax).parameters["per_image"].default is False
    assert inspect.signature(SmpLovasz).parameters["per_image"].default is False
    x, t = _berman_batch()
    torch.testing.assert_close(
        ref.berman_lovasz_softmax(torch.softmax(x, 1), t),
        vl.lovasz_loss(x, t, per_image=False, empty="exclude"),
    )
