"""float64 references for the image-quality family, written from the papers' equations (not
from any library's code).

* ``zhao_mix_valid``: Zhao, Gallo, Frosio & Kautz, *Loss Functions for Image Restoration with
  Neural Networks*, IEEE TCI 2017 (arXiv:1511.08861), Eqs. (7)-(11): SSIM terms with a
  Gaussian window per scale at full resolution, MS-SSIM(p) = l_M(p) * prod_j cs_j(p) (all
  exponents 1, as their Caffe/PyTorch code PL4NN ``MSSSIML1`` does), and the mix
  alpha * (1 - MS-SSIM) + (1 - alpha) * G_{sigma_M} . |x - y|, evaluated at each pixel whose
  window fits (the authors evaluate the centre pixel of each patch). Window: 2 * int(2
  sigma_M) + 1 taps for every scale (PL4NN's ``gaussian_filter`` width).
* ``focal_frequency``: Jiang, Dai, Wu & Loy, *Focal Frequency Loss for Image Reconstruction
  and Synthesis*, ICCV 2021 (arXiv:2012.12821), Eqs. (2)-(4) and the authors' released
  formulation (focal-frequency-loss 0.3, ``FocalFrequencyLoss.loss_formulation``): orthonormal
  2-D DFT of each (patch of a) channel, spectrum weight |F_r - F_f|^alpha (optionally
  log(1 + .)), scaled by its maximum per image, channel and patch (or over the batch) into
  [0, 1], detached; the loss is the mean of weight * |F_r - F_f|^2.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def gaussian_2d(size: int, sigma: float) -> Tensor:
    t = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-(t[:, None] ** 2 + t[None, :] ** 2) / (2 * sigma * sigma))
    return g / g.sum()


def local(x: Tensor, kernel: Tensor) -> Tensor:
    """Windowed weighted sum at every position where the window fits (valid), by unfolding."""
    k = kernel.shape[-1]
    patches = x.unfold(-2, k, 1).unfold(-2, k, 1)  # (B, C, H', W', k, k)
    return (patches * kernel).sum((-2, -1))


def zhao_mix_valid(
    x: Tensor,
    y: Tensor,
    sigmas=(0.5, 1.0, 2.0, 4.0, 8.0),
    alpha: float = 0.84,
    data_range: float = 1.0,
    k1: float = 0.01,
    k2: float = 0.03,
) -> Tensor:
    """Per-image mean of Zhao et al.'s per-pixel mix, (B,), float64."""
    x, y = x.double(), y.double()
    size = 2 * int(2 * sigmas[-1]) + 1
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    prod_cs = 1.0
    for sigma in sigmas:
        g = gaussian_2d(size, sigma)
        mx, my = local(x, g), local(y, g)
        vx = local(x * x, g) - mx * mx
        vy = local(y * y, g) - my * my
        cxy = local(x * y, g) - mx * my
        prod_cs = prod_cs * (2 * cxy + c2) / (vx + vy + c2)
    lum = (2 * mx * my + c1) / (mx * mx + my * my + c1)  # the last (coarsest) scale
    ms = lum * prod_cs
    l1 = local((x - y).abs(), g) / data_range
    mix = alpha * (1 - ms) + (1 - alpha) * l1
    return mix.flatten(1).mean(1)


def focal_frequency(
    pred: Tensor,
    target: Tensor,
    alpha: float = 1.0,
    patch_factor: int = 1,
    ave_spectrum: bool = False,
    log_matrix: bool = False,
    batch_matrix: bool = False,
) -> Tensor:
    """The authors' focal frequency loss (mean over every spectrum entry), float64."""

    def spectrum(x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        ph, pw = h // patch_factor, w // patch_factor
        patches = [
            x[:, :, i * ph : (i + 1) * ph, j * pw : (j + 1) * pw]
            for i in range(patch_factor)
            for j in range(patch_factor)
        ]
        return torch.fft.fft2(torch.stack(patches, 1), norm="ortho")  # (B, P, C, ph, pw)

    fp, ft = spectrum(pred.double()), spectrum(target.double())
    if ave_spectrum:
        fp, ft = fp.mean(0, keepdim=True), ft.mean(0, keepdim=True)
    dist = (fp - ft).abs() ** 2
    weight = dist.sqrt() ** alpha
    if log_matrix:
        weight = torch.log(weight + 1.0)
    if batch_matrix:
        weight = weight / weight.max()
    else:
        weight = weight / weight.amax(dim=(-2, -1), keepdim=True)
    weight = torch.nan_to_num(weight, nan=0.0).clamp(0, 1).detach()
    return (weight * dist).mean()


def psnr(x: Tensor, y: Tensor, data_range: float = 1.0) -> Tensor:
    """PSNR per image in dB, float64."""
    mse = ((x.double() - y.double()) ** 2).flatten(1).mean(1)
    return 10 * torch.log10(data_range**2 / mse) if mse.min() > 0 else mse * math.inf


def gradient_difference(x: Tensor, y: Tensor, alpha: float = 1.0) -> Tensor:
    """Mathieu et al. Eq. (5), summed, by loops over the pixels of each (B, C) image:
    sum_{i,j} ||y_ij - y_{i-1,j}| - |x_ij - x_{i-1,j}||^a + ||y_{i,j-1} - y_ij| - |x_{i,j-1} - x_ij||^a."""
    total = x.new_zeros((), dtype=torch.float64)
    x, y = x.double(), y.double()
    h, w = x.shape[-2:]
    for i in range(h):
        for j in range(w):
            if i > 0:
                a = (y[..., i, j] - y[..., i - 1, j]).abs() - (
                    x[..., i, j] - x[..., i - 1, j]
                ).abs()
                total = total + (a.abs() ** alpha).sum()
            if j > 0:
                b = (y[..., i, j - 1] - y[..., i, j]).abs() - (
                    x[..., i, j - 1] - x[..., i, j]
                ).abs()
                total = total + (b.abs() ** alpha).sum()
    return total
