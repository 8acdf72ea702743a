"""koleo_loss against lightly's ``KoLeoLoss`` (values and gradients), hand values, the
nearest-neighbour blocks and degenerate inputs.

Mapping: lightly's ``KoLeoLoss(p=2, eps=1e-8)(x)`` normalises ``x`` (``F.normalize``), finds
each row's nearest neighbour by the largest dot product with the diagonal excluded, and
returns ``-log(PairwiseDistance(eps)(x, x[nn]) + eps).mean()`` (``PairwiseDistance`` adds
``eps`` to the difference), DINOv2's ``KoLeoLoss``: ours with the same ``eps``.
"""

from __future__ import annotations

import math

import pytest
import torch
from lightly.loss import KoLeoLoss

import visionloss as vl
from tests.helpers import assert_finite_graph, gradcheck
from visionloss.self_supervised import koleo

from ._data import degenerate, leaves, views


@pytest.mark.parametrize("eps", [1e-8, 1e-3])
def test_matches_lightly_values_and_gradients(eps):
    x, _ = views(12, 5)
    (ours_in,), (peer_in,) = leaves(x), leaves(x)
    ours = vl.koleo_loss(ours_in, eps=eps)
    peer = KoLeoLoss(eps=eps)(peer_in)
    torch.testing.assert_close(ours, peer)
    torch.testing.assert_close(
        torch.autograd.grad(ours, ours_in)[0], torch.autograd.grad(peer, peer_in)[0]
    )


def test_hand_value_square():
    # four unit vectors at 90 degrees: every neighbour at distance sqrt(2)
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]], dtype=torch.float64)
    torch.testing.assert_close(
        vl.koleo_loss(x, eps=0.0), torch.tensor(-0.5 * math.log(2.0), dtype=torch.float64)
    )


def test_neighbour_search_in_blocks(monkeypatch):
    x, _ = views(12, 5)
    whole = vl.koleo_loss(x, reduction="none")
    monkeypatch.setattr(koleo, "_BLOCK_ELEMENTS", 24)  # two rows per block
    torch.testing.assert_close(vl.koleo_loss(x, reduction="none"), whole)


def test_gradcheck_float64():
    x, _ = views(6, 3)
    gradcheck(lambda a: vl.koleo_loss(a), x)


@pytest.mark.parametrize("case", degenerate(), ids=lambda c: c[0])
def test_degenerate_inputs_are_finite(case):
    _, x, _ = case
    (x,) = leaves(x)
    assert_finite_graph(vl.koleo_loss(x), x)


def test_batch_of_one_leaves_the_mean():
    (x,) = leaves(views(1)[0])
    out = vl.koleo_loss(x, reduction="none")
    assert out.tolist() == [0.0]
    assert vl.koleo_loss(x).item() == 0.0
