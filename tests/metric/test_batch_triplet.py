"""batch_triplet_loss and mine_triplets against float64 loop references, a line-by-line port of
TF-Addons' semi-hard loss, and pytorch-metric-learning.

Convention mapping:

* PML ``TripletMarginLoss(margin=m)`` with ``BatchHardMiner()``: ours with ``mining="hard",
  margin=m, normalize=True, average="nonzero"``. PML L2-normalises by default
  (``LpDistance(normalize_embeddings=True)``), does not square distances and averages over the
  triplets with a loss > 0 (``AvgNonZeroReducer``); Hermans' batch-hard (our default for
  ``"hard"``) averages over every anchor that has a triplet (``average="valid"``).
* PML ``TripletMarginLoss(margin=m)`` with ``TripletMarginMiner(margin=m, type_of_triplets=
  "all")`` (or no miner): ours with ``mining="all", normalize=True`` (Moindrot's batch-all
  also averages over the triplets with a positive loss). ``smooth_loss=True``: ``soft=True``.
* PML's ``type_of_triplets="semihard"`` is *not* FaceNet's semi-hard: it keeps every triplet
  with ``0 < D_an - D_ap <= m``; FaceNet / TF-Addons keep one negative per anchor-positive
  pair (ours). The PML set is recovered from ``mine_triplets(x, y, "all", margin=m)``.
* TF-Addons ``triplet_semihard_loss(y, x, margin, distance_metric)`` (v0.11 and later): its
  default ``"L2"`` is the plain Euclidean distance (tensorflow_addons/losses/triplet.py lines 75
  and 124-127; before v0.11 the same string meant the squared distance), so it is ours with
  ``mining="semihard", margin=margin`` and the default ``metric="euclidean"``; ``"squared-L2"``
  (lines 129-132) is ``metric="squared_euclidean"`` and ``"angular"`` (lines 134-135)
  ``metric="cosine"``; on batches where every anchor with a positive also has a negative
  (TF-Addons gives such an anchor a garbage "negative"; we leave it out).
* TF-Addons ``triplet_hard_loss(y, x, margin, soft)``: ``mining="hard"`` (average over anchors)
  on batches where every anchor has a positive and a negative (it averages over every
  anchor); its ``soft=True`` has no margin: ours with ``soft=True, margin=0``.
"""

from __future__ import annotations

import pytest
import torch
from pytorch_metric_learning import distances, losses, miners
from torch.utils._python_dispatch import TorchDispatchMode

import visionloss as vl
from tests.helpers import assert_finite_graph, grads
from tests.reference import metric as ref
from visionloss.metric import _mining

from ._data import clustered, embeddings

REFS = {"hard": ref.batch_hard, "semihard": ref.batch_semihard, "all": ref.batch_all}
METRICS = ["euclidean", "squared_euclidean", "cosine", "dot"]


@pytest.mark.parametrize("mining", ["hard", "semihard", "all"])
@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("average", ["nonzero", "valid"])
def test_matches_loop_reference(mining, metric, soft, average):
    x, y = clustered(11, 3, 3, spread=0.9, seed=5)
    margin = 0.0 if soft else {"dot": 2.0, "cosine": 0.3}.get(metric, 1.0)
    opts = dict(margin=margin, metric=metric, soft=soft, average=average)
    value, (g,) = grads(lambda a: vl.batch_triplet_loss(a, y, mining=mining, **opts), x)
    expected, (rg,) = grads(lambda a: REFS[mining](a, y, **opts), x)
    assert value > 0
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(g, rg)


@pytest.mark.parametrize("mining", ["hard", "semihard", "all"])
def test_default_average_is_the_papers(mining):
    x, y = clustered(10, 3, 3, seed=6)
    average = "nonzero" if mining == "all" else "valid"
    torch.testing.assert_close(
        vl.batch_triplet_loss(x, y, mining=mining), REFS[mining](x, y, 1.0, average=average)
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("margin", [0.2, 1.0])
def test_semihard_matches_a_port_of_tf_addons(seed, margin):
    x, y = clustered(12, 3, 4, spread=1.0, seed=seed)
    value, (g,) = grads(
        lambda a: vl.batch_triplet_loss(
            a, y, mining="semihard", metric="squared_euclidean", margin=margin
        ),
        x,
    )
    expected, (rg,) = grads(lambda a: ref.tfa_semihard(a, y, margin), x)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(g, rg)
    # the loop reference agrees with the port (so it has TF-Addons' semantics)
    torch.testing.assert_close(
        ref.batch_semihard(x, y, margin, metric="squared_euclidean"), expected
    )


TFA_METRICS = [
    pytest.param("L2", "euclidean", id="L2-default"),
    pytest.param("squared-L2", "squared_euclidean", id="squared-L2"),
    pytest.param("angular", "cosine", id="angular"),
]


@pytest.mark.parametrize("distance_metric, metric", TFA_METRICS)
@pytest.mark.parametrize("seed, margin", [(0, 0.2), (1, 1.0), (2, 0.5)])
def test_semihard_matches_tf_addons_for_each_distance_metric(distance_metric, metric, seed, margin):
    x, y = clustered(12, 3, 4, spread=1.0, seed=seed)
    value, (g,) = grads(
        lambda a: vl.batch_triplet_loss(a, y, mining="semihard", metric=metric, margin=margin), x
    )
    expected, (rg,) = grads(
        lambda a: ref.tfa_triplet_semihard_loss(y, a, margin, distance_metric), x
    )
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(g, rg)


def test_tf_addons_default_distance_is_euclidean_not_squared():
    # the convention test: TF-Addons' default "L2" (since v0.11) is our default metric; the
    # squared distance (the old "L2", still "squared-L2") gives another value on the same batch
    x, y = clustered(12, 3, 4, spread=1.0, seed=0)
    theirs = ref.tfa_triplet_semihard_loss(y, x)  # margin 1, distance_metric="L2"
    torch.testing.assert_close(vl.batch_triplet_loss(x, y, mining="semihard"), theirs)
    squared = vl.batch_triplet_loss(x, y, mining="semihard", metric="squared_euclidean")
    assert abs(float(squared - theirs)) > 1e-3
    torch.testing.assert_close(squared, ref.tfa_triplet_semihard_loss(y, x, 1.0, "squared-L2"))


@pytest.mark.parametrize("distance_metric, metric", TFA_METRICS)
@pytest.mark.parametrize("soft", [False, True])
def test_hard_matches_tf_addons_triplet_hard_loss(distance_metric, metric, soft):
    x, y = clustered(12, 3, 4, spread=1.0, seed=3)  # every anchor has a positive and a negative
    margin = 0.0 if soft else 0.5
    value, (g,) = grads(
        lambda a: vl.batch_triplet_loss(
            a, y, mining="hard", metric=metric, margin=margin, soft=soft, average="valid"
        ),
        x,
    )
    expected, (rg,) = grads(
        lambda a: ref.tfa_triplet_hard_loss(y, a, 0.5, soft, distance_metric), x
    )
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(g, rg)


def test_semihard_leaves_out_anchors_without_negative_unlike_tf_addons():
    # class 0 alone would have no negative if class 1 were absent: build a batch where every
    # sample of a single class sees no negative, TF-Addons then uses the row minimum (0) as
    # "farthest negative"; we give 0 (no valid triplet) with a graph.
    x = embeddings(4, 2, seed=7).requires_grad_(True)
    y = torch.zeros(4, dtype=torch.long)
    assert ref.tfa_semihard(x.detach(), y) > 0
    out = vl.batch_triplet_loss(x, y, mining="semihard", metric="squared_euclidean")
    assert out.item() == 0.0
    assert_finite_graph(out, x)


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("margin", [0.1, 0.5])
def test_hard_matches_pml_batch_hard_miner(normalize, margin):
    x, y = clustered(16, 4, 5, seed=8)
    dist = distances.LpDistance(normalize_embeddings=normalize)
    loss, miner = (
        losses.TripletMarginLoss(margin=margin, distance=dist),
        miners.BatchHardMiner(distance=dist),
    )
    value, (g,) = grads(
        lambda a: vl.batch_triplet_loss(
            a, y, mining="hard", margin=margin, normalize=normalize, average="nonzero"
        ),
        x,
    )
    expected, (rg,) = grads(lambda a: loss(a, y, miner(a, y)), x)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(g, rg)


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("margin", [0.1, 0.5])
def test_all_matches_pml_triplet_margin_miner(normalize, margin):
    x, y = clustered(16, 4, 5, seed=9)
    dist = distances.LpDistance(normalize_embeddings=normalize)
    loss = losses.TripletMarginLoss(margin=margin, distance=dist)
    miner = miners.TripletMarginMiner(margin=margin, type_of_triplets="all", distance=dist)
    value, (g,) = grads(
        lambda a: vl.batch_triplet_loss(a, y, mining="all", margin=margin, normalize=normalize), x
    )
    expected, (rg,) = grads(lambda a: loss(a, y, miner(a, y)), x)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(g, rg)
    torch.testing.assert_close(value, loss(x, y))  # PML without a miner: every triplet


def test_soft_all_matches_pml_smooth_loss():
    x, y = clustered(14, 3, 4, seed=10)
    loss = losses.TripletMarginLoss(margin=0.3, smooth_loss=True)
    value, (g,) = grads(
        lambda a: vl.batch_triplet_loss(a, y, mining="all", margin=0.3, soft=True, normalize=True),
        x,
    )
    expected, (rg,) = grads(lambda a: loss(a, y), x)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(g, rg)


def test_pml_semihard_miner_is_a_subset_of_the_margin_violating_triplets():
    x, y = clustered(16, 4, 5, seed=11)
    m = 0.4
    miner = miners.TripletMarginMiner(
        margin=m,
        type_of_triplets="semihard",
        distance=distances.LpDistance(normalize_embeddings=False),
    )
    theirs = set(zip(*(t.tolist() for t in miner(x, y))))
    a, p, n = vl.mine_triplets(x, y, "all", margin=m)
    d = vl.pairwise_distance(x)
    keep = d[a, n] > d[a, p]  # PML's extra condition; theirs also keeps D_an - D_ap == m
    ours = set(zip(a[keep].tolist(), p[keep].tolist(), n[keep].tolist()))
    assert ours == theirs and len(ours) > 0


def test_hand_values():
    # 1-D points 0, 1 (class 0) and 3, 3.5 (class 1), margin 2
    x = torch.tensor([[0.0], [1.0], [3.0], [3.5]])
    y = torch.tensor([0, 0, 1, 1])
    hard = vl.batch_triplet_loss(x, y, mining="hard", margin=2.0, reduction="none")
    torch.testing.assert_close(hard, torch.tensor([0.0, 1.0, 0.5, 0.0]))  # e.g. 2 + 1 - 2
    # anchor 1: negatives at 2 and 2.5, both used: (2 + 1 - 2) + (2 + 1 - 2.5)
    every = vl.batch_triplet_loss(x, y, mining="all", margin=2.0, reduction="none")
    torch.testing.assert_close(every, torch.tensor([0.0, 1.5, 0.5, 0.0]))
    torch.testing.assert_close(
        vl.batch_triplet_loss(x, y, mining="all", margin=2.0), torch.tensor(2.0 / 3)
    )  # 3 triplets with a positive loss
    torch.testing.assert_close(
        vl.batch_triplet_loss(x, y, mining="all", margin=2.0, average="valid"),
        torch.tensor(2.0 / 8),
    )  # 4 anchors x 1 positive x 2 negatives
    # semi-hard: anchor 2 (at 3), positive 3.5 (D=0.5): negatives at 2 and 3; 2 > 0.5 -> D_an=2
    semi = vl.batch_triplet_loss(x, y, mining="semihard", margin=2.0, reduction="none")
    torch.testing.assert_close(semi, torch.tensor([0.0, 1.0, 0.5, 0.0]))


def test_semihard_falls_back_to_the_farthest_negative():
    # anchor 0 at 0, positive at 5 (D_ap = 5), negatives at 1 and 2: none farther than 5,
    # so the farthest negative (2) is used: 1 + 5 - 2 = 4
    x = torch.tensor([[0.0], [5.0], [1.0], [2.0]])
    y = torch.tensor([0, 0, 1, 1])
    out = vl.batch_triplet_loss(x, y, mining="semihard", margin=1.0, reduction="none")
    assert out[0].item() == 4.0
    a, p, n = vl.mine_triplets(x, y, "semihard")
    assert (a[0].item(), p[0].item(), n[0].item()) == (0, 1, 3)


@pytest.mark.parametrize("mining", ["hard", "semihard", "all"])
@pytest.mark.parametrize(
    "y",
    [
        pytest.param([0, 0, 0, 0, 0], id="one-class"),
        pytest.param([0, 1, 2, 3, 4], id="all-singletons"),
    ],
)
def test_no_valid_triplet_is_zero_with_graph(mining, y):
    x = embeddings(5, 3, seed=12).requires_grad_(True)
    for reduction in ("mean", "sum", "none"):
        out = vl.batch_triplet_loss(x, torch.tensor(y), mining=mining, reduction=reduction)
        assert (out == 0).all()
        assert_finite_graph(out, x)
    assert all(t.numel() == 0 for t in vl.mine_triplets(x, torch.tensor(y), mining))


@pytest.mark.parametrize("mining", ["hard", "semihard", "all"])
def test_anchors_without_positive_are_left_out(mining):
    x, y = clustered(9, 3, 3, seed=13)
    y = torch.cat([y, torch.tensor([7, 8])])  # two singletons: negatives only, never anchors
    x = torch.cat([x, embeddings(2, 3, seed=14)])
    none = vl.batch_triplet_loss(x, y, mining=mining, margin=3.0, reduction="none")
    assert (none[-2:] == 0).all()
    torch.testing.assert_close(
        vl.batch_triplet_loss(x, y, mining=mining, margin=3.0),
        REFS[mining](x, y, 3.0, average="nonzero" if mining == "all" else "valid"),
    )


@pytest.mark.parametrize("strategy", ["hard", "semihard", "all"])
@pytest.mark.parametrize("soft", [False, True])
def test_mined_triplets_give_the_batch_loss(strategy, soft):
    x, y = clustered(12, 3, 4, seed=15)
    a, p, n = vl.mine_triplets(x, y, strategy)
    explicit = vl.triplet_margin_loss(x[a], x[p], x[n], margin=0.7, soft=soft, reduction="sum")
    batch = vl.batch_triplet_loss(x, y, mining=strategy, margin=0.7, soft=soft, reduction="sum")
    torch.testing.assert_close(explicit, batch)
    assert (y[a] == y[p]).all() and (y[a] != y[n]).all() and (a != p).all()


def test_mine_all_enumerates_every_valid_triplet_sorted():
    x, y = clustered(10, 3, 3, seed=16)
    a, p, n = vl.mine_triplets(x, y, "all")
    expected = [
        (i, j, k)
        for i in range(10)
        for j in range(10)
        for k in range(10)
        if i != j and y[i] == y[j] and y[k] != y[i]
    ]
    assert list(zip(a.tolist(), p.tolist(), n.tolist())) == expected
    am, pm, nm = vl.mine_triplets(x, y, "all", margin=0.5)
    d = vl.pairwise_distance(x)
    assert (0.5 + d[am, pm] - d[am, nm] > 0).all()
    assert len(am) == int((0.5 + d[a, p] - d[a, n] > 0).sum())


def test_mine_margin_filters_hard_and_semihard():
    x, y = clustered(12, 3, 4, seed=17)
    for strategy in ("hard", "semihard"):
        a, p, n = vl.mine_triplets(x, y, strategy)
        am, pm, nm = vl.mine_triplets(x, y, strategy, margin=0.3)
        d = vl.pairwise_distance(x)
        keep = 0.3 + d[a, p] - d[a, n] > 0
        assert torch.equal(torch.stack([am, pm, nm]), torch.stack([a[keep], p[keep], n[keep]]))


class _LargestTensor(TorchDispatchMode):
    """Records the largest number of elements of any tensor an operator returns."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


@pytest.mark.parametrize(
    "mining, soft, B, bound",
    [
        pytest.param("hard", False, 150, 2 * 151 * 150, id="hard"),
        pytest.param("semihard", False, 150, 2 * 151 * 150, id="semihard"),
        pytest.param("all", False, 150, 2 * 151 * 150, id="all"),
        pytest.param("all", True, 200, _mining.CHUNK_ELEMENTS, id="all-soft-chunked"),
    ],
)
def test_memory_is_quadratic_not_cubic(mining, soft, B, bound):
    """No operator (forward or backward) returns a B x B x B tensor: O(B^2), or, for the soft
    batch-all, chunks of at most CHUNK_ELEMENTS elements (B^3 = 8M > 4M here)."""
    x, y = clustered(B, 10, 8, seed=18, dtype=torch.float32)
    x.requires_grad_(True)
    with _LargestTensor() as probe:
        vl.batch_triplet_loss(x, y, mining=mining, soft=soft).backward()
    assert probe.largest <= bound < B**3, probe.largest


@pytest.mark.slow
def test_batch_all_exact_beyond_1024():
    """B = 1100 > 1024: the sorted prefix-sum batch-all equals a per-anchor dense sum."""
    x, y = clustered(1100, 40, 6, spread=1.2, seed=19)
    d = vl.pairwise_distance(x)
    total, count = torch.zeros((), dtype=x.dtype), 0
    for a in range(1100):
        pos = (y == y[a]) & (torch.arange(1100) != a)
        neg = y != y[a]
        t = (1.0 + d[a, pos][:, None] - d[a, neg][None, :]).clamp_min(0)
        total, count = total + t.sum(), count + int((t > 0).sum())
    torch.testing.assert_close(vl.batch_triplet_loss(x, y, mining="all", margin=1.0), total / count)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        pytest.param(
            {"mining": "easy"},
            "expected mining to be one of 'hard', 'semihard', 'all'",
            id="mining",
        ),
        pytest.param({"margin": -1.0}, "expected margin >= 0, got -1.0", id="margin"),
        pytest.param({"metric": "l1"}, "expected metric to be one of", id="metric"),
        pytest.param(
            {"average": "all"}, "expected average to be one of 'nonzero', 'valid'", id="average"
        ),
        pytest.param(
            {"gather": "world"},
            "expected gather to be one of 'none', 'global', 'local', got 'world'",
            id="gather",
        ),
    ],
)
def test_bad_options(kwargs, match):
    x, y = clustered(6, 2, 3)
    with pytest.raises(ValueError, match="batch_triplet_loss: " + match):
        vl.batch_triplet_loss(x, y, **kwargs)
    with pytest.raises(ValueError, match="BatchTripletLoss: " + match):
        vl.BatchTripletLoss(**kwargs)


def test_mine_triplets_bad_inputs():
    x, y = clustered(6, 2, 3)
    with pytest.raises(ValueError, match="mine_triplets: expected strategy to be one of"):
        vl.mine_triplets(x, y, "random")
    with pytest.raises(ValueError, match=r"mine_triplets: expected labels of shape \(6,\)"):
        vl.mine_triplets(x, y[:4])


@pytest.mark.parametrize("metric", ["euclidean", "squared_euclidean", "cosine"])
@pytest.mark.parametrize("soft", [False, True])
def test_batch_hard_rows_equal_the_matrix_graph(metric, soft):
    """Batch-hard mines on a distance matrix without a graph and differentiates the two chosen
    distances of each anchor again (``_mining.batch_hard_rows``): the same loss and gradients
    as the whole matrix with its graph (``_mining.batch_hard``), to the matrix form's
    rounding; float64."""
    from visionloss.metric import _common, _mining

    g = torch.Generator().manual_seed(5)
    x = torch.randn(24, 6, generator=g, dtype=torch.float64)
    x[3] = x[2]  # a duplicate: a zero distance with its zero-gradient square root
    y = torch.arange(24) % 5
    a = x.clone().requires_grad_()
    fast = vl.batch_triplet_loss(a, y, mining="hard", metric=metric, soft=soft, margin=0.3)
    (g_fast,) = torch.autograd.grad(fast, a)
    b = x.clone().requires_grad_()
    rows = torch.arange(24)
    D = _common.distance_matrix(b, b, metric, self_index=rows)
    pos, neg = _mining.triplet_masks(y, y, rows)
    mined = _mining.batch_hard(D, pos, neg, 0.3, soft)
    ref = mined.per_anchor.sum() / mined.count_valid
    (g_ref,) = torch.autograd.grad(ref, b)
    torch.testing.assert_close(fast, ref, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(g_fast, g_ref, rtol=1e-7, atol=1e-10)
