"""adaface_loss against a float64 port of the authors' head.py (pytorch-metric-learning has
no AdaFace), the Module's running feature-norm statistics, and the degenerate inputs."""

from __future__ import annotations

import math

import pytest
import torch

import visionloss as vl
from tests.helpers import assert_finite_graph, gradcheck, grads
from tests.reference import metric_breadth as ref

from ._data import embeddings, labels


def _data(seed=0):
    x = embeddings(10, 5, seed=seed) * torch.linspace(0.2, 3.0, 10, dtype=torch.float64)[:, None]
    return x, labels(10, 4, seed=seed + 1), embeddings(4, 5, seed=seed + 2)


@pytest.mark.parametrize(
    "mu, sigma, m, h, s",
    [(1.5, 0.8, 0.4, 0.333, 64.0), (2.0, 0.3, 0.5, 1.0, 8.0), (20.0, 100.0, 0.4, 0.333, 16.0)],
)
def test_matches_authors_code(mu, sigma, m, h, s):
    x, y, w = _data()
    x[:2] = -w[y[:2]] * 2.0  # angles near pi: the clipped branch
    stats = (torch.tensor([mu], dtype=torch.float64), torch.tensor([sigma], dtype=torch.float64))
    value, (gx, gw) = grads(
        lambda a, b: vl.adaface_loss(a, y, b, *stats, margin=m, h=h, scale=s), x, w
    )
    expected, (rx, rw) = grads(lambda a, b: ref.adaface(a, y, b, mu, sigma, m, h, s), x, w)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(gx, rx)
    torch.testing.assert_close(gw, rw)


def test_low_and_high_norm_ends_are_arcface_and_cosface_like():
    """z = -1 (low norm): angular margin +m and additive 0 (ArcFace-like without its
    fallback); z = +1: angle -m, additive 2m."""
    x, y, w = _data(seed=3)
    mu = torch.tensor([1e3], dtype=torch.float64)  # every norm far below: z = -1
    sigma = torch.tensor([1.0], dtype=torch.float64)
    low = vl.adaface_loss(x, y, w, mu, sigma, margin=0.3, scale=4.0, reduction="none")
    c = torch.nn.functional.normalize(x, dim=1) @ torch.nn.functional.normalize(w, dim=1).T
    c = c.clamp(-1 + 1e-3, 1 - 1e-3)
    theta = torch.acos(c[torch.arange(10), y]).clamp(1e-3, math.pi - 1e-3 - 0.3)
    logits = c.clone()
    logits[torch.arange(10), y] = torch.cos(theta + 0.3)
    expected = torch.nn.functional.cross_entropy(4.0 * logits, y, reduction="none")
    torch.testing.assert_close(low, expected)


def test_module_updates_running_statistics_in_training_only():
    torch.manual_seed(0)
    loss = vl.AdaFaceLoss(4, 5)
    x, y, _ = _data()
    x = x.float()
    norms = x.norm(dim=1)
    loss(x, y)
    torch.testing.assert_close(loss.norm_mean[0], 0.99 * 20 + 0.01 * norms.mean())
    torch.testing.assert_close(loss.norm_std[0], 0.99 * 100 + 0.01 * norms.std())
    before = loss.norm_mean.clone()
    loss.eval()
    loss(x, y)
    assert torch.equal(loss.norm_mean, before)
    copy = vl.AdaFaceLoss(4, 5)
    copy.load_state_dict(loss.state_dict())
    torch.testing.assert_close(copy.norm_std, loss.norm_std)


@pytest.mark.parametrize("case", ["on-weight", "opposite", "zero", "one-class"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
def test_degenerate_inputs_finite(case, dtype):
    w = embeddings(3, 4, seed=7)
    y = torch.tensor([0, 1, 2, 0])
    x = {
        "on-weight": w[y].clone(),
        "opposite": -w[y].clone(),
        "zero": torch.zeros(4, 4, dtype=torch.float64),
        "one-class": embeddings(4, 4, seed=8),
    }[case]
    if case == "one-class":
        y, w = torch.zeros(4, dtype=torch.long), w[:1]
    xl, wl = x.to(dtype).requires_grad_(), w.to(dtype).requires_grad_()
    stats = (torch.tensor([1.0], dtype=dtype), torch.tensor([0.5], dtype=dtype))
    assert_finite_graph(vl.adaface_loss(xl, y, wl, *stats), xl, wl)


def test_gradcheck_of_the_weights():
    """The feature norm enters the margin detached (as the authors' code): the embeddings'
    gradient is not the value's derivative, the weights' is."""
    x, y, w = _data(seed=5)
    stats = (torch.tensor([1.2], dtype=torch.float64), torch.tensor([0.7], dtype=torch.float64))
    gradcheck(lambda b: vl.adaface_loss(x, y, b, *stats, scale=2.0), w)
