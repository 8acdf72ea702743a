"""Inner-IoU losses (Zhang et al.): IoU of auxiliary boxes scaled about their centres."""

from __future__ import annotations

from typing import Annotated, Any

from torch import Tensor

from .._core.declare import loss_function
from .._core.options import Choice, Positive
from .._core.registry import register_loss
from . import _common as C
from . import _geometry as G

Variant = Annotated[str, Choice(*G.VARIANTS)]


def _inner_iou_terms(b: C.Pair, *, ratio: float, variant: str) -> Tensor:
    ov = G.overlap(b.p, b.t)
    inner = G.overlap(G.scale_about_centre(b.p, ratio), G.scale_about_centre(b.t, ratio)).iou
    return G.variant_loss(variant, b.p, b.t, ov) + ov.iou - inner


@loss_function(C.BOX_DOCS, options=C.box_options)
def inner_iou_loss(
    pred: Tensor, target: Tensor, *, ratio: Positive = 0.7, variant: Variant = "iou", **options: Any
) -> Tensor:
    r"""Inner-IoU loss: an IoU-based loss whose IoU term is taken on auxiliary boxes that share
    the centres of the real ones and are scaled by ``ratio``.

    .. math::
        \mathcal L_{Inner\text{-}IoU} = 1 - \mathrm{IoU}^{inner},\qquad
        \mathcal L_{Inner\text{-}X} = \mathcal L_{X} + \mathrm{IoU} - \mathrm{IoU}^{inner}

    for :math:`X` in GIoU, DIoU, CIoU, EIoU, SIoU, where :math:`\mathrm{IoU}^{inner}` is the
    IoU of the boxes :math:`(x_c \pm r w / 2, y_c \pm r h / 2)`. ``ratio < 1`` sharpens the
    gradient of high-IoU pairs, ``ratio > 1`` widens the reach of low-IoU pairs; ``ratio = 1``
    is the base loss.

    {{degenerate}}
    The auxiliary box of a zero-area box has zero area too (inner IoU 0); two identical
    zero-area boxes give 1 (not 0) with zero gradient, for every variant.

    {{scale}}

    Args:
        ratio: scale :math:`r > 0` of the auxiliary boxes (default 0.7; the paper uses 0.5-1.5).
        variant: base loss: ``"iou"`` (default), ``"giou"``, ``"diou"``, ``"ciou"``,
            ``"eiou"`` or ``"siou"``.

    {{shape}}

    Reference:
        Zhang, Xu & Zhang, *Inner-IoU: More Effective Intersection over Union Loss with
        Auxiliary Bounding Box*, arXiv:2311.02877 (2023), Eqs. (10)-(17).

    Example:
        >>> import torch
        >>> inner_iou_loss(torch.tensor([[0.0, 0.0, 2.0, 2.0]]),
        ...                torch.tensor([[1.0, 0.0, 3.0, 2.0]]), ratio=0.5)
        tensor(1.)
    """
    return C.box_loss(
        _inner_iou_terms, pred, target, fn="inner_iou_loss", ratio=ratio, variant=variant, **options
    )


InnerIoULoss = register_loss(
    "inner_iou",
    family="boxes",
    function=inner_iou_loss,
    module="InnerIoULoss",
    formula="L_X + IoU - IoU(scaled boxes); 1 - IoU_inner for X = IoU",
    reference="Zhang et al., Inner-IoU, arXiv:2311.02877",
    examples=C.box_examples,
).module
