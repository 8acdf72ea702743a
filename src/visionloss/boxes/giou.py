"""Generalized IoU loss."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .._core.declare import loss_function
from .._core.registry import register_loss
from . import _common as C
from . import _geometry as G


def _giou_terms(b: C.Pair) -> Tensor:
    return G.variant_loss("giou", b.p, b.t, G.overlap(b.p, b.t))


@loss_function(C.BOX_DOCS, options=C.box_options)
def giou_loss(pred: Tensor, target: Tensor, **options: Any) -> Tensor:
    r"""Generalized IoU loss ``1 - GIoU``, in ``[0, 2)``.

    .. math::
        \ell = 1 - \mathrm{IoU} + \frac{|C \setminus (B \cup B^{gt})|}{|C|}

    with :math:`C` the smallest box enclosing both. Unlike the IoU loss it has a gradient for
    disjoint boxes (it grows the prediction towards the target).

    {{degenerate}}
    The enclosing-box term is 0 when the enclosing box has zero area too, so two identical
    zero-area boxes give 1 (not 0) with zero gradient; two disjoint zero-area boxes with a
    non-empty enclosing box give 2. The loss stays in ``[0, 2]``, inverted corners included. A
    point box inside the target gets no gradient (loss 1).

    {{scale}}

    {{shape}}

    Reference:
        Rezatofighi et al., *Generalized Intersection over Union*, CVPR 2019, arXiv:1902.09630.

    Example:
        >>> import torch
        >>> giou_loss(torch.tensor([[0.0, 0.0, 1.0, 1.0]]), torch.tensor([[1.0, 1.0, 2.0, 2.0]]))
        tensor(1.5000)
    """
    return C.fused_box_loss("giou", _giou_terms, pred, target, fn="giou_loss", **options)


GIoULoss = register_loss(
    "giou",
    family="boxes",
    function=giou_loss,
    module="GIoULoss",
    formula="1 - IoU + |C - (A u B)| / |C|",
    reference="Rezatofighi et al., GIoU, CVPR 2019, arXiv:1902.09630",
    examples=C.box_examples,
).module
