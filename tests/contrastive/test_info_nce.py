"""info_nce_loss against a float64 loop (every negative layout), against cross entropy on
``[s_pos, s_neg...] / tau`` with label 0 (seed 000's explanation), hand values and degenerate
inputs."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import visionloss as vl
from tests.helpers import assert_finite_graph, grads
from tests.reference import contrastive as ref

from ._data import REDUCE, vectors

N, M, D = 5, 6, 4


def _inputs(layout):
    q, k = vectors(N, D), vectors(N, D, seed=1)
    negatives = {"shared": vectors(M, D, seed=2), "paired": vectors(N, M, D, seed=2)}
    return q, k, negatives.get(layout)


LAYOUTS = [
    pytest.param("shared", {}, id="shared-negatives"),
    pytest.param("paired", {}, id="per-query-negatives"),
    pytest.param("in-batch", {}, id="in-batch"),
    pytest.param("in-batch", {"symmetric": True}, id="in-batch-symmetric"),
    pytest.param("shared", {"similarity": "dot"}, id="shared-dot"),
    pytest.param("in-batch", {"similarity": "dot", "symmetric": True}, id="in-batch-dot-sym"),
]


@pytest.mark.parametrize("layout, opts", LAYOUTS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_matches_float64_loop_values_and_gradients(layout, opts, reduction):
    q, k, n = _inputs(layout)
    tau = 0.7

    def ours(q, k, *n):
        return vl.info_nce_loss(q, k, *n, temperature=tau, reduction=reduction, **opts)

    def loop(q, k, *n):
        out = ref.info_nce(
            q,
            k,
            n[0] if n else None,
            tau,
            symmetric=opts.get("symmetric", False),
            cosine=opts.get("similarity", "cosine") == "cosine",
        )
        return REDUCE[reduction](out)

    args = (q, k) if n is None else (q, k, n)
    value, g = grads(ours, *args)
    expected, g_ref = grads(loop, *args)
    torch.testing.assert_close(value, expected)
    for a, b in zip(g, g_ref):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("layout", ["shared", "paired", "in-batch"])
def test_equals_cross_entropy_with_positive_at_index_0(layout):
    # seed 000: logits [s_qp, s_qn1, ...] / tau with labels 0 (in-batch: labels arange(N))
    q, k, n = _inputs(layout)
    tau = 0.07
    qn, kn = F.normalize(q, dim=1), F.normalize(k, dim=1)
    if layout == "in-batch":
        expected = F.cross_entropy(qn @ kn.T / tau, torch.arange(N))
        out = vl.info_nce_loss(q, k, temperature=tau)
    else:
        nn = F.normalize(n, dim=-1)
        neg = qn @ nn.T if n.dim() == 2 else torch.einsum("nd,nmd->nm", qn, nn)
        logits = torch.cat([(qn * kn).sum(1, keepdim=True), neg], dim=1) / tau
        expected = F.cross_entropy(logits, torch.zeros(N, dtype=torch.long))
        out = vl.info_nce_loss(q, k, n, temperature=tau)
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("tau", [1.0, 0.1])
def test_orthogonal_keys_hand_value(tau):
    # s_pos = 1, three orthogonal negatives at similarity 0: log(1 + 3 e^{-1/tau})
    eye = torch.eye(4, dtype=torch.float64)
    out = vl.info_nce_loss(eye[:1], eye[:1] * 5.0, eye[1:], temperature=tau)
    torch.testing.assert_close(out.item(), math.log1p(3 * math.exp(-1.0 / tau)))


def test_in_batch_orthogonal_hand_value():
    # queries = keys = the basis: every query sees its key at 1 and N-1 others at 0
    eye = torch.eye(3, dtype=torch.float64)
    out = vl.info_nce_loss(eye, eye, temperature=0.5, symmetric=True, reduction="none")
    torch.testing.assert_close(
        out, torch.full((3,), math.log1p(2 * math.exp(-2.0)), dtype=torch.float64)
    )


def test_shared_and_paired_layouts_agree_when_every_query_has_the_same_negatives():
    q, k, n = _inputs("shared")
    torch.testing.assert_close(
        vl.info_nce_loss(q, k, n), vl.info_nce_loss(q, k, n.expand(N, M, D).clone())
    )


def test_no_negatives_gives_zero_with_graph():
    q = vectors(N, D).requires_grad_()
    k = vectors(N, D, seed=1)
    out = vl.info_nce_loss(q, k, torch.zeros(0, D, dtype=torch.float64))
    assert out.item() == 0.0
    assert_finite_graph(out, q)
    single = vl.info_nce_loss(q[:1], k[:1])  # N = 1 in-batch: no other key
    assert single.item() == 0.0
    assert_finite_graph(single, q)


def test_identical_keys_give_log_n():
    # all keys equal: the positive is one of N equal logits, loss log(N)
    q = vectors(N, D)
    k = torch.ones(N, D, dtype=torch.float64)
    torch.testing.assert_close(vl.info_nce_loss(q, k).item(), math.log(N))


def test_symmetric_is_the_mean_of_both_directions():
    q, k, _ = _inputs("in-batch")
    both = vl.info_nce_loss(q, k, symmetric=True, reduction="none")
    forward = vl.info_nce_loss(q, k, reduction="none")
    backward = vl.info_nce_loss(k, q, reduction="none")
    torch.testing.assert_close(both, 0.5 * (forward + backward))


BAD = [
    pytest.param(
        lambda q, k: (q, k[:3]),
        ValueError,
        r"expected key of shape \(5, 4\) matching query, got \(3, 4\)",
        id="key-shape",
    ),
    pytest.param(lambda q, k: (q[0], k[0]), ValueError, "expected query to be 2-D", id="1-D"),
    pytest.param(
        lambda q, k: (q, k, vectors(6, 3)),
        ValueError,
        r"expected negative_keys with feature size 4 matching query \(5, 4\), got \(6, 3\)",
        id="negative-dim",
    ),
    pytest.param(
        lambda q, k: (q, k, vectors(4, 6, 4)),
        ValueError,
        r"expected negative_keys of shape \(5, M, 4\)",
        id="paired-batch",
    ),
    pytest.param(
        lambda q, k: (q, k, vectors(6)),
        ValueError,
        "expected negative_keys to be 2-D or 3-D",
        id="negative-rank",
    ),
    pytest.param(
        lambda q, k: (q[:, :0], k[:, :0]),
        ValueError,
        r"expected query with a feature dimension > 0, got \(5, 0\)",
        id="zero-dim",
    ),
]


@pytest.mark.parametrize("make, error, match", BAD)
def test_bad_inputs(make, error, match):
    q, k, _ = _inputs("in-batch")
    with pytest.raises(error, match=f"info_nce_loss: {match}"):
        vl.info_nce_loss(*make(q, k))


def test_symmetric_with_explicit_negatives_raises():
    q, k, n = _inputs("shared")
    with pytest.raises(ValueError, match="info_nce_loss: symmetric=True needs in-batch"):
        vl.info_nce_loss(q, k, n, symmetric=True)
