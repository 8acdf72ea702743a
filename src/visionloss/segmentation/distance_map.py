"""Signed distance maps of segmentation masks, on the tensor's own device."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .._core.checks import check_labels, check_tensor, shape_str
from ..errors import InputError, OptionError, OptionTypeError
from ._shape import _SpacingCheck, signed_map, spacing_of

_FN = "signed_distance_map"


def signed_distance_map(
    target: Tensor,
    *,
    num_classes: int | None = None,
    spacing: Any = None,
    ignore_index: int | None = None,
) -> Tensor:
    r"""Signed Euclidean distance map of each class mask (Kervadec et al.'s boundary-loss map).

    .. math::
        \phi(x) = \begin{cases}
            d(x, G) & x \notin G \\
            -\left(d(x, \Omega \setminus G) - 1\right) & x \in G
        \end{cases}

    with :math:`d` the exact Euclidean distance between pixel (voxel) centres, in the units of
    ``spacing``: positive outside the mask (the distance to the nearest mask pixel), zero or
    negative inside (one minus the distance to the nearest pixel outside, so the mask's own
    boundary pixels are 0), as Kervadec's ``one_hot2dist`` and MONAI's ``BoundaryLoss``. An
    empty or a full mask has no interface: its map is all zeros (the same two codes skip it).

    The transform is exact (equal to ``scipy.ndimage.distance_transform_edt`` with
    ``sampling=spacing``) and runs on the target's device without leaving it, batched over
    images and classes (a separable lower-envelope transform, see
    ``visionloss.segmentation._distance``), so it can be called in the training step on the GPU
    or in a data loader.

    Args:
        target: class indices ``(B, *spatial)`` with ``num_classes`` given, or masks ``(B, C,
            *spatial)`` (bool, integer or floating; a value ``> 0.5`` is inside), 1 to 3
            spatial dims.
        num_classes: the number of classes of an index target (its maps are ``(B,
            num_classes, *spatial)``); None for a mask target.
        spacing: the pixel (voxel) size of each spatial dim, a number or one value per dim
            (scipy's ``sampling``); default 1.
        ignore_index: with an index target, pixels equal to it belong to no class.

    Returns:
        ``(B, C, *spatial)`` float32 maps (float64 for a float64 target), no gradient.

    Reference:
        Kervadec et al., *Boundary loss for highly unbalanced segmentation*, MIDL 2019 /
        Medical Image Analysis 2021, arXiv:1812.07032; Felzenszwalb and Huttenlocher,
        *Distance transforms of sampled functions*, Theory of Computing 2012.

    Example:
        >>> import torch
        >>> t = torch.tensor([[0, 0, 1, 1, 1, 0]])  # (B, W) class indices
        >>> signed_distance_map(t, num_classes=2)[0, 1]
        tensor([ 2.,  1.,  0., -1.,  0.,  1.])
    """
    check_tensor(target, "target", _FN)
    spacing = _SpacingCheck()(spacing, "spacing", _FN)
    if num_classes is not None and (
        isinstance(num_classes, bool) or not isinstance(num_classes, int)
    ):
        raise OptionTypeError(f"{_FN}: expected num_classes to be an int, got {num_classes!r}")
    if ignore_index is not None and (
        isinstance(ignore_index, bool) or not isinstance(ignore_index, int)
    ):
        raise OptionTypeError(f"{_FN}: expected ignore_index to be an int, got {ignore_index!r}")
    dtype = torch.float64 if target.dtype == torch.float64 else torch.float32
    if num_classes is not None:
        if num_classes < 1:
            raise OptionError(f"{_FN}: expected num_classes >= 1, got {num_classes}")
        if target.is_floating_point() or target.is_complex():
            raise InputError(
                f"{_FN}: expected integer class indices with num_classes, got {target.dtype} "
                f"target of shape {shape_str(target)} (pass masks (B, C, *spatial) without "
                "num_classes)"
            )
        nd = target.dim() - 1
        if not 1 <= nd <= 3:
            raise InputError(
                f"{_FN}: expected class indices of shape (B, *spatial) with 1 to 3 spatial "
                f"dims, got {shape_str(target)}"
            )
        t = target.long()
        check_labels(t, max(num_classes, 2), _FN, ignore_index=ignore_index)
        ids = torch.arange(num_classes, device=target.device).view(1, -1, *([1] * nd))
        mask = t.unsqueeze(1) == ids
    else:
        nd = target.dim() - 2
        if not 1 <= nd <= 3:
            raise InputError(
                f"{_FN}: expected masks of shape (B, C, *spatial) with 1 to 3 spatial dims "
                f"(or class indices with num_classes=), got {shape_str(target)}"
            )
        mask = target > 0.5 if target.dtype != torch.bool else target
    return signed_map(mask, spacing_of(spacing, nd, _FN), dtype)
