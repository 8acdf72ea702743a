"""GHM-C loss (gradient harmonizing mechanism for classification, Li et al. 2019)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .._core import density as D
from .._core.checks import check_tensor
from .._core.declare import loss_function
from .._core.dtypes import compute_dtype, upcast
from .._core.examples import ModuleCall
from .._core.options import Reduction
from .._core.reduction import reduce_loss
from .._core.registry import register_loss
from ._common import binary_terms, check_binary_target
from ._dense import DENSE_DOCS, score_examples


@loss_function(DENSE_DOCS | D.GHM_DOCS)
def ghm_c_loss(
    input: Tensor,
    target: Tensor,
    *,
    bins: D.Bins = 10,
    momentum: D.Momentum = 0.0,
    mask: D.Mask = None,
    bin_counts: D.Counts = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""GHM-C loss: binary cross entropy with each element weighted by the inverse density of
    its gradient norm, so that the many easy negatives and the few outliers both weigh less.

    .. math::
        g_i = |\sigma(x_i) - y_i|,\qquad
        \ell_i = \frac{N}{n\, GD(g_i)}\, \mathrm{BCE}(x_i, y_i)

    :math:`GD(g)` is the number of valid elements whose :math:`g` falls in the same one of the
    ``bins`` equal bins of [0, 1] (or its running value, see ``momentum``), :math:`n` the number
    of non-empty bins, :math:`N` the number of valid elements; the weights are constants (no
    gradient). ``"mean"`` divides the weighted sum by :math:`N`: each non-empty bin contributes
    the mean loss of its elements, divided by :math:`n`. As mmdetection's ``GHMC``
    (``use_sigmoid=True``, ``label_weight > 0`` as ``mask``).

    Degenerate cases: an empty input, or an all-zero ``mask``, gives 0 for ``"mean"`` and
    ``"sum"``, attached to the graph. {{saturated}}

    {{module}}

    Args:
        target: the same shape, values in [0, 1] (0/1 labels: the gradient norm is then the
            distance of the probability from the label); a constant of the loss.
        mask: optional elements to use (nonzero), broadcastable to ``input``'s shape
            (mmdetection's ``label_weight > 0``).

    Shape:
        ``input``, ``target``: ``(*)``; output: scalar, or ``(*)`` for ``"none"``.

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Li, Liu and Wang, *Gradient Harmonized Single-stage Detector*, AAAI 2019,
        arXiv:1811.05181, Eqs. (3)-(8).

    Example:
        >>> import torch
        >>> x = torch.tensor([[-4.0, -4.0, -4.0, 0.5]])   # three easy negatives, one positive
        >>> y = torch.tensor([[0.0, 0.0, 0.0, 1.0]])
        >>> ghm_c_loss(x, y, reduction="none")
        tensor([[0.0121, 0.0121, 0.0121, 0.9481]])
    """
    fn = "ghm_c_loss"
    check_tensor(input, "input", fn, floating=True)
    check_binary_target(input, target, fn)
    dtype = compute_dtype(input, target)
    x, y = upcast(input, dtype), target.detach().to(dtype)
    valid = D.valid_mask(mask, x.shape, fn, x.device)
    w = D.ghm_weights((torch.sigmoid(x.detach()) - y).abs(), valid, bins, bin_counts, momentum, fn)
    pos, neg = binary_terms(x, from_logits=True)
    return reduce_loss(w * (y * pos + (1 - y) * neg), reduction, fn=fn, mask=valid)


def _norm(input: Tensor, target: Tensor, mask: Tensor | None, module: Any) -> tuple[Tensor, Tensor]:
    x = input.to(module.bin_counts.dtype)
    valid = D.valid_mask(mask, x.shape, type(module).__name__, x.device)
    return (torch.sigmoid(x) - target.to(x.dtype)).abs(), valid


_EXAMPLE = r"""Example:
        >>> import torch
        >>> crit = GHMCLoss(bins=4, momentum=0.5)
        >>> _ = crit(torch.tensor([-4.0, -4.0, 0.5]), torch.tensor([0.0, 0.0, 1.0]))
        >>> crit.bin_counts
        tensor([1.0000, 0.5000, 0.0000, 0.0000])
    """

GHMCLoss = D.ghm_module(ghm_c_loss, "GHMCLoss", __name__, _EXAMPLE, _norm)


def _ghm_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Any:
    return score_examples(dtype, seed)._replace(module=ModuleCall(to_function=D.counts_to_function))


register_loss(
    "ghm_c",
    family="classification",
    function=ghm_c_loss,
    module=GHMCLoss,
    formula="N / (n GD(g)) BCE(x, y), g = |sigmoid(x) - y|",
    reference="Li et al., Gradient Harmonized Single-stage Detector, AAAI 2019, arXiv:1811.05181",
    examples=_ghm_examples,
)
