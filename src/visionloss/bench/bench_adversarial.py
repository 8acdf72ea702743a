"""Adversarial losses: the GAN objectives against their plain-torch forms (BCE, MSE, hinge,
Wasserstein) on discriminator logits, and the WGAN-GP and R1 penalties against the usual
plain-torch code, on a small MLP critic.

Run alone: ``python -m visionloss.bench.bench_adversarial [--device cuda]``. A shape ``(B, 1, h, w)``
means PatchGAN logits (real and fake for the discriminator loss, fake for the generator's);
``(B, D)`` means ``B`` samples of dimension ``D`` for the penalties, with a critic
``D -> 512 -> 512 -> 1`` (LeakyReLU 0.2).

The runner times ``loss = impl(*args)`` and differentiates the tensors among ``args`` that
require grad, reusing the same ``args`` on every repetition. Two penalties need a stand-in for
that: the WGAN-GP critic is :class:`CriticWeights`, a tensor holding the critic's parameters
that is called as the critic (so the timed backward reaches the parameters through the
penalty's double backward, as a critic step does); R1's logits come from :class:`Recomputed`,
which runs the critic again in its backward instead of keeping its activations (a plain graph
can be differentiated only once). The R1 rows therefore include one extra critic forward and
backward per repetition, in ours and in the reference alike.
"""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F

from .cases import BenchCase, add_cases, itemsize, numel

LOGITS = {"cpu": [(16, 1, 30, 30)], "cuda": [(256, 1, 62, 62), (1024, 1, 62, 62)]}
SAMPLES = {"cpu": [(64, 256)], "cuda": [(1024, 3072), (4096, 3072)]}
HIDDEN = 512


def two_logits(shape, dtype, device):
    """``(real_logits, fake_logits)``, standard normal, both require grad."""
    r = torch.randn(shape, device=device).to(dtype).requires_grad_(True)
    f = torch.randn(shape, device=device).to(dtype).requires_grad_(True)
    return r, f


def one_logits(shape, dtype, device):
    return (torch.randn(shape, device=device).to(dtype).requires_grad_(True),)


def discriminator_floor(shape, dtype):
    """Read both logit tensors, write both gradients."""
    return {"bytes": 4.0 * numel(shape) * itemsize(dtype)}


def generator_floor(shape, dtype):
    """Read the logits, write their gradient."""
    return {"bytes": 2.0 * numel(shape) * itemsize(dtype)}


def _bce(x, target):
    return F.binary_cross_entropy_with_logits(x, torch.full_like(x, target))


DISCRIMINATOR_REFERENCES = {
    "nonsaturating": lambda r, f: _bce(r, 1.0) + _bce(f, 0.0),
    "lsgan": lambda r, f: (
        0.5 * F.mse_loss(r, torch.ones_like(r)) + 0.5 * F.mse_loss(f, torch.zeros_like(f))
    ),
    "wgan": lambda r, f: f.mean() - r.mean(),
    "hinge": lambda r, f: F.relu(1 - r).mean() + F.relu(1 + f).mean(),
}
GENERATOR_REFERENCES = {
    "minimax": lambda f: -_bce(f, 0.0),
    "nonsaturating": lambda f: _bce(f, 1.0),
    "lsgan": lambda f: 0.5 * F.mse_loss(f, torch.ones_like(f)),
    "hinge": lambda f: -f.mean(),
}


# --- the penalties: a small MLP critic ---------------------------------------------------------


def _layer_shapes(d):
    return [(HIDDEN, d), (HIDDEN,), (HIDDEN, HIDDEN), (HIDDEN,), (1, HIDDEN), (1,)]


def _mlp(x, params):
    w1, b1, w2, b2, w3, b3 = params
    h = F.leaky_relu(F.linear(x, w1, b1), 0.2)
    h = F.leaky_relu(F.linear(h, w2, b2), 0.2)
    return F.linear(h, w3, b3)


def _init(d, dtype, device):
    """The critic's parameters, flat: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) as ``nn.Linear``,
    seeded."""
    g = torch.Generator().manual_seed(0)
    shapes = _layer_shapes(d)
    parts = []
    for weight, bias in zip(shapes[::2], shapes[1::2]):
        bound = weight[1] ** -0.5
        for shape in (weight, bias):
            parts.append((torch.rand(shape, generator=g) * 2 - 1).mul_(bound).flatten())
    return torch.cat(parts).to(device=device, dtype=dtype)


class CriticWeights(torch.Tensor):
    """The parameters of the MLP critic in one flat tensor that is also the critic: called on
    samples ``(B, D)`` it returns their logits ``(B, 1)``. Operations on it give plain tensors
    (as for ``nn.Parameter``)."""

    __torch_function__ = torch._C._disabled_torch_function_impl  # type: ignore[assignment]

    @staticmethod
    def __new__(cls, data, d):
        out = torch.Tensor._make_subclass(cls, data, True)
        out.d = d
        return out

    def __call__(self, x):
        shapes = _layer_shapes(self.d)
        sizes = [numel(s) for s in shapes]
        params = [p.view(s) for p, s in zip(torch.split(self, sizes), shapes)]
        return _mlp(x, params)


def critic_and_samples(shape, dtype, device):
    """``(critic, real, fake)`` for ``gradient_penalty``: the critic's weights require grad."""
    b, d = shape
    critic = CriticWeights(_init(d, dtype, device), d)
    real = torch.randn(shape, device=device).to(dtype)
    fake = torch.randn(shape, device=device).to(dtype)
    return critic, real, fake


def _wgan_gp(critic, real, fake, lambda_=10.0):
    """The usual WGAN-GP code (Gulrajani et al.'s, in PyTorch)."""
    alpha = torch.rand(real.shape[0], 1, device=real.device, dtype=real.dtype)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    out = critic(mixed)
    (grad,) = torch.autograd.grad(out.sum(), mixed, create_graph=True)
    return lambda_ * ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


class Recomputed(torch.autograd.Function):
    """``critic(x)`` whose backward runs the critic again (as activation checkpointing does)
    rather than reading saved activations, so the same logits can be differentiated on every
    repetition; the backward is itself differentiable (R1's double backward goes through it)."""

    @staticmethod
    def forward(ctx, x, critic):
        ctx.x, ctx.critic = x, critic  # x is the samples' leaf: no reference cycle
        with torch.no_grad():
            return critic(x)

    @staticmethod
    def backward(ctx, grad):
        create_graph = torch.is_grad_enabled()
        with torch.enable_grad():
            out = ctx.critic(ctx.x)
            (gx,) = torch.autograd.grad(out, ctx.x, grad, create_graph=create_graph)
        return gx, None


def logits_and_samples(shape, dtype, device):
    """``(real_logits, real)`` for ``r1_penalty``: ``real`` requires grad, the logits are those
    of the critic (frozen here: the timed backward differentiates ``real``)."""
    b, d = shape
    critic = CriticWeights(_init(d, dtype, device), d).requires_grad_(False)
    real = torch.randn(shape, device=device).to(dtype).requires_grad_(True)
    return Recomputed.apply(real, critic), real


def _r1(real_logits, real, gamma=10.0):
    """The usual R1 code (StyleGAN2-ADA's), with its zero-valued tie to the logits."""
    (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
    return 0.5 * gamma * grad.flatten(1).square().sum(1).mean() + 0.0 * real_logits.sum()


def _critic_flops(shape):
    b, d = shape
    return 2.0 * b * (d * HIDDEN + HIDDEN * HIDDEN + HIDDEN)


def gradient_penalty_floor(shape, dtype):
    """The critic's forward on the interpolates, the input gradient, and at least two passes of
    the double backward (through the input-gradient graph and the forward graph): 4 times the
    forward's matmul flops."""
    return {"flops": 4 * _critic_flops(shape)}


def r1_floor(shape, dtype):
    """The input gradient and at least two passes of the double backward: 3 times the
    critic's forward flops (the logits are given)."""
    return {"flops": 3 * _critic_flops(shape)}


add_cases(
    *(
        BenchCase(
            "gan_discriminator",
            two_logits,
            LOGITS,
            options={"kind": kind},
            reference=ref,
            floor=discriminator_floor,
            label=kind,
        )
        for kind, ref in DISCRIMINATOR_REFERENCES.items()
    ),
    *(
        BenchCase(
            "gan_generator",
            one_logits,
            LOGITS,
            options={"kind": kind},
            reference=ref,
            floor=generator_floor,
            label=kind,
        )
        for kind, ref in GENERATOR_REFERENCES.items()
    ),
    BenchCase(
        "gradient_penalty",
        critic_and_samples,
        SAMPLES,
        reference=_wgan_gp,
        floor=gradient_penalty_floor,
        label="MLP critic",
    ),
    BenchCase("r1", logits_and_samples, SAMPLES, reference=_r1, floor=r1_floor, label="MLP critic"),
)

if __name__ == "__main__":
    from .runner import main

    sys.exit(main(["--family", "adversarial", *sys.argv[1:]]))
