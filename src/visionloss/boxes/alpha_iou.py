"""Alpha-IoU (power IoU) losses (He et al.)."""

from __future__ import annotations

from typing import Annotated, Any

from torch import Tensor

from .._core import numerics
from .._core.declare import loss_function
from .._core.options import Choice, Positive
from .._core.registry import register_loss
from . import _common as C
from . import _geometry as G

AlphaVariant = Annotated[str, Choice("iou", "giou", "diou", "ciou")]


def _alpha_iou_terms(b: C.Pair, *, alpha: float, variant: str) -> Tensor:
    p, t = b.p, b.t
    ov = G.overlap(p, t)
    loss = 1 - numerics.pow(ov.iou, alpha)
    if variant == "giou":
        loss = loss + numerics.pow(G.giou_penalty(p, t, ov), alpha)
    elif variant in ("diou", "ciou"):
        loss = loss + numerics.pow(G.diou_penalty(p, t), alpha)
    if variant == "ciou":
        v = G.aspect_term(p, t)
        loss = loss + numerics.pow(G.ciou_alpha(ov.iou, v) * v, alpha)
    return loss


@loss_function(C.BOX_DOCS, options=C.box_options)
def alpha_iou_loss(
    pred: Tensor,
    target: Tensor,
    *,
    alpha: Positive = 3.0,
    variant: AlphaVariant = "iou",
    **options: Any,
) -> Tensor:
    r"""Alpha-IoU loss: the IoU term and each penalty raised to the power :math:`\alpha`.

    .. math::
        \mathcal L_{\alpha\text{-IoU}} = 1 - \mathrm{IoU}^{\alpha},\quad
        \mathcal L_{\alpha\text{-GIoU}} = 1 - \mathrm{IoU}^{\alpha}
            + \Big(\frac{|C \setminus (B \cup B^{gt})|}{|C|}\Big)^{\alpha},

    .. math::
        \mathcal L_{\alpha\text{-DIoU}} = 1 - \mathrm{IoU}^{\alpha}
            + \frac{\rho^{2\alpha}(\mathbf b, \mathbf b^{gt})}{c^{2\alpha}},\quad
        \mathcal L_{\alpha\text{-CIoU}} = \mathcal L_{\alpha\text{-DIoU}} + (\beta v)^{\alpha}

    with :math:`\beta = v / ((1 - \mathrm{IoU}) + v)` held constant as in CIoU. ``alpha = 1``
    gives the plain losses; ``alpha > 1`` up-weights the loss and gradient of high-IoU boxes.

    {{degenerate}}
    Each powered term is 0 at 0 with zero gradient, also for ``alpha < 1``: two identical
    zero-area boxes give 1 (not 0) with zero gradient, for every variant.

    {{scale}}

    Args:
        alpha: power ``> 0`` (default 3, the paper's).
        variant: ``"iou"`` (default), ``"giou"``, ``"diou"`` or ``"ciou"``.

    {{shape}}

    Reference:
        He et al., *Alpha-IoU: A Family of Power Intersection over Union Losses for Bounding Box
        Regression*, NeurIPS 2021, arXiv:2110.13675, Eqs. (4)-(7).

    Example:
        >>> import torch
        >>> alpha_iou_loss(torch.tensor([[0.0, 0.0, 2.0, 2.0]]),
        ...                torch.tensor([[1.0, 0.0, 3.0, 2.0]]), alpha=2.0)
        tensor(0.8889)
    """
    return C.box_loss(
        _alpha_iou_terms, pred, target, fn="alpha_iou_loss", alpha=alpha, variant=variant, **options
    )


AlphaIoULoss = register_loss(
    "alpha_iou",
    family="boxes",
    function=alpha_iou_loss,
    module="AlphaIoULoss",
    formula="1 - IoU^alpha (+ penalty^alpha for giou/diou/ciou)",
    reference="He et al., Alpha-IoU, NeurIPS 2021, arXiv:2110.13675",
    examples=C.box_examples,
).module
