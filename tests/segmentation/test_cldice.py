"""soft_skeleton, cldice_loss and dice_cldice_loss against MONAI and the clDice authors' code.

Convention mapping (ours <- peer):

* ``soft_skeleton(x, iterations=i)`` is MONAI's ``soft_skel(x, i)`` and the authors'
  ``soft_skel`` (2-D and 3-D; ours also runs on 1-D).
* MONAI ``SoftclDiceLoss(iter_=i, smooth_nr=s, smooth_dr=s, smooth=e, softmax=True,
  include_background=False)`` (1.6) sums over the channels of each image and adds ``e`` to the
  harmonic mean's denominator; with one foreground class and ``e`` tiny (1e-12) it is
  ``cldice_loss(iterations=i, smooth=s, classes=[1])``.
* The authors' ``soft_cldice`` (``cldice_loss/pytorch/cldice.py``) sums over the whole batch
  and the foreground channels, no epsilon: ``cldice_loss(per_image=False, classes=[1])``.
  MONAI's ``1e-4`` default makes its value differ from the paper's by about that much.
* MONAI ``SoftDiceclDiceLoss(alpha=a, ...)`` is ``dice_cldice_loss(alpha=a, empty="include")``
  with MONAI's Dice (``smooth_nr = smooth_dr = s``, per image) and the clDice above.
"""

from __future__ import annotations

import pytest
import torch
from monai.losses import SoftclDiceLoss as MonaiClDice
from monai.losses import SoftDiceclDiceLoss as MonaiDiceClDice
from monai.losses.cldice import soft_skel as monai_skel

import visionloss as vl
from tests.helpers import assert_finite_graph, gradcheck, grads
from tests.reference import segmentation_shape as ref
from tests.segmentation.cases import logits


def _vessels(shape=(2, 16, 16), seed=0):
    """Thin random lines: each image holds a few 1-2 pixel wide horizontal and vertical
    strokes of class 1."""
    g = torch.Generator().manual_seed(seed)
    t = torch.zeros(shape, dtype=torch.long)
    for b in range(shape[0]):
        for _ in range(3):
            i, j, w = (int(v) for v in torch.randint(1, shape[1] - 3, (3,), generator=g))
            t[b, i : i + 1 + w % 2, 2:-2] = 1
            t[b, 2:-2, j : j + 1 + w % 2] = 1
    return t


def _onehot(t, c=2):
    return torch.nn.functional.one_hot(t, c).movedim(-1, 1).double()


@pytest.mark.parametrize("shape", [(2, 3, 9, 10), (2, 2, 5, 6, 7)], ids=["2d", "3d"])
@pytest.mark.parametrize("iterations", [0, 3, 5])
def test_soft_skeleton_matches_monai_and_authors(shape, iterations):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(shape, generator=g, dtype=torch.float64)
    ours = vl.soft_skeleton(x, iterations=iterations)
    torch.testing.assert_close(ours, monai_skel(x, iterations))
    torch.testing.assert_close(ours, ref.soft_skel(x, iterations))


def test_soft_skeleton_of_a_bar_is_its_centre_line():
    bar = torch.zeros(1, 1, 7, 9)
    bar[..., 2:5, 1:8] = 1.0
    skel = vl.soft_skeleton(bar, iterations=3)[0, 0]
    assert skel[3, 2:7].eq(1).all() and skel[[2, 4]].eq(0).all()


@pytest.mark.parametrize("smooth", [1.0, 1e-3])
def test_cldice_matches_monai(smooth):
    t = _vessels()
    x = logits((2, 2, 16, 16))
    peer = MonaiClDice(
        iter_=3,
        smooth_nr=smooth,
        smooth_dr=smooth,
        smooth=1e-12,
        softmax=True,
        include_background=False,
    )
    v, (g,) = grads(lambda a: vl.cldice_loss(a, t, smooth=smooth, classes=[1]), x)
    pv, (pg,) = grads(lambda a: peer(a, _onehot(t)), x)
    torch.testing.assert_close(v, pv)
    torch.testing.assert_close(g, pg)


def test_cldice_matches_authors_code():
    t = _vessels()
    x = logits((2, 2, 16, 16))
    expected = ref.cldice_paper(torch.softmax(x, 1), _onehot(t), iters=3, smooth=1.0)
    ours = vl.cldice_loss(x, t, per_image=False, classes=[1])
    torch.testing.assert_close(ours, expected)


def test_cldice_3d_sigmoid_matches_monai():
    g = torch.Generator().manual_seed(3)
    t = (torch.rand(2, 1, 6, 7, 8, generator=g) < 0.3).double()
    x = logits((2, 1, 6, 7, 8))
    peer = MonaiClDice(iter_=2, smooth=1e-12, sigmoid=True)
    torch.testing.assert_close(
        vl.cldice_loss(x, t, activation="sigmoid", iterations=2, reduction="none")[:, 0],
        peer.__class__(iter_=2, smooth=1e-12, sigmoid=True, reduction="none")(x, t),
    )
    torch.testing.assert_close(vl.cldice_loss(x, t, activation="sigmoid", iterations=2), peer(x, t))


def test_perfect_thin_prediction_and_a_broken_one():
    t = torch.zeros(1, 9, 9, dtype=torch.long)
    t[0, 4, 1:8] = 1
    p = _onehot(t)
    assert vl.cldice_loss(p, t, activation="none", classes=[1], smooth=0.0).item() == 0.0
    broken = p.clone()
    broken[0, 1, 4, 4], broken[0, 0, 4, 4] = 0.0, 1.0  # one pixel cut out of the line
    cut = vl.cldice_loss(broken, t, activation="none", classes=[1], smooth=0.0).item()
    dice = vl.dice_loss(broken, t, activation="none", classes=[1]).item()
    # Tprec = 1, Tsens = 6/7 -> 1 - 2 (6/7) / (13/7) = 1/13; Dice loses 1/13 as well here
    assert cut == pytest.approx(1 / 13) and dice == pytest.approx(1 / 13)


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_dice_cldice_matches_monai(alpha):
    t = _vessels()
    x = logits((2, 2, 16, 16))
    peer = MonaiDiceClDice(alpha=alpha, smooth=1e-12, softmax=True, include_background=False)
    v, (g,) = grads(lambda a: vl.dice_cldice_loss(a, t, alpha=alpha, classes=[1]), x)
    pv, (pg,) = grads(lambda a: peer(a, _onehot(t)), x)
    torch.testing.assert_close(v, pv)
    torch.testing.assert_close(g, pg)


def test_dice_cldice_is_the_weighted_sum():
    t = _vessels()
    x = logits((2, 2, 16, 16))
    ours = vl.dice_cldice_loss(x, t, alpha=0.25, smooth=1.0, empty="penalize")
    expected = 0.75 * vl.dice_loss(x, t, smooth=1.0) + 0.25 * vl.cldice_loss(x, t)
    torch.testing.assert_close(ours, expected)
    none = vl.dice_cldice_loss(x, t, reduction="none", per_image=False)
    assert none.shape == (2,)


@pytest.mark.parametrize(
    "target",
    [
        pytest.param(torch.zeros(2, 6, 5, dtype=torch.long), id="empty-foreground"),
        pytest.param(torch.ones(2, 6, 5, dtype=torch.long), id="full-foreground"),
        pytest.param(torch.full((2, 6, 5), 255), id="all-ignored"),
    ],
)
@pytest.mark.parametrize("smooth", [0.0, 1.0])
@pytest.mark.parametrize("fn", [vl.cldice_loss, vl.dice_cldice_loss])
def test_degenerate_targets(target, smooth, fn):
    x = logits((2, 2, 6, 5), dtype=torch.float32).requires_grad_(True)
    assert_finite_graph(fn(x, target, ignore_index=255, smooth=smooth), x)


def test_all_ignored_is_zero():
    x = logits((2, 2, 6, 5))
    assert vl.cldice_loss(x, torch.full((2, 6, 5), 255), ignore_index=255).item() == 0.0


def test_gradcheck():
    t = torch.zeros(1, 5, 5, dtype=torch.long)
    t[0, 2, 1:4] = 1
    gradcheck(lambda a: vl.dice_cldice_loss(a, t, iterations=1, classes=[1]), logits((1, 2, 5, 5)))


def test_bad_options():
    x, t = logits((1, 2, 8, 8)), _vessels((1, 8, 8))
    with pytest.raises(TypeError, match=r"cldice_loss: expected iterations to be an int"):
        vl.cldice_loss(x, t, iterations=2.0)
    with pytest.raises(ValueError, match=r"dice_cldice_loss: expected alpha in \[0, 1\]"):
        vl.dice_cldice_loss(x, t, alpha=1.5)
    with pytest.raises(ValueError, match=r"soft_skeleton: expected x of shape"):
        vl.soft_skeleton(torch.zeros(3, 4))
