"""PSNR as a loss: the negative peak signal-to-noise ratio of each image."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .._core.checks import check_same_shape, check_tensor
from .._core.declare import DocParts, loss_function
from .._core.dtypes import compute_dtype, upcast
from .._core.examples import Example
from .._core.options import Positive, Reduction
from .._core.reduction import reduce_loss
from .._core.registry import register_loss
from ._ssim import QUALITY_DOCS, image_pair

__all__ = ["psnr_loss", "PSNRLoss"]

_DOCS = QUALITY_DOCS | DocParts(
    args={
        "input": """images ``(B, *)`` (any shape with a batch dimension), floating point.""",
        "data_range": """:math:`L`, the range of the values (the peak; default 1).""",
        "eps": """added to :math:`\\mathrm{MSE} / L^2` inside the logarithm (default 1e-10:
            identical images score 100 dB, a finite loss of -100).""",
    }
)


@loss_function(_DOCS)
def psnr_loss(
    input: Tensor,
    target: Tensor,
    *,
    data_range: Positive = 1.0,
    eps: Positive = 1e-10,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Negative peak signal-to-noise ratio (in dB) of each image, a loss to minimise.

    .. math::
        \ell_b = -\mathrm{PSNR}_b = 10 \log_{10}\!\Big(\frac{\mathrm{MSE}_b}{L^2}
            + \varepsilon\Big),
        \qquad \mathrm{MSE}_b = \operatorname{mean}_{i} (x_{bi} - y_{bi})^2

    per image :math:`b` (the mean over every dimension but the first), so ``"mean"`` is the
    mean PSNR of the batch (negated), as image-restoration papers report it, not the PSNR of
    the batch's pooled MSE. Minimising it is minimising :math:`\sum_b \log \mathrm{MSE}_b`:
    each image's MSE counts relatively, so nearly-restored images keep a large gradient
    (Zhao et al.'s L2 weighs all images by their absolute error instead).

    Degenerate cases: identical images give :math:`-10 \log_{10}(1 / \varepsilon)` = -100 dB
    with the default ``eps`` (finite, zero gradient). ``data_range`` must be ``> 0``.

    Shape:
        ``input``, ``target``: ``(B, *)``; output: scalar, or ``(B,)`` for ``"none"``.

    Returns:
        the loss in dB, float32 for fp16/bf16 inputs.

    Reference:
        The PSNR of image and video coding (e.g. Huynh-Thu & Ghanbari, *Scope of validity
        of PSNR in image/video quality assessment*, Electronics Letters 44(13), 2008).

    Example:
        >>> import torch
        >>> x = torch.zeros(1, 1, 4, 4)
        >>> psnr_loss(x + 0.1, x)  # MSE 0.01: 20 dB
        tensor(-20.0000)
    """
    fn = "psnr_loss"
    check_tensor(input, "input", fn, floating=True, min_ndim=1)
    check_tensor(target, "target", fn, floating=True, min_ndim=1)
    check_same_shape(input, target, fn)
    dtype = compute_dtype(input, target)
    diff = upcast(input, dtype) - upcast(target, dtype)
    mse = diff.square().flatten(1).mean(1) if diff.dim() > 1 else diff.square()
    loss = (10.0 / math.log(10.0)) * torch.log(mse / (data_range * data_range) + eps)
    return reduce_loss(loss, reduction, fn=fn)


def _examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    return Example(image_pair(dtype, seed, (3, 2, 6, 6)))


PSNRLoss = register_loss(
    "psnr",
    family="quality",
    function=psnr_loss,
    module="PSNRLoss",
    formula="10 log10(MSE_b / L^2 + eps), per image",
    reference="peak signal-to-noise ratio (e.g. Huynh-Thu & Ghanbari, Electron. Lett. 2008)",
    examples=_examples,
).module
