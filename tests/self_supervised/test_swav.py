"""swav_loss and sinkhorn_codes against lightly's ``SwaVLoss`` / ``sinkhorn`` (values,
gradients, multi-crop, queue), SwAVPrototypes, and degenerate inputs.

Mapping: lightly's ``SwaVLoss(temperature, sinkhorn_iterations, sinkhorn_epsilon)(
high_resolution_outputs, low_resolution_outputs, queue_outputs)`` takes lists of ``(N, K)``
prototype scores: ours takes them stacked, the high-resolution crops first
(``assign_views`` of them), and the queue stacked ``(assign_views, M, K)``. lightly's
Sinkhorn omits the original code's ``Q /= K`` after the row normalisation, which the column
normalisation that follows cancels: the codes are the same.
"""

from __future__ import annotations

import math

import pytest
import torch
from lightly.loss import SwaVLoss
from lightly.loss.swav_loss import sinkhorn

import visionloss as vl

N, K = 6, 5


def _scores(v, n=N, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(v, n, K, generator=g, dtype=torch.float64).tanh()


@pytest.mark.parametrize(
    "views, assign, queue",
    [
        pytest.param(2, 2, False, id="two-crops"),
        pytest.param(4, 2, False, id="multi-crop"),
        pytest.param(4, 2, True, id="multi-crop-queue"),
        pytest.param(3, 1, False, id="one-assigned"),
    ],
)
def test_matches_lightly_values_and_gradients(views, assign, queue):
    scores = _scores(views)
    q = _scores(assign, n=9, seed=1) if queue else None
    ours_in, peer_in = scores.clone().requires_grad_(), scores.clone().requires_grad_()
    ours = vl.swav_loss(ours_in, queue=q, assign_views=assign, temperature=0.2, epsilon=0.1)
    peer = SwaVLoss(temperature=0.2, sinkhorn_epsilon=0.1)(
        list(peer_in[:assign]), list(peer_in[assign:]), None if q is None else list(q)
    )
    torch.testing.assert_close(ours, peer.reshape(()))
    torch.testing.assert_close(
        torch.autograd.grad(ours, ours_in)[0], torch.autograd.grad(peer.sum(), peer_in)[0]
    )


def test_codes_match_lightly_and_have_the_marginals():
    scores = _scores(1)[0]
    codes = vl.sinkhorn_codes(scores, 0.05, 3, reduce=False)
    torch.testing.assert_close(codes, sinkhorn(scores, iterations=3, epsilon=0.05))
    torch.testing.assert_close(codes.sum(1), torch.ones(N, dtype=torch.float64))
    many = vl.sinkhorn_codes(scores, 0.05, 200, reduce=False)
    torch.testing.assert_close(many.sum(0), torch.full((K,), N / K, dtype=torch.float64))


def test_uniform_scores_cost_log_k():
    assert math.isclose(vl.swav_loss(torch.zeros(2, 4, 3)).item(), math.log(3), rel_tol=1e-6)


def test_prototypes_module_scores_and_queue():
    torch.manual_seed(0)
    head = vl.SwAVPrototypes(dim=8, num_prototypes=K, queue_length=4)
    assert head.queue_scores() is None
    feats = torch.randn(3, 3, 8)
    scores = head(feats)
    assert scores.shape == (3, 3, K) and scores.abs().max() <= 1 + 1e-6
    head.enqueue(feats)
    head.enqueue(feats + 1)
    assert int(head.filled) == 4
    torch.testing.assert_close(head.queue[:, :3], feats[:2] + 1)  # newest first
    value = vl.swav_loss(scores, queue=head.queue_scores())
    value.backward()
    assert head.prototypes.grad is not None and torch.isfinite(head.prototypes.grad).all()
    fresh = vl.SwAVPrototypes(dim=8, num_prototypes=K, queue_length=4)
    fresh.load_state_dict(head.state_dict())
    torch.testing.assert_close(fresh.queue, head.queue)


@pytest.mark.parametrize(
    "scores",
    [
        pytest.param(torch.randn(2, 1, 4), id="batch-of-1"),
        pytest.param(torch.ones(3, 4, 4), id="collapsed"),
        pytest.param(
            torch.cat([torch.full((2, 4, 1), 50.0), torch.full((2, 4, 3), -50.0)], 2),
            id="saturated",
        ),
    ],
)
def test_degenerate_inputs_are_finite(scores):
    scores = scores.requires_grad_()
    value = vl.swav_loss(scores)
    (g,) = torch.autograd.grad(value, scores)
    assert torch.isfinite(value) and torch.isfinite(g).all()


def test_bad_queue_shape_is_an_error():
    with pytest.raises(ValueError, match=r"swav_loss: expected queue of shape \(2, M, 5\)"):
        vl.swav_loss(_scores(3), queue=torch.randn(2, 4, 3))
