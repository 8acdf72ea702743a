"""ProbIoU loss (Llerena et al. 2021): Hellinger distance of oriented boxes' Gaussians."""

from __future__ import annotations

from typing import Annotated, Any

import torch
from torch import Tensor

from .._core import numerics
from .._core.declare import loss_function
from .._core.options import Choice
from .._core.registry import register_loss
from . import _rotated as R

# ProbIoU's Gaussian is the uniform distribution's covariance: w^2 / 12
# (ultralytics.utils.metrics._get_covariance_matrix)
VARIANCE = 1.0 / 12.0
Mode = Annotated[str, Choice("l1", "l2")]


def _probiou_terms(f: R.PairFrame, *, mode: str) -> Tensor:
    bd = R.bhattacharyya(f, VARIANCE).clamp_min(0)
    if mode == "l2":
        return bd
    return numerics.sqrt(-torch.expm1(-bd))


@loss_function(R.ROTATED_DOCS, options=R.rotated_options)
def probiou_loss(pred: Tensor, target: Tensor, *, mode: Mode = "l1", **options: Any) -> Tensor:
    r"""ProbIoU loss of oriented boxes: the Hellinger distance between their Gaussians
    (``"l1"``, ``1 - ProbIoU``) or the Bhattacharyya distance (``"l2"``).

    .. math::
        B_D = \tfrac18 (\mu_p - \mu_t)^\top \Sigma^{-1} (\mu_p - \mu_t)
              + \tfrac12 \ln \frac{\det \Sigma}{\sqrt{\det \Sigma_p \det \Sigma_t}},\quad
        \Sigma = \frac{\Sigma_p + \Sigma_t}{2}

    .. math::
        \mathcal L_1 = H_D = \sqrt{1 - e^{-B_D}},\qquad \mathcal L_2 = -\ln(1 - H_D^2) = B_D

    with :math:`\Sigma = \tfrac{1}{12} R_\theta \operatorname{diag}(w^2, h^2) R_\theta^\top`
    (the covariance of the uniform distribution on the box). ``mode="l1"`` is ultralytics'
    OBB loss ``1 - probiou(...)``; ultralytics adds ``eps = 1e-7`` at three places and clamps
    :math:`B_D` to ``[1e-7, 100]``, so its value at identical boxes is ``3e-4`` (0 here).

    {{invariance}}

    {{degenerate}}

    Args:
        mode: ``"l1"`` (default: the Hellinger distance, bounded by 1) or ``"l2"`` (the
            Bhattacharyya distance, unbounded).

    {{shape}}

    Reference:
        Llerena et al., *Gaussian Bounding Boxes and Probabilistic Intersection-over-Union for
        Object Detection*, arXiv:2106.06072 (2021), Eqs. (5)-(9).

    Example:
        >>> import torch
        >>> p = torch.tensor([[0.0, 0.0, 4.0, 2.0, 0.0]])
        >>> probiou_loss(p, torch.tensor([[0.0, 0.0, 2.0, 4.0, 1.5708]]))  # the same box
        tensor(0.)
        >>> probiou_loss(p, torch.tensor([[1.0, 0.0, 4.0, 2.0, 0.0]]))
        tensor(0.2991)
    """
    return R.rotated_loss(_probiou_terms, pred, target, fn="probiou_loss", mode=mode, **options)


ProbIoULoss = register_loss(
    "probiou",
    family="boxes",
    function=probiou_loss,
    module="ProbIoULoss",
    formula="sqrt(1 - exp(-B_D)) (l1) or B_D (l2), Bhattacharyya distance of the Gaussians",
    reference="Llerena et al., Gaussian Bounding Boxes and Probabilistic IoU, arXiv:2106.06072",
    examples=R.rotated_examples,
).module
