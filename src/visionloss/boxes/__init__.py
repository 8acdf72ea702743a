"""Bounding boxes: the IoU loss family (IoU, GIoU, DIoU, CIoU, EIoU, Focal-EIoU, CDIoU, SIoU,
WIoU, Alpha-IoU, MPDIoU, Inner-IoU) and box L1 / smooth L1, all as ``loss(pred, target, *,
box_format="xyxy" | "xywh" | "cxcywh", weight=None, reduction="mean", normalizer=None)``; and
the geometry they share: ``box_convert``, ``box_area`` and the ``box_iou``,
``generalized_box_iou``, ``distance_box_iou``, ``complete_box_iou`` similarities, pairwise
``(N, 4) x (M, 4) -> (N, M)`` or paired (``paired=True``). Degenerate boxes (zero area,
inverted corners) give finite values and gradients, and so do boxes of any magnitude, from
subnormal sides to coordinates near the dtype's maximum (the IoU variants are computed in each
pair's frame scaled by an exact power of two); fp16/bf16 boxes are computed in fp32."""

from .alpha_iou import AlphaIoULoss, alpha_iou_loss
from .balanced_l1 import BalancedL1Loss, balanced_l1_loss
from .box_l1 import BoxL1Loss, box_l1_loss
from .box_smooth_l1 import BoxSmoothL1Loss, box_smooth_l1_loss
from .cdiou import CDIoULoss, cdiou_loss
from .ciou import CIoULoss, ciou_loss
from .diou import DIoULoss, diou_loss
from .distribution_focal import (
    DistributionFocalLoss,
    bbox_to_distribution,
    distribution_focal_loss,
    distribution_to_bbox,
)
from .eiou import EIoULoss, eiou_loss
from .focal_eiou import FocalEIoULoss, focal_eiou_loss
from .ghm_r import GHMRLoss, ghm_r_loss
from .giou import GIoULoss, giou_loss
from .gwd import GWDLoss, gwd_loss
from .inner_iou import InnerIoULoss, inner_iou_loss
from .iou import IoULoss, iou_loss
from .kld import KLDLoss, kld_loss
from .mpdiou import MPDIoULoss, mpdiou_loss
from .ops import (
    box_area,
    box_convert,
    box_iou,
    complete_box_iou,
    distance_box_iou,
    generalized_box_iou,
)
from .probiou import ProbIoULoss, probiou_loss
from .rotated import box_to_gaussian, regularize_rotated_boxes
from .siou import SIoULoss, siou_loss
from .wiou import WIoULoss, wiou_loss

__all__ = [
    "box_convert",
    "box_area",
    "box_iou",
    "generalized_box_iou",
    "distance_box_iou",
    "complete_box_iou",
    "iou_loss",
    "IoULoss",
    "giou_loss",
    "GIoULoss",
    "diou_loss",
    "DIoULoss",
    "ciou_loss",
    "CIoULoss",
    "eiou_loss",
    "EIoULoss",
    "focal_eiou_loss",
    "FocalEIoULoss",
    "cdiou_loss",
    "CDIoULoss",
    "siou_loss",
    "SIoULoss",
    "wiou_loss",
    "WIoULoss",
    "alpha_iou_loss",
    "AlphaIoULoss",
    "mpdiou_loss",
    "MPDIoULoss",
    "inner_iou_loss",
    "InnerIoULoss",
    "box_l1_loss",
    "BoxL1Loss",
    "box_smooth_l1_loss",
    "BoxSmoothL1Loss",
    "distribution_focal_loss",
    "DistributionFocalLoss",
    "bbox_to_distribution",
    "distribution_to_bbox",
    "box_to_gaussian",
    "regularize_rotated_boxes",
    "probiou_loss",
    "ProbIoULoss",
    "kld_loss",
    "KLDLoss",
    "gwd_loss",
    "GWDLoss",
    "balanced_l1_loss",
    "BalancedL1Loss",
    "ghm_r_loss",
    "GHMRLoss",
]
