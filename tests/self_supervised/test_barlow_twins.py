"""barlow_twins_loss against lightly's ``BarlowTwinsLoss`` (values and gradients), the
paper's equations in float64 loops, the per-dimension terms, hand values and degenerate
inputs.

Mapping: lightly's ``BarlowTwinsLoss(lambda_param)(z_a, z_b)`` standardises each view with
``F.batch_norm(training=True)`` (biased variance, ``eps = 1e-5``) and returns
``sum (1 - C_ii)^2 + lambda sum_{i != j} C_ij^2``: ours with ``off_diagonal_weight=lambda``
and the default ``reduction="sum"``, the same as the authors' code (``BatchNorm1d(affine=
False)``, ``main.py`` of facebookresearch/barlowtwins).
"""

from __future__ import annotations

import pytest
import torch
from lightly.loss import BarlowTwinsLoss

import visionloss as vl
from tests.helpers import assert_finite_graph, gradcheck
from tests.reference import self_supervised as ref

from ._data import degenerate, leaves, views


@pytest.mark.parametrize("lam", [5e-3, 0.1, 1.0])
def test_matches_lightly_values_and_gradients(lam):
    z1, z2 = views()
    ours_in, peer_in = leaves(z1, z2), leaves(z1, z2)
    ours = vl.barlow_twins_loss(*ours_in, off_diagonal_weight=lam)
    peer = BarlowTwinsLoss(lambda_param=lam)(*peer_in)
    torch.testing.assert_close(ours, peer)
    for a, b in zip(torch.autograd.grad(ours, ours_in), torch.autograd.grad(peer, peer_in)):
        torch.testing.assert_close(a, b)


def test_matches_the_papers_equations():
    z1, z2 = views(6, 4, seed=3)
    torch.testing.assert_close(
        vl.barlow_twins_loss(z1, z2, off_diagonal_weight=0.3), ref.barlow_twins_paper(z1, z2, 0.3)
    )


def test_reductions_are_over_feature_dimensions():
    z1, z2 = views()
    terms = vl.barlow_twins_loss(z1, z2, reduction="none")
    assert terms.shape == (z1.shape[1],)
    torch.testing.assert_close(terms.sum(), vl.barlow_twins_loss(z1, z2))
    torch.testing.assert_close(terms.mean(), vl.barlow_twins_loss(z1, z2, reduction="mean"))


def test_identical_decorrelated_views_have_loss_zero():
    # columns with zero mean, unit biased variance and no correlation: C = I
    z = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]], dtype=torch.float64)
    assert vl.barlow_twins_loss(z, z, eps=0.0).abs().item() < 1e-12


def test_gradcheck_float64():
    z1, z2 = views(5, 3)
    gradcheck(lambda a, b: vl.barlow_twins_loss(a, b, off_diagonal_weight=0.2), z1, z2)


@pytest.mark.parametrize("case", degenerate(), ids=lambda c: c[0])
@pytest.mark.parametrize("eps", [1e-5, 0.0])
def test_degenerate_inputs_are_finite(case, eps):
    _, z1, z2 = case
    z1, z2 = leaves(z1, z2)
    assert_finite_graph(vl.barlow_twins_loss(z1, z2, eps=eps), z1, z2)


def test_collapse_costs_one_per_dimension():
    const = torch.ones(5, 3, dtype=torch.float64)
    torch.testing.assert_close(
        vl.barlow_twins_loss(const, const), torch.tensor(3.0, dtype=torch.float64)
    )
