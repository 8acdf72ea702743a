"""SCYLLA-IoU (SIoU) loss (Gevorgyan)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .._core.declare import loss_function
from .._core.options import Positive
from .._core.registry import register_loss
from . import _common as C
from . import _geometry as G


def _siou_terms(b: C.Pair, *, theta: float) -> Tensor:
    return 1 - G.overlap(b.p, b.t).iou + G.siou_penalty(b.p, b.t, theta)


@loss_function(C.BOX_DOCS, options=C.box_options)
def siou_loss(pred: Tensor, target: Tensor, *, theta: Positive = 4.0, **options: Any) -> Tensor:
    r"""SIoU loss: IoU loss plus angle-aware distance and shape costs.

    .. math::
        \ell = 1 - \mathrm{IoU} + \frac{\Delta + \Omega}{2},\quad
        \Lambda = 1 - 2\sin^2\!\Big(\arcsin\frac{|\Delta y|}{\sigma} - \frac{\pi}{4}\Big),

    .. math::
        \Delta = \sum_{t \in \{x, y\}} 1 - e^{-(2 - \Lambda)\rho_t},\
        \rho_x = \Big(\frac{\Delta x}{C_w}\Big)^2,\
        \Omega = \sum_{t \in \{w, h\}} (1 - e^{-\omega_t})^{\theta},\
        \omega_w = \frac{|w - w^{gt}|}{\max(w, w^{gt})}

    with :math:`(\Delta x, \Delta y)` the offset of the centres, :math:`\sigma` their distance
    and :math:`C_w, C_h` the enclosing box. These are the paper's signs: the distance cost is in
    ``[0, 2)`` and grows with the distance (mmdetection's default ``neg_gamma=False`` uses
    :math:`e^{+(2-\Lambda)\rho}`, which makes it negative and decreasing). The angle cost is
    computed in the equivalent form :math:`\Lambda = 2|\Delta x||\Delta y| / \sigma^2`
    (finite gradient where the centres are aligned).

    {{degenerate}}
    The shape cost gives no gradient through a zero width or height (sizes are clamped at 0): a
    point box at the target's centre is a stationary point with loss
    :math:`1 + (1 - e^{-1})^{\theta}` and zero gradient. Two identical zero-area boxes give 1
    (not 0) with zero gradient.

    {{scale}}

    Args:
        theta: exponent of the shape cost ``> 0`` (default 4, the paper's).

    {{shape}}

    Reference:
        Gevorgyan, *SIoU Loss: More Powerful Learning for Bounding Box Regression*,
        arXiv:2205.12740 (2022).

    Example:
        >>> import torch
        >>> siou_loss(torch.tensor([[0.0, 0.0, 1.0, 1.0]]), torch.tensor([[1.0, 0.0, 2.0, 1.0]]))
        tensor(1.1967)
    """
    return C.box_loss(_siou_terms, pred, target, fn="siou_loss", theta=theta, **options)


SIoULoss = register_loss(
    "siou",
    family="boxes",
    function=siou_loss,
    module="SIoULoss",
    formula="1 - IoU + (Delta + Omega) / 2 (angle, distance, shape costs)",
    reference="Gevorgyan, SIoU, arXiv:2205.12740",
    examples=C.box_examples,
).module
