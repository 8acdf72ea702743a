"""nt_xent_loss against pytorch-metric-learning's NTXentLoss, the seed-004 SiT code, SupCon
without labels, hand values and degenerate inputs.

Convention mapping: PML's ``NTXentLoss(temperature=t)(cat([z1, z2]), cat([arange(N),
arange(N)]))`` is ours: with two views every anchor has exactly one positive, so PML's
"positive against the negatives only" denominator is SimCLR's "everything but self". (With more
positives per anchor the two differ: see ``test_supcon.py``.)
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from pytorch_metric_learning.losses import NTXentLoss as PMLNTXent

import visionloss as vl
from tests.helpers import assert_finite_graph, grads

from ._data import vectors

N, D = 6, 5


def sit_contrastive_loss(emb_i, emb_j, temperature=0.5):
    """Seed 004: SiT's ``ContrastiveLoss.forward`` re-expressed (same operations, the mask made
    for the given batch size): a 2N x 2N x D cosine tensor, a 0/1 mask multiplied in."""
    batch_size = emb_i.shape[0]
    negatives_mask = (~torch.eye(batch_size * 2, batch_size * 2, dtype=bool)).to(emb_i.dtype)
    z_i = F.normalize(emb_i, dim=1)
    z_j = F.normalize(emb_j, dim=1)
    representations = torch.cat([z_i, z_j], dim=0)
    similarity_matrix = F.cosine_similarity(
        representations.unsqueeze(1), representations.unsqueeze(0), dim=2
    )
    sim_ij = torch.diag(similarity_matrix, batch_size)
    sim_ji = torch.diag(similarity_matrix, -batch_size)
    positives = torch.cat([sim_ij, sim_ji], dim=0)
    nominator = torch.exp(positives / temperature)
    denominator = negatives_mask * torch.exp(similarity_matrix / temperature)
    loss_partial = -torch.log(nominator / torch.sum(denominator, dim=1))
    return torch.sum(loss_partial) / (2 * batch_size)


@pytest.mark.parametrize("n", [1, 2, 6])
@pytest.mark.parametrize("tau", [0.5, 0.1])
def test_matches_the_seed_004_sit_code(n, tau):
    z1, z2 = vectors(n, D), vectors(n, D, seed=1)
    value, (g1, g2) = grads(lambda a, b: vl.nt_xent_loss(a, b, temperature=tau), z1, z2)
    expected, (r1, r2) = grads(lambda a, b: sit_contrastive_loss(a, b, tau), z1, z2)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(g1, r1)
    torch.testing.assert_close(g2, r2)


@pytest.mark.parametrize("tau", [0.5, 0.07])
def test_matches_pytorch_metric_learning(tau):
    z1, z2 = vectors(N, D), vectors(N, D, seed=1)
    labels = torch.cat([torch.arange(N), torch.arange(N)])

    def pml(a, b):
        return PMLNTXent(temperature=tau)(torch.cat([a, b]), labels)

    value, (g1, g2) = grads(lambda a, b: vl.nt_xent_loss(a, b, temperature=tau), z1, z2)
    expected, (r1, r2) = grads(pml, z1, z2)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(g1, r1)
    torch.testing.assert_close(g2, r2)


def test_equals_supcon_without_labels():
    z1, z2 = vectors(N, D), vectors(N, D, seed=1)
    torch.testing.assert_close(
        vl.nt_xent_loss(z1, z2, temperature=0.3),
        vl.supcon_loss(torch.stack([z1, z2], 1), temperature=0.3),
    )


def test_none_is_the_mean_of_both_directions_per_sample():
    z1, z2 = vectors(N, D), vectors(N, D, seed=1)
    per_sample = vl.nt_xent_loss(z1, z2, reduction="none")
    per_view = vl.supcon_loss(torch.stack([z1, z2], 1), temperature=0.5, reduction="none")
    torch.testing.assert_close(per_sample, per_view.mean(1))
    torch.testing.assert_close(vl.nt_xent_loss(z1, z2, reduction="sum"), per_sample.sum())


def test_orthogonal_hand_value():
    # two samples on orthogonal axes, views identical: partner at 1, two others at 0
    eye = torch.eye(2, dtype=torch.float64)
    out = vl.nt_xent_loss(eye, eye, temperature=1.0)
    torch.testing.assert_close(out.item(), math.log(math.e + 2) - 1.0)


def test_single_pair_is_zero_with_graph():
    z1 = vectors(1, D).requires_grad_()
    out = vl.nt_xent_loss(z1, vectors(1, D, seed=1))
    assert out.item() == 0.0
    assert_finite_graph(out, z1)


def test_fp16_small_temperature_where_the_seed_code_overflows():
    # exp(1 / 0.01) overflows fp16 in the seed's code (inf / inf); ours is fp32 log-sum-exp
    z1 = vectors(N, D, dtype=torch.float32).half().requires_grad_()
    z2 = vectors(N, D, seed=1, dtype=torch.float32).half()
    assert not torch.isfinite(sit_contrastive_loss(z1.detach(), z2, 0.01))
    out = vl.nt_xent_loss(z1, z2, temperature=0.01)
    assert_finite_graph(out, z1)
    ref = vl.nt_xent_loss(z1.float(), z2.float(), temperature=0.01)
    torch.testing.assert_close(out, ref, rtol=1e-3, atol=1e-3)


def test_bad_inputs():
    z1, z2 = vectors(N, D), vectors(N, D, seed=1)
    with pytest.raises(ValueError, match=r"nt_xent_loss: expected key of shape \(6, 5\) matching "):
        vl.nt_xent_loss(z1, z2[:4])
    with pytest.raises(ValueError, match="nt_xent_loss: expected query to be 2-D"):
        vl.nt_xent_loss(z1[None], z2[None])
