"""proxy_anchor_loss and proxy_nca_loss against pytorch-metric-learning and the papers.

Convention mapping:

* PML ``ProxyAnchorLoss(num_classes, embedding_size, margin, alpha)``: ``proxies`` of shape
  ``(C, D)`` as ours, cosine similarity, ``DivisorReducer``: the positive sum over the
  proxies present in the batch divided by their number, the negative sum by ``C``. Ours:
  ``proxy_anchor_loss(x, y, loss.proxies, margin=margin, alpha=alpha)``.
* PML ``ProxyNCALoss(num_classes, embedding_size, softmax_scale=k)``: squared Euclidean
  distance of L2-normalised embeddings and proxies, softmax over every proxy (the positive
  included: ProxyNCA++'s form), mean over the batch. Ours: ``temperature=1/k``. The original
  ProxyNCA leaves the positive out of the denominator: ``exclude_positive=True``, checked
  against a float64 reference of its Eq. (8).
"""

from __future__ import annotations

import pytest
import torch
from pytorch_metric_learning import losses

import visionloss as vl
from tests.helpers import assert_finite_graph, gradcheck, grads
from tests.reference import metric_breadth as ref

from ._data import clustered, embeddings


def _pml(loss, x, y, proxies):
    loss.proxies.data = proxies.detach().clone()
    xl = x.detach().clone().requires_grad_()
    value = loss(xl, y)
    gx, gp = torch.autograd.grad(value, [xl, loss.proxies])
    return value.detach(), gx, gp


def _data(n=12, c=4, d=5, seed=0):
    x, y = clustered(n, c, d, spread=0.8, seed=seed)
    return x, y, embeddings(c, d, seed=seed + 3)


@pytest.mark.parametrize("margin, alpha", [(0.1, 32.0), (0.3, 4.0)])
def test_proxy_anchor_matches_pml_and_paper(margin, alpha):
    x, y, p = _data()
    y[y == 3] = 2  # proxy 3 has no positive in the batch
    value, gx, gp = _pml(losses.ProxyAnchorLoss(4, 5, margin=margin, alpha=alpha).double(), x, y, p)
    ours, (ox, op) = grads(
        lambda a, b: vl.proxy_anchor_loss(a, y, b, margin=margin, alpha=alpha), x, p
    )
    torch.testing.assert_close(ours, value)
    torch.testing.assert_close(ox, gx)
    torch.testing.assert_close(op, gp)
    torch.testing.assert_close(ours, ref.proxy_anchor(x, y, p, margin, alpha))


def test_proxy_anchor_none_is_per_proxy_terms_whose_mean_is_the_loss():
    x, y, p = _data(seed=4)
    per = vl.proxy_anchor_loss(x, y, p, reduction="none")
    assert per.shape == (4,)
    torch.testing.assert_close(per.mean(), vl.proxy_anchor_loss(x, y, p))
    torch.testing.assert_close(per.sum(), vl.proxy_anchor_loss(x, y, p, reduction="sum"))


@pytest.mark.parametrize("scale", [1.0, 9.0])
def test_proxy_nca_matches_pml(scale):
    x, y, p = _data(seed=6)
    value, gx, gp = _pml(losses.ProxyNCALoss(4, 5, softmax_scale=scale).double(), x, y, p)
    ours, (ox, op) = grads(lambda a, b: vl.proxy_nca_loss(a, y, b, temperature=1 / scale), x, p)
    torch.testing.assert_close(ours, value)
    torch.testing.assert_close(ox, gx)
    torch.testing.assert_close(op, gp)
    torch.testing.assert_close(ours, ref.proxy_nca(x, y, p, 1 / scale, exclude=False))


def test_proxy_nca_original_form_excludes_the_positive():
    x, y, p = _data(seed=7)
    value, (gx, gp) = grads(
        lambda a, b: vl.proxy_nca_loss(a, y, b, temperature=0.5, exclude_positive=True), x, p
    )
    expected, (rx, rp) = grads(lambda a, b: ref.proxy_nca(a, y, b, 0.5, exclude=True), x, p)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(gx, rx)
    torch.testing.assert_close(gp, rp)


def test_proxy_nca_worked_example():
    """x on its proxy, the other proxy orthogonal (distance 2): -log(1 / (1 + e^-2))."""
    value = vl.proxy_nca_loss(torch.eye(2), torch.tensor([0, 1]), torch.eye(2))
    torch.testing.assert_close(value, torch.log1p(torch.exp(torch.tensor(-2.0))))


def _degenerate():
    p = embeddings(3, 4, seed=8)
    y = torch.tensor([0, 1, 2, 0])
    return {
        "on-proxy": (p[y].clone(), y, p),
        "opposite": (-p[y].clone(), y, p),
        "zero": (torch.zeros(4, 4, dtype=torch.float64), y, p),
        "one-class": (embeddings(4, 4, seed=9), torch.zeros(4, dtype=torch.long), p[:1]),
        "empty": (torch.zeros(0, 4, dtype=torch.float64), torch.zeros(0, dtype=torch.long), p),
    }


PROXY_LOSSES = [
    vl.proxy_anchor_loss,
    vl.proxy_nca_loss,
    lambda x, y, p: vl.proxy_nca_loss(x, y, p, exclude_positive=True),
]


@pytest.mark.parametrize("case", list(_degenerate()))
@pytest.mark.parametrize("fn", PROXY_LOSSES, ids=["anchor", "nca", "nca-exclude"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
def test_degenerate_inputs_finite(fn, case, dtype):
    x, y, p = _degenerate()[case]
    xl, pl = x.to(dtype).requires_grad_(), p.to(dtype).requires_grad_()
    assert_finite_graph(fn(xl, y, pl), xl, pl)


def test_gradcheck():
    x, y, p = _data(n=6, c=3, d=3, seed=10)
    gradcheck(lambda a, b: vl.proxy_anchor_loss(a, y, b, alpha=4.0), x, p)
    gradcheck(lambda a, b: vl.proxy_nca_loss(a, y, b, exclude_positive=True), x, p)


@pytest.mark.parametrize("module", [vl.ProxyAnchorLoss, vl.ProxyNCALoss], ids=lambda m: m.__name__)
def test_module_owns_trainable_proxies(module):
    torch.manual_seed(0)
    loss = module(4, 5)
    x, y, _ = _data()
    value = loss(x.float(), y)
    value.backward()
    assert loss.proxies.grad is not None and loss.proxies.grad.abs().sum() > 0
    copy = module(4, 5)
    copy.load_state_dict(loss.state_dict())
    torch.testing.assert_close(copy(x.float(), y), value.detach())
