"""Oriented boxes ``(cx, cy, w, h, angle)``: their Gaussian and the angle conventions."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .._core.options import Choice, Number
from . import _rotated as R

__all__ = ["box_to_gaussian", "regularize_rotated_boxes"]

_CONVENTION = Choice("le90", "le135", "oc")
_UNIT = Choice(*R.ANGLE_UNITS)
_VARIANCE = Number(0, lo_open=True)


def box_to_gaussian(
    boxes: Tensor, *, variance: float = 0.25, angle_unit: str = "radians"
) -> tuple[Tensor, Tensor]:
    r"""The 2-D Gaussian of oriented boxes: :math:`\mu = (c_x, c_y)`,
    :math:`\Sigma = s\, R_\theta \operatorname{diag}(w^2, h^2) R_\theta^\top`.

    ``variance`` is :math:`s`: ``1/4`` (default) is mmrotate's ``xy_wh_r_2_xy_sigma``
    (GWD, KLD: the half sides are the standard deviations), ``1/12`` the covariance of the
    uniform distribution on the box (ProbIoU, ultralytics' ``_get_covariance_matrix``). The
    Gaussian is the same for ``(w, h, theta)``, ``(w, h, theta + pi)`` and
    ``(h, w, theta + pi/2)``: every angle convention gives the same result. Sides are used as
    given (no clamp): a zero side gives a singular covariance.

    Args:
        boxes: ``(..., 5)`` boxes ``(cx, cy, w, h, angle)``, floating point.
        variance: the scale :math:`s > 0` (default 1/4).
        angle_unit: ``"radians"`` (default) or ``"degrees"``.

    Returns:
        ``(mu, sigma)``: ``(..., 2)`` and ``(..., 2, 2)``.

    Example:
        >>> import math, torch
        >>> mu, sigma = box_to_gaussian(torch.tensor([[1.0, 2.0, 4.0, 2.0, math.pi / 2]]))
        >>> sigma.round(decimals=4)
        tensor([[[1., 0.],
                 [0., 4.]]])
    """
    fn = "box_to_gaussian"
    boxes = R.check_rotated(boxes, "boxes", fn)
    variance = float(_VARIANCE(variance, "variance", fn))
    angle_unit = _UNIT(angle_unit, "angle_unit", fn)
    x, y, w, h, t = boxes.unbind(-1)
    t = R.radians(t, angle_unit)
    c, s = torch.cos(t), torch.sin(t)
    w2, h2 = variance * w * w, variance * h * h
    a = w2 * c * c + h2 * s * s
    b = w2 * s * s + h2 * c * c
    off = (w2 - h2) * c * s
    sigma = torch.stack([a, off, off, b], -1).reshape(*boxes.shape[:-1], 2, 2)
    return torch.stack([x, y], -1), sigma


def regularize_rotated_boxes(
    boxes: Tensor, *, convention: str = "le90", angle_unit: str = "radians"
) -> Tensor:
    r"""The same oriented boxes written in one angle convention.

    * ``"le90"``: long edge first (``w >= h``), angle in :math:`[-\pi/2, \pi/2)`;
    * ``"le135"``: long edge first, angle in :math:`[-\pi/4, 3\pi/4)`;
    * ``"oc"``: OpenCV's ``minAreaRect`` (4.5.1 and later), angle in :math:`[0, \pi/2)`,
      ``w`` along the angle's direction.

    (the conventions of mmrotate's ``regularize_boxes``; ``oc`` starts at 0 here). The box
    (its corners, its Gaussian) is unchanged: only ``w, h, angle`` are rewritten, by swapping
    ``w`` and ``h`` with a quarter turn and adding multiples of :math:`\pi`. A square box's
    angle is still only defined modulo :math:`\pi/2`.

    Args:
        boxes: ``(..., 5)`` boxes ``(cx, cy, w, h, angle)``, floating point.
        convention: ``"le90"`` (default), ``"le135"`` or ``"oc"``.
        angle_unit: ``"radians"`` (default) or ``"degrees"`` (for input and output).

    Returns:
        ``(..., 5)`` boxes.

    Example:
        >>> import math, torch
        >>> b = torch.tensor([[0.0, 0.0, 1.0, 3.0, 0.0]])       # a tall box
        >>> regularize_rotated_boxes(b)                          # long edge first, -pi/2
        tensor([[ 0.0000,  0.0000,  3.0000,  1.0000, -1.5708]])
    """
    fn = "regularize_rotated_boxes"
    boxes = R.check_rotated(boxes, "boxes", fn)
    convention = _CONVENTION(convention, "convention", fn)
    angle_unit = _UNIT(angle_unit, "angle_unit", fn)
    half = 90.0 if angle_unit == "degrees" else math.pi / 2
    x, y, w, h, t = boxes.unbind(-1)
    if convention == "oc":
        t = torch.remainder(t, 2 * half)
        first = t < half
        w_, h_ = torch.where(first, w, h), torch.where(first, h, w)
        t = torch.where(first, t, t - half)
    else:
        start = -half if convention == "le90" else -half / 2
        wide = w >= h
        w_, h_ = torch.where(wide, w, h), torch.where(wide, h, w)
        t = torch.where(wide, t, t + half)
        t = torch.remainder(t - start, 2 * half) + start
    return torch.stack([x, y, w_, h_, t], -1)
