"""tversky_loss against MONAI, segmentation_models_pytorch and kornia, and by hand.

Convention mapping (ours <- peer); every peer weighs false positives by ``alpha`` and false
negatives by ``beta``, as Salehi et al. and we do:

* MONAI ``TverskyLoss(alpha, beta, softmax=True, to_onehot_y=True, smooth_nr=s,
  smooth_dr=s, batch=b)`` is ``tversky_loss(alpha, beta, smooth=s, per_image=not b,
  empty="include")``.
* smp ``TverskyLoss("multiclass", alpha, beta, smooth=s, gamma=1)`` is ``tversky_loss(alpha,
  beta, smooth=s, per_image=False)`` on batches where every class is present.
* kornia ``tversky_loss(alpha, beta, eps=e)`` is ``tversky_loss(alpha, beta, smooth=(0, e),
  empty="exclude")`` on batches where every image has all classes (kornia averages the present
  classes of each image, then the images). kornia 0.9.0 (tested here) applies alpha and beta.
"""

from __future__ import annotations

import kornia
import pytest
import torch
from monai.losses import TverskyLoss as MonaiTversky
from segmentation_models_pytorch.losses import TverskyLoss as SmpTversky

import visionloss as vl
from tests.helpers import grads
from tests.segmentation.cases import labels, logits, with_ignored


def _close(ours, peer, x):
    v, (g,) = grads(ours, x)
    pv, (pg,) = grads(peer, x)
    torch.testing.assert_close(v, pv)
    torch.testing.assert_close(g, pg)


@pytest.mark.parametrize("alpha, beta", [(0.3, 0.7), (0.7, 0.3), (1.0, 0.2)])
@pytest.mark.parametrize("batch", [False, True], ids=["per-image", "batch"])
def test_matches_monai(alpha, beta, batch):
    x, t = logits(), labels()
    peer = MonaiTversky(alpha=alpha, beta=beta, softmax=True, to_onehot_y=True, batch=batch)
    _close(
        lambda a: vl.tversky_loss(
            a, t, alpha=alpha, beta=beta, smooth=1e-5, per_image=not batch, empty="include"
        ),
        lambda a: peer(a, t.unsqueeze(1)),
        x,
    )


def test_matches_monai_ignore_index():
    x, t = logits(), with_ignored(labels())
    peer = MonaiTversky(alpha=0.2, beta=0.8, softmax=True, to_onehot_y=True, ignore_index=255)
    _close(
        lambda a: vl.tversky_loss(
            a, t, alpha=0.2, beta=0.8, smooth=1e-5, ignore_index=255, empty="include"
        ),
        lambda a: peer(a, t.unsqueeze(1)),
        x,
    )


@pytest.mark.parametrize("alpha, beta, smooth", [(0.3, 0.7, 0.0), (0.6, 0.4, 1.0)])
def test_matches_smp(alpha, beta, smooth):
    x, t = logits(), labels()
    peer = SmpTversky("multiclass", alpha=alpha, beta=beta, smooth=smooth)
    _close(
        lambda a: vl.tversky_loss(a, t, alpha=alpha, beta=beta, smooth=smooth, per_image=False),
        lambda a: peer(a, t),
        x,
    )


@pytest.mark.parametrize("alpha, beta", [(0.3, 0.7), (0.9, 0.1)])
def test_matches_kornia(alpha, beta):
    x, t = logits(), with_ignored(labels(absent=False), value=-100)
    _close(
        lambda a: vl.tversky_loss(
            a, t, alpha=alpha, beta=beta, smooth=(0.0, 1e-8), empty="exclude", ignore_index=-100
        ),
        lambda a: kornia.losses.tversky_loss(a, t, alpha, beta),
        x,
    )


def test_hand_value_salehi():
    # TP = 1 (pixel 0), FP = 1 (pixel 1), FN = 2 (pixels 2, 3)
    p = torch.tensor([[[[1.0, 1.0, 0.0, 0.0]]]])
    t = torch.tensor([[[1, 0, 1, 1]]])
    for alpha, beta, expected in [
        (0.3, 0.7, 1 - 1 / 2.7),
        (0.7, 0.3, 1 - 1 / 2.3),
        (0.5, 0.5, 1 - 2 / 5),
        (1.0, 1.0, 1 - 1 / 4),
    ]:
        out = vl.tversky_loss(p, t, activation="none", alpha=alpha, beta=beta)
        torch.testing.assert_close(out, torch.tensor(expected))


def test_alpha_and_beta_matter_and_map_to_dice_and_jaccard():
    x, t = logits(), labels()
    assert not torch.allclose(
        vl.tversky_loss(x, t, alpha=0.3, beta=0.7), vl.tversky_loss(x, t, alpha=0.7, beta=0.3)
    )
    torch.testing.assert_close(vl.tversky_loss(x, t, alpha=0.5, beta=0.5), vl.dice_loss(x, t))
    # dice smoothing s is tversky(0.5, 0.5) smoothing s / 2
    torch.testing.assert_close(
        vl.tversky_loss(x, t, alpha=0.5, beta=0.5, smooth=0.5), vl.dice_loss(x, t, smooth=1.0)
    )
    torch.testing.assert_close(vl.tversky_loss(x, t, alpha=1.0, beta=1.0), vl.jaccard_loss(x, t))


@pytest.mark.parametrize("name", ["alpha", "beta"])
def test_negative_alpha_beta_rejected(name):
    with pytest.raises(ValueError, match=f"tversky_loss: expected {name} >= 0"):
        vl.tversky_loss(logits(), labels(), **{name: -0.1})
    with pytest.raises(ValueError, match=f"TverskyLoss: expected {name} >= 0"):
        vl.TverskyLoss(**{name: -0.1})
