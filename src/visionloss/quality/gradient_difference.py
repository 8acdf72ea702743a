"""Gradient difference loss (Mathieu, Couprie & LeCun)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .._core.checks import check_same_shape, check_tensor
from .._core.declare import DocParts, loss_function
from .._core.dtypes import compute_dtype, upcast
from .._core.examples import Example
from .._core.numerics import pow as safe_pow
from .._core.options import Positive, Reduction
from .._core.reduction import reduce_loss
from .._core.registry import register_loss
from ._ssim import QUALITY_DOCS, image_pair

__all__ = ["gradient_difference_loss", "GradientDifferenceLoss"]

_DOCS = QUALITY_DOCS | DocParts(
    args={
        "input": """images ``(*, H, W)``, e.g. ``(B, C, H, W)``, floating point (predicted
            frames).""",
        "alpha": """the exponent :math:`\\alpha` (default 1; the paper uses 1 and 2).""",
        "reduction": """``"mean"`` over the ``B*C*H*W`` pixels (default), ``"sum"`` or
            ``"none"`` (the per-pixel map, ``(*, H, W)``).""",
    }
)


@loss_function(_DOCS)
def gradient_difference_loss(
    input: Tensor,
    target: Tensor,
    *,
    alpha: Positive = 1.0,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Gradient difference loss of Mathieu et al.: match the magnitudes of the image gradients.

    .. math::
        \ell_{ij} = \big|\,|y_{i,j} - y_{i-1,j}| - |x_{i,j} - x_{i-1,j}|\,\big|^{\alpha}
            + \big|\,|y_{i,j-1} - y_{i,j}| - |x_{i,j-1} - x_{i,j}|\,\big|^{\alpha}

    with :math:`x` the prediction and :math:`y` the target, each channel separately; the
    differences are forward differences placed on the ``H x W`` grid (zero on the last row /
    column), so ``"sum"`` is the paper's :math:`\mathcal{L}_{gdl}` and ``"mean"`` divides it by
    the number of pixels.

    Degenerate cases: identical or constant images give 0 with a zero gradient; the
    absolute values have a zero slope at 0 and :math:`t^\alpha` a guarded one (finite for
    :math:`\alpha < 1`).

    Shape:
        ``input``, ``target``: ``(*, H, W)``; output: scalar, or ``(*, H, W)`` for ``"none"``.

    Returns:
        the loss, float32 for fp16/bf16 inputs.

    Reference:
        Mathieu, Couprie & LeCun, *Deep Multi-Scale Video Prediction Beyond Mean Square
        Error*, ICLR 2016, arXiv:1511.05440, Eq. (5).

    Example:
        >>> import torch
        >>> y = torch.tensor([[0.0, 1.0, 3.0]])  # one row: gradients 1, 2
        >>> gradient_difference_loss(torch.zeros(1, 3), y, reduction="sum")
        tensor(3.)
    """
    fn = "gradient_difference_loss"
    check_tensor(input, "input", fn, floating=True, min_ndim=2)
    check_tensor(target, "target", fn, floating=True, min_ndim=2)
    check_same_shape(input, target, fn)
    dtype = compute_dtype(input, target)
    x, y = upcast(input, dtype), upcast(target, dtype)

    def grads(z: Tensor) -> tuple[Tensor, Tensor]:
        dh = F.pad((z[..., 1:, :] - z[..., :-1, :]).abs(), (0, 0, 0, 1))
        dw = F.pad((z[..., :, 1:] - z[..., :, :-1]).abs(), (0, 1, 0, 0))
        return dh, dw

    (xh, xw), (yh, yw) = grads(x), grads(y)
    loss = safe_pow((yh - xh).abs(), alpha) + safe_pow((yw - xw).abs(), alpha)
    return reduce_loss(loss, reduction, fn=fn)


def _examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    return Example(image_pair(dtype, seed, (2, 2, 6, 6), noise=0.3))


GradientDifferenceLoss = register_loss(
    "gradient_difference",
    family="quality",
    function=gradient_difference_loss,
    module="GradientDifferenceLoss",
    formula="| |dy| - |dx| |^alpha, vertical + horizontal forward differences",
    reference="Mathieu, Couprie & LeCun, ICLR 2016, arXiv:1511.05440",
    examples=_examples,
).module
