"""Classification losses: cross entropy (class weights, ignore_index, label smoothing, soft
targets, U-Net weight map), binary cross entropy, sigmoid and softmax focal, KL and JS
divergence."""

from .asymmetric import (
    AsymmetricLoss,
    SoftmaxAsymmetricLoss,
    asymmetric_loss,
    softmax_asymmetric_loss,
)
from .binary_cross_entropy import BinaryCrossEntropyLoss, binary_cross_entropy_loss
from .cross_entropy import CrossEntropyLoss, cross_entropy_loss
from .focal import FocalLoss, focal_loss
from .ghm_c import GHMCLoss, ghm_c_loss
from .js_divergence import JSDivergenceLoss, js_divergence_loss
from .kl_divergence import KLDivergenceLoss, kl_divergence_loss
from .poly import PolyLoss, SigmoidPolyLoss, poly_loss, sigmoid_poly_loss
from .quality_focal import QualityFocalLoss, quality_focal_loss
from .seesaw import SeesawLoss, seesaw_loss
from .softmax_focal import SoftmaxFocalLoss, softmax_focal_loss
from .unet_weight_map import unet_weight_map
from .varifocal import VarifocalLoss, varifocal_loss

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
    "quality_focal_loss",
    "QualityFocalLoss",
    "varifocal_loss",
    "VarifocalLoss",
    "poly_loss",
    "PolyLoss",
    "sigmoid_poly_loss",
    "SigmoidPolyLoss",
    "asymmetric_loss",
    "AsymmetricLoss",
    "softmax_asymmetric_loss",
    "SoftmaxAsymmetricLoss",
    "ghm_c_loss",
    "GHMCLoss",
    "seesaw_loss",
    "SeesawLoss",
]
