"""Image-synthesis losses: perceptual (VGG features), content and style (Gram matrices),
texture, total variation and the topology-aware loss, with the VGG feature extractor."""

from .content import ContentLoss, content_loss
from .content_style import ContentStyleLoss, content_style_loss
from .gram import gram_matrix
from .perceptual import PerceptualLoss, perceptual_loss
from .style import StyleLoss, style_loss
from .texture import TextureLoss, texture_loss
from .topology import TopologyLoss, topology_loss
from .total_variation import TotalVariationLoss, total_variation_loss
from .vgg import VGGFeatures, torch_hub_checkpoint_path, vgg_layer_names

__all__ = [
    "VGGFeatures",
    "vgg_layer_names",
    "torch_hub_checkpoint_path",
    "gram_matrix",
    "perceptual_loss",
    "PerceptualLoss",
    "content_loss",
    "ContentLoss",
    "style_loss",
    "StyleLoss",
    "texture_loss",
    "TextureLoss",
    "content_style_loss",
    "ContentStyleLoss",
    "total_variation_loss",
    "TotalVariationLoss",
    "topology_loss",
    "TopologyLoss",
]
