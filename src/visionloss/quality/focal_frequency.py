"""Focal frequency loss (Jiang, Dai, Wu & Loy)."""

from __future__ import annotations

from typing import Annotated

import torch
from torch import Tensor

from .._core.checks import check_same_shape, check_tensor, shape_str
from .._core.declare import DocParts, loss_function
from .._core.dtypes import compute_dtype, upcast
from .._core.examples import Example
from .._core.numerics import div
from .._core.numerics import pow as safe_pow
from .._core.options import Bool, Positive, Reduction
from .._core.reduction import reduce_loss
from .._core.registry import register_loss
from ..errors import InputError
from ._ssim import QUALITY_DOCS, _Count, image_pair

__all__ = ["focal_frequency_loss", "FocalFrequencyLoss"]

_DOCS = QUALITY_DOCS | DocParts(
    args={
        "input": """images ``(B, C, H, W)``, floating point (reconstructed or generated).""",
        "alpha": """the focusing exponent :math:`\\alpha` of the spectrum weight (default
            1).""",
        "patch_factor": """split each image into ``patch_factor x patch_factor`` patches and
            take the spectrum of each (default 1: the whole image). ``H`` and ``W`` must be
            divisible by it.""",
        "ave_spectrum": """compare the batch-averaged spectra (default False).""",
        "log_matrix": """weight :math:`\\log(1 + w)` instead of :math:`w` (default False).""",
        "batch_matrix": """scale the weights by their maximum over the whole batch instead of
            per image, channel and patch (default False).""",
        "reduction": """``"mean"`` over every spectrum entry (default, the authors'), ``"sum"``
            or ``"none"`` (the weighted map ``(B, P, C, H / p, W / p)``).""",
    }
)

PatchFactor = Annotated[int, _Count()]


@loss_function(_DOCS)
def focal_frequency_loss(
    input: Tensor,
    target: Tensor,
    *,
    alpha: Positive = 1.0,
    patch_factor: PatchFactor = 1,
    ave_spectrum: Bool = False,
    log_matrix: Bool = False,
    batch_matrix: Bool = False,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Focal frequency loss of Jiang et al.: a spectrum distance focused on the hard
    frequencies.

    With :math:`F_x`, :math:`F_y` the orthonormal 2-D DFTs of each channel (of each patch),

    .. math::
        \ell_{uv} = w_{uv}\, \lvert F_y(u, v) - F_x(u, v) \rvert^2, \qquad
        w = \mathrm{sg}\Big[\frac{\lvert F_y - F_x\rvert^{\alpha}}
            {\max_{u,v} \lvert F_y - F_x\rvert^{\alpha}}\Big]

    (:math:`\mathrm{sg}`: no gradient through the weight; with ``log_matrix`` the weight is
    :math:`\log(1 + \lvert F_y - F_x\rvert^\alpha)` before the scaling), averaged over every
    entry: the authors' released formulation (focal-frequency-loss 0.3).

    Degenerate cases: identical images give 0; where the maximum is 0 (a spectrum that
    matches exactly) the weights are 0, as the authors' NaN-to-zero step gives, with finite
    gradients.

    Shape:
        ``input``, ``target``: ``(B, C, H, W)``; output: scalar, or
        ``(B, P, C, H / p, W / p)`` for ``"none"`` (``P = p^2`` patches; ``B = 1`` with
        ``ave_spectrum``).

    Returns:
        the loss, float32 for fp16/bf16 inputs.

    Reference:
        Jiang, Dai, Wu & Loy, *Focal Frequency Loss for Image Reconstruction and Synthesis*,
        ICCV 2021, arXiv:2012.12821, Eqs. (2)-(4).

    Example:
        >>> import torch
        >>> x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
        >>> focal_frequency_loss(x, x)
        tensor(0.)
    """
    fn = "focal_frequency_loss"
    check_tensor(input, "input", fn, floating=True, ndim=4)
    check_tensor(target, "target", fn, floating=True, ndim=4)
    check_same_shape(input, target, fn)
    h, w = input.shape[-2:]
    if h % patch_factor or w % patch_factor:
        raise InputError(
            f"{fn}: expected H and W divisible by patch_factor={patch_factor}, got input of "
            f"shape {shape_str(input)}"
        )
    dtype = compute_dtype(input, target)
    x, y = upcast(input, dtype), upcast(target, dtype)
    fx, fy = _spectrum(x, patch_factor), _spectrum(y, patch_factor)
    if ave_spectrum:
        fx, fy = fx.mean(0, keepdim=True), fy.mean(0, keepdim=True)
    diff = fx - fy
    dist = diff.real.square() + diff.imag.square()
    with torch.no_grad():
        weight = safe_pow(dist.sqrt(), alpha)
        if log_matrix:
            weight = torch.log1p(weight)
        top = weight.amax() if batch_matrix else weight.amax(dim=(-2, -1), keepdim=True)
        weight = div(weight, top.expand_as(weight)).clamp(0, 1)
    return reduce_loss(weight * dist, reduction, fn=fn)


def _spectrum(x: Tensor, p: int) -> Tensor:
    """Orthonormal 2-D DFT of each of the ``p x p`` patches: ``(B, P, C, H / p, W / p)``."""
    b, c, h, w = x.shape
    patches = x.reshape(b, c, p, h // p, p, w // p).permute(0, 2, 4, 1, 3, 5)
    return torch.fft.fft2(patches.reshape(b, p * p, c, h // p, w // p), norm="ortho")


def _examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    return Example(image_pair(dtype, seed, (2, 2, 6, 6), noise=0.3))


FocalFrequencyLoss = register_loss(
    "focal_frequency",
    family="quality",
    function=focal_frequency_loss,
    module="FocalFrequencyLoss",
    aliases=("ffl",),
    formula="sg[|F_y - F_x|^alpha / max] |F_y - F_x|^2, orthonormal 2-D DFT",
    reference="Jiang, Dai, Wu & Loy, ICCV 2021, arXiv:2012.12821",
    examples=_examples,
).module
