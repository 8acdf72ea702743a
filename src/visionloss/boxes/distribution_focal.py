"""Distribution focal loss (Generalized Focal Loss, Li et al. 2020) and the conversions between
boxes and the distributions of their side distances."""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from torch import Tensor

from .._core.checks import check_tensor, require, shape_str
from .._core.declare import DocParts, loss_function
from .._core.dtypes import compute_dtype, upcast
from .._core.examples import Example, generator, normal, uniform
from .._core.options import PER_CALL, Flag, Number, Reduction
from .._core.reduction import reduce_loss
from .._core.registry import register_loss
from ..errors import InputError
from . import _geometry as G

__all__ = [
    "distribution_focal_loss",
    "DistributionFocalLoss",
    "bbox_to_distribution",
    "distribution_to_bbox",
]

Weight = Annotated[Tensor | None, PER_CALL]
Normalizer = Annotated[Tensor | float | None, PER_CALL]
_REG_MAX = Number(1, integer=True)
_STRIDE = Number(0, lo_open=True)
_FLAG = Flag()

DFL_DOCS = DocParts(
    args={
        "input": """``(..., n)`` logits over the ``n = reg_max + 1`` bins ``0, 1, ...,
            reg_max`` of a distance, floating point (``(N, 4, reg_max + 1)`` for the four
            sides of ``N`` boxes).""",
        "target": """``(...)`` distances in bin units, floating point, in ``[0, reg_max]``
            (see :func:`bbox_to_distribution`); a constant of the loss.""",
        "weight": """optional weight broadcastable to ``(...)`` (e.g. a box's quality score,
            ``(N, 1)`` for the four sides).""",
        "reduction": """``"mean"`` (over the distances), ``"sum"`` or ``"none"``.""",
        "normalizer": """with ``"mean"``, divide the sum by it (by 1 where it is <= 0) instead
            of the number of distances.""",
    }
)


@loss_function(DFL_DOCS)
def distribution_focal_loss(
    input: Tensor,
    target: Tensor,
    *,
    weight: Weight = None,
    reduction: Reduction = "mean",
    normalizer: Normalizer = None,
) -> Tensor:
    r"""Distribution focal loss (GFL): cross entropy of the distance's discrete distribution
    against the two bins around the target, weighted by their linear interpolation.

    .. math::
        \ell = -\big[(y_{i+1} - y)\log S_i + (y - y_i)\log S_{i+1}\big],\qquad
        y_i \le y \le y_{i+1} = y_i + 1,\; S = \operatorname{softmax}(x)

    The target :math:`y` (a side's distance from the anchor point, in strides) must lie in
    ``[0, reg_max]``; at ``y = reg_max`` exactly the left bin is ``reg_max - 1`` with weight 0.
    Conventions: ``reg_max`` is the last bin index (mmdetection's ``reg_max=16``: 17 bins);
    ultralytics' ``DFLoss(reg_max=16)`` has 16 bins (``reg_max`` here is 15), clamps its
    target to ``reg_max - 0.01`` and averages the four sides of a box, which is
    ``reduction="none"`` here followed by ``.mean(-1)``. The loss is minimal (not zero) when
    the distribution is the two-bin interpolation itself.

    Degenerate cases: no distances give 0 for ``"mean"`` and ``"sum"``, attached to the
    graph; an all-zero ``weight`` gives 0 with zero gradients. A target outside
    ``[0, reg_max]`` is an InputError (a device-side assertion on a GPU).

    Shape:
        ``input``: ``(..., reg_max + 1)``; ``target``: ``(...)``; output: scalar, or ``(...)``
        for ``"none"``.

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Li et al., *Generalized Focal Loss*, NeurIPS 2020, arXiv:2006.04388, Eq. (6).

    Example:
        >>> import torch
        >>> logits = torch.tensor([[0.0, 2.0, 0.0, -1.0]])  # reg_max = 3
        >>> distribution_focal_loss(logits, torch.tensor([1.25]))
        tensor(0.7780)
    """
    fn = "distribution_focal_loss"
    check_tensor(input, "input", fn, floating=True, min_ndim=1)
    check_tensor(target, "target", fn, floating=True)
    if tuple(target.shape) != tuple(input.shape[:-1]):
        raise InputError(
            f"{fn}: expected target of shape {shape_str(input.shape[:-1])} (input "
            f"{shape_str(input)} without its bin dimension), got {shape_str(target)}"
        )
    reg_max = input.shape[-1] - 1
    if reg_max < 1:
        raise InputError(f"{fn}: expected at least 2 bins in input's last dimension, got "
                         f"{shape_str(input)}")  # fmt: skip
    y = target.detach()
    require(
        ~((y < 0) | (y > reg_max)),
        f"{fn}: expected target distances in [0, {reg_max}] (reg_max = input.shape[-1] - 1)",
    )
    dtype = compute_dtype(input, target)
    x = upcast(input, dtype)
    y = y.to(dtype).clamp(0, reg_max)
    # the bins from a NaN-free copy (a safe index); a NaN target keeps its NaN in the weights,
    # so its loss is NaN
    left = torch.nan_to_num(y).floor().clamp(max=reg_max - 1)
    w_right = y - left
    if torch.compiler.is_compiling():
        # compiled: LSE(x) - sum_k w_k x_k, the two-hot weights w from a comparison with the
        # bin index; inductor makes one loop each way of it, with no gather or scatter (on
        # 2^20 x 4 x 16, one CPU thread: 0.88x compiled ultralytics; two gathers 1.07x, one
        # gather of two columns 1.6x: its gradient scattered in a loop of width 2)
        bins = torch.arange(reg_max + 1, device=x.device, dtype=dtype)
        at, w_r = left.unsqueeze(-1), w_right.unsqueeze(-1)
        two_hot = torch.where(bins == at, 1 - w_r, 0.0) + torch.where(bins == at + 1, w_r, 0.0)
        loss = torch.logsumexp(x, -1) - (two_hot * x).sum(-1)
    else:
        # both bins in one gather: its backward is one zero-filled tensor and one scatter
        # (two gathers cost two of each and their sum, 15% of the call on 2^18 x 4 x 16)
        idx = left.long().unsqueeze(-1)
        pair = F.log_softmax(x, dim=-1).gather(-1, torch.cat([idx, idx + 1], dim=-1))
        loss = -((1 - w_right) * pair[..., 0] + w_right * pair[..., 1])
    w = G.check_weight(weight, loss.shape, dtype, fn)
    return reduce_loss(loss, reduction, fn=fn, weight=w, normalizer=normalizer, last_dim_first=True)


def _dfl_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """Logits ``(6, 4, 8)`` (reg_max 7) and distances in ``(0.1, 6.9)`` away from integers."""
    gen = generator(seed)
    logits = normal(6, 4, 8, dtype=dtype, gen=gen)
    base = torch.randint(0, 7, (6, 4), generator=gen).to(torch.float64)
    frac = uniform(6, 4, dtype=torch.float64, gen=gen, lo=0.1, hi=0.9)
    return Example((logits, (base + frac).to(dtype)))


DistributionFocalLoss = register_loss(
    "distribution_focal",
    family="boxes",
    function=distribution_focal_loss,
    module="DistributionFocalLoss",
    aliases=("dfl",),
    formula="-((y_{i+1} - y) log S_i + (y - y_i) log S_{i+1})",
    reference="Li et al., Generalized Focal Loss, NeurIPS 2020, arXiv:2006.04388",
    examples=_dfl_examples,
).module


def bbox_to_distribution(
    points: Tensor,
    boxes: Tensor,
    *,
    reg_max: int,
    stride: float | Tensor = 1.0,
    box_format: str = "xyxy",
    margin: float = 0.01,
    two_hot: bool = False,
) -> Tensor:
    r"""Side distances of boxes from anchor points, in bins: the target of
    :func:`distribution_focal_loss`.

    ``(l, t, r, b) = (x - x_1, y - y_1, x_2 - x, y_2 - y) / stride``, clamped to
    ``[0, reg_max - margin]`` (mmdetection's ``bbox2distance(points, bbox, max_dis=reg_max,
    eps=0.01)``; ultralytics' ``bbox2dist`` clamps to ``reg_max - 1 - 0.01`` with its
    ``reg_max`` bins). With ``two_hot=True`` each distance is returned as its distribution
    over the ``reg_max + 1`` bins: weights ``1 - frac`` and ``frac`` on the two bins around it.

    Args:
        points: ``(..., 2)`` anchor points ``(x, y)``, floating point.
        boxes: ``(..., 4)`` boxes, same leading shape.
        reg_max: the last bin index, an integer ``>= 1``.
        stride: the anchor's stride (a number, or a tensor broadcastable to ``(..., 1)``).
        box_format: ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``.
        margin: the distances stay ``margin`` below ``reg_max`` (default 0.01).
        two_hot: return the distributions ``(..., 4, reg_max + 1)`` instead of the
            distances ``(..., 4)``.

    Returns:
        ``(..., 4)`` distances ``(l, t, r, b)`` in bins, or ``(..., 4, reg_max + 1)``.

    Example:
        >>> import torch
        >>> bbox_to_distribution(torch.tensor([[8.0, 8.0]]), torch.tensor([[0.0, 4.0, 30.0, 10.0]]),
        ...                      reg_max=4, stride=4.0)
        tensor([[2.0000, 1.0000, 3.9900, 0.5000]])
    """
    fn = "bbox_to_distribution"
    reg_max = int(_REG_MAX(reg_max, "reg_max", fn))
    box_format = G.check_format(box_format, fn)
    two_hot = _FLAG(two_hot, "two_hot", fn)
    margin = float(Number(0, 1, hi_open=True)(margin, "margin", fn))
    check_tensor(points, "points", fn, floating=True, min_ndim=1)
    boxes = G.check_boxes(boxes, "boxes", fn)
    if points.shape[-1] != 2 or points.shape[:-1] != boxes.shape[:-1]:
        raise InputError(
            f"{fn}: expected points of shape {shape_str((*boxes.shape[:-1], 2))} matching "
            f"boxes {shape_str(boxes)}, got {shape_str(points)}"
        )
    if not isinstance(stride, Tensor):
        stride = _STRIDE(stride, "stride", fn)
    x1, y1, x2, y2 = G.corners(boxes, box_format)
    x, y = points.unbind(-1)
    dist = torch.stack([x - x1, y - y1, x2 - x, y2 - y], -1) / stride
    dist = dist.clamp(0, reg_max - margin)
    if not two_hot:
        return dist
    left = dist.floor()
    frac = dist - left
    bins = torch.arange(reg_max + 1, device=dist.device, dtype=dist.dtype)
    at_left = (bins == left.unsqueeze(-1)).to(dist.dtype)
    at_right = (bins == left.unsqueeze(-1) + 1).to(dist.dtype)
    return at_left * (1 - frac).unsqueeze(-1) + at_right * frac.unsqueeze(-1)


def distribution_to_bbox(
    points: Tensor, logits: Tensor, *, stride: float | Tensor = 1.0, box_format: str = "xyxy"
) -> Tensor:
    r"""Boxes from the distributions of their side distances (GFL's integral): each distance
    is the expected bin :math:`\sum_i i\, \operatorname{softmax}(x)_i`, times ``stride``.

    Args:
        points: ``(..., 2)`` anchor points ``(x, y)``, floating point.
        logits: ``(..., 4, reg_max + 1)`` logits of the sides ``(l, t, r, b)``.
        stride: the anchor's stride (a number, or a tensor broadcastable to ``(..., 1)``).
        box_format: format of the returned boxes, ``"xyxy"`` (default), ``"xywh"`` or
            ``"cxcywh"``.

    Returns:
        ``(..., 4)`` boxes (differentiable in ``logits``).

    Example:
        >>> import torch
        >>> logits = torch.full((1, 4, 5), -1e4)
        >>> logits[0, :, 2] = 0.0                         # every side 2 bins
        >>> distribution_to_bbox(torch.tensor([[8.0, 8.0]]), logits, stride=4.0)
        tensor([[ 0.,  0., 16., 16.]])
    """
    fn = "distribution_to_bbox"
    box_format = G.check_format(box_format, fn)
    check_tensor(points, "points", fn, floating=True, min_ndim=1)
    check_tensor(logits, "logits", fn, floating=True, min_ndim=2)
    if logits.shape[-2] != 4 or points.shape[-1] != 2 or points.shape[:-1] != logits.shape[:-2]:
        raise InputError(
            f"{fn}: expected logits of shape (..., 4, reg_max + 1) and points (..., 2) with the "
            f"same leading shape, got logits {shape_str(logits)} and points {shape_str(points)}"
        )
    if not isinstance(stride, Tensor):
        stride = _STRIDE(stride, "stride", fn)
    dtype = compute_dtype(points, logits)
    prob = torch.softmax(upcast(logits, dtype), dim=-1)
    bins = torch.arange(logits.shape[-1], device=logits.device, dtype=dtype)
    dist = prob.matmul(bins) * stride
    x, y = upcast(points, dtype).unbind(-1)
    left, top, right, bottom = dist.unbind(-1)
    return G.from_corners(x - left, y - top, x + right, y + bottom, box_format)
