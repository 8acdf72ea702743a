"""vicreg_loss against lightly's and pytorch-metric-learning's ``VICRegLoss`` (values and
gradients), the paper's printed equations in float64 loops (which differ by a factor 1/2 on
the variance term), hand values and degenerate inputs.

Mapping: lightly's ``VICRegLoss(lambda_param, mu_param, nu_param, eps)(z_a, z_b)`` and PML's
``VICRegLoss(invariance_lambda, variance_mu, covariance_v, eps)(emb, ref_emb=ref)`` both follow
the authors' code (``main_vicreg.py``: ``std_loss = mean(relu(1 - std_x)) / 2 +
mean(relu(1 - std_y)) / 2``, unbiased variance and covariance, ``cov / (N - 1)``): ours with
``invariance_weight, variance_weight, covariance_weight``. The paper's Eq. (6) has no 1/2:
it is ours with ``variance_weight = 2 mu`` (checked against the loop reference).
"""

from __future__ import annotations

import pytest
import torch
from lightly.loss import VICRegLoss as LightlyVICReg
from pytorch_metric_learning.losses import VICRegLoss as PMLVICReg

import visionloss as vl
from tests.helpers import assert_finite_graph, gradcheck
from tests.reference import self_supervised as ref

from ._data import degenerate, leaves, views

WEIGHTS = [
    pytest.param((25.0, 25.0, 1.0), id="paper-defaults"),
    pytest.param((1.0, 3.0, 0.5), id="other-weights"),
]


def _ours(z1, z2, w, **kw):
    return vl.vicreg_loss(
        z1, z2, invariance_weight=w[0], variance_weight=w[1], covariance_weight=w[2], **kw
    )


def _check_peer(peer_fn, w):
    z1, z2 = views(seed=2, noise=0.3)
    z1 = 0.3 * z1  # std below gamma = 1: the variance term is active
    ours_in, peer_in = leaves(z1, z2), leaves(z1, z2)
    ours = _ours(*ours_in, w)
    peer = peer_fn(*peer_in)
    torch.testing.assert_close(ours, peer.to(ours.dtype))
    for a, b in zip(torch.autograd.grad(ours, ours_in), torch.autograd.grad(peer, peer_in)):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("w", WEIGHTS)
def test_matches_lightly_values_and_gradients(w):
    _check_peer(
        lambda a, b: LightlyVICReg(lambda_param=w[0], mu_param=w[1], nu_param=w[2])(a, b), w
    )


@pytest.mark.parametrize("w", WEIGHTS)
def test_matches_pytorch_metric_learning_values_and_gradients(w):
    peer = PMLVICReg(invariance_lambda=w[0], variance_mu=w[1], covariance_v=w[2])
    _check_peer(lambda a, b: peer(a, ref_emb=b), w)


def test_papers_printed_equation_is_twice_the_variance_weight():
    z1, z2 = views(6, 4, seed=3)
    z1 = 0.2 * z1
    expected = ref.vicreg_paper(z1, z2, 25.0, 25.0, 1.0)
    torch.testing.assert_close(_ours(z1, z2, (25.0, 50.0, 1.0)), expected)
    assert not torch.isclose(_ours(z1, z2, (25.0, 25.0, 1.0)), expected)


def test_reductions_are_over_feature_dimensions():
    z1, z2 = views()
    terms = vl.vicreg_loss(z1, z2, reduction="none")
    assert terms.shape == (z1.shape[1],)
    torch.testing.assert_close(terms.mean(), vl.vicreg_loss(z1, z2))
    torch.testing.assert_close(terms.sum(), vl.vicreg_loss(z1, z2, reduction="sum"))


def test_gradcheck_float64():
    z1, z2 = views(5, 3)
    gradcheck(lambda a, b: vl.vicreg_loss(a * 0.3, b), z1, z2)


@pytest.mark.parametrize("case", degenerate(), ids=lambda c: c[0])
def test_degenerate_inputs_are_finite(case):
    _, z1, z2 = case
    z1, z2 = leaves(z1, z2)
    assert_finite_graph(vl.vicreg_loss(z1, z2), z1, z2)


def test_collapse_costs_the_variance_hinge():
    const = torch.ones(4, 3, dtype=torch.float64)
    # std = sqrt(eps) = 0.01 in every dimension of both views: mu * (1 - 0.01)
    torch.testing.assert_close(
        vl.vicreg_loss(const, const), torch.tensor(25 * 0.99, dtype=torch.float64)
    )
