"""Control-Distance IoU loss (Chen & Miao)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .._core.declare import loss_function
from .._core.options import NonNegative
from .._core.registry import register_loss
from . import _common as C
from . import _geometry as G


def _cdiou_terms(b: C.Pair, *, lam: float) -> Tensor:
    return 1 - G.overlap(b.p, b.t).iou + lam * G.cdiou_distance(b.p, b.t)


@loss_function(C.BOX_DOCS, options=C.box_options)
def cdiou_loss(pred: Tensor, target: Tensor, *, lam: NonNegative = 1.0, **options: Any) -> Tensor:
    r"""Control-Distance IoU loss: IoU loss plus the mean distance of the four corresponding
    vertices over the diagonal of the enclosing box.

    .. math::
        \mathrm{diou} = \frac{\sum_{k=1}^{4} \lVert \mathbf v_k - \mathbf v_k^{gt}\rVert_2}
                             {4\, c},
        \qquad \ell = 1 - \mathrm{IoU} + \lambda\, \mathrm{diou}

    with :math:`\mathbf v_1..\mathbf v_4` the corners ``(x1, y1), (x1, y2), (x2, y1),
    (x2, y2)`` and :math:`c` the diagonal of the smallest enclosing box. The distance term is
    differentiated exactly (its gradient at a coincident vertex is 0, not NaN).

    {{degenerate}}
    The vertex-distance term stays finite with a finite gradient (0 at a coincident vertex): it
    moves the corners of a zero-area box towards the target's, and two identical zero-area
    boxes give 1 (not 0) with zero gradient.

    {{scale}}

    Args:
        lam: weight :math:`\lambda \ge 0` of the distance term (default 1). The authors'
            released code (ATSS) is not this function at any ``lam``: its distance term is a
            quarter of the one above (it averages the four distances, then divides by 4
            again), taken between anchors and targets, and it adds 0.001 of it to a GIoU
            loss.

    {{shape}}

    Reference:
        Chen & Miao, *Control Distance IoU and Control Distance IoU Loss Function for Better
        Bounding Box Regression*, arXiv:2103.11696 (2021).

    Example:
        >>> import torch
        >>> cdiou_loss(torch.tensor([[0.0, 0.0, 1.0, 1.0]]), torch.tensor([[1.0, 0.0, 2.0, 1.0]]))
        tensor(1.4472)
    """
    return C.box_loss(_cdiou_terms, pred, target, fn="cdiou_loss", lam=lam, **options)


CDIoULoss = register_loss(
    "cdiou",
    family="boxes",
    function=cdiou_loss,
    module="CDIoULoss",
    formula="1 - IoU + lam * sum_k |v_k - v_k_gt| / (4 c)",
    reference="Chen & Miao, CDIoU, arXiv:2103.11696",
    examples=C.box_examples,
).module
