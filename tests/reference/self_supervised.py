"""float64 loop references of the self-supervised and image-text losses, written from the
papers' equations (explicit sums, no matrix tricks), for the places where the peers differ
from the paper or take other inputs."""

from __future__ import annotations

import torch
from torch import Tensor


def _unit(x: Tensor) -> Tensor:
    n = x.norm()
    return x / n if n > 0 else x


def siglip_rows(images: Tensor, texts: Tensor, scale: float, bias: float) -> Tensor:
    """SigLIP, Zhai et al. 2023, Algorithm 1: ``-sum_j log sigmoid(y_ij (t <x_i, y_j> + b))``
    per image ``i`` (``y_ii = 1``, else ``-1``)."""
    n = images.shape[0]
    out = []
    for i in range(n):
        total = images.new_zeros(())
        for j in range(n):
            z = scale * torch.dot(_unit(images[i]), _unit(texts[j])) + bias
            y = 1.0 if i == j else -1.0
            total = total + torch.log1p(torch.exp(-y * z))
        out.append(total)
    return torch.stack(out)


def vicreg_paper(
    z1: Tensor, z2: Tensor, lam: float, mu: float, nu: float, gamma: float = 1.0, eps: float = 1e-4
) -> Tensor:
    """VICReg, Bardes et al. 2022, Eq. (1)-(6) as printed: ``lam s + mu (v(Z) + v(Z')) +
    nu (c(Z) + c(Z'))`` (no 1/2 on the variance term, which the authors' code,
    ``main_vicreg.py`` ``std_loss = mean(relu(1 - std_x)) / 2 + mean(relu(1 - std_y)) / 2``,
    adds)."""
    n, d = z1.shape
    s = sum(((z1[i] - z2[i]) ** 2).sum() for i in range(n)) / (n * d)

    def v(z: Tensor) -> Tensor:
        total = z.new_zeros(())
        for j in range(d):
            mean = z[:, j].sum() / n
            var = sum((z[i, j] - mean) ** 2 for i in range(n)) / (n - 1)
            total = total + torch.clamp(gamma - torch.sqrt(var + eps), min=0)
        return total / d

    def c(z: Tensor) -> Tensor:
        mean = z.sum(0) / n
        total = z.new_zeros(())
        for j in range(d):
            for k in range(d):
                if j != k:
                    cov = sum((z[i, j] - mean[j]) * (z[i, k] - mean[k]) for i in range(n)) / (n - 1)
                    total = total + cov**2
        return total / d

    return lam * s + mu * (v(z1) + v(z2)) + nu * (c(z1) + c(z2))


def barlow_twins_paper(z1: Tensor, z2: Tensor, lam: float, eps: float = 1e-5) -> Tensor:
    """Barlow Twins, Zbontar et al. 2021, Eq. (1)-(2), each column standardised over the
    batch with the biased variance plus ``eps`` (the paper's code: ``BatchNorm1d(affine=False)``
    before ``c = bn(z1).T @ bn(z2) / N``)."""
    n, d = z1.shape

    def standard(z: Tensor) -> Tensor:
        mean = z.sum(0) / n
        var = ((z - mean) ** 2).sum(0) / n
        return (z - mean) / torch.sqrt(var + eps)

    a, b = standard(z1), standard(z2)
    total = z1.new_zeros(())
    for i in range(d):
        for j in range(d):
            cij = sum(a[k, i] * b[k, j] for k in range(n)) / n
            total = total + ((1 - cij) ** 2 if i == j else lam * cij**2)
    return total
