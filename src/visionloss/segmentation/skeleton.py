"""Soft skeleton (clDice): a differentiable skeleton by iterated min / max pooling."""

from __future__ import annotations

from torch import Tensor

from .._core.checks import check_tensor, shape_str
from ..errors import InputError, OptionError, OptionTypeError
from ._distance import skeleton

_FN = "soft_skeleton"


def soft_skeleton(x: Tensor, *, iterations: int = 3) -> Tensor:
    r"""Soft skeleton of soft masks ``(B, C, *spatial)`` (1 to 3 spatial dims).

    .. math::
        S_0 = \mathrm{relu}(x - \mathrm{open}(x)), \qquad
        S_{j+1} = S_j + \mathrm{relu}\big(\delta_j - S_j\, \delta_j\big), \quad
        \delta_j = \mathrm{relu}(x_j - \mathrm{open}(x_j)), \; x_j = \mathrm{erode}^{j+1}(x)

    where ``erode`` is a min-pooling over the 3-wide cross (one 1-D min-pooling per axis) and
    ``open`` is ``erode`` then a 3^d max-pooling (clDice's soft morphology, as the authors'
    ``soft_skel`` and MONAI's). On a binary mask it returns (a superset of) the morphological
    skeleton of the structures up to about ``2 iterations + 1`` pixels wide, and it is
    differentiable almost everywhere in ``x``.

    Args:
        x: soft masks (probabilities) ``(B, C, *spatial)``, values in ``[0, 1]``.
        iterations: erosion steps, ``>= 0`` (3 in the paper's code and MONAI).

    Returns:
        the skeleton, the shape and dtype of ``x``.

    Reference:
        Shit et al., *clDice - a novel topology-preserving loss function for tubular
        structure segmentation*, CVPR 2021, arXiv:2003.07311.

    Example:
        >>> import torch
        >>> bar = torch.zeros(1, 1, 5, 7)
        >>> bar[..., 1:4, 1:6] = 1.0  # a 3-pixel-wide bar
        >>> soft_skeleton(bar, iterations=2)[0, 0, 2]  # its centre line
        tensor([0., 0., 1., 1., 1., 0., 0.])
    """
    check_tensor(x, "x", _FN, floating=True)
    if isinstance(iterations, bool) or not isinstance(iterations, int):
        raise OptionTypeError(f"{_FN}: expected iterations to be an int, got {iterations!r}")
    if iterations < 0:
        raise OptionError(f"{_FN}: expected iterations >= 0, got {iterations}")
    if not 3 <= x.dim() <= 5:
        raise InputError(
            f"{_FN}: expected x of shape (B, C, *spatial) with 1 to 3 spatial dims, "
            f"got {shape_str(x)}"
        )
    return skeleton(x, iterations)
