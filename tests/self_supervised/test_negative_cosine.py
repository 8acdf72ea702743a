"""negative_cosine_loss against lightly's ``NegativeCosineSimilarity`` (values and gradients),
the BYOL form against the squared distance of normalised vectors, the stop-gradient, and
degenerate inputs.

Mapping: lightly's ``NegativeCosineSimilarity()(x0, x1)`` is ``-cos(x0, x1).mean()`` with
gradients to both inputs (its SimSiam example detaches ``z`` by hand): ours with
``variant="simsiam", stop_gradient=False``; with the default ``stop_gradient=True`` the query
gradient is the same and the key gets none.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from lightly.loss import NegativeCosineSimilarity

import visionloss as vl
from tests.helpers import assert_finite_graph, gradcheck

from ._data import degenerate, leaves, views


def test_matches_lightly_without_stop_gradient():
    p, z = views()
    ours_in, peer_in = leaves(p, z), leaves(p, z)
    ours = vl.negative_cosine_loss(*ours_in, stop_gradient=False)
    peer = NegativeCosineSimilarity()(*peer_in)
    torch.testing.assert_close(ours, peer)
    for a, b in zip(torch.autograd.grad(ours, ours_in), torch.autograd.grad(peer, peer_in)):
        torch.testing.assert_close(a, b)


def test_stop_gradient_keeps_the_query_gradient_and_stops_the_key():
    p, z = views()
    p1, z1 = leaves(p, z)
    g_p, g_z = torch.autograd.grad(
        vl.negative_cosine_loss(p1, z1), (p1, z1), allow_unused=True, materialize_grads=True
    )
    p2, z2 = leaves(p, z)
    peer = NegativeCosineSimilarity()(p2, z2.detach())
    (g_peer,) = torch.autograd.grad(peer, p2)
    torch.testing.assert_close(g_p, g_peer)
    assert (g_z == 0).all()


def test_byol_is_the_squared_distance_of_normalised_vectors():
    p, z = views()
    expected = (F.normalize(p, dim=-1) - F.normalize(z, dim=-1)).square().sum(-1)
    out = vl.negative_cosine_loss(p, z, variant="byol", reduction="none")
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(out.mean(), 2 + 2 * vl.negative_cosine_loss(p, z, variant="simsiam"))


def test_gradcheck_float64():
    p, z = views(4, 3)
    gradcheck(lambda a, b: vl.negative_cosine_loss(a, b, stop_gradient=False), p, z)


@pytest.mark.parametrize("case", degenerate(), ids=lambda c: c[0])
@pytest.mark.parametrize("variant", ["simsiam", "byol"])
def test_degenerate_inputs_are_finite(case, variant):
    _, p, z = case
    p, z = leaves(p, z)
    assert_finite_graph(vl.negative_cosine_loss(p, z, variant=variant, stop_gradient=False), p, z)


def test_zero_vector_has_cosine_zero():
    p = torch.zeros(1, 3)
    assert vl.negative_cosine_loss(p, torch.ones(1, 3), variant="byol").item() == 2.0
