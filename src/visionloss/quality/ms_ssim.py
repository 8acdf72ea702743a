"""MS-SSIM: multi-scale structural similarity (loss ``1 - MS-SSIM`` and the metric)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .._core.declare import loss_function
from .._core.registry import register_loss
from ._ssim import (
    QUALITY_DOCS,
    ms_ssim_examples,
    pyramid_options,
    structural_similarity,
    window_options,
)

__all__ = ["ms_ssim_loss", "MSSSIMLoss", "ms_ssim"]


@loss_function(QUALITY_DOCS, options=(window_options, pyramid_options))
def ms_ssim_loss(input: Tensor, target: Tensor, **options: Any) -> Tensor:
    r"""Multi-scale structural similarity loss, :math:`1 - \mathrm{MS\text{-}SSIM}(x, y)`.

    On a dyadic pyramid (2x2 averages between scales, finest first, :math:`M` scales), with
    the luminance :math:`l_j` and the contrast-structure :math:`cs_j` terms of SSIM (see
    :func:`ssim_loss`) pooled over the positions of scale :math:`j`, per channel,

    .. math::
        \mathrm{MS\text{-}SSIM}(x, y) = \operatorname{mean}_c\;
        \big[\,\overline{l_M\, cs_M}\,\big]_+^{\beta_M}
        \prod_{j=1}^{M-1} \big[\,\overline{cs_j}\,\big]_+^{\beta_j}

    (the mean of :math:`l_M cs_M` at the coarsest scale, as Wang et al.'s MATLAB code and
    the peers pool it).

    Negative contrast-structure values: a pooled :math:`\overline{cs_j}` is negative for
    anti-correlated content, and a negative number to a fractional power is NaN (the NaNs of
    pytorch-msssim before 1.0 and of kornia's early versions). The default
    ``cs_policy="relu"`` clamps it at 0, the choice of pytorch-msssim >= 1.0, piq and
    torchmetrics, so the values agree with theirs: such an image scores 0 (loss 1), the
    worst similarity, and its gradient is 0 (the guarded power has a zero slope at 0 instead
    of an infinite one). ``cs_policy="normalize"`` maps every term to
    :math:`(v + 1) / 2 \in [0, 1]` first (the ``normalize=True`` of Jorge Pessoa's
    pytorch-msssim, recommended there for training): never clamped, so such images keep a
    gradient, at the price of a metric that differs from the published one.

    Images too small: every spatial size must be at least ``(win_size - 1) * 2 ** (M - 1) +
    1`` (161 pixels for the defaults); a smaller image is an error naming that size, and
    ``scales=k`` (or shorter ``weights``) gives fewer scales explicitly.

    {{loss_tail}}

    Reference:
        {{wang_2003}}.

    Example:
        >>> import torch
        >>> x = torch.rand(1, 1, 64, 64, generator=torch.Generator().manual_seed(0))
        >>> ms_ssim_loss(x, x, scales=3)  # 64 >= 10 * 2 ** 2 + 1
        tensor(0.)
        >>> ms_ssim_loss(x, x)
        Traceback (most recent call last):
        ...
        visionloss.errors.InputError: ms_ssim_loss: expected every spatial size >= 161 with win_size=11 for 5 scales, got input of shape (1, 1, 64, 64); pass scales=k for fewer scales or a smaller win_size
    """
    return structural_similarity(input, target, fn="ms_ssim_loss", loss=True, options=options)


@loss_function(QUALITY_DOCS, options=(window_options, pyramid_options))
def ms_ssim(input: Tensor, target: Tensor, **options: Any) -> Tensor:
    r"""Multi-scale structural similarity index (the metric, 1 for identical images).

    The same computation as :func:`ms_ssim_loss` (its formula, its policy for negative
    contrast-structure values and its minimum size), returning MS-SSIM itself.

    {{shape}}

    Returns:
        MS-SSIM, float32 for fp16/bf16 inputs.

    Reference:
        {{wang_2003}}.

    Example:
        >>> import torch
        >>> x = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(0))
        >>> ms_ssim(x, x, win_size=7, scales=3)
        tensor(1.)
    """
    return structural_similarity(input, target, fn="ms_ssim", loss=False, options=options)


MSSSIMLoss = register_loss(
    "ms_ssim",
    family="quality",
    function=ms_ssim_loss,
    module="MSSSIMLoss",
    formula="1 - mean_c [l_M cs_M]_+^b_M prod_j [cs_j]_+^b_j on a dyadic pyramid",
    reference="Wang, Simoncelli & Bovik, Asilomar 2003",
    examples=ms_ssim_examples,
).module
