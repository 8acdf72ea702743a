"""Overlap losses for segmentation: Dice, soft Jaccard, Tversky, focal Tversky, generalized
Dice, Lovász, and Dice + cross entropy / Dice + focal.

One convention for all of them:

* ``input``: logits ``(B, C, *spatial)`` with 1 to 3 spatial dims; ``activation`` is explicit:
  ``"softmax"`` (multiclass, the default), ``"sigmoid"`` (binary / multi-label) or ``"none"``
  (probabilities given).
* ``target``: class indices ``(B, *spatial)`` (never expanded to a one-hot tensor of the
  input's size) or one-hot / soft / multi-label ``(B, C, *spatial)``.
* Shared options: ``smooth`` (a number, or a pair for numerator / denominator), ``squared``
  (V-Net denominators), ``per_image`` (per-(image, class) scores, or per class over the
  batch), ``weight`` (``(C,)``, indexed by class id), ``include_background`` / ``classes``,
  ``ignore_index`` (ignored pixels leave every sum), ``empty`` and ``reduction``.
* ``empty`` decides what a pair whose target is empty contributes: ``"penalize"`` (default:
  its soft false-positive rate, so false positives on an empty image get a gradient),
  ``"include"`` (the formula as is) or ``"exclude"`` (left out of the mean).
* fp16 / bf16 inputs are computed in float32: every sum is a float32 reduction, so a
  2x3x128³ fp16 volume gives the float32 loss (MONAI's ``DiceLoss`` returns 1.0 with zero
  gradient there, smp's NaN).

Mapping to the peers (details in each test module): MONAI's ``smooth_nr, smooth_dr`` is
``smooth=(nr, dr)`` with ``empty="include"`` and ``batch=True`` is ``per_image=False``;
smp's losses are ``per_image=False`` (and smp's ``smooth=s`` is ``smooth=2s`` for Dice);
kornia's ``average="macro"`` Dice and its Tversky are ``empty="exclude"`` with
``smooth=(0, eps)``.
"""

from .asymmetric_unified_focal import AsymmetricUnifiedFocalLoss, asymmetric_unified_focal_loss
from .boundary import BoundaryLoss, boundary_loss
from .cldice import ClDiceLoss, cldice_loss
from .deep_supervision import DeepSupervisionLoss
from .dice import DiceLoss, dice_loss
from .dice_ce import DiceCELoss, dice_ce_loss
from .dice_cldice import DiceClDiceLoss, dice_cldice_loss
from .dice_focal import DiceFocalLoss, dice_focal_loss
from .dice_topk import DiceTopKLoss, dice_topk_loss
from .distance_map import signed_distance_map
from .focal_tversky import FocalTverskyLoss, focal_tversky_loss
from .generalized_dice import GeneralizedDiceLoss, generalized_dice_loss
from .generalized_wasserstein_dice import (
    GeneralizedWassersteinDiceLoss,
    generalized_wasserstein_dice_loss,
)
from .hausdorff_dt import HausdorffDTLoss, hausdorff_dt_loss
from .hausdorff_er import HausdorffERLoss, hausdorff_er_loss
from .jaccard import JaccardLoss, jaccard_loss
from .log_cosh_dice import LogCoshDiceLoss, log_cosh_dice_loss
from .lovasz import LovaszLoss, lovasz_loss
from .mcc import MCCLoss, mcc_loss
from .skeleton import soft_skeleton
from .topk_ce import TopKCrossEntropyLoss, topk_cross_entropy_loss
from .tversky import TverskyLoss, tversky_loss

__all__ = [
    "dice_loss",
    "DiceLoss",
    "jaccard_loss",
    "JaccardLoss",
    "tversky_loss",
    "TverskyLoss",
    "focal_tversky_loss",
    "FocalTverskyLoss",
    "generalized_dice_loss",
    "GeneralizedDiceLoss",
    "lovasz_loss",
    "LovaszLoss",
    "dice_ce_loss",
    "DiceCELoss",
    "dice_focal_loss",
    "DiceFocalLoss",
    "signed_distance_map",
    "soft_skeleton",
    "boundary_loss",
    "BoundaryLoss",
    "hausdorff_dt_loss",
    "HausdorffDTLoss",
    "cldice_loss",
    "ClDiceLoss",
    "dice_cldice_loss",
    "DiceClDiceLoss",
    "topk_cross_entropy_loss",
    "TopKCrossEntropyLoss",
    "dice_topk_loss",
    "DiceTopKLoss",
    "hausdorff_er_loss",
    "HausdorffERLoss",
    "log_cosh_dice_loss",
    "LogCoshDiceLoss",
    "mcc_loss",
    "MCCLoss",
    "generalized_wasserstein_dice_loss",
    "GeneralizedWassersteinDiceLoss",
    "asymmetric_unified_focal_loss",
    "AsymmetricUnifiedFocalLoss",
    "DeepSupervisionLoss",
]
