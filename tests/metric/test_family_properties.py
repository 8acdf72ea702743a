"""What the metric-learning losses must do beyond the registry-wide conformance suite
(CONTRIBUTING.md, "Tests of one loss"; ``tests/conformance/test_registry_conformance.py`` covers
Module equals function, build_loss, gradcheck, reductions, fp16/bf16 and autocast, compile,
pickling, state_dict and the bad reduction, option and input errors from each loss's registry
example). Here, as one table of configurations (mining, average, swap, pairs): Module equals
function, float64 gradcheck and fp16/bf16 inputs against fp32 (the suite checks these on the
registry example only), the shape of ``"none"``, empty input, duplicate embeddings, permutation
invariance, 1-D embeddings and bad labels, zero vectors under normalisation, option values kept by
``build_loss``, and CenterLoss (it holds its own centres, so the suite cannot build it from the
example) against its function. The per-loss files hold the peer comparisons, loop references, hand
values and each loss's own degenerate cases."""

from __future__ import annotations

import inspect

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import visionloss as vl
from tests.conftest import HALF_DTYPES, assert_close_dtype
from tests.helpers import assert_finite_graph, gradcheck

from ._data import clustered, embeddings


def _batch(n, dtype, seed=2):  # (embeddings, labels)
    return clustered(n, 3, 4, seed=seed, dtype=dtype)


def _pairs(n, dtype, seed=2):  # (x1, x2, is_similar)
    x1 = embeddings(n, 4, seed=seed, dtype=dtype)
    x2 = x1 + 0.8 * embeddings(n, 4, seed=seed + 1, dtype=dtype)
    return x1, x2, torch.arange(n) % 2 == 0


def _triplets(n, dtype, seed=2):  # (anchor, positive, negative)
    a = embeddings(n, 4, seed=seed, dtype=dtype)
    return (
        a,
        a + 0.5 * embeddings(n, 4, seed=seed + 1, dtype=dtype),
        embeddings(n, 4, seed=seed + 2, dtype=dtype),
    )


def _center(n, dtype, seed=2):  # (embeddings, labels, centers)
    x, y = clustered(n, 3, 4, seed=seed, dtype=dtype)
    return x, y, embeddings(3, 4, seed=seed + 5, dtype=dtype)


def _sq(n):
    return (n, n)


def _vec(n):
    return (n,)


# id: (function, Module, options, input maker, "none" shape for batch size n)
LOSSES = [
    pytest.param(
        vl.contrastive_loss,
        vl.ContrastiveLoss,
        {"margin": 2.0},
        _batch,
        _sq,
        id="contrastive-batch",
    ),
    pytest.param(
        vl.contrastive_loss,
        vl.ContrastiveLoss,
        {"margin": 1.5, "average": "separate", "power": 1},
        _batch,
        _sq,
        id="contrastive-batch-separate",
    ),
    pytest.param(
        vl.contrastive_loss,
        vl.ContrastiveLoss,
        {"margin": 2.0},
        _pairs,
        _vec,
        id="contrastive-pairs",
    ),
    pytest.param(
        vl.triplet_margin_loss,
        vl.TripletMarginLoss,
        {"margin": 1.0, "swap": True},
        _triplets,
        _vec,
        id="triplet_margin",
    ),
    pytest.param(
        vl.batch_triplet_loss,
        vl.BatchTripletLoss,
        {"mining": "hard", "margin": 1.0},
        _batch,
        _vec,
        id="batch_triplet-hard",
    ),
    pytest.param(
        vl.batch_triplet_loss,
        vl.BatchTripletLoss,
        {"mining": "semihard", "margin": 1.0},
        _batch,
        _vec,
        id="batch_triplet-semihard",
    ),
    pytest.param(
        vl.batch_triplet_loss,
        vl.BatchTripletLoss,
        {"mining": "all", "margin": 1.0},
        _batch,
        _vec,
        id="batch_triplet-all",
    ),
    pytest.param(
        vl.batch_triplet_loss,
        vl.BatchTripletLoss,
        {"mining": "all", "margin": 0.5, "soft": True},
        _batch,
        _vec,
        id="batch_triplet-all-soft",
    ),
    pytest.param(vl.center_loss, None, {}, _center, _vec, id="center"),
]
BATCH_LOSSES = [p for p in LOSSES if p.values[3] is _batch]


# CenterLoss (module None) is compared with its function by the eval-mode test below
@pytest.mark.parametrize(
    "fn, module, opts, make, none_shape", [p for p in LOSSES if p.values[1] is not None]
)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_module_equals_function(fn, module, opts, make, none_shape, reduction):
    args = make(10, torch.float64)
    m = module(reduction=reduction, **opts)
    torch.testing.assert_close(m(*args), fn(*args, reduction=reduction, **opts))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_center_module_equals_function_in_eval_mode(reduction):
    args = _center(10, torch.float64)
    # CenterLoss holds its own centres: compare in eval mode (no update)
    m = vl.CenterLoss(3, 4, reduction=reduction).double().eval()
    m.centers.copy_(args[2])
    torch.testing.assert_close(m(*args[:2]), vl.center_loss(*args, reduction=reduction))


@pytest.mark.parametrize("fn, module, opts, make, none_shape", LOSSES)
def test_none_shape_and_sum(fn, module, opts, make, none_shape):
    args = make(10, torch.float64)
    none = fn(*args, reduction="none", **opts)
    assert none.shape == none_shape(10)
    torch.testing.assert_close(fn(*args, reduction="sum", **opts), none.sum())
    assert fn(*args, **opts).shape == ()


@pytest.mark.parametrize("fn, module, opts, make, none_shape", LOSSES)
def test_gradcheck_float64(fn, module, opts, make, none_shape):
    args = make(7, torch.float64)
    gradcheck(fn, *args, **opts)


@pytest.mark.parametrize("fn, module, opts, make, none_shape", LOSSES)
@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_half_inputs_computed_in_fp32(fn, module, opts, make, none_shape, dtype):
    args = make(16, torch.float32)
    half = [a.to(dtype) if a.is_floating_point() else a for a in args]
    out = fn(*half, **opts)
    assert out.dtype == torch.float32
    ref = fn(*[a.float() if a.is_floating_point() else a for a in half], **opts)
    assert_close_dtype(out, ref, dtype)
    leaf = half[0].detach().requires_grad_(True)
    assert_finite_graph(fn(leaf, *half[1:], **opts), leaf)


@pytest.mark.parametrize("fn, module, opts, make, none_shape", LOSSES)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_empty_input_is_zero_with_graph(fn, module, opts, make, none_shape, reduction):
    args = [
        a[:0] if i < 2 or a.dim() < 2 or fn is not vl.center_loss else a
        for i, a in enumerate(make(4, torch.float64))
    ]
    leaf = args[0].detach().requires_grad_(True)
    out = fn(leaf, *args[1:], reduction=reduction, **opts)
    assert out.item() == 0.0
    assert_finite_graph(out, leaf)


@pytest.mark.parametrize("fn, module, opts, make, none_shape", LOSSES)
@pytest.mark.parametrize("dtype", [pytest.param(torch.float32, id="fp32"), *HALF_DTYPES])
def test_duplicate_embeddings_have_finite_gradients(fn, module, opts, make, none_shape, dtype):
    """Every embedding appears twice (distance 0 between the copies, also across labels)."""
    args = list(make(6, torch.float32))
    args = (
        [torch.cat([a, a]) for a in args]
        if fn is not vl.center_loss
        else [torch.cat([args[0], args[0]]), torch.cat([args[1], args[1]]), args[2]]
    )
    if fn is vl.triplet_margin_loss:
        args[1] = args[0].clone()  # positive == anchor
    if make is _pairs:
        args[1] = args[0].clone()  # every pair at distance 0
    leaf = args[0].to(dtype).detach().requires_grad_(True)
    rest = [a.to(dtype) if a.is_floating_point() else a for a in args[1:]]
    for reduction in ("mean", "none"):
        assert_finite_graph(fn(leaf, *rest, reduction=reduction, **opts), leaf)


@pytest.mark.parametrize("fn, module, opts, make, none_shape", BATCH_LOSSES)
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 12))
def test_invariant_to_permuting_the_batch(fn, module, opts, make, none_shape, seed, n):
    x, y = make(n, torch.float64, seed=seed)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    torch.testing.assert_close(fn(x[perm], y[perm], **opts), fn(x, y, **opts))
    none, none_perm = (
        fn(x, y, reduction="none", **opts),
        fn(x[perm], y[perm], reduction="none", **opts),
    )
    expected = none[perm][:, perm] if none.dim() == 2 else none[perm]
    torch.testing.assert_close(none_perm, expected)


def test_center_bad_reduction():
    args = _center(4, torch.float64)
    with pytest.raises(ValueError, match="center_loss: expected reduction .* got 'avg'"):
        vl.center_loss(*args, reduction="avg")
    with pytest.raises(ValueError, match="reduction"):
        vl.CenterLoss(3, 4, reduction="avg")


@pytest.mark.parametrize("fn, module, opts, make, none_shape", LOSSES)
def test_one_dimensional_embeddings(fn, module, opts, make, none_shape):
    args = make(4, torch.float64)
    name = fn.__name__
    with pytest.raises(ValueError, match=rf"{name}: expected .* 2-D, got shape \(4,\)"):
        fn(args[0][:, 0], *args[1:], **opts)


@pytest.mark.parametrize(
    "fn, module, opts, make, none_shape", [p for p in LOSSES if p.values[3] in (_batch, _center)]
)
def test_bad_labels(fn, module, opts, make, none_shape):
    x, y, *rest = make(6, torch.float64)
    name = fn.__name__
    with pytest.raises(
        ValueError,
        match=rf"{name}: expected labels of shape \(6,\) matching "
        r"embeddings \(6, 4\), got \(5,\)",
    ):
        fn(x, y[:5], *rest, **opts)
    with pytest.raises(ValueError, match=rf"{name}: expected labels to be 1-D"):
        fn(x, y[:, None], *rest, **opts)
    with pytest.raises(TypeError, match=rf"{name}: expected labels"):
        fn(x, y.bool(), *rest, **opts)


def test_build_loss_keeps_the_options():
    assert isinstance(vl.build_loss("batch_triplet", mining="semihard"), vl.BatchTripletLoss)
    assert vl.build_loss({"name": "triplet", "margin": 0.2}).margin == 0.2
    assert isinstance(vl.build_loss("contrastive", half=False), vl.ContrastiveLoss)
    center = vl.build_loss("center", num_classes=10, dim=2)
    assert isinstance(center, vl.CenterLoss) and center.centers.shape == (10, 2)


def _normalizing_options(fn, opts):
    """The loss's options with L2-normalised embeddings (or cosine distance), or None."""
    params = inspect.signature(fn).parameters
    if "normalize" in params:
        return {**opts, "normalize": True}
    if "metric" in params:
        return {**opts, "metric": "cosine"}
    return None


# every loss with a normalisation option (center loss has none)
NORMALIZING = [p for p in LOSSES if _normalizing_options(p.values[0], p.values[2]) is not None]


@pytest.mark.parametrize("fn, module, opts, make, none_shape", NORMALIZING)
def test_zero_vector_has_a_bounded_gradient(fn, module, opts, make, none_shape):
    """A zero embedding under L2 normalisation stays zero with a zero gradient through the
    normalisation (``F.normalize`` would give it ~1e12: its norm is clamped at 1e-12)."""
    options = _normalizing_options(fn, opts)
    args = list(make(6, torch.float64))
    args[0] = args[0].clone()
    args[0][0] = 0.0
    leaf = args[0].requires_grad_(True)
    value = fn(leaf, *args[1:], **options)
    (g,) = torch.autograd.grad(value, leaf)
    assert torch.isfinite(value) and torch.isfinite(g).all()
    assert g[0].abs().max() == 0.0, g[0]
    assert g.abs().max() < 1e3, g.abs().max()


def test_cosine_distance_of_a_zero_vector():
    x = embeddings(4, 3, seed=3).requires_grad_(True)
    with torch.no_grad():
        x[1] = 0.0
    d = vl.pairwise_distance(x, metric="cosine")
    torch.testing.assert_close(d[1, [0, 2, 3]], torch.ones(3, dtype=x.dtype))
    (g,) = torch.autograd.grad(d.sum(), x)
    assert g[1].abs().max() == 0.0 and g.abs().max() < 1e3
