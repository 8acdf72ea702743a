"""CFL-Net's patch-level supervised contrastive loss for forgery localisation."""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor

from .._core.checks import shape_str
from .._core.declare import loss_function
from .._core.dtypes import compute_dtype
from .._core.registry import register_loss
from ..errors import InputError
from ._core import (
    CONTRASTIVE_DOCS,
    PatchSize,
    Temperature,
    Threshold,
    check_dense,
    contrast_options,
    flatten_pixels,
    image_terms,
    mask_fraction,
    patch_examples,
    per_image_terms,
    prepare,
    reduce_terms,
)


@loss_function(CONTRASTIVE_DOCS, options=contrast_options)
def patch_contrast_loss(
    features: Tensor,
    mask: Tensor,
    *,
    patch_size: PatchSize = 4,
    temperature: Temperature = 0.1,
    threshold: Threshold = 0.5,
    **options: Any,
) -> Tensor:
    r"""CFL-Net's patch contrast: per image, a supervised contrastive loss over patch
    embeddings, each positive pair against all negatives of the anchor.

    .. math::
        L_i = \frac{1}{|A_i|}\sum_{k^+\in A_i} -\log
            \frac{e^{f_i\cdot k^+/\tau}}{e^{f_i\cdot k^+/\tau} + \sum_{k^-} e^{f_i\cdot k^-/\tau}},
        \qquad L = \frac{1}{B}\sum_b \frac{1}{|\{i\}|}\sum_i L_i

    The feature map is average-pooled into patches of ``patch_size`` feature pixels (CFL-Net's
    ``k x k`` grid is ``patch_size = H / k``) and L2-normalised; a patch is forged when more
    than ``threshold`` (default half) of its area is forged in ``mask``, which may be at any
    resolution (its forged fraction is area-averaged over each patch). ``A_i`` holds the
    other patches of the anchor's label, ``k^-`` those of the other label.

    Stabilised by a log-sum-exp per row, which leaves the value unchanged. CFL-Net's code
    (``square_patch_contrast_loss``) subtracts a per-*column* maximum (``max(dim=1)`` of the
    ``(B, P, P)`` logits) instead, which shifts the positive and the negatives of one row by
    different amounts and so changes the loss; this function computes the formula above.

    Degenerate cases: a patch without a positive (the only one of its label) leaves the image's
    mean; an image with a single class has no negative and contributes nothing; a batch
    without any two-class image gives 0 with a graph. (CFL-Net's code counts such patches
    and images as zeros in its means.)

    {{nan_features}}

    Args:
        features: ``(B, D, H, W)`` feature map; ``H`` and ``W`` multiples of ``patch_size``.
        patch_size: pooling window in feature pixels, an int or ``(ph, pw)`` (default 4).
        gather: ``"none"`` (default), ``"global"`` or ``"local"``: the loss is per image, so
            nothing is gathered; both distributed modes make the mean run over every
            process's images (see :mod:`visionloss.distributed`).

    Shape:
        output: scalar, or ``(B,)`` per image for ``"none"`` (0 for images that do not count).

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Niloy, Bhaumik and Woo, *CFL-Net: Image Forgery Localization Using Contrastive
        Learning*, WACV 2023, arXiv:2210.02182, Eq. (1) - (2).

    Example:
        >>> import torch
        >>> f = torch.zeros(1, 2, 2, 2)
        >>> f[0, 0, :, 0] = 1.0  # left column points along x
        >>> f[0, 1, :, 1] = 1.0  # right column (forged) along y
        >>> mask = torch.tensor([[[0, 1], [0, 1]]])
        >>> patch_contrast_loss(f, mask, patch_size=1, temperature=1.0)  # log(1 + 2 / e)
        tensor(0.5514)
    """
    fn = "patch_contrast_loss"
    similarity, gather, reduction = options["similarity"], options["gather"], options["reduction"]
    features, mask = check_dense(features, mask, fn)
    ph, pw = (patch_size, patch_size) if isinstance(patch_size, int) else patch_size
    b, _, h, w = features.shape
    if h % ph or w % pw:
        raise InputError(
            f"{fn}: expected features whose H, W are multiples of patch_size ({ph}, {pw}), "
            f"got {shape_str(features)}"
        )
    dtype = compute_dtype(features)
    pooled = F.avg_pool2d(features.to(dtype), (ph, pw))
    grid = (pooled.shape[-2], pooled.shape[-1])
    labels = (mask_fraction(mask, grid) > threshold).flatten(1).long()
    x = prepare(flatten_pixels(pooled), similarity, dtype)
    terms = per_image_terms(x, labels, temperature, "pair")
    per_image = image_terms(terms, labels, x)
    return reduce_terms(per_image, reduction, gather="none" if gather == "none" else "local")


PatchContrastLoss = register_loss(
    "patch_contrast",
    family="contrastive",
    function=patch_contrast_loss,
    module="PatchContrastLoss",
    aliases=("cfl_patch_contrast",),
    formula="1/|A_i| sum_{k+} -log e^{f.k+/t} / (e^{f.k+/t} + sum_{k-} e^{f.k-/t})",
    reference="Niloy et al., CFL-Net, WACV 2023, arXiv:2210.02182",
    examples=patch_examples,
).module
