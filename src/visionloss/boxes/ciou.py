"""Complete-IoU loss."""

from __future__ import annotations

from typing import Annotated, Any

from torch import Tensor

from .._core.declare import loss_function
from .._core.options import Number
from .._core.registry import register_loss
from . import _common as C
from . import _geometry as G

# CIoU's IoU threshold of the aspect term, an IoU in [0, 1] (None: the AAAI paper's, no
# threshold); above 1 it would switch the aspect term off everywhere
Threshold = Annotated[float | None, Number(0, optional=True), Number(hi=1, optional=True)]


def _ciou_terms(b: C.Pair, *, alpha_threshold: float | None) -> Tensor:
    ov = G.overlap(b.p, b.t)
    return G.variant_loss("ciou", b.p, b.t, ov, ciou_threshold=alpha_threshold)


@loss_function(C.BOX_DOCS, options=C.box_options)
def ciou_loss(
    pred: Tensor, target: Tensor, *, alpha_threshold: Threshold = None, **options: Any
) -> Tensor:
    r"""Complete-IoU loss: DIoU plus an aspect-ratio consistency term.

    .. math::
        \ell = 1 - \mathrm{IoU} + \frac{\rho^2(\mathbf b, \mathbf b^{gt})}{c^2} + \alpha v,
        \quad v = \frac{4}{\pi^2}\Big(\arctan\frac{w^{gt}}{h^{gt}} - \arctan\frac{w}{h}\Big)^2,
        \quad \alpha = \frac{v}{(1 - \mathrm{IoU}) + v}

    :math:`v` compares aspect ratios (it is not an angle between boxes). As in the paper,
    :math:`\alpha` is a trade-off weight held constant: no gradient flows through it. The
    gradient of :math:`v` is the exact one (the authors' simulation code, ``dCIOU.m``, drops
    its :math:`1/(w^2+h^2)` factor). A box with zero height has aspect angle :math:`\pi/2`; a point
    box (zero width and height) counts as square, so values and gradients stay finite.

    {{degenerate}}
    As in :func:`diou_loss`, a point box at the target's centre is a stationary point (loss 1,
    zero gradient), two identical zero-area boxes give 1 (not 0) with zero gradient (their
    aspect angles agree, ``v = 0``). For inverted corners the enclosing box spans all four
    corners, so the distance term stays below 1 and the loss below 3.

    {{scale}}

    Args:
        alpha_threshold: ``None`` (default): :math:`\alpha` as in the AAAI paper. ``0.5``: the
            later rule of Zheng et al. (IEEE TCYB 2021) that sets :math:`\alpha = 0` where
            IoU < 0.5, so the aspect term acts only on overlapping boxes. An IoU threshold
            in ``[0, 1]``.

    {{shape}}

    Reference:
        Zheng et al., *Distance-IoU Loss*, AAAI 2020, arXiv:1911.08287, Eqs. (8)-(11);
        Zheng et al., *Enhancing Geometric Factors in Model Learning and Inference for Object
        Detection and Instance Segmentation*, IEEE TCYB 2021, arXiv:2005.03572.

    Example:
        >>> import torch
        >>> ciou_loss(torch.tensor([[0.0, 0.0, 2.0, 1.0]]), torch.tensor([[0.0, 0.0, 1.0, 1.0]]))
        tensor(0.5532)
    """
    return C.fused_box_loss(
        "ciou",
        _ciou_terms,
        pred,
        target,
        fn="ciou_loss",
        threshold=alpha_threshold,
        alpha_threshold=alpha_threshold,
        **options,
    )


CIoULoss = register_loss(
    "ciou",
    family="boxes",
    function=ciou_loss,
    module="CIoULoss",
    formula="1 - IoU + rho^2/c^2 + alpha v, v = 4/pi^2 (atan(w_gt/h_gt) - atan(w/h))^2",
    reference="Zheng et al., DIoU/CIoU, AAAI 2020, arXiv:1911.08287",
    examples=C.box_examples,
).module
