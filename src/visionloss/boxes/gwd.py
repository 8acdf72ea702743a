"""GWD loss of oriented boxes (Yang et al., ICML 2021)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .._core import numerics
from .._core.declare import loss_function
from .._core.options import Bool, Positive
from .._core.registry import register_loss
from . import _rotated as R


def _gwd_terms(f: R.PairFrame, *, fun: str, tau: float, alpha: float, normalize: bool) -> Tensor:
    w2, det_sqrt = R.wasserstein_sq(f, 0.25, alpha)
    distance = numerics.sqrt(w2)
    if normalize:
        # mmrotate: 2 (det S_p det S_t)^(1/8); scale invariant (both in the pair's frame)
        distance = numerics.div(distance, 2 * numerics.pow(det_sqrt, 0.25))
    else:
        distance = distance * f.k
    return R.postprocess(distance, fun, tau)


@loss_function(R.ROTATED_DOCS, options=(R.transform_options, R.rotated_options))
def gwd_loss(
    pred: Tensor,
    target: Tensor,
    *,
    alpha: Positive = 1.0,
    normalize: Bool = True,
    **options: Any,
) -> Tensor:
    r"""Gaussian Wasserstein distance loss of oriented boxes: the 2-Wasserstein distance
    between their Gaussians, through a nonlinear transform.

    .. math::
        W^2 = \|\mu_p - \mu_t\|^2 + \alpha^2\Big[\operatorname{tr}\Sigma_p
              + \operatorname{tr}\Sigma_t
              - 2\operatorname{tr}\big(\Sigma_p^{1/2}\Sigma_t\Sigma_p^{1/2}\big)^{1/2}\Big],
        \qquad \mathcal L = 1 - \frac{1}{\tau + f(W / s)}

    with :math:`\Sigma = \tfrac14 R_\theta \operatorname{diag}(w^2, h^2) R_\theta^\top` and,
    for ``normalize=True``, :math:`s = 2 (\det\Sigma_p \det\Sigma_t)^{1/8}` (mmrotate's
    ``gwd_loss``; :math:`s = 1` otherwise, and the loss then depends on the boxes' scale).
    The trace of the square root is :math:`(\operatorname{tr}\Sigma_p\Sigma_t +
    2\sqrt{\det\Sigma_p\det\Sigma_t})^{1/2}` (a 2x2 identity). Defaults follow the paper
    (:math:`f = \ln(1 + \cdot)`, :math:`\tau = 1`); mmrotate's ``GDLoss`` default is
    ``tau=0`` (no :math:`1 - 1/(\tau + \cdot)`).

    {{invariance}}

    {{degenerate}}

    Args:
        normalize: divide the distance by :math:`2(\det\Sigma_p\det\Sigma_t)^{1/8}`
            (default True, mmrotate's).

    {{shape}}

    Reference:
        Yang et al., *Rethinking Rotated Object Detection with Gaussian Wasserstein Distance
        Loss*, ICML 2021, arXiv:2101.11952, Eqs. (5)-(8).

    Example:
        >>> import torch
        >>> p = torch.tensor([[0.0, 0.0, 4.0, 2.0, 0.0]])
        >>> gwd_loss(p, torch.tensor([[1.0, 0.0, 4.0, 2.0, 0.0]]))
        tensor(0.2324)
    """
    return R.rotated_loss(
        _gwd_terms, pred, target, fn="gwd_loss", alpha=alpha, normalize=normalize, **options
    )


GWDLoss = register_loss(
    "gwd",
    family="boxes",
    function=gwd_loss,
    module="GWDLoss",
    formula="1 - 1/(tau + f(W_2(N_p, N_t) / s))",
    reference="Yang et al., Rethinking Rotated Object Detection with Gaussian Wasserstein "
    "Distance Loss, ICML 2021, arXiv:2101.11952",
    examples=R.rotated_examples,
).module
