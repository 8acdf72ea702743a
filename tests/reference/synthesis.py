"""float64 loop references for the synthesis family (written from the papers' formulas)."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def gram(features: Tensor) -> Tensor:
    """Unnormalised Gram per image, G[b, i, j] = sum_k F[b, i, k] F[b, j, k], by loops."""
    f = features.reshape(features.shape[0], features.shape[1], -1)
    b, c, m = f.shape
    rows = []
    for n in range(b):
        g = [[sum(f[n, i, k] * f[n, j, k] for k in range(m)) for j in range(c)] for i in range(c)]
        rows.append(torch.stack([torch.stack(r) for r in g]))
    return torch.stack(rows)


def gatys_style_layer(fa: Tensor, fb: Tensor) -> Tensor:
    """Gatys et al. Eq. (4) per image: 1 / (4 N^2 M^2) sum_ij (G_ij - A_ij)^2 on raw Grams.
    A target batch of 1 is used for every image."""
    n, m = fa.shape[1], math.prod(fa.shape[2:])
    ga, gb = gram(fa), gram(fb)
    out = []
    for i in range(fa.shape[0]):
        a = gb[0] if gb.shape[0] == 1 else gb[i]
        out.append(((ga[i] - a) ** 2).sum() / (4 * n**2 * m**2))
    return torch.stack(out)


def feature_mse(fa: Tensor, fb: Tensor) -> Tensor:
    """Johnson et al. Eq. (2) per image: ||fa - fb||^2 / (C H W), one image at a time."""
    return torch.stack([((a - b) ** 2).sum() / a.numel() for a, b in zip(fa, fb)])


def total_variation(x: Tensor, kind: str, eps: float = 1e-8) -> Tensor:
    """Per-pixel TV map of (..., H, W) with forward differences, zero past the last row/column."""
    h, w = x.shape[-2:]
    flat = x.reshape(-1, h, w)
    out = torch.zeros_like(flat)
    for n in range(flat.shape[0]):
        for i in range(h):
            for j in range(w):
                dx = flat[n, i, j + 1] - flat[n, i, j] if j + 1 < w else flat.new_zeros(())
                dy = flat[n, i + 1, j] - flat[n, i, j] if i + 1 < h else flat.new_zeros(())
                if kind == "anisotropic":
                    out[n, i, j] = dx.abs() + dy.abs()
                elif kind == "squared":
                    out[n, i, j] = dx**2 + dy**2
                else:
                    out[n, i, j] = torch.sqrt(dx**2 + dy**2 + eps**2) - eps
    return out.reshape(x.shape)
