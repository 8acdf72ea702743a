"""Distance-IoU loss."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .._core.declare import loss_function
from .._core.registry import register_loss
from . import _common as C
from . import _geometry as G


def _diou_terms(b: C.Pair) -> Tensor:
    return G.variant_loss("diou", b.p, b.t, G.overlap(b.p, b.t))


@loss_function(C.BOX_DOCS, options=C.box_options)
def diou_loss(pred: Tensor, target: Tensor, **options: Any) -> Tensor:
    r"""Distance-IoU loss: IoU loss plus the normalised distance of the centres, in ``[0, 2)``.

    .. math::
        \ell = 1 - \mathrm{IoU} + \frac{\rho^2(\mathbf b, \mathbf b^{gt})}{c^2}

    with :math:`\rho` the Euclidean distance of the centres and :math:`c` the diagonal of the
    smallest enclosing box. It pulls the centres together directly, so it converges much faster
    than GIoU (see ``visionloss experiment diou-simulation``).

    {{degenerate}}
    The centre-distance term still moves a zero-area box towards the target's centre; at that
    centre a point box is a stationary point (loss 1, zero gradient), and two identical
    zero-area boxes give 1 (not 0) with zero gradient. Inverted corners count as empty for the
    IoU; the enclosing box spans all four corners on each axis, so it contains both centres and
    the loss stays below 2.

    {{scale}}

    {{shape}}

    Reference:
        Zheng et al., *Distance-IoU Loss: Faster and Better Learning for Bounding Box
        Regression*, AAAI 2020, arXiv:1911.08287, Eq. (6).

    Example:
        >>> import torch
        >>> diou_loss(torch.tensor([[0.0, 0.0, 1.0, 1.0]]), torch.tensor([[1.0, 1.0, 2.0, 2.0]]))
        tensor(1.2500)
    """
    return C.fused_box_loss("diou", _diou_terms, pred, target, fn="diou_loss", **options)


DIoULoss = register_loss(
    "diou",
    family="boxes",
    function=diou_loss,
    module="DIoULoss",
    formula="1 - IoU + rho^2(b, b_gt) / c^2",
    reference="Zheng et al., DIoU, AAAI 2020, arXiv:1911.08287",
    examples=C.box_examples,
).module
