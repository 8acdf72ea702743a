"""contrastive_loss against the Hadsell loop reference, pytorch-metric-learning and torch.

Convention mapping (also in the docstring):

* PML ``ContrastiveLoss(pos_margin=a, neg_margin=b)``: L2-normalises the embeddings
  (``LpDistance(normalize_embeddings=True)``), does not square the hinges, has no 1/2, takes
  every ordered pair of the batch and averages positive and negative pairs separately over the
  pairs with a loss > 0 (``AvgNonZeroReducer``), then adds the two means. Ours:
  ``normalize=True, power=1, half=False, average="nonzero", pos_margin=a, margin=b``.
* ``torch.nn.CosineEmbeddingLoss(margin=c)`` with targets +1 / -1: ``1 - cos`` for similar
  pairs and ``max(0, cos - c)`` for dissimilar ones. Ours: pair form with ``metric="cosine",
  power=1, half=False, margin=1 - c``.
* TF-Addons ``contrastive_loss(y_true, y_pred=D, margin)``: ``y D^2 + (1 - y) max(0, m - D)^2``
  (1 = similar), mean over pairs: ours with ``half=False`` (against a port of
  tensorflow_addons/losses/contrastive.py lines 65-69).
* Caffe ``ContrastiveLoss``: the sum of ``d^2`` (similar) and ``max(m - d, 0)^2`` (dissimilar)
  over the pairs, divided by their number and by 2: our default; ``legacy_version: true``
  (``max(m - d^2, 0)``): ``metric="squared_euclidean", power=1`` (against a port of
  contrastive_loss_layer.cpp lines 44-60).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from pytorch_metric_learning import distances, losses

import visionloss as vl
from tests.helpers import assert_finite_graph, grads
from tests.reference import metric as ref

from ._data import clustered, embeddings

VARIANTS = [
    pytest.param({}, id="hadsell"),
    pytest.param({"half": False}, id="no-half"),
    pytest.param({"metric": "squared_euclidean", "power": 1}, id="squared-distance"),
    pytest.param({"average": "separate"}, id="separate"),
    pytest.param({"average": "nonzero", "power": 1, "pos_margin": 0.3}, id="nonzero"),
    pytest.param({"metric": "cosine", "margin": 0.8}, id="cosine"),
]


@pytest.mark.parametrize("opts", VARIANTS)
def test_batch_form_matches_loop_reference(opts):
    x, y = clustered(9, 3, 3, spread=0.8, seed=4)
    opts = {"margin": 1.5, **opts}
    value, (g,) = grads(lambda a: vl.contrastive_loss(a, y, **opts), x)
    expected, (rg,) = grads(lambda a: ref.contrastive_batch(a, y, **opts), x)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(g, rg)


@pytest.mark.parametrize("opts", VARIANTS)
def test_pair_form_matches_loop_reference(opts):
    x1, x2 = embeddings(8, 3, seed=5), embeddings(8, 3, seed=6)
    sim = torch.tensor([True, False, True, True, False, False, True, False])
    opts = {"margin": 2.5, **opts}
    metric, average = opts.get("metric", "euclidean"), opts.get("average", "pairs")
    term_opts = {k: opts[k] for k in ("pos_margin", "power", "half") if k in opts}

    def loop(a, b):
        terms = [
            ref.contrastive_pair(
                ref.distance(a[i], b[i], metric), bool(sim[i]), opts["margin"], **term_opts
            )
            for i in range(8)
        ]
        pos = [t for t, s in zip(terms, sim) if s]
        neg = [t for t, s in zip(terms, sim) if not s]
        if average == "pairs":
            return torch.stack(terms).mean()
        if average == "nonzero":
            pos, neg = [t for t in pos if t > 0], [t for t in neg if t > 0]
        return torch.stack(pos).mean() + torch.stack(neg).mean()

    value, (g1, g2) = grads(lambda a, b: vl.contrastive_loss(a, b, sim, **opts), x1, x2)
    expected, (r1, r2) = grads(loop, x1, x2)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(g1, r1)
    torch.testing.assert_close(g2, r2)


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("pos_margin, neg_margin", [(0.0, 1.0), (0.2, 1.4)])
def test_matches_pytorch_metric_learning(normalize, pos_margin, neg_margin):
    x, y = clustered(16, 4, 5, seed=7)
    peer = losses.ContrastiveLoss(
        pos_margin=pos_margin,
        neg_margin=neg_margin,
        distance=distances.LpDistance(normalize_embeddings=normalize),
    )
    opts = dict(
        normalize=normalize,
        power=1,
        half=False,
        average="nonzero",
        pos_margin=pos_margin,
        margin=neg_margin,
    )
    value, (g,) = grads(lambda a: vl.contrastive_loss(a, y, **opts), x)
    expected, (rg,) = grads(lambda a: peer(a, y), x)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(g, rg)


@pytest.mark.parametrize("c", [0.0, 0.3, -0.2])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_pair_form_matches_torch_cosine_embedding_loss(c, reduction):
    x1, x2 = embeddings(10, 4, seed=8), embeddings(10, 4, seed=9)
    sim = torch.arange(10) % 3 != 0
    target = sim.double() * 2 - 1
    opts = dict(metric="cosine", power=1, half=False, margin=1 - c, reduction=reduction)
    value, (g1, g2) = grads(lambda a, b: vl.contrastive_loss(a, b, sim, **opts), x1, x2)
    expected, (r1, r2) = grads(
        lambda a, b: F.cosine_embedding_loss(a, b, target, margin=c, reduction=reduction), x1, x2
    )
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(g1, r1)
    torch.testing.assert_close(g2, r2)


@pytest.mark.parametrize("margin", [0.5, 1.0, 2.0])
def test_pair_form_matches_tf_addons_contrastive_loss(margin):
    x1, x2 = embeddings(10, 4, seed=8), embeddings(10, 4, seed=9)
    sim = torch.arange(10) % 3 != 0
    opts = dict(half=False, margin=margin, reduction="none")
    value, (g1, g2) = grads(lambda a, b: vl.contrastive_loss(a, b, sim, **opts), x1, x2)
    expected, (r1, r2) = grads(
        lambda a, b: ref.tfa_contrastive_loss(sim.long(), (a - b).norm(dim=1), margin), x1, x2
    )
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(g1, r1)
    torch.testing.assert_close(g2, r2)


@pytest.mark.parametrize(
    "legacy, opts",
    [
        pytest.param(False, {}, id="hadsell"),
        pytest.param(True, {"metric": "squared_euclidean", "power": 1}, id="legacy_version"),
    ],
)
@pytest.mark.parametrize("margin", [1.0, 4.0])
def test_pair_form_matches_caffe_contrastive_loss_layer(legacy, opts, margin):
    x1, x2 = embeddings(10, 3, seed=10), embeddings(10, 3, seed=11)
    sim = torch.arange(10) % 3 == 0
    value, (g1, g2) = grads(
        lambda a, b: vl.contrastive_loss(a, b, sim, margin=margin, **opts), x1, x2
    )
    expected, (r1, r2) = grads(
        lambda a, b: ref.caffe_contrastive_loss(a, b, sim, margin, legacy_version=legacy), x1, x2
    )
    assert 0 < float(expected)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(g1, r1)
    torch.testing.assert_close(g2, r2)


def test_hand_values_batch_form():
    # points 0, 1 (class 0) and 3 (class 1) on a line, margin 2.5:
    # similar pair D=1: 1/2; dissimilar D=3: 0; dissimilar D=2: 1/2 (2.5 - 2)^2 = 1/8
    x = torch.tensor([[0.0], [1.0], [3.0]])
    y = torch.tensor([0, 0, 1])
    expected = torch.tensor([[0.0, 0.5, 0.0], [0.5, 0.0, 0.125], [0.0, 0.125, 0.0]])
    torch.testing.assert_close(vl.contrastive_loss(x, y, margin=2.5, reduction="none"), expected)
    torch.testing.assert_close(vl.contrastive_loss(x, y, margin=2.5), torch.tensor(1.25 / 6))
    torch.testing.assert_close(
        vl.contrastive_loss(x, y, margin=2.5, average="separate"), torch.tensor(0.5 + 0.25 / 4)
    )
    torch.testing.assert_close(
        vl.contrastive_loss(x, y, margin=2.5, average="nonzero"), torch.tensor(0.5 + 0.125)
    )
    torch.testing.assert_close(
        vl.contrastive_loss(x, y, margin=2.5, half=False, reduction="sum"), torch.tensor(2.5)
    )


def test_hand_values_pair_form():
    x1 = torch.zeros(3, 2)
    x2 = torch.tensor([[0.6, 0.8], [0.3, 0.4], [3.0, 4.0]])  # distances 1, 0.5, 5
    sim = torch.tensor([True, False, False])
    torch.testing.assert_close(
        vl.contrastive_loss(x1, x2, sim, reduction="none"), torch.tensor([0.5, 0.125, 0.0])
    )
    # the squared-distance (Caffe legacy) variant: D^2 and max(0, m - D^2)
    torch.testing.assert_close(
        vl.contrastive_loss(
            x1, x2, sim, metric="squared_euclidean", power=1, half=False, reduction="none"
        ),
        torch.tensor([1.0, 0.75, 0.0]),
    )


def test_one_class_only_has_only_similar_pairs():
    x = embeddings(5, 3, seed=10).requires_grad_(True)
    y = torch.zeros(5, dtype=torch.long)
    out = vl.contrastive_loss(x, y, average="separate")
    d = vl.pairwise_distance(x.detach())
    torch.testing.assert_close(out, 0.5 * d.square().sum() / 20)
    assert_finite_graph(out, x)


def test_every_class_a_singleton_has_only_dissimilar_pairs():
    x = embeddings(5, 3, seed=11).requires_grad_(True)
    y = torch.arange(5)
    out = vl.contrastive_loss(x, y, margin=3.0, average="separate")
    d = vl.pairwise_distance(x.detach())
    off = ~torch.eye(5, dtype=torch.bool)
    torch.testing.assert_close(out, 0.5 * (3.0 - d[off]).clamp_min(0).square().mean())
    assert_finite_graph(out, x)


def test_no_pair_with_a_positive_loss_is_zero_with_graph():
    x = torch.tensor([[0.0], [10.0]], requires_grad=True)
    for average in ("pairs", "separate", "nonzero"):
        out = vl.contrastive_loss(x, torch.tensor([0, 1]), average=average)
        assert out.item() == 0.0
        assert_finite_graph(out, x)


def test_single_sample_is_zero_with_graph():
    x = torch.ones(1, 3, requires_grad=True)
    out = vl.contrastive_loss(x, torch.tensor([2]))
    assert out.item() == 0.0
    assert_finite_graph(out, x)


def test_labels_or_is_similar_conventions_are_not_confused():
    x1, x2 = embeddings(4, 3, seed=12), embeddings(4, 3, seed=13)
    with pytest.raises(
        TypeError, match="expected is_similar to be a bool tensor .* got torch.int64"
    ):
        vl.contrastive_loss(x1, x2, torch.tensor([1, 0, 1, 0]))
    with pytest.raises(TypeError, match="expected labels to be an integer tensor .* pair form"):
        vl.contrastive_loss(x1, x2)


@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        pytest.param(
            (embeddings(4, 3), embeddings(4, 2), torch.ones(4, dtype=torch.bool)),
            {},
            ValueError,
            r"expected x2 of shape \(4, 3\) matching x1, got \(4, 2\)",
            id="x2-shape",
        ),
        pytest.param(
            (embeddings(4, 3), embeddings(4, 3), torch.ones(3, dtype=torch.bool)),
            {},
            ValueError,
            r"expected is_similar of shape \(4,\) matching x1 \(4, 3\), "
            r"got \(3,\)",
            id="is_similar-shape",
        ),
        pytest.param(
            (embeddings(4, 3), embeddings(4, 3), torch.ones(4, dtype=torch.bool)),
            {"gather": "global"},
            ValueError,
            "needs the batch form",
            id="pair-gather",
        ),
        pytest.param(
            (embeddings(4, 3), torch.arange(4)),
            {"metric": "dot"},
            ValueError,
            "expected metric to be one of 'euclidean', 'squared_euclidean', 'cosine'",
            id="dot",
        ),
        pytest.param(
            (embeddings(4, 3), torch.arange(4)),
            {"power": 3},
            ValueError,
            "expected power to be one of 1, 2, got 3",
            id="power",
        ),
        pytest.param(
            (embeddings(4, 3), torch.arange(4)),
            {"average": "mean"},
            ValueError,
            "expected average to be one of 'pairs', 'separate', 'nonzero'",
            id="average",
        ),
        pytest.param(
            (embeddings(4, 3), torch.arange(4)),
            {"margin": -1.0},
            ValueError,
            "expected margin >= 0, got -1.0",
            id="margin",
        ),
        pytest.param(
            (embeddings(4, 3), torch.arange(4)),
            {"gather": "all"},
            ValueError,
            "expected gather to be one of 'none', 'global', 'local'",
            id="gather",
        ),
    ],
)
def test_bad_inputs(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        vl.contrastive_loss(*args, **kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"power": 0},
        {"average": "mean"},
        {"margin": -1.0},
        {"metric": "dot"},
        {"gather": "all"},
        {"reduction": "avg"},
    ],
)
def test_module_validates_its_options(kwargs):
    with pytest.raises(ValueError, match=f"ContrastiveLoss: expected {next(iter(kwargs))}"):
        vl.ContrastiveLoss(**kwargs)
