"""pairwise_distance against torch.cdist / torch.nn.functional and the float64 loop reference.

Convention mapping: our "cosine" is ``1 - F.cosine_similarity``, our "dot" the *negative*
inner product (every metric is a dissimilarity), "squared_euclidean" is ``cdist ** 2``.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

import visionloss as vl
from tests.conftest import HALF_DTYPES, assert_close_dtype
from tests.helpers import gradcheck, grads
from tests.reference import metric as ref

from ._data import embeddings

METRICS = ["euclidean", "squared_euclidean", "cosine", "dot"]

PEERS = {
    "euclidean": lambda x, y: torch.cdist(x, y),
    "squared_euclidean": lambda x, y: torch.cdist(x, y) ** 2,
    "cosine": lambda x, y: 1 - F.cosine_similarity(x[:, None], y[None], dim=-1),
    "dot": lambda x, y: -(x @ y.T),
}


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("same", [pytest.param(True, id="x-x"), pytest.param(False, id="x-y")])
def test_matches_torch_values_and_gradients(metric, same):
    x, y = embeddings(7, 5, seed=3), embeddings(6, 5, seed=4)
    if same:
        value, (gx,) = grads(lambda a: vl.pairwise_distance(a, metric=metric), x)
        expected, (rx,) = grads(lambda a: PEERS[metric](a, a), x)
        if metric != "dot":  # the diagonal of the peers is 0 up to rounding, ours exactly 0
            assert torch.equal(value.diagonal(), torch.zeros(7, dtype=x.dtype))
        torch.testing.assert_close(value, expected)
        torch.testing.assert_close(gx, rx)
        return
    value, (gx, gy) = grads(lambda a, b: vl.pairwise_distance(a, b, metric=metric), x, y)
    expected, (rx, ry) = grads(PEERS[metric], x, y)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(gx, rx)
    torch.testing.assert_close(gy, ry)


@pytest.mark.parametrize("metric", METRICS)
def test_matches_loop_reference(metric):
    x, y = embeddings(4, 3, seed=5), embeddings(5, 3, seed=6)
    torch.testing.assert_close(
        vl.pairwise_distance(x, y, metric=metric), ref.distance_matrix(x, y, metric)
    )


def test_hand_values():
    x = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    y = torch.tensor([[1.0, 0.0]])
    torch.testing.assert_close(vl.pairwise_distance(x, y), torch.tensor([[1.0], [20.0**0.5]]))
    torch.testing.assert_close(
        vl.pairwise_distance(x, y, metric="squared_euclidean"), torch.tensor([[1.0], [20.0]])
    )
    torch.testing.assert_close(
        vl.pairwise_distance(x[1:], y, metric="cosine"), torch.tensor([[1.0 - 0.6]])
    )
    torch.testing.assert_close(
        vl.pairwise_distance(x, y, metric="dot"), torch.tensor([[0.0], [-3.0]])
    )
    torch.testing.assert_close(
        vl.pairwise_distance(x, y, normalize=True, metric="dot"), torch.tensor([[0.0], [-0.6]])
    )


@pytest.mark.parametrize("metric", METRICS)
def test_gradcheck(metric):
    x, y = embeddings(4, 3, seed=7), embeddings(3, 3, seed=8)
    gradcheck(lambda a, b: vl.pairwise_distance(a, b, metric=metric), x, y)
    gradcheck(lambda a: vl.pairwise_distance(a, metric=metric, normalize=True), x)


@pytest.mark.parametrize("dtype", [pytest.param(torch.float32, id="fp32"), *HALF_DTYPES])
def test_duplicates_give_zero_distance_and_finite_zero_gradient(dtype):
    x = embeddings(3, 4, seed=9, dtype=torch.float32)
    x = torch.cat([x, x]).to(dtype).requires_grad_(True)  # rows i and i + 3 coincide
    d = vl.pairwise_distance(x)
    pairs = d[torch.arange(3), torch.arange(3) + 3]
    assert (pairs < 1e-3).all() and torch.equal(d.diagonal(), torch.zeros(6))
    # the gradient of each duplicate distance alone is exactly 0 (a subgradient), not NaN
    (g,) = torch.autograd.grad(pairs.sum(), x, retain_graph=True)
    assert torch.isfinite(g).all() and g.abs().max() == 0
    (g,) = torch.autograd.grad(d.sum(), x)
    assert torch.isfinite(g).all()


def test_centering_keeps_fp32_precision_far_from_the_origin():
    """The matrix-product form cancels |x|^2 terms; subtracting a common centre first keeps
    fp32 distances of points near (1e3, ..., 1e3) accurate (a plain |x|^2 + |y|^2 - 2xy loses
    every digit here)."""
    x = (embeddings(20, 8, seed=10) * 0.01 + 1e3).float()
    exact = torch.cdist(x.double(), x.double())  # of the same fp32 values, in float64
    torch.testing.assert_close(vl.pairwise_distance(x).double(), exact, rtol=1e-5, atol=1e-6)
    naive = (x.square().sum(1, keepdim=True) + x.square().sum(1) - 2 * x @ x.T).clamp_min(0).sqrt()
    assert (naive.double() - exact).abs().max() > 0.1  # what the centring avoids


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_half_inputs_computed_in_fp32(metric, dtype):
    x = embeddings(9, 6, seed=11, dtype=torch.float32)
    out = vl.pairwise_distance(x.to(dtype), metric=metric)
    assert out.dtype == torch.float32
    assert_close_dtype(out, vl.pairwise_distance(x.to(dtype).float(), metric=metric), dtype)


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


@pytest.mark.parametrize("metric", METRICS)
def test_no_n_by_m_by_d_intermediate(metric):
    x = embeddings(60, 50, seed=12, dtype=torch.float32).requires_grad_(True)
    y = embeddings(70, 50, seed=13, dtype=torch.float32).requires_grad_(True)
    with _LargestTensor() as probe:
        vl.pairwise_distance(x, y, metric=metric).sum().backward()
    assert probe.largest <= 70 * 60, probe.largest  # N x M x D would be 210,000


@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        pytest.param(
            (torch.zeros(3),),
            {},
            ValueError,
            r"pairwise_distance: expected x to be 2-D, got shape \(3,\)",
            id="1-D",
        ),
        pytest.param(
            (torch.zeros(3, 2), torch.zeros(4, 5)),
            {},
            ValueError,
            r"expected y with 2 columns matching x \(3, 2\), got \(4, 5\)",
            id="columns",
        ),
        pytest.param(
            (torch.zeros(3, 2, dtype=torch.long),),
            {},
            TypeError,
            "expected x to be a floating-point tensor",
            id="integer",
        ),
        pytest.param(
            (torch.zeros(3, 2),),
            {"metric": "l1"},
            ValueError,
            "expected metric to be one of 'euclidean', 'squared_euclidean', 'cosine', "
            "'dot', got 'l1'",
            id="metric",
        ),
    ],
)
def test_bad_inputs(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        vl.pairwise_distance(*args, **kwargs)
