"""GHM-R loss (gradient harmonizing mechanism for box regression, Li et al. 2019)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .._core import density as D
from .._core.declare import DocParts, loss_function
from .._core.dtypes import compute_dtype, upcast
from .._core.examples import ModuleCall
from .._core.options import Positive, Reduction
from .._core.reduction import reduce_loss
from .._core.registry import register_loss
from . import _common as C
from . import _geometry as G


def _prepare(
    pred: Tensor, target: Tensor, mask: Tensor | None, fn: str
) -> tuple[Tensor, Tensor, Tensor]:
    """The coordinate differences in the compute dtype, the valid boxes and coordinates."""
    pred, target = G.check_pair(pred, target, fn)
    dtype = compute_dtype(pred, target)
    diff = upcast(pred, dtype) - upcast(target, dtype)
    valid = D.valid_mask(mask, pred.shape[:-1], fn, pred.device)
    return diff, valid, valid.unsqueeze(-1).expand(diff.shape)


def _gradient_norm(diff: Tensor, mu: float) -> Tensor:
    """``|d| / sqrt(d^2 + mu^2)`` (the ASL1 gradient's norm), in [0, 1)."""
    return (diff.abs() / torch.sqrt(diff * diff + mu * mu)).detach()


@loss_function(C.BOX_DOCS | D.GHM_DOCS | DocParts(args={"reduction": C.BOX_DOCS.args["reduction"]}))
def ghm_r_loss(
    pred: Tensor,
    target: Tensor,
    *,
    mu: Positive = 0.02,
    bins: D.Bins = 10,
    momentum: D.Momentum = 0.0,
    mask: D.Mask = None,
    bin_counts: D.Counts = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""GHM-R loss: the authentic smooth L1 loss of box coordinates, each coordinate weighted
    by the inverse density of its gradient norm; summed over the four coordinates of a box.

    .. math::
        \mathrm{ASL}_1(d) = \sqrt{d^2 + \mu^2} - \mu,\qquad
        g = \frac{|d|}{\sqrt{d^2 + \mu^2}},\qquad
        \ell = \sum_{k=1}^4 \frac{N}{n\, GD(g_k)}\,\mathrm{ASL}_1(d_k)

    :math:`GD(g)` is the number of valid coordinates whose :math:`g` lies in the same one of the
    ``bins`` equal bins of [0, 1) (or its running value, see ``momentum``), :math:`n` the number
    of non-empty bins, :math:`N` the number of valid coordinates; the weights are constants.
    ``"mean"`` averages over the valid boxes: mmdetection's ``GHMR`` averages over the
    :math:`N = 4 \times` boxes coordinates, so its value is ours divided by 4. Computed in the
    boxes' own units (pass encoded deltas, as the paper does).

    Degenerate cases: no boxes, or an all-zero ``mask``, give 0 for ``"mean"`` and ``"sum"``,
    attached to the graph; identical boxes give 0 with a zero gradient.

    {{module}}

    Args:
        pred: ``(..., 4)`` predicted box deltas (or boxes), floating point.
        target: ``(..., 4)`` targets, same shape.
        mu: :math:`\mu > 0` of :math:`\mathrm{ASL}_1` (default 0.02, the paper's).
        mask: optional boxes to use (nonzero), broadcastable to ``(...)``.

    {{shape}}

    Reference:
        Li, Liu and Wang, *Gradient Harmonized Single-stage Detector*, AAAI 2019,
        arXiv:1811.05181, Eqs. (9)-(11).

    Example:
        >>> import torch
        >>> ghm_r_loss(torch.tensor([[0.0, 0.1, 0.0, 1.0]]), torch.zeros(1, 4))
        tensor(1.0622)
    """
    fn = "ghm_r_loss"
    diff, valid_box, valid = _prepare(pred, target, mask, fn)
    w = D.ghm_weights(_gradient_norm(diff, mu), valid, bins, bin_counts, momentum, fn)
    asl1 = torch.sqrt(diff * diff + mu * mu) - mu
    return reduce_loss((w * asl1).sum(-1), reduction, fn=fn, mask=valid_box)


def _norm(pred: Tensor, target: Tensor, mask: Tensor | None, module: Any) -> tuple[Tensor, Tensor]:
    diff, _, valid = _prepare(pred, target, mask, type(module).__name__)
    return _gradient_norm(diff, module.mu), valid


_EXAMPLE = r"""Example:
        >>> import torch
        >>> crit = GHMRLoss(bins=2, momentum=0.5)
        >>> _ = crit(torch.tensor([[0.0, 0.0, 0.0, 1.0]]), torch.zeros(1, 4))
        >>> crit.bin_counts
        tensor([1.5000, 0.5000])
    """

GHMRLoss = D.ghm_module(ghm_r_loss, "GHMRLoss", __name__, _EXAMPLE, _norm)


def _ghm_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Any:
    return C.box_examples(dtype, seed)._replace(module=ModuleCall(to_function=D.counts_to_function))


register_loss(
    "ghm_r",
    family="boxes",
    function=ghm_r_loss,
    module=GHMRLoss,
    formula="sum_k N / (n GD(g_k)) (sqrt(d_k^2 + mu^2) - mu), g = |d| / sqrt(d^2 + mu^2)",
    reference="Li et al., Gradient Harmonized Single-stage Detector, AAAI 2019, arXiv:1811.05181",
    examples=_ghm_examples,
)
