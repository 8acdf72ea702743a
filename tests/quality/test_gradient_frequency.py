"""gradient_difference_loss against a loop reference of Mathieu et al.'s Eq. (5), and
focal_frequency_loss against the authors' formulation (tests/reference/quality.py: the
focal-frequency-loss package is not installed here; the reference follows its
``loss_formulation``: orthonormal FFT of each patch, weight |dF|^alpha scaled by its maximum per
image/channel/patch or over the batch, NaN -> 0, detached; mean of weight * |dF|^2)."""

from __future__ import annotations

import pytest
import torch

import visionloss as vl
from tests.helpers import grads
from tests.reference import quality as ref
from visionloss.errors import InputError


def pair(*shape, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (
        torch.rand(*shape, generator=gen, dtype=torch.float64),
        torch.rand(*shape, generator=gen, dtype=torch.float64),
    )


@pytest.mark.parametrize("alpha", [1.0, 2.0, 0.5])
def test_gdl_matches_the_loop_reference(alpha):
    x, y = pair(2, 2, 5, 6)
    value, (g,) = grads(
        lambda a: vl.gradient_difference_loss(a, y, alpha=alpha, reduction="sum"), x
    )
    expected, (h,) = grads(lambda a: ref.gradient_difference(a, y, alpha), x)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(g, h)
    mean = vl.gradient_difference_loss(x, y, alpha=alpha)
    torch.testing.assert_close(mean, expected / x.numel())


def test_gdl_degenerate():
    x = torch.rand(1, 1, 6, 6, dtype=torch.float64)
    value, (g,) = grads(lambda a: vl.gradient_difference_loss(a, x.clone(), alpha=0.5), x)
    assert float(value) == 0.0 and torch.isfinite(g).all() and g.abs().max() == 0
    value = vl.gradient_difference_loss(x, x + 0.3)  # a brightness shift: same gradients
    assert float(value) < 1e-12
    const = torch.full((1, 1, 4, 4), 0.2)
    value, (g,) = grads(lambda a: vl.gradient_difference_loss(a, x[..., :4, :4].float()), const)
    assert torch.isfinite(value) and torch.isfinite(g).all()


FFL_SETTINGS = [
    pytest.param({}, id="defaults"),
    pytest.param({"alpha": 2.0, "patch_factor": 2}, id="alpha-patches"),
    pytest.param({"ave_spectrum": True, "log_matrix": True, "batch_matrix": True}, id="flags"),
]


@pytest.mark.parametrize("opts", FFL_SETTINGS)
def test_ffl_matches_the_authors_formulation(opts):
    x, y = pair(2, 3, 8, 12)
    value, (g,) = grads(lambda a: vl.focal_frequency_loss(a, y, **opts), x)
    expected, (h,) = grads(lambda a: ref.focal_frequency(a, y, **opts), x)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(g, h)


def test_ffl_weight_is_detached_and_the_gradient_is_the_weighted_l2_one():
    """With alpha = 0 the weights would all be 1; with the weight held constant the gradient
    is that of sum w |dF|^2 / N. Parseval: with all weights 1 (a single-entry spectrum, 1x1
    images) the loss is the mean squared difference."""
    x, y = pair(3, 2, 1, 1)
    torch.testing.assert_close(vl.focal_frequency_loss(x, y), ((x - y) ** 2).mean())


def test_ffl_degenerate_and_bad_inputs():
    x, _ = pair(1, 2, 8, 8)
    value, (g,) = grads(lambda a: vl.focal_frequency_loss(a, x.clone()), x)
    assert float(value) == 0.0 and torch.isfinite(g).all()
    h = vl.focal_frequency_loss(x.half(), (x + 0.1).half())
    assert h.dtype == torch.float32 and torch.isfinite(h)
    with pytest.raises(InputError, match=r"^focal_frequency_loss: expected H and W divisible"):
        vl.focal_frequency_loss(torch.rand(1, 1, 6, 6), torch.rand(1, 1, 6, 6), patch_factor=4)
