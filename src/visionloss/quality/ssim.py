"""SSIM: the structural similarity index (loss ``1 - SSIM`` and the metric)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .._core.declare import loss_function
from .._core.registry import register_loss
from ._ssim import QUALITY_DOCS, ssim_examples, structural_similarity, window_options

__all__ = ["ssim_loss", "SSIMLoss", "ssim"]


@loss_function(QUALITY_DOCS, options=window_options)
def ssim_loss(input: Tensor, target: Tensor, **options: Any) -> Tensor:
    r"""Structural similarity loss, :math:`1 - \mathrm{SSIM}(x, y)`, 2-D or 3-D.

    {{ssim_math}}

    The loss of each image is :math:`1 - \mathrm{SSIM}`, in ``[0, 2]``.

    {{loss_tail}}

    Reference:
        {{wang_2004}}.

    Example:
        >>> import torch
        >>> x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
        >>> ssim_loss(x, x)
        tensor(0.)
        >>> bool(ssim_loss(x, x.flip(-1)) > 0.5)
        True
    """
    return structural_similarity(input, target, fn="ssim_loss", loss=True, options=options)


@loss_function(QUALITY_DOCS, options=window_options)
def ssim(input: Tensor, target: Tensor, **options: Any) -> Tensor:
    r"""Structural similarity index (the metric: higher is better, 1 for identical images).

    {{ssim_math}}

    The same computation as :func:`ssim_loss`, returning :math:`\mathrm{SSIM}` itself.

    {{shape}}

    Returns:
        SSIM, float32 for fp16/bf16 inputs.

    Reference:
        {{wang_2004}}.

    Example:
        >>> import torch
        >>> x = torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(0))
        >>> ssim(x, x)
        tensor(1.)
    """
    return structural_similarity(input, target, fn="ssim", loss=False, options=options)


SSIMLoss = register_loss(
    "ssim",
    family="quality",
    function=ssim_loss,
    module="SSIMLoss",
    formula="1 - mean_p (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2))",
    reference="Wang, Bovik, Sheikh & Simoncelli, IEEE TIP 13(4), 2004",
    examples=ssim_examples,
).module
