"""Classification losses: cross entropy (class weights, ignore_index, label smoothing, soft
targets, U-Net weight map), binary cross entropy, sigmoid and softmax focal, KL and JS
divergence."""

from .binary_cross_entropy import BinaryCrossEntropyLoss, binary_cross_entropy_loss
from .cross_entropy import CrossEntropyLoss, cross_entropy_loss
from .focal import FocalLoss, focal_loss
from .js_divergence import JSDivergenceLoss, js_divergence_loss
from .kl_divergence import KLDivergenceLoss, kl_divergence_loss
from .softmax_focal import SoftmaxFocalLoss, softmax_focal_loss
from .unet_weight_map import unet_weight_map

__all__ = [
    "cross_entropy_loss",
    "CrossEntropyLoss",
    "binary_cross_entropy_loss",
    "BinaryCrossEntropyLoss",
    "focal_loss",
    "FocalLoss",
    "softmax_focal_loss",
    "SoftmaxFocalLoss",
    "kl_divergence_loss",
    "KLDivergenceLoss",
    "js_divergence_loss",
    "JSDivergenceLoss",
    "unet_weight_map",
]
