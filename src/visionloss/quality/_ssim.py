"""Shared machinery of the image-quality family: the Gaussian window, the dyadic pyramid of
MS-SSIM, the option groups and docstring text, and the example inputs; the local statistics
of SSIM (separable depthwise convolutions, 2-D and 3-D, in float32 for half inputs) and their
pooled map with its hand-derived backward are in :mod:`._ssim_stats`.

Numerics: the local variances and covariance are formed as ``E[x'^2] - E[x']^2`` from inputs
``x' = x - m`` shifted by their per-channel mean ``m`` (a constant, so the variances are
unchanged in exact arithmetic), which keeps the cancellation small for images far from 0
(8-bit ranges): with the plain form the error grows with ``mu^2``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from numbers import Real
from typing import Annotated, Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .._core.checks import check_same_shape, check_tensor, shape_str
from .._core.declare import DocParts
from .._core.dtypes import compute_dtype, upcast
from .._core.examples import Example, generator, normal, uniform
from .._core.numerics import pow as safe_pow
from .._core.options import Check, Choice, Positive, Reduction
from .._core.reduction import reduce_loss
from ..errors import InputError, OptionError, OptionTypeError
from ._ssim_stats import PooledSSIM

# Wang, Simoncelli & Bovik 2003, Table/section 3.2 (and their MATLAB msssim.m)
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
PADDINGS = ("valid", "same")
CS_POLICIES = ("relu", "normalize")


# ------------------------------------------------------------------------------ option types
class _OddSize(Check):
    """An odd int >= 1 (a window has a centre pixel)."""

    def __call__(self, value: Any, name: str, fn: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise OptionTypeError(f"{fn}: expected {name} to be an int, got {value!r}")
        if value < 1 or value % 2 == 0:
            raise OptionError(f"{fn}: expected {name} to be an odd int >= 1, got {value!r}")
        return value


class _Count(Check):
    """An int >= 1, or None when ``optional``."""

    def __init__(self, *, optional: bool = False) -> None:
        self.optional = optional

    def __call__(self, value: Any, name: str, fn: str) -> Any:
        if value is None and self.optional:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise OptionTypeError(f"{fn}: expected {name} to be an int, got {value!r}")
        if value < 1:
            raise OptionError(f"{fn}: expected {name} >= 1, got {value!r}")
        return value


class _PositiveSequence(Check):
    """A non-empty sequence of finite numbers > 0, as a tuple of floats."""

    def __call__(self, value: Any, name: str, fn: str) -> Any:
        if isinstance(value, Tensor):
            value = value.detach().flatten().tolist()
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise OptionTypeError(
                f"{fn}: expected {name} to be a sequence of numbers, got {type(value).__name__}"
            )
        items = list(value)
        if not items or not all(isinstance(v, Real) and not isinstance(v, bool) for v in items):
            raise OptionTypeError(f"{fn}: expected {name} to hold numbers, got {value!r}")
        if not all(math.isfinite(float(v)) and float(v) > 0 for v in items):
            raise OptionError(f"{fn}: expected {name} > 0 and finite, got {value!r}")
        return tuple(float(v) for v in items)


WinSize = Annotated[int, _OddSize()]
Padding = Annotated[str, Choice(*PADDINGS)]
ScaleWeights = Annotated[Sequence[float], _PositiveSequence()]
Scales = Annotated[int | None, _Count(optional=True)]
CsPolicy = Annotated[str, Choice(*CS_POLICIES)]


def window_options(
    *,
    data_range: Positive = 1.0,
    win_size: WinSize = 11,
    sigma: Positive = 1.5,
    k1: Positive = 0.01,
    k2: Positive = 0.03,
    padding: Padding = "valid",
    reduction: Reduction = "mean",
) -> None:
    """The options of SSIM and MS-SSIM (an option group: declared once)."""


def pyramid_options(
    *,
    weights: ScaleWeights = MS_SSIM_WEIGHTS,
    scales: Scales = None,
    cs_policy: CsPolicy = "relu",
) -> None:
    """The options of MS-SSIM's pyramid (an option group)."""


# --------------------------------------------------------------------------------- docstrings
QUALITY_DOCS = DocParts(
    args={
        "input": """images ``(B, C, H, W)`` or volumes ``(B, C, D, H, W)``, floating point
            (the restored or generated ones).""",
        "target": """reference images of the same shape.""",
        "data_range": """:math:`L`, the range of the pixel values (1 for ``[0, 1]``, 255 for
            8-bit values; default 1). It sets :math:`C_1 = (k_1 L)^2` and
            :math:`C_2 = (k_2 L)^2`; the values are not rescaled. Must be ``> 0``.""",
        "win_size": """the Gaussian window's width in pixels, odd (default 11).""",
        "sigma": """the Gaussian window's standard deviation (default 1.5).""",
        "k1": """:math:`k_1` of :math:`C_1` (default 0.01).""",
        "k2": """:math:`k_2` of :math:`C_2` (default 0.03).""",
        "padding": """``"valid"`` (default: the statistics only where the window fits, as
            Wang et al.'s MATLAB code, pytorch-msssim, piq, torchmetrics and MONAI) or
            ``"same"`` (reflect padding, one value per pixel, kornia's default).""",
        "weights": """the exponents :math:`\\beta_j` of the scales, finest first; their count
            is the number of scales (default Wang et al.'s five, ``(0.0448, 0.2856, 0.3001,
            0.2363, 0.1333)``).""",
        "scales": """use only the first ``scales`` of ``weights``, renormalised to sum to
            the full sum (default ``None``: all of them). For images too small for five
            scales.""",
        "cs_policy": """what a negative pooled contrast-structure value becomes before its
            fractional power: ``"relu"`` (default, 0: pytorch-msssim >= 1.0, piq and
            torchmetrics) or ``"normalize"`` (:math:`(v + 1) / 2`, in ``[0, 1]``).""",
        "reduction": """``"mean"`` over images (default), ``"sum"`` or ``"none"`` (one value
            per image, ``(B,)``).""",
    },
    paragraphs={
        "ssim_math": r"""With :math:`\mu`, :math:`\sigma^2` and :math:`\sigma_{xy}` the local
            means, variances and covariance under a normalised Gaussian window :math:`w`
            (separable, each channel separately),

            .. math::
                \mathrm{SSIM}(x, y) = \operatorname{mean}_{p}
                \frac{(2\mu_x\mu_y + C_1)(2\sigma_{xy} + C_2)}
                {(\mu_x^2 + \mu_y^2 + C_1)(\sigma_x^2 + \sigma_y^2 + C_2)}

            averaged over the positions :math:`p` and the channels of each image.""",
        # (starts on a new line so that the body keeps its indentation under "Shape:")
        "shape": """
            Shape:
                ``input``, ``target``: ``(B, C, H, W)`` or ``(B, C, D, H, W)``, each spatial
                size at least ``win_size`` (at the coarsest scale for MS-SSIM); output:
                scalar, or ``(B,)`` for ``"none"``.""",
        "dtypes": """Half-precision inputs are computed in float32 (the local variances of
            fp16 values overflow and cancel in fp16) and the result is float32.""",
        "degenerate": """Degenerate cases: identical images give exactly 1 (loss 0, zero
            gradient); constant images have zero variances, so the contrast-structure term
            is :math:`C_2 / C_2 = 1` and the value is the luminance term; both are finite
            with finite gradients. ``data_range`` must be ``> 0`` (a zero range is an
            error: :math:`C_1 = C_2 = 0` leaves 0/0 on flat regions).""",
        "wang_2004": """Wang, Bovik, Sheikh & Simoncelli, *Image Quality Assessment: From
            Error Visibility to Structural Similarity*, IEEE TIP 13(4), 2004""",
        "wang_2003": """Wang, Simoncelli & Bovik, *Multiscale Structural Similarity for Image
            Quality Assessment*, Asilomar Conference on Signals, Systems and Computers,
            2003""",
    },
)
# the end of the losses' descriptions (ssim_loss, ms_ssim_loss): degenerate cases, dtypes,
# shape and the returned value
QUALITY_DOCS |= DocParts(
    paragraphs={
        "loss_tail": "\n\n".join(
            [
                *(
                    inspect.cleandoc(QUALITY_DOCS.paragraphs[k])
                    for k in ("degenerate", "dtypes", "shape")
                ),
                "Returns:\n    the loss, float32 for fp16/bf16 inputs.",
            ]
        )
    }
)


# ------------------------------------------------------------------------------ the machinery
def gaussian_window(win_size: int, sigma: float, dtype: torch.dtype, device: Any) -> Tensor:
    """The 1-D normalised Gaussian ``exp(-t^2 / (2 sigma^2))``, ``t = -(n//2) .. n//2``."""
    t = torch.arange(win_size, dtype=torch.float64) - (win_size // 2)
    g = torch.exp(-(t * t) / (2.0 * sigma * sigma))
    return (g / g.sum()).to(dtype=dtype, device=device)


def check_images(input: Tensor, target: Tensor, fn: str) -> torch.dtype:
    """Floating ``(B, C, *S)`` with 2 or 3 spatial dims, same shape; the compute dtype."""
    check_tensor(input, "input", fn, floating=True, ndim=(4, 5))
    check_tensor(target, "target", fn, floating=True, ndim=(4, 5))
    check_same_shape(input, target, fn)
    return compute_dtype(input, target)


def min_size(win_size: int, scales: int) -> int:
    """The smallest spatial size whose coarsest pyramid level still holds the window."""
    return (win_size - 1) * 2 ** (scales - 1) + 1


def check_size(x: Tensor, win_size: int, scales: int, fn: str) -> None:
    """InputError naming the minimum size when a spatial size is too small."""
    need = min_size(win_size, scales)
    spatial = tuple(x.shape[2:])
    if min(spatial) < need:
        what = "" if scales == 1 else f" for {scales} scales"
        hint = "" if scales == 1 else "; pass scales=k for fewer scales or a smaller win_size"
        raise InputError(
            f"{fn}: expected every spatial size >= {need} with win_size={win_size}{what}, "
            f"got input of shape {shape_str(x)}{hint}"
        )


def check_min_size(x: Tensor, need: int, fn: str, setting: str) -> None:
    """InputError naming the minimum spatial size ``need`` (for ``setting``)."""
    if min(x.shape[2:]) < need:
        raise InputError(
            f"{fn}: expected every spatial size >= {need} with {setting}, got input of shape "
            f"{shape_str(x)}"
        )


def downsample(x: Tensor) -> Tensor:
    """One pyramid step: 2x2(x2) averages; an odd size repeats its last row/column first (the
    ``'symmetric'`` border of Wang et al.'s ``imfilter(..., ones(2)/4)`` then ``1:2:end``)."""
    spatial = x.shape[2:]
    pad: list[int] = []
    for s in reversed(spatial):
        pad += [0, s % 2]
    if any(pad):
        x = F.pad(x, pad, mode="replicate")
    return (F.avg_pool2d if x.dim() == 4 else F.avg_pool3d)(x, 2)


def resolve_scales(weights: Sequence[float], scales: int | None, fn: str) -> tuple[float, ...]:
    """The exponents in use: all ``weights``, or the first ``scales`` rescaled to the same sum."""
    weights = tuple(weights)
    if scales is None:
        return weights
    if scales > len(weights):
        raise OptionError(
            f"{fn}: expected scales <= {len(weights)} (the number of weights), got {scales}"
        )
    head = weights[:scales]
    factor = sum(weights) / sum(head)
    return tuple(w * factor for w in head)


def structural_similarity(
    input: Tensor, target: Tensor, *, fn: str, loss: bool, options: dict[str, Any]
) -> Tensor:
    """The body of ``ssim``, ``ms_ssim`` and their losses: the per-image (MS-)SSIM, or one
    minus it, reduced. MS-SSIM when ``options`` has the pyramid options; SSIM is the one-scale
    case (exponent 1, no clamping)."""
    o = dict(options)
    reduction = o.pop("reduction")
    if "weights" in o:
        betas = resolve_scales(o.pop("weights"), o.pop("scales"), fn)
        policy: str | None = o.pop("cs_policy")
    else:
        betas, policy = (1.0,), None
    value = _per_image(input, target, fn=fn, betas=betas, cs_policy=policy, **o)
    return reduce_loss(1.0 - value if loss else value, reduction, fn=fn)


def _per_image(
    input: Tensor,
    target: Tensor,
    *,
    fn: str,
    betas: tuple[float, ...],
    cs_policy: str | None,
    data_range: float,
    win_size: int,
    sigma: float,
    k1: float,
    k2: float,
    padding: str,
) -> Tensor:
    """(MS-)SSIM of each image, ``(B,)``: per channel, the product over scales of the pooled
    contrast-structure (the full SSIM at the coarsest scale) to the power of its weight, then
    the mean over channels."""
    dtype = check_images(input, target, fn)
    check_size(input, win_size, len(betas), fn)
    x, y = upcast(input, dtype), upcast(target, dtype)
    window = gaussian_window(win_size, sigma, dtype, x.device)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    pooled = []
    for j in range(len(betas)):
        if j > 0:
            x, y = downsample(x), downsample(y)
        last = j == len(betas) - 1  # the full SSIM at the coarsest scale, cs above it
        pooled.append(PooledSSIM.apply(x, y, window, c1, c2, padding, last))  # (B, C)
    values = torch.stack(pooled)  # (S, B, C)
    if cs_policy == "relu":
        values = torch.relu(values)
    elif cs_policy == "normalize":
        values = (values + 1.0) * 0.5
    powered = [safe_pow(values[j], betas[j]) for j in range(len(betas))]
    return torch.stack(powered).prod(0).mean(1)


# --------------------------------------------------------------------------------- examples
def image_pair(
    dtype: torch.dtype, seed: int, shape: tuple[int, ...], noise: float = 0.1
) -> tuple[Tensor, Tensor]:
    """A smooth-ish target in [0, 1] and a noisy copy (correlated: positive cs terms)."""
    gen = generator(seed)
    target = uniform(*shape, dtype=torch.float64, gen=gen, lo=0.2, hi=0.8)
    input = (target + normal(*shape, dtype=torch.float64, gen=gen, scale=noise)).clamp(0, 1)
    return input.to(dtype), target.to(dtype)


def ssim_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """Images ``(2, 2, 12, 12)`` with a 7-pixel window (6x6 valid positions)."""
    return Example(image_pair(dtype, seed, (2, 2, 12, 12)), options={"win_size": 7})


def ms_ssim_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """Images ``(1, 2, 20, 20)``, a 5-pixel window and 3 scales (20 -> 10 -> 5)."""
    return Example(image_pair(dtype, seed, (1, 2, 20, 20)), options={"win_size": 5, "scales": 3})
