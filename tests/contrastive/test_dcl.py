"""dcl_loss (DCL and DCLW) against lightly's ``DCLLoss`` / ``DCLWLoss`` (values and
gradients), the row-block path, hand values and degenerate inputs.

Mapping: lightly's ``DCLLoss(temperature)(out0, out1)`` L2-normalises both views, computes
for each view as anchor ``-s_ii'/t`` (times ``weight_fn(out0, out1)``) plus the log-sum-exp
over the same-view and cross-view similarities of the other samples, and returns the mean of
both directions: ours with ``similarity="cosine"``. ``DCLWLoss(temperature, sigma)`` uses
``weight = 2 - N softmax(s / sigma)`` over the batch, detached: ours with ``weighting="vmf"``.
"""

from __future__ import annotations

import math

import pytest
import torch
from lightly.loss import DCLLoss, DCLWLoss

import visionloss as vl
from tests.helpers import assert_finite_graph, gradcheck
from visionloss.contrastive import _core
from visionloss.contrastive import dcl as dcl_module

from ._data import vectors
from ._pairs import degenerate_pairs

N, D = 6, 5

# lightly builds the DCLW weights with torch.tensor(tensor)
pytestmark = pytest.mark.filterwarnings("ignore:To copy construct from a tensor:UserWarning")

PEERS = [
    pytest.param({"temperature": 0.1}, lambda: DCLLoss(temperature=0.1), id="dcl"),
    pytest.param({"temperature": 0.5}, lambda: DCLLoss(temperature=0.5), id="dcl-t0.5"),
    pytest.param(
        {"temperature": 0.1, "weighting": "vmf"}, lambda: DCLWLoss(temperature=0.1), id="dclw"
    ),
    pytest.param(
        {"temperature": 0.3, "weighting": "vmf", "sigma": 0.2},
        lambda: DCLWLoss(temperature=0.3, sigma=0.2),
        id="dclw-sigma0.2",
    ),
]


@pytest.mark.parametrize("options, peer", PEERS)
def test_matches_lightly_values_and_gradients(options, peer):
    q, k = vectors(N, D), vectors(N, D, seed=1)
    ql, kl = q.clone().requires_grad_(), k.clone().requires_grad_()
    ours = vl.dcl_loss(ql, kl, **options)
    g_ours = torch.autograd.grad(ours, (ql, kl))
    qp, kp = q.clone().requires_grad_(), k.clone().requires_grad_()
    theirs = peer()(qp, kp)
    g_peer = torch.autograd.grad(theirs, (qp, kp))
    torch.testing.assert_close(ours, theirs)
    for a, b in zip(g_ours, g_peer):
        torch.testing.assert_close(a, b)


def test_hand_value_two_orthogonal_samples():
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    # positive cos 1; negatives: the other sample's two views, cos 0: -1 + log 2
    torch.testing.assert_close(
        vl.dcl_loss(z, z, temperature=1.0), torch.tensor(math.log(2.0) - 1.0, dtype=torch.float64)
    )


def test_row_block_path_equals_the_whole_matrix(monkeypatch):
    q, k = vectors(N, D), vectors(N, D, seed=1)

    def run():
        leaves = [q.clone().requires_grad_(), k.clone().requires_grad_()]
        value = vl.dcl_loss(*leaves, weighting="vmf")
        return value.detach(), torch.autograd.grad(value, leaves)

    whole, g_whole = run()
    monkeypatch.setattr(dcl_module, "MAX_CHUNK_ELEMENTS", 4)
    monkeypatch.setattr(dcl_module, "BLOCK_ELEMENTS", 2 * 2 * N)  # two rows per block
    blocked, g_blocked = run()
    torch.testing.assert_close(blocked, whole)
    for a, b in zip(g_blocked, g_whole):
        torch.testing.assert_close(a, b)
    assert _core.MAX_CHUNK_ELEMENTS > 4  # the family's constant is untouched


def test_gradcheck_float64():
    q, k = vectors(4, 3), vectors(4, 3, seed=1)
    gradcheck(lambda q, k: vl.dcl_loss(q, k, temperature=0.5), q, k)


@pytest.mark.parametrize("q, k", degenerate_pairs())
@pytest.mark.parametrize("weighting", ["none", "vmf"])
def test_degenerate_inputs_are_finite(q, k, weighting):
    q, k = q.clone().requires_grad_(), k.clone().requires_grad_()
    assert_finite_graph(vl.dcl_loss(q, k, weighting=weighting), q, k)


def test_batch_of_one_has_no_negative_and_gives_zero():
    q = vectors(1, 4).requires_grad_()
    out = vl.dcl_loss(q, q)
    assert out.item() == 0.0 and out.requires_grad
