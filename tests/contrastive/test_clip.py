"""clip_loss against OpenCLIP's ``ClipLoss`` (values and gradients, also of the log scale),
the paper's clip of the scale, the row-block path, hand values and degenerate inputs.

Mapping: OpenCLIP's ``ClipLoss()(image_features, text_features, logit_scale)`` takes features
the model has L2-normalised already and the scale itself (``model.logit_scale.exp()``);
ours takes raw features (``similarity="cosine"`` normalises them) and ``log_scale = t``.
OpenCLIP clips the scale by clamping the parameter after each optimiser step
(``logit_scale.clamp_(0, log(100))`` in its training loop); ours clamps inside the loss, so
the value equals OpenCLIP's with ``logit_scale = 100`` and ``t`` gets no gradient above the
clip.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from open_clip.loss import ClipLoss

import visionloss as vl
from tests.helpers import assert_finite_graph, gradcheck
from visionloss.contrastive import _image_text

from ._data import vectors
from ._pairs import degenerate_pairs

N, D = 7, 5


@pytest.mark.parametrize("t", [0.0, math.log(1 / 0.07), math.log(50.0)])
def test_matches_open_clip_values_and_gradients(t):
    q, k = vectors(N, D), vectors(N, D, seed=1)
    leaves = [x.clone().requires_grad_() for x in (q, k, torch.tensor(t, dtype=torch.float64))]
    ours = vl.clip_loss(leaves[0], leaves[1], log_scale=leaves[2])
    g_ours = torch.autograd.grad(ours, leaves)
    peer_leaves = [x.detach().clone().requires_grad_() for x in leaves]
    qp, kp, tp = peer_leaves
    peer = ClipLoss()(F.normalize(qp, dim=-1), F.normalize(kp, dim=-1), tp.exp())
    g_peer = torch.autograd.grad(peer, peer_leaves)
    torch.testing.assert_close(ours, peer)
    for a, b in zip(g_ours, g_peer):
        torch.testing.assert_close(a, b)


def test_scale_is_clipped_at_100_as_in_the_paper():
    q, k = vectors(N, D), vectors(N, D, seed=1)
    t = torch.tensor(math.log(300.0), dtype=torch.float64, requires_grad=True)
    value = vl.clip_loss(q, k, log_scale=t)
    peer = ClipLoss()(F.normalize(q, dim=-1), F.normalize(k, dim=-1), torch.tensor(100.0))
    torch.testing.assert_close(value, peer.to(value.dtype))
    (g,) = torch.autograd.grad(value, t)
    assert g == 0  # above the clip the scale is constant
    unclipped = vl.clip_loss(q, k, log_scale=t, max_scale=1000.0)
    peer = ClipLoss()(F.normalize(q, dim=-1), F.normalize(k, dim=-1), torch.tensor(300.0))
    torch.testing.assert_close(unclipped, peer.to(value.dtype))


def test_none_is_the_mean_of_both_directions_per_pair():
    q, k = vectors(N, D), vectors(N, D, seed=1)
    logits = 3.0 * F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).T
    labels = torch.arange(N)
    expected = 0.5 * (
        F.cross_entropy(logits, labels, reduction="none")
        + F.cross_entropy(logits.T, labels, reduction="none")
    )
    out = vl.clip_loss(q, k, log_scale=math.log(3.0), reduction="none")
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(
        vl.clip_loss(q, k, log_scale=math.log(3.0), reduction="sum"), expected.sum()
    )


def test_row_block_path_equals_the_whole_matrix(monkeypatch):
    q, k = vectors(N, D), vectors(N, D, seed=1)
    whole, g_whole = _value_and_grads(q, k)
    monkeypatch.setattr(_image_text, "MAX_CHUNK_ELEMENTS", 4)
    monkeypatch.setattr(_image_text, "BLOCK_ELEMENTS", 2 * N)  # two rows per block
    calls = []
    real = _image_text._ce_rows
    monkeypatch.setattr(_image_text, "_ce_rows", lambda *a: calls.append(len(a[0])) or real(*a))
    blocked, g_blocked = _value_and_grads(q, k)
    assert calls and max(calls) == 2  # blocks of two rows (also recomputed in the backward)
    torch.testing.assert_close(blocked, whole)
    for a, b in zip(g_blocked, g_whole):
        torch.testing.assert_close(a, b)


def _value_and_grads(q, k):
    leaves = [q.clone().requires_grad_(), k.clone().requires_grad_()]
    value = vl.clip_loss(*leaves)
    return value.detach(), torch.autograd.grad(value, leaves)


def test_gradcheck_float64_with_learned_scale():
    q, k = vectors(4, 3), vectors(4, 3, seed=1)
    t = torch.tensor(1.5, dtype=torch.float64)
    gradcheck(lambda q, k, t: vl.clip_loss(q, k, log_scale=t), q, k, t)


@pytest.mark.parametrize("q, k", degenerate_pairs())
def test_degenerate_inputs_are_finite(q, k):
    q, k = q.clone().requires_grad_(), k.clone().requires_grad_()
    assert_finite_graph(vl.clip_loss(q, k), q, k)


def test_batch_of_one_pair_has_loss_zero_and_collapse_log_n():
    q = vectors(1, 4)
    assert vl.clip_loss(q, q).item() == 0.0
    ones = torch.ones(5, 4, dtype=torch.float64)
    torch.testing.assert_close(
        vl.clip_loss(ones, ones), torch.tensor(math.log(5.0), dtype=torch.float64)
    )


def test_shape_mismatch_is_an_error_naming_both():
    with pytest.raises(
        ValueError, match=r"clip_loss: expected key of shape \(4, 3\) .*query, got \(5, 3\)"
    ):
        vl.clip_loss(torch.randn(4, 3), torch.randn(5, 3))
