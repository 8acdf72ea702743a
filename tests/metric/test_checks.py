"""NaN inputs on every option path of the metric family: a NaN embedding is never taken for a
zero vector (with ``normalize`` or a cosine metric) and never passed over by a miner, so the loss
is NaN, in its value and in its gradient (the bad-input sweep covers the examples' default
options only)."""

from __future__ import annotations

import math

import pytest
import torch

import visionloss as vl

from ._data import clustered, embeddings

METRICS = ["euclidean", "squared_euclidean", "cosine", "dot"]


def _with_nan(x: torch.Tensor, row: int, col: int = 0) -> torch.Tensor:
    y = x.clone()
    y[row, col] = math.nan
    return y


def _assert_nan_loss_and_gradient(fn, *inputs: torch.Tensor) -> None:
    leaves = [x.detach().clone().requires_grad_(x.is_floating_point()) for x in inputs]
    value = fn(*leaves)
    assert not torch.isfinite(value).all(), value
    grads = torch.autograd.grad(value.sum(), [x for x in leaves if x.requires_grad])
    assert any(not torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("mining", ["hard", "semihard", "all"])
@pytest.mark.parametrize("average", ["valid", "nonzero"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_batch_triplet_nan_embedding(metric, normalize, mining, average, reduction):
    x, y = clustered(10, 3, 4, seed=4)
    opts = dict(metric=metric, normalize=normalize, mining=mining, average=average)
    _assert_nan_loss_and_gradient(
        lambda a: vl.batch_triplet_loss(a, y, reduction=reduction, **opts), _with_nan(x, 3)
    )


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("mining", ["hard", "semihard", "all"])
@pytest.mark.parametrize("soft", [False, True])
def test_batch_triplet_nan_in_a_left_out_anchor(metric, mining, soft):
    """The NaN sample is the only one of its class: it is no anchor, only a negative of the
    others, which the semi-hard and batch-all miners would pass over (a NaN distance is never
    the closest farther negative, and sorts after every real one)."""
    x = embeddings(7, 4, seed=5)
    y = torch.tensor([0, 0, 1, 1, 2, 2, 3])
    opts = dict(metric=metric, mining=mining, soft=soft)
    _assert_nan_loss_and_gradient(lambda a: vl.batch_triplet_loss(a, y, **opts), _with_nan(x, 6))
    per_anchor = vl.batch_triplet_loss(_with_nan(x, 6), y, reduction="none", **opts)
    assert not torch.isfinite(per_anchor).all()
    assert torch.isfinite(vl.batch_triplet_loss(x, y, **opts))


@pytest.mark.parametrize("metric", ["euclidean", "squared_euclidean", "cosine"])
@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("average", ["pairs", "separate", "nonzero"])
def test_contrastive_batch_form_nan_embedding(metric, normalize, average):
    x, y = clustered(8, 3, 4, seed=6)
    opts = dict(metric=metric, normalize=normalize, average=average)
    _assert_nan_loss_and_gradient(lambda a: vl.contrastive_loss(a, y, **opts), _with_nan(x, 2))


@pytest.mark.parametrize("metric", ["euclidean", "squared_euclidean", "cosine"])
@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("average", ["pairs", "separate", "nonzero"])
@pytest.mark.parametrize("which", [0, 1])
@pytest.mark.parametrize("similar", [True, False], ids=["similar-pair", "dissimilar-pair"])
def test_contrastive_pair_form_nan_embedding(metric, normalize, average, which, similar):
    x1, x2 = embeddings(6, 3, seed=7), embeddings(6, 3, seed=8)
    is_similar = torch.tensor([True, False, True, False, True, False])
    row = 0 if similar else 1
    args = [x1, x2]
    args[which] = _with_nan(args[which], row)
    opts = dict(metric=metric, normalize=normalize, average=average)
    _assert_nan_loss_and_gradient(lambda a, b: vl.contrastive_loss(a, b, is_similar, **opts), *args)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("which", [0, 1, 2], ids=["anchor", "positive", "negative"])
def test_triplet_margin_nan_embedding(metric, normalize, swap, which):
    a, p, n = (embeddings(5, 4, seed=s) for s in (9, 10, 11))
    args = [a, p, n]
    args[which] = _with_nan(args[which], 1)
    opts = dict(metric=metric, normalize=normalize, swap=swap, margin=10.0)  # every hinge open
    _assert_nan_loss_and_gradient(lambda *t: vl.triplet_margin_loss(*t, **opts), *args)


@pytest.mark.parametrize("which", ["embeddings", "centers"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_center_nan_input(which, reduction):
    x, y = clustered(8, 3, 4, seed=12)
    c = embeddings(3, 4, seed=13)
    if which == "embeddings":
        x = _with_nan(x, 0)
    else:
        c = _with_nan(c, int(y[0]))
    _assert_nan_loss_and_gradient(lambda a, b: vl.center_loss(a, y, b, reduction=reduction), x, c)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("normalize", [False, True])
def test_pairwise_distance_nan_row_is_nan(metric, normalize):
    x = _with_nan(embeddings(4, 3, seed=14), 2)
    d = vl.pairwise_distance(x, metric=metric, normalize=normalize)
    assert torch.isnan(d[2, [0, 1, 3]]).all() and torch.isnan(d[[0, 1, 3], 2]).all()
