"""KLD loss of oriented boxes (Yang et al., NeurIPS 2021)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .._core import numerics
from .._core.declare import loss_function
from .._core.options import Bool, Positive
from .._core.registry import register_loss
from . import _rotated as R


def _kld_terms(f: R.PairFrame, *, fun: str, tau: float, alpha: float, sqrt: bool) -> Tensor:
    kl = R.kullback_leibler(f, 0.25, alpha).clamp_min(0)
    if sqrt:
        kl = numerics.sqrt(kl)
    return R.postprocess(kl, fun, tau)


@loss_function(R.ROTATED_DOCS, options=(R.transform_options, R.rotated_options))
def kld_loss(
    pred: Tensor,
    target: Tensor,
    *,
    alpha: Positive = 1.0,
    sqrt: Bool = True,
    **options: Any,
) -> Tensor:
    r"""Kullback-Leibler divergence loss of oriented boxes: the KL divergence between the
    target's and the prediction's Gaussians, through a nonlinear transform.

    .. math::
        D = \tfrac12\Big[\tfrac{1}{\alpha^2}\,\Delta\mu^\top \Sigma_p^{-1} \Delta\mu
            + \operatorname{tr}(\Sigma_p^{-1}\Sigma_t)
            + \ln\frac{\det\Sigma_p}{\det\Sigma_t} - 2\Big],\qquad
        \mathcal L = 1 - \frac{1}{\tau + f(\sqrt{D})}

    :math:`D = D_{KL}(\mathcal N_t \,\|\, \mathcal N_p)`, with
    :math:`\Sigma = \tfrac14 R_\theta \operatorname{diag}(w^2, h^2) R_\theta^\top`
    (mmrotate's ``xy_wh_r_2_xy_sigma``). The centre term is the offset measured in units of
    the predicted box's sides along its own axes, which couples the centre and the angle and
    makes the loss scale invariant. Defaults are mmrotate's KLD configurations
    (``GDLoss(loss_type="kld", fun="log1p", tau=1)``, ``sqrt=True``).

    {{invariance}}

    {{degenerate}}

    Args:
        sqrt: take :math:`\sqrt{D}` before :math:`f` (default True, mmrotate's).

    {{shape}}

    Reference:
        Yang et al., *Learning High-Precision Bounding Box for Rotated Object Detection via
        Kullback-Leibler Divergence*, NeurIPS 2021, arXiv:2106.01883, Eqs. (9)-(12).

    Example:
        >>> import torch
        >>> p = torch.tensor([[0.0, 0.0, 4.0, 2.0, 0.0]])
        >>> kld_loss(p, torch.tensor([[1.0, 0.0, 4.0, 2.0, 0.0]]))
        tensor(0.2324)
    """
    return R.rotated_loss(
        _kld_terms, pred, target, fn="kld_loss", alpha=alpha, sqrt=sqrt, **options
    )


KLDLoss = register_loss(
    "kld",
    family="boxes",
    function=kld_loss,
    module="KLDLoss",
    formula="1 - 1/(tau + f(sqrt(KL(N_t || N_p))))",
    reference="Yang et al., Learning High-Precision Bounding Box for Rotated Object Detection "
    "via Kullback-Leibler Divergence, NeurIPS 2021, arXiv:2106.01883",
    examples=R.rotated_examples,
).module
