"""Self-supervised (non-contrastive) losses: Barlow Twins, VICReg, BYOL/SimSiam negative cosine,
SwAV, DINO and the KoLeo regulariser."""

from .barlow_twins import BarlowTwinsLoss, barlow_twins_loss
from .dino import DINOLoss, dino_loss
from .koleo import KoLeoLoss, koleo_loss
from .negative_cosine import NegativeCosineLoss, negative_cosine_loss
from .swav import SwAVLoss, SwAVPrototypes, sinkhorn_codes, swav_loss
from .vicreg import VICRegLoss, vicreg_loss

__all__ = [
    "barlow_twins_loss",
    "BarlowTwinsLoss",
    "vicreg_loss",
    "VICRegLoss",
    "negative_cosine_loss",
    "NegativeCosineLoss",
    "koleo_loss",
    "KoLeoLoss",
    "dino_loss",
    "DINOLoss",
    "swav_loss",
    "SwAVLoss",
    "SwAVPrototypes",
    "sinkhorn_codes",
]
