"""triplet_margin_loss against torch.nn.functional and pytorch-metric-learning.

Convention mapping: ``torch.nn.functional.triplet_margin_loss(a, p, n, margin, p=2, eps, swap)``
computes ``||a - p + eps||`` (eps added to every coordinate of the difference); with ``eps=0``
it is our loss exactly, and with its default ``eps=1e-6`` it differs by O(eps).
``TripletMarginWithDistanceLoss(distance_function=1 - cosine_similarity)`` is our
``metric="cosine"``. PML ``TripletMarginLoss(smooth_loss=True)`` on explicit triplets (an
``indices_tuple``) is our ``soft=True`` (margin inside the softplus; every soft loss is > 0, so
its ``AvgNonZeroReducer`` is the plain mean).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from pytorch_metric_learning import distances, losses

import visionloss as vl
from tests.helpers import assert_finite_graph, grads
from tests.reference import metric as ref

from ._data import embeddings


def _triplets(n=12, dim=5, seed=0):
    a = embeddings(n, dim, seed=seed)
    return (
        a,
        a + 0.7 * embeddings(n, dim, seed=seed + 1),
        a + 0.9 * embeddings(n, dim, seed=seed + 2),
    )


@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("margin", [0.1, 0.5, 2.0])  # torch refuses margin 0
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_matches_torch(swap, margin, reduction):
    args = _triplets()
    value, g = grads(
        lambda a, p, n: vl.triplet_margin_loss(
            a, p, n, margin=margin, swap=swap, reduction=reduction
        ),
        *args,
    )
    expected, rg = grads(
        lambda a, p, n: F.triplet_margin_loss(
            a, p, n, margin=margin, swap=swap, eps=0.0, reduction=reduction
        ),
        *args,
    )
    torch.testing.assert_close(value, expected)
    for ours, theirs in zip(g, rg):
        torch.testing.assert_close(ours, theirs)


def test_close_to_torch_module_with_its_default_eps():
    args = [t.float() for t in _triplets()]
    torch.testing.assert_close(
        vl.TripletMarginLoss()(*args), torch.nn.TripletMarginLoss()(*args), rtol=0, atol=1e-5
    )


@pytest.mark.parametrize("swap", [False, True])
def test_cosine_matches_torch_with_distance_loss(swap):
    args = _triplets(seed=3)
    peer = torch.nn.TripletMarginWithDistanceLoss(
        distance_function=lambda x, y: 1 - F.cosine_similarity(x, y), margin=0.3, swap=swap
    )
    value, g = grads(
        lambda *t: vl.triplet_margin_loss(*t, metric="cosine", margin=0.3, swap=swap), *args
    )
    expected, rg = grads(peer, *args)
    torch.testing.assert_close(value, expected)
    for ours, theirs in zip(g, rg):
        torch.testing.assert_close(ours, theirs)


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("soft", [True, False])
def test_matches_pytorch_metric_learning_on_explicit_triplets(normalize, soft):
    a, p, n = _triplets(seed=6)
    B = a.shape[0]
    idx = (torch.arange(B), torch.arange(B) + B, torch.arange(B) + 2 * B)
    peer = losses.TripletMarginLoss(
        margin=0.4, smooth_loss=soft, distance=distances.LpDistance(normalize_embeddings=normalize)
    )
    ours = vl.triplet_margin_loss(
        a, p, n, margin=0.4, soft=soft, normalize=normalize, reduction="none"
    )
    expected = peer(torch.cat([a, p, n]), None, idx)
    # PML averages over the triplets with a loss > 0 (AvgNonZeroReducer)
    torch.testing.assert_close(ours.sum() / (ours > 0).sum(), expected)


@pytest.mark.parametrize("metric", ["euclidean", "squared_euclidean", "cosine", "dot"])
def test_matches_loop_reference(metric):
    a, p, n = _triplets(6, 3, seed=9)
    expected = torch.stack(
        [
            torch.clamp(
                0.5 + ref.distance(a[i], p[i], metric) - ref.distance(a[i], n[i], metric), min=0
            )
            for i in range(6)
        ]
    )
    torch.testing.assert_close(
        vl.triplet_margin_loss(a, p, n, margin=0.5, metric=metric, reduction="none"), expected
    )


def test_hand_values():
    a = torch.zeros(3, 2)
    p = torch.tensor([[3.0, 4.0], [0.0, 1.0], [0.0, 2.0]])  # D_ap = 5, 1, 2
    n = torch.tensor([[-3.0, 4.0], [0.0, 3.0], [0.0, 2.5]])  # D_an = 5, 3, 2.5; D_pn = 6, 2, 0.5
    torch.testing.assert_close(
        vl.triplet_margin_loss(a, p, n, reduction="none"), torch.tensor([1.0, 0.0, 0.5])
    )
    torch.testing.assert_close(
        vl.triplet_margin_loss(a, p, n, swap=True, reduction="none"), torch.tensor([1.0, 0.0, 2.5])
    )
    soft = vl.triplet_margin_loss(a, p, n, margin=0.0, soft=True, reduction="none")
    torch.testing.assert_close(soft, torch.log1p(torch.exp(torch.tensor([0.0, -2.0, -0.5]))))
    torch.testing.assert_close(
        vl.triplet_margin_loss(a, p, n, metric="squared_euclidean", margin=0.0, reduction="none"),
        torch.tensor([0.0, 0.0, 0.0]),
    )


def test_anchor_equal_to_positive_has_finite_gradient():
    a = embeddings(4, 3, seed=12).requires_grad_(True)
    out = vl.triplet_margin_loss(a, a.detach().clone(), a.detach() + 0.1)
    assert_finite_graph(out, a)


@pytest.mark.parametrize(
    "args, match",
    [
        pytest.param(
            (torch.zeros(3, 2), torch.zeros(3, 2), torch.zeros(4, 2)),
            r"expected negative of shape \(3, 2\) matching anchor, got \(4, 2\)",
            id="negative-shape",
        ),
        pytest.param(
            (torch.zeros(3, 2), torch.zeros(3, 3), torch.zeros(3, 2)),
            r"expected positive of shape \(3, 2\) matching anchor, got \(3, 3\)",
            id="positive-shape",
        ),
    ],
)
def test_bad_shapes(args, match):
    with pytest.raises(ValueError, match="triplet_margin_loss: " + match):
        vl.triplet_margin_loss(*args)


@pytest.mark.parametrize("kwargs", [{"margin": -0.1}, {"metric": "l1"}, {"reduction": "avg"}])
def test_module_validates_its_options(kwargs):
    with pytest.raises(ValueError, match=f"TripletMarginLoss: expected {next(iter(kwargs))}"):
        vl.TripletMarginLoss(**kwargs)
