"""topk_cross_entropy_loss against nnU-Net's TopKLoss (float64 transcription) and by hand.

Convention mapping (ours <- nnU-Net): ``TopKLoss(k=k, weight=w)`` (``robust_ce_loss.py``:
unreduced ``cross_entropy``, ``torch.topk`` of ``int(num_voxels * k / 100)`` entries of the
flattened batch, mean) is ``topk_cross_entropy_loss(k=k, weight=w)`` when nothing is ignored.
Disagreement: nnU-Net's ignored voxels score 0 but stay in ``num_voxels`` (so ``k`` percent of
all voxels is kept and may include them); ours leave the ranking and the count.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import visionloss as vl
from tests.helpers import assert_finite_graph, gradcheck, grads
from tests.reference import segmentation_shape as ref
from tests.segmentation.cases import labels, logits, one_hot, with_ignored

SHAPE = (2, 3, 8, 10)


@pytest.mark.parametrize("k", [1.0, 10.0, 33.3, 100.0])
@pytest.mark.parametrize("weighted", [False, True])
def test_matches_nnunet(k, weighted):
    x, t = logits(SHAPE), labels((2, 8, 10))
    w = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64) if weighted else None
    v, (g,) = grads(lambda a: vl.topk_cross_entropy_loss(a, t, k=k, weight=w), x)
    rv, (rg,) = grads(lambda a: ref.topk_nnunet(a, t, k=k, weight=w), x)
    torch.testing.assert_close(v, rv)
    torch.testing.assert_close(g, rg)


def test_one_hot_target_equals_indices():
    x, t = logits(SHAPE), labels((2, 8, 10))
    torch.testing.assert_close(
        vl.topk_cross_entropy_loss(x, one_hot(t), k=20.0),
        vl.topk_cross_entropy_loss(x, t, k=20.0),
    )


def test_k_100_is_cross_entropy():
    x, t = logits(SHAPE), with_ignored(labels((2, 8, 10)))
    torch.testing.assert_close(
        vl.topk_cross_entropy_loss(x, t, k=100.0, ignore_index=255),
        F.cross_entropy(x, t, ignore_index=255),
    )


def test_ignored_pixels_leave_the_ranking():
    x, t = logits(SHAPE), with_ignored(labels((2, 8, 10)))
    ce = F.cross_entropy(x, t, ignore_index=255, reduction="none")
    valid = ce[t != 255]
    m = math.floor(valid.numel() * 10 / 100)
    expected = valid.sort(descending=True).values[:m].mean()
    torch.testing.assert_close(vl.topk_cross_entropy_loss(x, t, ignore_index=255), expected)


def test_sigmoid_ranks_elements():
    x = logits((2, 2, 8, 10))
    g = torch.Generator().manual_seed(5)
    t = (torch.rand(2, 2, 8, 10, generator=g) < 0.3).double()
    bce = F.binary_cross_entropy_with_logits(x, t, reduction="none").flatten()
    m = math.floor(bce.numel() * 15 / 100)
    expected = bce.sort(descending=True).values[:m].mean()
    torch.testing.assert_close(
        vl.topk_cross_entropy_loss(x, t, k=15.0, activation="sigmoid"), expected
    )


def test_none_and_sum():
    x, t = logits(SHAPE), labels((2, 8, 10))
    none = vl.topk_cross_entropy_loss(x, t, k=25.0, reduction="none")
    assert none.shape == (2, 8, 10) and int((none > 0).sum()) == 40
    torch.testing.assert_close(
        none.sum(), vl.topk_cross_entropy_loss(x, t, k=25.0, reduction="sum")
    )


def test_by_hand():
    x = torch.tensor([[[[2.0, 0.0, -2.0, 0.0]], [[0.0, 0.0, 0.0, 2.0]]]])
    t = torch.tensor([[[0, 0, 0, 1]]])
    # k = 50% of 4 pixels: the two worst, -log sigmoid(-2) and -log(1/2)
    expected = (F.softplus(torch.tensor(2.0)) + math.log(2)) / 2
    assert vl.topk_cross_entropy_loss(x, t, k=50.0).item() == pytest.approx(
        expected.item(), rel=1e-6
    )
    # fewer than one pixel: one is kept
    assert vl.topk_cross_entropy_loss(x, t, k=1.0).item() == pytest.approx(
        F.softplus(torch.tensor(2.0)).item(), rel=1e-6
    )


def test_all_ignored():
    x = logits(SHAPE, dtype=torch.float32).requires_grad_(True)
    value = vl.topk_cross_entropy_loss(x, torch.full((2, 8, 10), 255), ignore_index=255)
    assert_finite_graph(value, x)
    assert value.item() == 0.0


def test_gradcheck():
    gradcheck(lambda a: vl.topk_cross_entropy_loss(a, labels((2, 8, 10)), k=30.0), logits(SHAPE))


@pytest.mark.parametrize("k", [0.0, 101.0])
def test_bad_k(k):
    with pytest.raises(ValueError, match=r"topk_cross_entropy_loss: expected k in \(0, 100\]"):
        vl.topk_cross_entropy_loss(logits(SHAPE), labels((2, 8, 10)), k=k)
