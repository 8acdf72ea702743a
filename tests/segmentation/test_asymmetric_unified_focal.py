"""asymmetric_unified_focal_loss against MONAI's AsymmetricUnifiedFocalLoss and Yeung's code.

Convention mapping (ours <- peer): MONAI ``AsymmetricUnifiedFocalLoss(to_onehot_y=True,
weight=w', delta=d, gamma=g)`` takes probabilities (two channels) and averages its focal term
over the pixels *and both channels*, while Yeung et al.'s code (``loss_functions.py``,
``asymmetric_focal_loss``: ``K.mean(K.sum(stack([back_ce, fore_ce]), axis=-1))``) sums over the
classes. So MONAI with ``w' = 2w / (1 + w)`` is ``1 / (1 + w)`` times
``asymmetric_unified_focal_loss(softmax logits, lambda_focal=w, delta=d, gamma=g)``. MONAI clamps
the probabilities to ``[1e-7, 1 - 1e-7]``; we use ``log_softmax`` (equal for moderate
logits, as here). Yeung's default ``delta=0.6`` is ours; MONAI's is 0.7.
"""

from __future__ import annotations

import math

import pytest
import torch
from monai.losses import AsymmetricUnifiedFocalLoss as MonaiAUFL

import visionloss as vl
from tests.helpers import assert_finite_graph, gradcheck, grads
from tests.segmentation.cases import labels, logits, with_ignored


@pytest.mark.parametrize("w, delta, gamma", [(0.5, 0.7, 0.5), (0.2, 0.6, 0.3), (0.9, 0.5, 0.0)])
def test_matches_monai(w, delta, gamma):
    x, t = logits((2, 2, 6, 7)), labels((2, 6, 7), num_classes=2)
    peer = MonaiAUFL(to_onehot_y=True, weight=2 * w / (1 + w), delta=delta, gamma=gamma)
    v, (g,) = grads(
        lambda a: vl.asymmetric_unified_focal_loss(a, t, lambda_focal=w, delta=delta, gamma=gamma),
        x,
    )
    pv, (pg,) = grads(lambda a: (1 + w) * peer(a.softmax(1), t[:, None]), x)
    torch.testing.assert_close(v, pv)
    torch.testing.assert_close(g, pg)


def test_sigmoid_one_channel_equals_two_channel_softmax():
    x = logits((2, 1, 6, 7))
    t = labels((2, 6, 7), num_classes=2)
    two = torch.cat([torch.zeros_like(x), x], 1)  # softmax of (0, z) is (1 - s(z), s(z))
    torch.testing.assert_close(
        vl.asymmetric_unified_focal_loss(x, t, activation="sigmoid"),
        vl.asymmetric_unified_focal_loss(two, t),
    )


def test_by_hand():
    x = torch.zeros(1, 2, 1, 2, dtype=torch.float64)
    t = torch.tensor([[[0, 1]]])
    focal = (0.4 * math.sqrt(0.5) * math.log(2) + 0.6 * math.log(2)) / 2
    tversky = (0.5 + math.sqrt(0.5)) / 2
    value = vl.asymmetric_unified_focal_loss(x, t).item()
    assert value == pytest.approx(0.5 * focal + 0.5 * tversky)


def test_ignore_index_leaves_every_sum():
    x, t = logits((2, 3, 6, 7)), with_ignored(labels((2, 6, 7)))
    keep = t[0] != 255
    full = vl.asymmetric_unified_focal_loss(x[:1], t[:1], ignore_index=255)
    x0 = x[0][:, keep].reshape(1, 3, -1)
    t0 = t[0][keep].reshape(1, -1)
    torch.testing.assert_close(full, vl.asymmetric_unified_focal_loss(x0, t0))


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
    value = vl.asymmetric_unified_focal_loss(x, target, ignore_index=255)
    assert_finite_graph(value, x)


def test_saturated_logits_are_finite():
    x = (torch.randn(2, 2, 4, 4) * 1e4).requires_grad_(True)
    assert_finite_graph(vl.asymmetric_unified_focal_loss(x, labels((2, 4, 4), num_classes=2)), x)


def test_gradcheck():
    gradcheck(
        lambda a: vl.asymmetric_unified_focal_loss(a, labels((1, 4, 5))), logits((1, 3, 4, 5))
    )


def test_sigmoid_needs_one_channel():
    with pytest.raises(ValueError, match=r"asymmetric_unified_focal_loss: activation='sigmoid'"):
        vl.asymmetric_unified_focal_loss(logits(), labels(), activation="sigmoid")
