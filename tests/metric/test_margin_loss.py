"""margin_loss (Wu et al. 2017) against pytorch-metric-learning's MarginLoss and a float64
reference of Wu et al.'s code (``pair_cnt`` denominator, ``beta`` regulariser divided with
the rest).

Convention mapping: PML ``MarginLoss(margin=a, nu=nu, beta=b, triplets_per_anchor="all",
learn_beta=..., num_classes=C)`` with L2-normalised Euclidean distances:
``margin_loss(x, y, beta, margin=a, nu=nu)`` with ``beta`` its ``beta`` tensor. With one
shared beta PML adds ``nu * beta`` without dividing by the count (Wu et al. divide): compared
with ``nu = 0`` there, and with ``nu > 0`` against the reference.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from pytorch_metric_learning import losses

import visionloss as vl
from tests.helpers import assert_finite_graph, gradcheck, grads

from ._data import clustered, embeddings


def _reference(x, y, beta, alpha, nu):
    """Every triplet, one at a time."""
    u = x / x.norm(dim=1, keepdim=True)
    total, count = 0.0, 0
    for a in range(len(x)):
        b = beta[y[a]] if len(beta) > 1 else beta[0]
        for p in range(len(x)):
            if p == a or y[p] != y[a]:
                continue
            for n in range(len(x)):
                if y[n] == y[a]:
                    continue
                lp = F.relu((u[a] - u[p]).norm() - b + alpha)
                ln = F.relu(b - (u[a] - u[n]).norm() + alpha)
                total = total + lp + ln + nu * b
                count += int(lp > 0) + int(ln > 0)
    return total / count


@pytest.mark.parametrize("per_class", [False, True], ids=["shared-beta", "per-class-beta"])
def test_matches_pml(per_class):
    x, y = clustered(12, 3, 4, spread=0.6, seed=1)
    nu = 0.1 if per_class else 0.0
    pml = losses.MarginLoss(
        margin=0.2, nu=nu, beta=1.0, learn_beta=True, num_classes=3 if per_class else None
    ).double()
    beta = torch.tensor([0.9, 1.0, 1.1] if per_class else [1.0], dtype=torch.float64)
    pml.beta.data = beta.clone()
    xl = x.clone().requires_grad_()
    value = pml(xl, y)
    gx, gb = torch.autograd.grad(value, [xl, pml.beta])
    ours, (ox, ob) = grads(lambda a, b: vl.margin_loss(a, y, b, nu=nu), x, beta)
    torch.testing.assert_close(ours, value)
    torch.testing.assert_close(ox, gx)
    torch.testing.assert_close(ob, gb)


@pytest.mark.parametrize("nu", [0.0, 0.3])
def test_matches_triplet_loop_reference(nu):
    x, y = clustered(9, 3, 3, spread=0.8, seed=2)
    beta = torch.tensor([1.1], dtype=torch.float64)
    torch.testing.assert_close(
        vl.margin_loss(x, y, beta, margin=0.3, nu=nu), _reference(x, y, beta, 0.3, nu)
    )


def test_distance_weighted_sampling_draws_negatives_by_inverse_density():
    x, y = clustered(16, 4, 8, spread=1.0, seed=3)
    u = x / x.norm(dim=1, keepdim=True)
    D = torch.cdist(u, u)
    neg = y[:, None] != y[None, :]
    w = vl.distance_weights(D, neg, 8, 0.5, 1.4)
    assert torch.all(w[~neg] == 0) and torch.all(w[D >= 1.4] == 0)
    rows = w.sum(1)
    assert torch.allclose(rows[rows > 0], torch.ones_like(rows[rows > 0]))
    i, j, k = 0, *[int(t) for t in torch.nonzero(w[0] > 0)[:2, 0]]
    d1, d2 = D[i, j].clamp(min=0.5), D[i, k].clamp(min=0.5)

    def log_q(d):
        return 6 * torch.log(d) + 2.5 * torch.log(1 - d * d / 4)  # n = 8

    torch.testing.assert_close(torch.log(w[i, j] / w[i, k]), log_q(d2) - log_q(d1))
    torch.manual_seed(0)
    value = vl.margin_loss(x, y, torch.tensor([1.0], dtype=torch.float64), sampling="distance")
    assert torch.isfinite(value) and value > 0


DEGENERATE = {
    "no-positive-pair": (embeddings(5, 4, seed=7), torch.arange(5)),
    "one-class": (embeddings(5, 4, seed=8), torch.zeros(5, dtype=torch.long)),
    "zero-embeddings": (torch.zeros(6, 4, dtype=torch.float64), torch.tensor([0, 0, 1, 1, 2, 2])),
    "empty": (torch.zeros(0, 4, dtype=torch.float64), torch.zeros(0, dtype=torch.long)),
}


@pytest.mark.parametrize("case", list(DEGENERATE))
@pytest.mark.parametrize("sampling", ["all", "distance"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
def test_degenerate_finite(case, sampling, dtype):
    x, y = DEGENERATE[case]
    xl = x.to(dtype).requires_grad_()
    beta = torch.full((6,), 1.2, dtype=dtype, requires_grad=True)
    assert_finite_graph(vl.margin_loss(xl, y, beta, sampling=sampling), xl, beta)


def test_gradcheck_and_module():
    x, y = clustered(8, 2, 3, seed=4)
    gradcheck(lambda a, b: vl.margin_loss(a, y, b, nu=0.1), x, torch.tensor([1.0, 1.3]))
    loss = vl.MarginLoss(num_classes=2)
    value = loss(x.float(), y)
    value.backward()
    assert loss.beta.shape == (2,) and loss.beta.grad is not None
    fixed = vl.MarginLoss(learn_beta=False)
    assert "beta" in dict(fixed.named_buffers()) and not list(fixed.parameters())
    assert fixed.beta.shape == (1,)
