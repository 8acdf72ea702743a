"""MPDIoU loss (Ma & Xu): corner distances normalised by the image size."""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real
from typing import Annotated, Any

import torch
from torch import Tensor

from .._core.checks import require, shape_str
from .._core.declare import loss_function, loss_module
from .._core.module import LossModule
from .._core.options import Check
from .._core.registry import register_loss
from ..errors import OptionError
from . import _common as C
from . import _geometry as G


class _ImageSizeCheck(Check):
    """``(H, W)`` (positive numbers, kept as a tuple of floats) or a ``(..., 2)`` tensor (its
    values are checked by the loss); ``None`` passes (the loss then says it is required)."""

    def __call__(self, value: Any, name: str, fn: str) -> Any:
        if value is None:
            return value
        if isinstance(value, Tensor):
            if value.dim() == 0 or value.shape[-1] != 2:
                raise OptionError(
                    f"{fn}: expected {name} (H, W) or (..., 2), got {shape_str(value)}"
                )
            return value
        items = list(value) if isinstance(value, Sequence) else [value]
        if len(items) != 2 or not all(
            isinstance(v, Real) and not isinstance(v, bool) for v in items
        ):
            raise OptionError(f"{fn}: expected {name} (H, W) or (..., 2), got {value!r}")
        if not all(math.isfinite(v) and v > 0 for v in items):
            raise OptionError(
                f"{fn}: expected a finite positive {name}, got {[float(v) for v in items]}"
            )
        return tuple(float(v) for v in items)


ImageSize = Annotated[Tensor | Sequence[float] | None, _ImageSizeCheck()]


def _mpdiou_terms(b: C.Pair, *, image_size: Tensor | Sequence[float] | None) -> Tensor:
    fn = "mpdiou_loss"
    if image_size is None:
        raise OptionError(f"{fn}: expected image_size=(H, W) (MPDIoU normalises by the image)")
    size = torch.as_tensor(image_size, dtype=b.p.x1.dtype, device=b.p.x1.device).detach()
    require(
        torch.isfinite(size) & (size > 0),
        f"{fn}: expected a finite positive image_size; a value <= 0 or non-finite was found",
        OptionError,
    )
    size = size * b.scale.f1 * b.scale.f2  # in the pair's unit frame (inf if far larger)
    diagonal = torch.hypot(size[..., 0], size[..., 1])
    return 1 - G.overlap(b.p, b.t).iou + G.mpdiou_penalty(b.p, b.t, diagonal)


@loss_function(C.BOX_DOCS, options=C.box_options)
def mpdiou_loss(
    pred: Tensor, target: Tensor, *, image_size: ImageSize = None, **options: Any
) -> Tensor:
    r"""MPDIoU loss: IoU loss plus the squared distances of the top-left and bottom-right
    corners, normalised by the squared diagonal of the input image.

    .. math::
        \ell = 1 - \mathrm{IoU} + \frac{d_1^2 + d_2^2}{W^2 + H^2},\quad
        d_1^2 = (x_1 - x_1^{gt})^2 + (y_1 - y_1^{gt})^2,\
        d_2^2 = (x_2 - x_2^{gt})^2 + (y_2 - y_2^{gt})^2

    {{degenerate}}
    The corner-distance term moves the corners of a zero-area box towards the target's (finite
    gradients); two identical zero-area boxes give 1 (not 0) with zero gradient.

    {{scale}}
    The corner-distance term, which depends on the image size, is the exception: where the
    boxes are so far from each other, compared with the image, that one of its four squared
    ratios would exceed ``max / 2^28`` (``2^100`` in fp32), or its gradient the dtype's
    range, that ratio saturates at ``max / 2^28`` with zero gradient. No gradient flows to
    ``image_size``.

    Args:
        image_size: ``(H, W)`` of the input image (required), or a ``(..., 2)`` tensor
            broadcastable to the boxes for images of different sizes. :class:`MPDIoULoss`
            takes it at construction or per call.

    {{shape}}

    Reference:
        Ma & Xu, *MPDIoU: A Loss for Efficient and Accurate Bounding Box Regression*,
        arXiv:2307.07662 (2023), Eqs. (1)-(3).

    Example:
        >>> import torch
        >>> mpdiou_loss(torch.tensor([[0.0, 0.0, 2.0, 2.0]]), torch.tensor([[1.0, 0.0, 3.0, 2.0]]),
        ...             image_size=(4, 3))
        tensor(0.7467)
    """
    return C.box_loss(
        _mpdiou_terms, pred, target, fn="mpdiou_loss", image_size=image_size, **options
    )


_Declared = loss_module(mpdiou_loss, "MPDIoULoss", module=__name__)


class MPDIoULoss(LossModule):
    __doc__ = f"{_Declared.__doc__}\n``image_size`` may also be passed per call.\n"

    function = mpdiou_loss
    __init__ = _Declared.__init__

    def forward(
        self,
        pred: Tensor,
        target: Tensor,
        image_size: Tensor | Sequence[float] | None = None,
        weight: Tensor | None = None,
        normalizer: Tensor | float | None = None,
    ) -> Tensor:
        """:func:`mpdiou_loss` with this Module's options; an ``image_size`` given here
        replaces the Module's."""
        options = self.options()
        if image_size is not None:
            options["image_size"] = image_size
        return mpdiou_loss(pred, target, weight=weight, normalizer=normalizer, **options)


register_loss(
    "mpdiou",
    family="boxes",
    function=mpdiou_loss,
    module=MPDIoULoss,
    formula="1 - IoU + (d1^2 + d2^2) / (W^2 + H^2)",
    reference="Ma & Xu, MPDIoU, arXiv:2307.07662",
    examples=C.image_examples,
)
