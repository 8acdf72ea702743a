"""The U-Net weight map (Ronneberger et al. 2015) for the pixel-weighted cross entropy."""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .._core.checks import shape_str
from ..errors import InputError, InputTypeError, OptionError

_SCIPY_MISSING = (
    "unet_weight_map needs scipy (scipy.ndimage: distance transforms and connected "
    "components): pip install scipy, or pip install 'visionloss[experiments]'"
)


def _ndimage() -> Any:
    try:
        from scipy import ndimage
    except ImportError as err:
        raise ImportError(_SCIPY_MISSING) from err
    return ndimage


def _finite_number(value: Any) -> bool:
    """A finite real number (a Python or NumPy number, or a one-element tensor), not a bool."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (Real, Tensor, np.ndarray)):
        return False
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError, RuntimeError):
        return False


def _objects(mask: np.ndarray, ndimage: Any) -> tuple[np.ndarray, int]:
    """Number the objects of one label image: the connected components (8-connectivity) of
    each nonzero label value, so instance labels and binary masks both work."""
    objects = np.zeros(mask.shape, dtype=np.int64)
    count = 0
    structure = np.ones((3,) * mask.ndim, dtype=bool)
    for value in np.unique(mask[mask > 0]):
        labelled, n = ndimage.label(mask == value, structure=structure)
        inside = labelled > 0
        objects[inside] = labelled[inside] + count
        count += n
    return objects, count


def _weight_map_2d(
    mask: np.ndarray,
    w0: float,
    sigma: float,
    class_weights: tuple[float, float] | None,
    ndimage: Any,
) -> np.ndarray:
    foreground = mask > 0
    size = mask.size
    n_fg = int(foreground.sum())
    n_bg = size - n_fg
    if class_weights is None:
        present = int(n_fg > 0) + int(n_bg > 0)
        w_fg = size / (present * n_fg) if n_fg else 0.0
        w_bg = size / (present * n_bg) if n_bg else 0.0
    else:
        w_bg, w_fg = class_weights
    weights = np.where(foreground, w_fg, w_bg).astype(np.float64)
    objects, count = _objects(mask, ndimage)
    if count < 2 or w0 == 0 or n_bg == 0:
        return weights
    d1 = np.full(mask.shape, np.inf)
    d2 = np.full(mask.shape, np.inf)
    for k in range(1, count + 1):
        dk = ndimage.distance_transform_edt(objects != k)
        d2 = np.where(dk < d1, d1, np.minimum(d2, dk))
        d1 = np.minimum(d1, dk)
    border = w0 * np.exp(-((d1 + d2) ** 2) / (2.0 * sigma**2))
    return weights + np.where(foreground, 0.0, border)


def unet_weight_map(
    mask: Tensor | np.ndarray,
    w0: float = 10.0,
    sigma: float = 5.0,
    class_weights: tuple[float, float] | None = None,
) -> Tensor:
    r"""The U-Net weight map: class balance plus a border term that separates touching objects.

    .. math::
        w(x) = w_c(x) + w_0 \exp\!\left(-\frac{(d_1(x) + d_2(x))^2}{2\sigma^2}\right)

    where :math:`d_1, d_2` are the distances from background pixel :math:`x` to the nearest
    and second nearest object (Euclidean distance transform), and :math:`w_c` balances the
    background / foreground frequencies. The border term is added on background pixels only
    (the gaps between objects, Fig. 3d of the paper) and needs at least two objects.

    Feed it to the pixel-weighted cross entropy of U-Net's Eq. (1):
    ``cross_entropy_loss(logits, labels, weight_map=unet_weight_map(instances))``. It is
    computed on the CPU with scipy (one distance transform per object), so compute it once per
    training image, in the data pipeline, not in the training step.

    Args:
        mask: label image ``(H, W)`` or a batch ``(N, H, W)``, integer or bool (tensor or NumPy
            array): 0 is background, every other value an object or a class. Objects are the
            8-connected components of each nonzero value, so pass instance labels where
            objects touch (a binary mask merges touching objects into one).
        w0: weight of the border term (10 in the paper), ``>= 0``.
        sigma: its width in pixels (about 5 in the paper), ``> 0``.
        class_weights: ``(w_background, w_foreground)``; None (default) balances the two
            classes of each image: ``w_c = n_pixels / (n_present_classes * n_c)``, so the
            class term averages to 1.

    Shape:
        ``mask``: ``(H, W)`` or ``(N, H, W)``; output: the same shape, float32, on the mask's
        device.

    Returns:
        the weight map, a float32 tensor.

    Raises:
        ImportError: scipy is not installed (it is an optional dependency).

    Reference:
        Ronneberger, Fischer & Brox, *U-Net: Convolutional Networks for Biomedical Image
        Segmentation*, MICCAI 2015, arXiv:1505.04597, Eq. (2).

    Example:
        >>> import torch
        >>> mask = torch.tensor([[1, 0, 0, 0, 2]])         # two objects, three gap pixels
        >>> unet_weight_map(mask, w0=10.0, sigma=2.0)      # gap: 5/6 + 10 exp(-16/8) ...
        tensor([[1.2500, 2.1867, 2.1867, 2.1867, 1.2500]])
    """
    fn = "unet_weight_map"
    device = mask.device if isinstance(mask, Tensor) else torch.device("cpu")
    if isinstance(mask, Tensor):
        array = mask.detach().cpu().numpy()
    elif isinstance(mask, np.ndarray):
        array = mask
    else:
        raise InputTypeError(
            f"{fn}: expected mask to be a tensor or a NumPy array, got {type(mask).__name__}"
        )
    if not (np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_):
        raise InputTypeError(f"{fn}: expected an integer or bool label mask, got {array.dtype}")
    if array.ndim not in (2, 3):
        raise InputError(
            f"{fn}: expected mask of shape (H, W) or (N, H, W), got {shape_str(array.shape)}"
        )
    if array.size and array.min() < 0:
        raise InputError(f"{fn}: expected mask labels >= 0, got {int(array.min())}")
    if not _finite_number(w0) or w0 < 0:
        raise OptionError(f"{fn}: expected w0 >= 0 and finite, got {w0!r}")
    if not _finite_number(sigma) or not sigma > 0:
        raise OptionError(f"{fn}: expected sigma > 0 and finite, got {sigma!r}")
    if class_weights is not None:
        if len(class_weights) != 2 or not all(_finite_number(c) and c >= 0 for c in class_weights):
            raise OptionError(
                f"{fn}: expected class_weights (w_background, w_foreground), finite and >= 0, "
                f"got {class_weights!r}"
            )
        class_weights = (float(class_weights[0]), float(class_weights[1]))
    ndimage = _ndimage()
    array = array.astype(np.int64)
    images = array if array.ndim == 3 else array[None]
    out = (
        np.stack(
            [_weight_map_2d(m, float(w0), float(sigma), class_weights, ndimage) for m in images]
        )
        if len(images)
        else np.zeros(images.shape)
    )
    out = out if array.ndim == 3 else out[0]
    return torch.from_numpy(out.astype(np.float32)).to(device)
