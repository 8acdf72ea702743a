"""What the box losses share: their option types, the descriptions of their common arguments
(:data:`BOX_DOCS`), the example maker, and the path from checked inputs to a reduced loss."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, NamedTuple

import torch
from torch import Tensor, nn

from .._core.declare import DocParts
from .._core.dtypes import compute_dtype
from .._core.examples import Example, ModuleCall, generator, uniform
from .._core.options import PER_CALL, Choice, Reduction
from .._core.reduction import reduce_loss
from . import _fused, _rows
from . import _geometry as G

BoxFormat = Annotated[str, G.FORMAT]
LossFormat = Annotated[str | None, Choice(*G.FORMATS, optional=True)]
Weight = Annotated[Tensor | None, PER_CALL]
Normalizer = Annotated[Tensor | float | None, PER_CALL]


def box_options(
    *,
    box_format: BoxFormat = "xyxy",
    weight: Weight = None,
    reduction: Reduction = "mean",
    normalizer: Normalizer = None,
) -> None:
    """The options every box loss takes (an option group: declared once, listed in each
    loss's real signature)."""


def coordinate_options(*, loss_format: LossFormat = None) -> None:
    """The options of the coordinate losses (:func:`coordinate_loss`) besides
    :func:`box_options`."""


COORDINATE_OPTIONS = (box_options, coordinate_options)


_EMPTY = """Degenerate cases: no boxes give 0 for ``"mean"`` and ``"sum"``, attached to the
    graph, and a ``(0,)`` tensor for ``"none"``; an all-zero ``weight`` gives 0 with zero
    gradients."""

BOX_DOCS = DocParts(
    args={
        "pred": """``(..., 4)`` predicted boxes, floating point.""",
        "target": """``(..., 4)`` target boxes, same shape.""",
        "box_format": """format of ``pred`` and ``target``: ``"xyxy"`` (default), ``"xywh"``
            or ``"cxcywh"``.""",
        "loss_format": """format in which coordinates are compared (default:
            ``box_format``).""",
        "weight": """optional per-box weight broadcastable to ``(...)``.""",
        "reduction": """``"mean"`` (over boxes), ``"sum"`` or ``"none"``.""",
        "normalizer": """with ``"mean"``, divide the sum by it (by 1 where it is <= 0) instead
            of the number of boxes (e.g. the number of positive anchors; a tensor is
            fine).""",
    },
    paragraphs={
        "empty": _EMPTY,
        "degenerate": _EMPTY
        + """ A zero-area box, or one with inverted corners (``x2 < x1`` or ``y2 < y1``,
    counted as empty), has IoU 0 with every box, itself included (an empty union gives 0, not
    NaN), and the IoU then has zero gradient.""",
        "scale": """Scale: the loss does not change when both boxes are scaled together, and
            it is computed that way: each pair is first multiplied by the power of two that
            brings its largest coordinate below 1/4 (exact), so boxes with subnormal sides
            (``1e-40`` in fp32) or coordinates near the dtype's maximum give the values of
            ordinary boxes, finite with finite gradients. There an area below ``2^-102`` (fp32;
            ``2^-970`` in fp64) or a length below ``2^-51`` (``2^-485``) counts as 0, and the
            gradient, scaled back, is clamped to the input dtype's largest finite value.""",
        "shape": """Shape:
                ``pred``, ``target``: ``(..., 4)``; output: scalar, or ``(...)`` for
                ``"none"``.

            Returns:
                the loss; float32 for fp16/bf16 inputs.""",
    },
)


class Pair(NamedTuple):
    """Checked boxes of one call in their unit frame, and the checked per-box weight."""

    p: G.Corners
    t: G.Corners
    scale: G.Scale
    weight: Tensor | None


def box_loss(
    terms: Callable[..., Tensor],
    pred: Tensor,
    target: Tensor,
    *,
    fn: str,
    box_format: str,
    weight: Tensor | None,
    reduction: str,
    normalizer: Tensor | float | None,
    **options: Any,
) -> Tensor:
    """Check the boxes and the weight, bring the boxes to their unit frame, compute the
    per-box loss ``terms(pair, **options)`` and reduce it."""
    pred, target = G.check_pair(pred, target, fn)
    p, t, scale = G.to_unit(pred, target, box_format)
    w = G.check_weight(weight, pred.shape[:-1], p.x1.dtype, fn)
    loss = terms(Pair(p, t, scale, w), **options)
    return reduce_loss(loss, reduction, fn=fn, weight=w, normalizer=normalizer)


def fused_box_loss(
    variant: str,
    terms: Callable[..., Tensor],
    pred: Tensor,
    target: Tensor,
    *,
    fn: str,
    box_format: str,
    weight: Tensor | None,
    reduction: str,
    normalizer: Tensor | float | None,
    threshold: float | None = None,
    transform: Callable[[Tensor], Tensor] | None = None,
    **options: Any,
) -> Tensor:
    """:func:`box_loss` of IoU / GIoU / DIoU / CIoU through the one-pass Function of
    :mod:`._fused` (``xyxy`` boxes; other formats take the plain path ``terms``, whose
    conversion must happen inside the unit frame). ``transform`` maps the per-pair value
    (the IoU for ``"iou"``, else the loss) to the loss (under ``torch.compile`` the Function
    of :mod:`._rows`, written for the compiler)."""
    if box_format != "xyxy":
        return box_loss(
            terms,
            pred,
            target,
            fn=fn,
            box_format=box_format,
            weight=weight,
            reduction=reduction,
            normalizer=normalizer,
            **options,
        )
    pred, target = G.check_pair(pred, target, fn)
    w = G.check_weight(weight, pred.shape[:-1], compute_dtype(pred, target), fn)
    fused = _rows if torch.compiler.is_compiling() else _fused
    loss = fused.pair_value(pred, target, variant, threshold)
    if transform is not None:
        loss = transform(loss)
    return reduce_loss(loss, reduction, fn=fn, weight=w, normalizer=normalizer)


def coordinate_loss(
    elementwise: Callable[..., Tensor],
    pred: Tensor,
    target: Tensor,
    *,
    fn: str,
    box_format: str,
    loss_format: str | None,
    weight: Tensor | None,
    reduction: str,
    normalizer: Tensor | float | None,
    **options: Any,
) -> Tensor:
    """Per-box sum over the four coordinates of ``elementwise(pred, target, reduction="none",
    **options)`` (a loss of the regression family), the boxes first converted to
    ``loss_format``; in the boxes' own units (these losses are not scale-invariant)."""
    pred, target = G.check_pair(pred, target, fn)
    w = G.check_weight(weight, pred.shape[:-1], compute_dtype(pred, target), fn)
    if loss_format is not None and loss_format != box_format:
        pred = G.from_corners(*G.raw_corners(pred, box_format), loss_format)
        target = G.from_corners(*G.raw_corners(target, box_format), loss_format)
    per_coord = elementwise(pred, target, reduction="none", **options)
    return reduce_loss(per_coord.sum(-1), reduction, fn=fn, weight=w, normalizer=normalizer)


def box_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """``pred, target`` ``(8, 4)`` xyxy boxes, overlapping pairs whose corners, centres and
    sizes all differ by at least a tenth of a side (no tie of a max or a min, no ``|x|`` at
    0, also for Inner-IoU's boxes), each target a shifted copy of its prediction scaled by
    0.7-0.85 or 1.2-1.4 (equal aspect ratios, so CIoU's constant ``alpha`` multiplies
    ``v = 0`` and its gradient is exact)."""
    gen = generator(seed)
    n = 8
    low = uniform(n, 2, dtype=torch.float64, gen=gen, hi=4.0)
    wh = uniform(n, 2, dtype=torch.float64, gen=gen, lo=1.0, hi=3.0)
    u = uniform(n, 1, dtype=torch.float64, gen=gen)
    k = torch.where(u < 0.5, 0.7 + 0.3 * u, 1.2 + 0.4 * (u - 0.5))
    sign = torch.where(uniform(n, 2, dtype=torch.float64, gen=gen) < 0.5, -1.0, 1.0)
    shift = sign * uniform(n, 2, dtype=torch.float64, gen=gen, lo=0.3, hi=0.4) * wh
    centre = low + 0.5 * wh
    pred = torch.cat([centre - 0.5 * wh, centre + 0.5 * wh], -1)
    target = torch.cat([centre + shift - 0.5 * k * wh, centre + shift + 0.5 * k * wh], -1)
    return Example((pred.to(dtype), target.to(dtype)))


def _module_iou_mean(module: nn.Module) -> dict[str, Any]:
    return {"iou_mean": module.iou_mean}


def wiou_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """:func:`box_examples`; the Module's running mean (buffer ``iou_mean``) is the function's
    ``iou_mean`` option."""
    return box_examples(dtype, seed)._replace(module=ModuleCall(to_function=_module_iou_mean))


def image_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """:func:`box_examples` with the ``image_size`` that MPDIoU needs (boxes lie in it)."""
    return box_examples(dtype, seed)._replace(options={"image_size": (10.0, 12.0)})
