"""Image-synthesis losses: perceptual (VGG features), content and style (Gram matrices),
texture, total variation and the topology-aware loss, with the VGG feature extractor.

**Pretrained weights, offline.** The feature losses need torchvision's ImageNet VGG weights:
VGG16 ``vgg16-397923af.pth`` (``VGG16_Weights.IMAGENET1K_V1``, used by ``PerceptualLoss``) and
VGG19 ``vgg19-dcbb9e9d.pth`` (``VGG19_Weights.IMAGENET1K_V1``, used by the content, style,
texture and topology losses). visionloss never downloads. Either place the file in the torch
hub cache, ``$TORCH_HOME/hub/checkpoints/<file>`` (by default
``~/.cache/torch/hub/checkpoints/``; on a machine with internet access
``python -c "import torchvision; torchvision.models.vgg16(weights='IMAGENET1K_V1')"`` fills it),
and pass ``weights="DEFAULT"`` (the default), the enum member or its name; or pass
``weights="/path/to/vgg16.pth"``, a full torchvision VGG state dict or one of ``vgg.features``.
When the cache file is missing the error names the file, its URL and the exact path.
``weights=None`` builds random weights with a warning: such a loss is not perceptual.
"""

from .content import ContentLoss, content_loss
from .content_style import ContentStyleLoss, content_style_loss
from .gram import gram_matrix
from .lpips import LPIPS, LPIPSNetwork, lpips_loss, lpips_network
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
    "lpips_loss",
    "LPIPS",
    "LPIPSNetwork",
    "lpips_network",
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
