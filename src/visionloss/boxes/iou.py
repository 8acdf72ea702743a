"""IoU loss (UnitBox): linear, square or log of the intersection over union."""

from __future__ import annotations

from typing import Annotated, Any

from torch import Tensor

from .._core.declare import loss_function
from .._core.options import Choice, Number
from .._core.registry import register_loss
from . import _common as C
from . import _geometry as G

Mode = Annotated[str, Choice("linear", "square", "log")]
# the floor of the IoU in (0, 1): at eps >= 1 the log loss would be a constant -ln eps <= 0
Eps = Annotated[float, Number(0, lo_open=True), Number(hi=1, hi_open=True)]


def _iou_terms(b: C.Pair, *, mode: str, eps: float) -> Tensor:
    return _from_iou(G.overlap(b.p, b.t).iou, mode, eps)


def _from_iou(iou: Tensor, mode: str, eps: float) -> Tensor:
    if mode == "linear":
        return 1 - iou
    if mode == "square":
        return 1 - iou.square()
    return -iou.clamp_min(eps).log()


@loss_function(C.BOX_DOCS, options=C.box_options)
def iou_loss(
    pred: Tensor, target: Tensor, *, mode: Mode = "linear", eps: Eps = 1e-6, **options: Any
) -> Tensor:
    r"""IoU loss: ``1 - IoU`` (linear), ``1 - IoU^2`` (square) or ``-ln IoU`` (log, UnitBox).

    .. math::
        \mathrm{IoU} = \frac{|B \cap B^{gt}|}{|B \cup B^{gt}|},\qquad
        \ell = 1 - \mathrm{IoU} \;\big|\; 1 - \mathrm{IoU}^2 \;\big|\;
               -\ln \max(\mathrm{IoU}, \varepsilon)

    Disjoint boxes have IoU 0 and no gradient (the reason for GIoU / DIoU). The options and
    the degenerate cases below are shared by the whole family (:func:`giou_loss`,
    :func:`diou_loss`, :func:`ciou_loss`, :func:`eiou_loss`, :func:`focal_eiou_loss`,
    :func:`cdiou_loss`, :func:`siou_loss`, :func:`wiou_loss`, :func:`alpha_iou_loss`,
    :func:`mpdiou_loss`, :func:`inner_iou_loss`).

    {{degenerate}}
    The loss of a zero-area box is then 1 (``"linear"``, ``"square"``) or ``-ln eps``
    (``"log"``), so two identical zero-area boxes give 1, not 0.

    {{scale}}

    Args:
        mode: ``"linear"`` (default), ``"square"`` or ``"log"``.
        eps: floor of the IoU inside the log (log mode only), in ``(0, 1)``.

    {{shape}}

    Reference:
        Yu et al., *UnitBox: An Advanced Object Detection Network*, ACM MM 2016,
        arXiv:1608.01471.

    Example:
        >>> import torch
        >>> iou_loss(torch.tensor([[0.0, 0.0, 2.0, 2.0]]), torch.tensor([[1.0, 0.0, 3.0, 2.0]]))
        tensor(0.6667)
    """
    return C.fused_box_loss(
        "iou",
        _iou_terms,
        pred,
        target,
        fn="iou_loss",
        transform=lambda iou: _from_iou(iou, mode, eps),
        mode=mode,
        eps=eps,
        **options,
    )


IoULoss = register_loss(
    "iou",
    family="boxes",
    function=iou_loss,
    module="IoULoss",
    formula="1 - IoU | 1 - IoU^2 | -ln IoU",
    reference="Yu et al., UnitBox, ACM MM 2016, arXiv:1608.01471",
    examples=C.box_examples,
).module
