"""Zhao et al.'s MS-SSIM + L1 mix for image restoration."""

from __future__ import annotations

from typing import Annotated

import torch
from torch import Tensor

from .._core.declare import DocParts, loss_function
from .._core.dtypes import upcast
from .._core.examples import Example
from .._core.numerics import div
from .._core.options import Fraction, Positive, Reduction
from .._core.reduction import reduce_loss
from .._core.registry import register_loss
from ._ssim import (
    QUALITY_DOCS,
    Padding,
    _PositiveSequence,
    check_images,
    check_min_size,
    gaussian_window,
    image_pair,
)
from ._ssim_stats import gaussian_filter

__all__ = ["ms_ssim_l1_loss", "MSSSIML1Loss"]

Sigmas = Annotated[tuple[float, ...], _PositiveSequence()]

_DOCS = QUALITY_DOCS | DocParts(
    args={
        "sigmas": """the Gaussian :math:`\\sigma_j` of the scales, the coarsest last (default
            Zhao et al.'s ``(0.5, 1, 2, 4, 8)``). Every window is ``2 * int(2 * sigmas[-1]) +
            1`` pixels wide (33 by default), as in the authors' code.""",
        "alpha": """:math:`\\alpha`, the weight of the MS-SSIM term (default 0.84, the
            paper's); the Gaussian-weighted L1 term gets :math:`1 - \\alpha`.""",
        "padding": """``"same"`` (default: reflect padding, one value per pixel) or
            ``"valid"`` (only the positions where the window fits: the authors evaluated
            the loss at the centre pixel of each patch).""",
    }
)


@loss_function(_DOCS)
def ms_ssim_l1_loss(
    input: Tensor,
    target: Tensor,
    *,
    data_range: Positive = 1.0,
    sigmas: Sigmas = (0.5, 1.0, 2.0, 4.0, 8.0),
    k1: Positive = 0.01,
    k2: Positive = 0.03,
    alpha: Fraction = 0.84,
    padding: Padding = "same",
    reduction: Reduction = "mean",
) -> Tensor:
    r"""MS-SSIM + L1 mix of Zhao, Gallo, Frosio & Kautz for image restoration.

    Zhao et al.'s per-pixel MS-SSIM uses one Gaussian per scale at full resolution (not a
    pyramid): with :math:`l_j`, :math:`cs_j` the luminance and contrast-structure maps of
    SSIM (see :func:`ssim_loss`) under the Gaussian :math:`G_{\sigma_j}`, per pixel
    :math:`p` and channel,

    .. math::
        \mathrm{MS\text{-}SSIM}(p) = l_M(p) \prod_{j=1}^{M} cs_j(p), \qquad
        \ell(p) = \alpha\,\big(1 - \mathrm{MS\text{-}SSIM}(p)\big)
            + (1 - \alpha)\, \big(G_{\sigma_M} * \lvert x - y \rvert\big)(p) / L

    (the exponents of Wang et al.'s MS-SSIM are all 1 here, as in the authors' code, so no
    fractional power of a negative :math:`cs` arises), averaged over the channels and the
    positions of each image. The L1 term is divided by the data range :math:`L` (1 for
    images in ``[0, 1]``, the paper's setting) so that the mix does not depend on the scale
    of the values.

    Differences from kornia's ``MS_SSIMLoss`` (the same formula): kornia zero-pads the images
    (biased values in a band 16 pixels wide along the borders, where we reflect), and its
    defaults are ``alpha=0.025`` and a ``compensation=200`` factor that the paper does not
    have; its ``alpha=0.84, compensation=1`` map equals ours on the valid positions.

    Degenerate cases: identical images give 0 with zero gradient; constant images are
    finite (zero variances give :math:`cs = 1`). ``data_range`` must be ``> 0``.

    {{dtypes}}

    Shape:
        ``input``, ``target``: ``(B, C, H, W)`` or ``(B, C, D, H, W)``; each spatial size at
        least the window (``"valid"``) or more than half of it (``"same"``); output: scalar,
        or ``(B,)`` for ``"none"``.

    Returns:
        the loss, float32 for fp16/bf16 inputs.

    Reference:
        Zhao, Gallo, Frosio & Kautz, *Loss Functions for Image Restoration with Neural
        Networks*, IEEE TCI 3(1), 2017, arXiv:1511.08861, Eq. 11 and Section 3.

    Example:
        >>> import torch
        >>> x = torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(0))
        >>> ms_ssim_l1_loss(x, x)
        tensor(0.)
        >>> bool(ms_ssim_l1_loss(x, x.flip(-1)) > 0.1)
        True
    """
    fn = "ms_ssim_l1_loss"
    dtype = check_images(input, target, fn)
    pad = int(2 * sigmas[-1])
    win = 2 * pad + 1
    check_min_size(input, win if padding == "valid" else pad + 1, fn, f"sigmas[-1]={sigmas[-1]:g}")
    x, y = upcast(input, dtype), upcast(target, dtype)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    channels = x.shape[1]
    dims = tuple(range(2, x.dim()))
    mx = x.detach().mean(dim=dims, keepdim=True)
    my = y.detach().mean(dim=dims, keepdim=True)
    xs, ys = x - mx, y - my
    moments = torch.cat([xs, ys, xs * xs, ys * ys, xs * ys, (x - y).abs()], dim=1)
    ms: Tensor | float = 1.0
    for sigma in sigmas:
        stats = gaussian_filter(moments, gaussian_window(win, sigma, dtype, x.device), padding)
        mu_xs, mu_ys, exx, eyy, exy, l1_map = stats.split(channels, dim=1)
        sxx = exx - mu_xs * mu_xs
        syy = eyy - mu_ys * mu_ys
        sxy = exy - mu_xs * mu_ys
        ms = ms * div(2 * sxy + c2, sxx + syy + c2, default=1.0)
    # the last scale's statistics: the luminance and the filtered L1 term
    mu_x, mu_y = mu_xs + mx, mu_ys + my
    ms = ms * div(2 * mu_x * mu_y + c1, mu_x * mu_x + mu_y * mu_y + c1, default=1.0)
    l1 = l1_map / data_range
    loss = alpha * (1.0 - ms) + (1.0 - alpha) * l1
    return reduce_loss(loss.flatten(1).mean(1), reduction, fn=fn)


def _examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """Images ``(2, 2, 12, 12)`` with scales ``(0.5, 1, 2)`` (9-pixel windows)."""
    return Example(image_pair(dtype, seed, (2, 2, 12, 12)), options={"sigmas": (0.5, 1.0, 2.0)})


MSSSIML1Loss = register_loss(
    "ms_ssim_l1",
    family="quality",
    function=ms_ssim_l1_loss,
    module="MSSSIML1Loss",
    formula="alpha (1 - l_M prod_j cs_j) + (1 - alpha) G_M * |x - y| / L, per pixel",
    reference="Zhao, Gallo, Frosio & Kautz, IEEE TCI 2017, arXiv:1511.08861",
    examples=_examples,
).module
