"""The relativistic average kinds of discriminator_loss / generator_loss against the paper's
equations (Jolicoeur-Martineau, ICLR 2019, arXiv:1807.00734, Section 4.3 and Appendix):

    RaSGAN   L_D = -E[log sig(C(x_r) - E C(x_f))] - E[log(1 - sig(C(x_f) - E C(x_r)))]
             L_G = -E[log sig(C(x_f) - E C(x_r))] - E[log(1 - sig(C(x_r) - E C(x_f)))]
    RaLSGAN  L_D = E[(C(x_r) - E C(x_f) - 1)^2] + E[(C(x_f) - E C(x_r) + 1)^2]
             L_G = E[(C(x_f) - E C(x_r) - 1)^2] + E[(C(x_r) - E C(x_f) + 1)^2]
    RaHinge  L_D = E[max(0, 1 - (C(x_r) - E C(x_f)))] + E[max(0, 1 + (C(x_f) - E C(x_r)))]
             L_G = E[max(0, 1 - (C(x_f) - E C(x_r)))] + E[max(0, 1 + (C(x_r) - E C(x_f)))]

written here with log/sigmoid in float64. The author's code (RelativisticGAN, GAN_losses)
divides each loss by 2; we follow the equations (no 1/2), as for the other kinds.
"""

from __future__ import annotations

import pytest
import torch

import visionloss as vl
from tests.helpers import grads
from visionloss.errors import InputError


def sig(t):
    return 1 / (1 + torch.exp(-t))


PAPER = {
    "rasgan": (
        lambda r, f: -torch.log(sig(r - f.mean())).mean() - torch.log(1 - sig(f - r.mean())).mean(),
        lambda r, f: -torch.log(sig(f - r.mean())).mean() - torch.log(1 - sig(r - f.mean())).mean(),
    ),
    "ralsgan": (
        lambda r, f: ((r - f.mean() - 1) ** 2).mean() + ((f - r.mean() + 1) ** 2).mean(),
        lambda r, f: ((f - r.mean() - 1) ** 2).mean() + ((r - f.mean() + 1) ** 2).mean(),
    ),
    "rahinge": (
        lambda r, f: torch.relu(1 - (r - f.mean())).mean() + torch.relu(1 + (f - r.mean())).mean(),
        lambda r, f: torch.relu(1 - (f - r.mean())).mean() + torch.relu(1 + (r - f.mean())).mean(),
    ),
}


def logits(seed=0, shape=(6, 1, 3, 3)):
    gen = torch.Generator().manual_seed(seed)
    return (
        torch.randn(*shape, generator=gen, dtype=torch.float64),
        torch.randn(*shape, generator=gen, dtype=torch.float64) - 0.5,
    )


@pytest.mark.parametrize("kind", list(PAPER))
def test_discriminator_matches_the_paper(kind):
    r, f = logits()
    value, (gr, gf) = grads(lambda a, b: vl.discriminator_loss(a, b, kind=kind), r, f)
    expected, (er, ef) = grads(PAPER[kind][0], r, f)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(gr, er)
    torch.testing.assert_close(gf, ef)


@pytest.mark.parametrize("kind", list(PAPER))
def test_generator_matches_the_paper(kind):
    """Gradients to both: the real term reaches the generator through the mean of f."""
    r, f = logits(1)
    value, (gf, gr) = grads(lambda b, a: vl.generator_loss(b, real_logits=a, kind=kind), f, r)
    expected, (ef, er) = grads(lambda b, a: PAPER[kind][1](a, b), f, r)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(gf, ef)
    torch.testing.assert_close(gr, er)


@pytest.mark.parametrize("kind", list(PAPER))
def test_none_sums_to_sum_and_module_takes_real_logits_per_call(kind):
    r, f = logits(2, (8,))
    none = vl.discriminator_loss(r, f, kind=kind, reduction="none")
    torch.testing.assert_close(none.sum(), vl.discriminator_loss(r, f, kind=kind, reduction="sum"))
    module = vl.GeneratorLoss(kind=kind)
    torch.testing.assert_close(
        module(f, real_logits=r), vl.generator_loss(f, real_logits=r, kind=kind)
    )


@pytest.mark.parametrize("kind", list(PAPER))
def test_extreme_logits_are_finite(kind):
    r = torch.tensor([200.0, -300.0], requires_grad=True)
    f = torch.tensor([-500.0, 100.0], requires_grad=True)
    for value in (
        vl.discriminator_loss(r, f, kind=kind),
        vl.generator_loss(f, real_logits=r, kind=kind),
    ):
        g = torch.autograd.grad(value, (r, f))
        assert torch.isfinite(value) and all(torch.isfinite(t).all() for t in g)


def test_real_logits_go_with_the_relativistic_kinds_only():
    r, f = torch.zeros(3), torch.zeros(3)
    with pytest.raises(InputError, match=r"^generator_loss: kind='rasgan' needs real_logits"):
        vl.generator_loss(f, kind="rasgan")
    with pytest.raises(InputError, match=r"^generator_loss: real_logits apply to the relativistic"):
        vl.generator_loss(f, real_logits=r)
    with pytest.raises(InputError, match=r"^generator_loss: expected real_logits of shape"):
        vl.generator_loss(f, real_logits=torch.zeros(4), kind="ralsgan", reduction="none")
