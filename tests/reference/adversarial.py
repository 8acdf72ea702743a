"""float64 references for the adversarial family: the gradient penalties computed one sample at
a time with autograd (the penalty's own gradient then needs autograd a second time)."""

from __future__ import annotations

import torch
from torch import Tensor


def gradient_penalty(critic, real: Tensor, fake: Tensor, alpha: Tensor, lambda_: float) -> Tensor:
    """Gulrajani et al., Alg. 1, per sample: x_hat = a x + (1 - a) x~,
    lambda (||grad D(x_hat)|| - 1)^2, with the sample's gradient taken on its own."""
    out = []
    for b in range(real.shape[0]):
        x_hat = (alpha[b] * real[b] + (1 - alpha[b]) * fake[b]).detach().double()
        x_hat.requires_grad_(True)
        d = critic(x_hat.unsqueeze(0)).sum()
        (g,) = torch.autograd.grad(d, x_hat, create_graph=True)
        norm = torch.sqrt((g**2).sum())
        out.append(lambda_ * (norm - 1) ** 2)
    return torch.stack(out)


def r1_penalty(critic, real: Tensor, gamma: float) -> Tensor:
    """Mescheder et al. Eq. (9) per sample: gamma / 2 ||grad D(x)||^2."""
    out = []
    for b in range(real.shape[0]):
        x = real[b].detach().double().requires_grad_(True)
        (g,) = torch.autograd.grad(critic(x.unsqueeze(0)).sum(), x, create_graph=True)
        out.append(0.5 * gamma * (g**2).sum())
    return torch.stack(out)
