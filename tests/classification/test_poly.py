"""poly_loss and sigmoid_poly_loss against the paper's formulas (tests/reference/detection.py)."""

from __future__ import annotations

import pytest
import torch

import visionloss as vl
from tests.reference import detection as ref
from visionloss.errors import OptionError


@pytest.mark.parametrize("epsilon", [1.0, 2.0, -1.0, 0.0])
def test_softmax_matches_paper(epsilon):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(10, 4, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 4, (10,), generator=g)
    ours = vl.poly_loss(x, y, epsilon=epsilon, reduction="none")
    x2 = x.detach().clone().requires_grad_(True)
    theirs = ref.poly1_softmax(x2, y, epsilon)
    torch.testing.assert_close(ours, theirs)
    ours.sum().backward()
    theirs.sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)
    # probability targets (one-hot) give the same
    onehot = torch.nn.functional.one_hot(y, 4).double()
    torch.testing.assert_close(vl.poly_loss(x, onehot, epsilon=epsilon, reduction="none"), ours)


def test_epsilon_zero_is_cross_entropy_and_spatial():
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    y = torch.randint(0, 3, (2, 4, 4))
    torch.testing.assert_close(vl.poly_loss(x, y, epsilon=0.0), vl.cross_entropy_loss(x, y))
    y[0, 0, 0] = -1
    out = vl.poly_loss(x, y, ignore_index=-1, reduction="none")
    assert out[0, 0, 0] == 0


@pytest.mark.parametrize("gamma", [0.0, 2.0])
@pytest.mark.parametrize("epsilon", [1.0, -1.0])
def test_sigmoid_matches_paper(epsilon, gamma):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(6, 5, generator=g, dtype=torch.float64, requires_grad=True)
    y = (torch.rand(6, 5, generator=g) < 0.4).double()
    ours = vl.sigmoid_poly_loss(x, y, epsilon=epsilon, gamma=gamma, reduction="none")
    x2 = x.detach().clone().requires_grad_(True)
    theirs = ref.poly1_sigmoid(x2, y, epsilon, gamma)
    torch.testing.assert_close(ours, theirs)
    ours.sum().backward()
    theirs.sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)


def test_degenerate_and_errors():
    x = torch.tensor([[1e4, -1e4]], requires_grad=True)
    for out in (vl.poly_loss(x, torch.tensor([0])), vl.sigmoid_poly_loss(x, torch.ones(1, 2))):
        (g,) = torch.autograd.grad(out, x)
        assert torch.isfinite(out) and torch.isfinite(g).all()
    with pytest.raises(OptionError, match="epsilon >= -1"):
        vl.poly_loss(x, torch.tensor([0]), epsilon=-2.0)
    e = vl.poly_loss(torch.zeros(0, 3, requires_grad=True), torch.zeros(0, dtype=torch.long))
    assert e == 0 and e.requires_grad


def test_gradcheck():
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 3, 1])
    assert torch.autograd.gradcheck(lambda v: vl.poly_loss(v, y, epsilon=2.0), (x,))
    t = torch.rand(3, 4, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda v: vl.sigmoid_poly_loss(v, t, gamma=1.5), (x,))
