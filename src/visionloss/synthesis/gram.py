"""Gram matrices of feature maps, one per image."""

from __future__ import annotations

import torch
from torch import Tensor

from .._core.checks import check_choice, check_tensor
from .._core.dtypes import autocast_off, compute_dtype, upcast

__all__ = ["gram_matrix"]


def gram_matrix(features: Tensor, *, normalize: str | None = "chw") -> Tensor:
    r"""Gram matrix of each image's feature maps (Gatys et al.'s style representation).

    .. math:: G_{b,ij} = \frac{1}{Z} \sum_{k} F_{b,i,k} F_{b,j,k},
              \qquad Z = C\,H\,W \text{ (normalize="chw") or } 1 \text{ (None)}

    One Gram per image: the batch is never folded into one matrix (the PyTorch style-transfer
    tutorial reshapes ``(B, C, H, W)`` to ``(B*C, H*W)``, which mixes the images of a batch).
    The product is computed in float32 for fp16/bf16 features, with autocast disabled, since
    unnormalised Grams of large maps overflow fp16.

    Args:
        features: ``(B, C, *spatial)`` feature maps (e.g. ``(B, C, H, W)``).
        normalize: ``"chw"`` divides by ``C * H * W`` (Johnson et al.), ``None`` gives the raw
            sums of Gatys et al.

    Shape:
        ``(B, C, *spatial)`` -> ``(B, C, C)``.

    Returns:
        the Grams, float32 for half inputs (float64 for float64).

    Reference:
        Gatys, Ecker & Bethge, *Image Style Transfer Using Convolutional Neural Networks*,
        CVPR 2016, Eq. (3) (first as *A Neural Algorithm of Artistic Style*, arXiv:1508.06576);
        Johnson et al., *Perceptual Losses for Real-Time Style Transfer and Super-Resolution*,
        ECCV 2016, arXiv:1603.08155.

    Example:
        >>> import torch
        >>> f = torch.tensor([[[[1.0, 2.0]], [[0.0, 3.0]]]])  # B=1, C=2, H=1, W=2
        >>> gram_matrix(f, normalize=None)
        tensor([[[5., 6.],
                 [6., 9.]]])
        >>> gram_matrix(f)  # divided by C*H*W = 4
        tensor([[[1.2500, 1.5000],
                 [1.5000, 2.2500]]])
    """
    fn = "gram_matrix"
    check_tensor(features, "features", fn, floating=True, min_ndim=3)
    check_choice(normalize, ("chw", None), "normalize", fn)
    dtype = compute_dtype(features)
    f = upcast(features, dtype).flatten(2)
    with autocast_off(f.device.type):
        gram = torch.bmm(f, f.transpose(1, 2))
    if normalize == "chw":
        gram = gram / max(f.shape[1] * f.shape[2], 1)
    return gram
