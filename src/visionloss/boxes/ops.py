"""Box geometry: format conversion, area, and IoU / GIoU / DIoU / CIoU similarities, paired
(elementwise) or pairwise (every box of a set against every box of another)."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from .._core.checks import shape_str
from .._core.dtypes import compute_dtype, upcast
from ..errors import InputError
from . import _geometry as G

__all__ = [
    "box_convert",
    "box_area",
    "box_iou",
    "generalized_box_iou",
    "distance_box_iou",
    "complete_box_iou",
]


def box_convert(boxes: Tensor, in_fmt: str, out_fmt: str) -> Tensor:
    """Convert boxes between ``"xyxy"`` (corners), ``"xywh"`` (top-left corner, width, height)
    and ``"cxcywh"`` (centre, width, height).

    Args:
        boxes: ``(..., 4)`` floating tensor.
        in_fmt: format of ``boxes``.
        out_fmt: wanted format.

    Returns:
        ``(..., 4)`` tensor of the same dtype (``boxes`` itself when the formats are equal).

    Example:
        >>> import torch
        >>> box_convert(torch.tensor([[10.0, 20.0, 4.0, 6.0]]), "cxcywh", "xyxy")
        tensor([[ 8., 17., 12., 23.]])
    """
    fn = "box_convert"
    G.check_format(in_fmt, fn, "in_fmt")
    G.check_format(out_fmt, fn, "out_fmt")
    boxes = G.check_boxes(boxes, "boxes", fn)
    if in_fmt == out_fmt:
        return boxes
    return G.from_corners(*G.corners(boxes, in_fmt), out_fmt)


def box_area(boxes: Tensor, *, box_format: str = "xyxy") -> Tensor:
    """Area ``w * h`` of each box; inverted corners (``x2 < x1``) count as width 0.

    Args:
        boxes: ``(..., 4)`` floating tensor.
        box_format: ``"xyxy" | "xywh" | "cxcywh"``.

    Returns:
        ``(...)`` areas, float32 for fp16/bf16 inputs.

    Example:
        >>> import torch
        >>> box_area(torch.tensor([[0.0, 0.0, 2.0, 3.0], [1.0, 1.0, 0.0, 2.0]]))
        tensor([6., 0.])
    """
    fn = "box_area"
    G.check_format(box_format, fn)
    boxes = G.check_boxes(boxes, "boxes", fn)
    w, h = G.sizes(G.Corners(*G.corners(upcast(boxes, compute_dtype(boxes)), box_format)))
    return w * h


def _similarity(
    boxes1: Tensor,
    boxes2: Tensor,
    box_format: str,
    paired: bool,
    fn: str,
    penalty: Callable[[G.Corners, G.Corners, G.Overlap], Tensor],
) -> Tensor:
    G.check_format(box_format, fn)
    boxes1 = G.check_boxes(boxes1, "boxes1", fn)
    boxes2 = G.check_boxes(boxes2, "boxes2", fn)
    if paired:
        if boxes1.shape != boxes2.shape:
            raise InputError(
                f"{fn}: expected boxes2 of shape {shape_str(boxes1)} matching boxes1 "
                f"(paired=True), got {shape_str(boxes2)}"
            )
    elif boxes1.dim() != 2 or boxes2.dim() != 2:
        raise InputError(
            f"{fn}: expected boxes1 (N, 4) and boxes2 (M, 4) for a pairwise matrix, got "
            f"{shape_str(boxes1)} and {shape_str(boxes2)} (use paired=True for elementwise)"
        )
    if not paired:
        boxes1, boxes2 = boxes1[:, None, :], boxes2[None, :, :]
    p, t, _ = G.to_unit(boxes1, boxes2, box_format)  # as the losses: scale-free, exact
    ov = G.overlap(p, t)
    return ov.iou - penalty(p, t, ov)


_DOC_ARGS = """
    Args:
        boxes1: ``(N, 4)`` boxes, or ``(..., 4)`` with ``paired=True``.
        boxes2: ``(M, 4)`` boxes, or the same shape as ``boxes1`` with ``paired=True``.
        box_format: ``"xyxy" | "xywh" | "cxcywh"`` for both sets.
        paired: ``False`` (default) gives the ``(N, M)`` matrix of every pair, as
            ``torchvision.ops``; ``True`` compares ``boxes1[i]`` with ``boxes2[i]``.

    Returns:
        ``(N, M)``, or ``(...)`` with ``paired=True``; float32 for fp16/bf16 inputs. Pairs
        whose union is empty have IoU 0. Each pair is computed scaled by the exact power of
        two that brings its largest coordinate below 1/4, as in the box losses, so boxes of
        any finite magnitude give finite values and gradients.
"""


def box_iou(
    boxes1: Tensor, boxes2: Tensor, *, box_format: str = "xyxy", paired: bool = False
) -> Tensor:
    """Intersection over union ``|A n B| / |A u B|``.
    {args}
    Example:
        >>> import torch
        >>> a = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
        >>> box_iou(a, torch.tensor([[1.0, 0.0, 3.0, 2.0], [5.0, 5.0, 6.0, 6.0]]))
        tensor([[0.3333, 0.0000]])
    """
    return _similarity(
        boxes1, boxes2, box_format, paired, "box_iou", lambda p, t, ov: ov.iou.new_zeros(())
    )


def generalized_box_iou(
    boxes1: Tensor, boxes2: Tensor, *, box_format: str = "xyxy", paired: bool = False
) -> Tensor:
    """Generalized IoU ``IoU - |C minus (A u B)| / |C|`` (C: smallest enclosing box), in
    ``(-1, 1]``.
    {args}
    Reference:
        Rezatofighi et al., *Generalized Intersection over Union*, CVPR 2019, arXiv:1902.09630.

    Example:
        >>> import torch
        >>> a = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
        >>> generalized_box_iou(a, torch.tensor([[1.0, 1.0, 2.0, 2.0]]))
        tensor([[-0.5000]])
    """
    return _similarity(boxes1, boxes2, box_format, paired, "generalized_box_iou", G.giou_penalty)


def distance_box_iou(
    boxes1: Tensor, boxes2: Tensor, *, box_format: str = "xyxy", paired: bool = False
) -> Tensor:
    """Distance IoU ``IoU - rho^2(b1, b2) / c^2`` (centre distance over the enclosing
    diagonal, squared), in ``(-1, 1]``.
    {args}
    Reference:
        Zheng et al., *Distance-IoU Loss*, AAAI 2020, arXiv:1911.08287.

    Example:
        >>> import torch
        >>> a = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
        >>> distance_box_iou(a, torch.tensor([[1.0, 1.0, 2.0, 2.0]]))
        tensor([[-0.2500]])
    """
    return _similarity(
        boxes1,
        boxes2,
        box_format,
        paired,
        "distance_box_iou",
        lambda p, t, ov: G.diou_penalty(p, t),
    )


def complete_box_iou(
    boxes1: Tensor, boxes2: Tensor, *, box_format: str = "xyxy", paired: bool = False
) -> Tensor:
    """Complete IoU ``IoU - rho^2 / c^2 - alpha v`` with the aspect term
    ``v = 4/pi^2 (atan(w2/h2) - atan(w1/h1))^2`` and ``alpha = v / ((1 - IoU) + v)`` (alpha is
    held constant for gradients, as in the paper).
    {args}
    Reference:
        Zheng et al., *Distance-IoU Loss*, AAAI 2020, arXiv:1911.08287.

    Example:
        >>> import torch
        >>> a = torch.tensor([[0.0, 0.0, 2.0, 1.0]])
        >>> complete_box_iou(a, torch.tensor([[0.0, 0.0, 1.0, 1.0]]))
        tensor([[0.4468]])
    """
    return _similarity(boxes1, boxes2, box_format, paired, "complete_box_iou", G.ciou_penalty)


for _f in (box_iou, generalized_box_iou, distance_box_iou, complete_box_iou):
    _f.__doc__ = (_f.__doc__ or "").replace("{args}", _DOC_ARGS.rstrip() + "\n")
del _f
