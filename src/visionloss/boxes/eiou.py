"""Efficient-IoU loss (Zhang et al.)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .._core.declare import loss_function
from .._core.registry import register_loss
from . import _common as C
from . import _geometry as G


def _eiou_terms(b: C.Pair) -> Tensor:
    return G.variant_loss("eiou", b.p, b.t, G.overlap(b.p, b.t))


@loss_function(C.BOX_DOCS, options=C.box_options)
def eiou_loss(pred: Tensor, target: Tensor, **options: Any) -> Tensor:
    r"""Efficient-IoU loss: DIoU plus width and height differences over the enclosing box.

    .. math::
        \ell = 1 - \mathrm{IoU} + \frac{\rho^2(\mathbf b, \mathbf b^{gt})}{c^2}
             + \frac{(w - w^{gt})^2}{C_w^2} + \frac{(h - h^{gt})^2}{C_h^2}

    with :math:`C_w, C_h` the width and height of the smallest enclosing box and
    :math:`c^2 = C_w^2 + C_h^2`. This is the Efficient-IoU of Zhang et al.; mmdetection's
    ``EIoULoss`` is a different loss (Extended-IoU, a smooth IoU loss).

    {{degenerate}}
    The width and height terms give no gradient through a zero width or height (sizes are
    clamped at 0): a point box at the target's centre is a stationary point with loss 3 (each
    size term is 1) and zero gradient. Two identical zero-area boxes give 1 (not 0) with zero
    gradient. For inverted corners the enclosing box spans all four corners on each axis, so
    each distance term stays at most 1 and the loss at most 4.

    {{scale}}

    {{shape}}

    Reference:
        Zhang et al., *Focal and Efficient IOU Loss for Accurate Bounding Box Regression*,
        Neurocomputing 2022, arXiv:2101.08158, Eq. (10).

    Example:
        >>> import torch
        >>> eiou_loss(torch.tensor([[0.0, 0.0, 2.0, 1.0]]), torch.tensor([[0.0, 0.0, 1.0, 1.0]]))
        tensor(0.8000)
    """
    return C.box_loss(_eiou_terms, pred, target, fn="eiou_loss", **options)


EIoULoss = register_loss(
    "eiou",
    family="boxes",
    function=eiou_loss,
    module="EIoULoss",
    formula="1 - IoU + rho^2/c^2 + (w - w_gt)^2/C_w^2 + (h - h_gt)^2/C_h^2",
    reference="Zhang et al., Focal-EIoU, Neurocomputing 2022, arXiv:2101.08158",
    examples=C.box_examples,
).module
