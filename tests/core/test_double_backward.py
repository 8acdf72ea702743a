"""Second derivatives through the hand-written backward passes (``_core/autograd.py``).

The fused Functions (overlap sums from class indices, sigmoid focal, anisotropic total
variation, the margin-softmax heads) keep values computed without a graph for their fast
first derivative; under ``create_graph=True`` they must differentiate a plain graph of the
same value instead, or the second derivative would be silently wrong. ``gradgradcheck``
compares the analytical second derivative with finite differences of the first, in float64.
"""

from __future__ import annotations

import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck

import visionloss as vl

g = torch.Generator().manual_seed(0)
LOGITS = torch.randn(2, 3, 4, 5, generator=g, dtype=torch.float64)
INDEX = torch.randint(0, 3, (2, 4, 5), generator=g)
IGNORED = INDEX.clone()
IGNORED[0, 0] = 255
BINARY = (torch.rand(2, 3, 4, 5, generator=g) > 0.5).double()
# six classes: the indexed overlap Function (three take the dense few-class one)
LOGITS6 = torch.randn(2, 6, 3, 4, generator=g, dtype=torch.float64)
INDEX6 = torch.randint(0, 6, (2, 3, 4), generator=g)
INDEX6[1, 0, 0] = 255
EMBED = torch.randn(6, 4, generator=g, dtype=torch.float64)
CLASS_W = torch.randn(3, 4, generator=g, dtype=torch.float64)
LABELS = torch.tensor([0, 1, 2, 0, 1, 2])


CASES = [
    pytest.param(lambda x: vl.dice_loss(x, INDEX), LOGITS, id="dice-softmax"),
    pytest.param(lambda x: vl.dice_loss(x, IGNORED, ignore_index=255), LOGITS, id="dice-ignore"),
    pytest.param(lambda x: vl.dice_loss(x, INDEX, activation="sigmoid"), LOGITS, id="dice-sigmoid"),
    pytest.param(lambda x: vl.dice_loss(x, INDEX, squared=True), LOGITS, id="dice-squared"),
    pytest.param(lambda x: vl.dice_ce_loss(x, INDEX), LOGITS, id="dice-ce"),
    pytest.param(lambda x: vl.tversky_loss(x, INDEX), LOGITS, id="tversky"),
    pytest.param(lambda x: vl.focal_loss(x, BINARY), LOGITS, id="focal"),
    pytest.param(
        lambda x: vl.focal_loss(x, BINARY, alpha=None, gamma=1.5), LOGITS, id="focal-no-alpha"
    ),
    pytest.param(lambda x: vl.binary_cross_entropy_loss(x, BINARY), LOGITS, id="bce"),
    pytest.param(
        lambda x: vl.binary_cross_entropy_loss(x, BINARY, pos_weight=2.0, reduction="sum"),
        LOGITS,
        id="bce-pos-weight-sum",
    ),
    pytest.param(lambda x: vl.total_variation_loss(x), LOGITS, id="total-variation"),
    pytest.param(lambda x: vl.arcface_loss(x, LABELS, CLASS_W, scale=4.0), EMBED, id="arcface"),
    pytest.param(lambda w: vl.cosface_loss(EMBED, LABELS, w, scale=4.0), CLASS_W, id="cosface"),
    pytest.param(lambda x: vl.dice_loss(x, INDEX6, ignore_index=255), LOGITS6, id="dice-6"),
    pytest.param(
        lambda x: vl.dice_ce_loss(x, INDEX6, ignore_index=255, squared=True),
        LOGITS6,
        id="dice-ce-6",
    ),
]


@pytest.mark.parametrize("loss, data", CASES)
def test_second_derivative_matches_finite_differences(loss, data):
    x = data.clone().requires_grad_()
    assert gradcheck(loss, (x,))
    assert gradgradcheck(loss, (x,))


@pytest.mark.parametrize("loss, data", CASES)
def test_first_derivative_is_the_same_either_way(loss, data):
    """The fast backward and the plain graph agree (create_graph only changes the path)."""
    x = data.clone().requires_grad_()
    (fast,) = torch.autograd.grad(loss(x), x)
    (plain,) = torch.autograd.grad(loss(x), x, create_graph=True)
    torch.testing.assert_close(fast, plain.detach(), rtol=1e-10, atol=1e-12)


# the one-pass IoU Function of the box losses (boxes/_fused.py): xyxy pairs, each target a
# shifted copy scaled by 0.8 (equal aspect ratios: CIoU's alpha is held constant by design,
# so finite differences agree only where it multiplies v = 0)
_XY = torch.rand(5, 2, generator=g, dtype=torch.float64) * 4
_WH = 1 + torch.rand(5, 2, generator=g, dtype=torch.float64)
_SHIFT = 0.3 * torch.rand(5, 2, generator=g, dtype=torch.float64)
BOXES = torch.cat([_XY, _XY + _WH], 1)
TARGETS = torch.cat([_XY + _SHIFT, _XY + _SHIFT + 0.8 * _WH], 1)

BOX_CASES = [
    pytest.param(lambda x: vl.iou_loss(x, TARGETS), id="iou"),
    pytest.param(lambda x: vl.iou_loss(x, TARGETS, mode="log"), id="iou-log"),
    pytest.param(lambda x: vl.giou_loss(x, TARGETS), id="giou"),
    pytest.param(lambda x: vl.diou_loss(x, TARGETS), id="diou"),
    pytest.param(lambda x: vl.ciou_loss(x, TARGETS), id="ciou"),
]


@pytest.mark.parametrize("loss", BOX_CASES)
def test_box_second_derivative_matches_finite_differences(loss):
    x = BOXES.clone().requires_grad_()
    assert gradcheck(loss, (x,))
    assert gradgradcheck(loss, (x,))


@pytest.mark.parametrize("loss", BOX_CASES)
def test_box_first_derivative_is_the_same_either_way(loss):
    x = BOXES.clone().requires_grad_()
    (fast,) = torch.autograd.grad(loss(x), x)
    (plain,) = torch.autograd.grad(loss(x), x, create_graph=True)
    torch.testing.assert_close(fast, plain.detach(), rtol=1e-10, atol=1e-12)
