"""lifted_structure_loss (both forms) and npair_loss against pytorch-metric-learning.

Convention mapping:

* PML ``LiftedStructureLoss(neg_margin=m, pos_margin=m_p)``: L2-normalised Euclidean
  distances, every ordered positive pair, ``[J]_+^2 / 2`` each, mean over them (= Oh Song's
  ``1/(2|P|)`` over unordered pairs). Ours: ``normalize=True, margin=m, pos_margin=m_p``.
* PML ``GeneralizedLiftedStructureLoss(neg_margin=m, pos_margin=m_p)``: per anchor, mean
  over the batch: ``generalized=True``.
* PML ``NPairsLoss()``: dot product of L2-normalised embeddings, the first two samples of
  each class as its pair: ``npair_loss(x, y, normalize=True)``.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from pytorch_metric_learning import losses

import visionloss as vl
from tests.helpers import assert_finite_graph, gradcheck, grads

from ._data import clustered, embeddings


def _pml(loss, x, y):
    xl = x.detach().clone().requires_grad_()
    value = loss(xl, y)
    (g,) = torch.autograd.grad(value, xl)
    return value.detach(), g


@pytest.mark.parametrize("m, mp", [(1.0, 0.0), (1.5, 0.2)])
@pytest.mark.parametrize("generalized", [False, True], ids=["oh-song", "generalized"])
def test_lifted_matches_pml(m, mp, generalized):
    x, y = clustered(12, 3, 4, spread=0.9, seed=1)
    cls = losses.GeneralizedLiftedStructureLoss if generalized else losses.LiftedStructureLoss
    value, g = _pml(cls(neg_margin=m, pos_margin=mp), x, y)
    ours, (og,) = grads(
        lambda a: vl.lifted_structure_loss(
            a, y, margin=m, pos_margin=mp, generalized=generalized, normalize=True
        ),
        x,
    )
    torch.testing.assert_close(ours, value)
    torch.testing.assert_close(og, g)


def test_lifted_pair_form_by_hand():
    """Oh Song Eq. (4) on 1-D points: pairs (0, 1) and (2, 3), margin 4."""
    x = torch.tensor([[0.0], [0.5], [3.0], [3.5]], dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 1])
    d = (x - x.T).abs()
    total = 0.0
    for i, j in [(0, 1), (2, 3)]:
        negs = [k for k in range(4) if y[k] != y[i]]
        s = sum(torch.exp(4 - d[i, k]) + torch.exp(4 - d[j, k]) for k in negs)
        total = total + F.relu(torch.log(s) + d[i, j]) ** 2
    torch.testing.assert_close(vl.lifted_structure_loss(x, y, margin=4.0), total / (2 * 2))


def test_npair_matches_pml():
    x, y = clustered(14, 4, 5, seed=2)
    y[-1] = 7  # a class with a single sample: no pair
    value, g = _pml(losses.NPairsLoss(), x, y)
    ours, (og,) = grads(lambda a: vl.npair_loss(a, y, normalize=True), x)
    torch.testing.assert_close(ours, value)
    torch.testing.assert_close(og, g)


def test_npair_plain_dot_product():
    x = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, 3.0]], dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 1])
    # anchors x0, x2; positives x1, x3: logits [[2, 0], [0, 3]]
    logits = torch.tensor([[2.0, 0.0], [0.0, 3.0]], dtype=torch.float64)
    expected = F.cross_entropy(logits, torch.tensor([0, 1]))
    torch.testing.assert_close(vl.npair_loss(x, y), expected)


DEGENERATE = {
    "no-positive-pair": (embeddings(5, 4, seed=7), torch.arange(5)),
    "one-class": (embeddings(5, 4, seed=8), torch.zeros(5, dtype=torch.long)),
    "zero-embeddings": (torch.zeros(6, 4, dtype=torch.float64), torch.tensor([0, 0, 1, 1, 2, 2])),
    "single": (embeddings(1, 4, seed=9), torch.tensor([0])),
    "empty": (torch.zeros(0, 4, dtype=torch.float64), torch.zeros(0, dtype=torch.long)),
}
FNS = {
    "lifted": lambda x, y: vl.lifted_structure_loss(x, y, normalize=True),
    "lifted-generalized": lambda x, y: vl.lifted_structure_loss(x, y, generalized=True),
    "npair": lambda x, y: vl.npair_loss(x, y, normalize=True),
}


@pytest.mark.parametrize("case", list(DEGENERATE))
@pytest.mark.parametrize("fn", list(FNS))
@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
def test_degenerate_batches_are_finite(fn, case, dtype):
    x, y = DEGENERATE[case]
    xl = x.to(dtype).requires_grad_()
    assert_finite_graph(FNS[fn](xl, y), xl)


def test_gradcheck():
    x, y = clustered(8, 2, 3, seed=11)
    gradcheck(lambda a: vl.lifted_structure_loss(a, y, margin=2.0), x)
    gradcheck(lambda a: vl.lifted_structure_loss(a, y, generalized=True), x)
    gradcheck(lambda a: vl.npair_loss(a, y), x)
