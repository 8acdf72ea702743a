"""Adversarial losses: GAN objectives (minimax, non-saturating, least squares, Wasserstein,
hinge), weight clipping, the WGAN-GP and R1 gradient penalties, and CycleGAN's cycle-consistency
and identity losses."""

from .clipping import clip_weights_
from .cycle_consistency import CycleConsistencyLoss, cycle_consistency_loss
from .feature_matching import FeatureMatchingLoss, feature_matching_loss
from .gan import GAN_KINDS, DiscriminatorLoss, GeneratorLoss, discriminator_loss, generator_loss
from .gradient_penalty import GradientPenalty, gradient_penalty
from .identity import IdentityLoss, identity_loss
from .r1 import R1Penalty, r1_penalty

__all__ = [
    "GAN_KINDS",
    "discriminator_loss",
    "DiscriminatorLoss",
    "generator_loss",
    "GeneratorLoss",
    "clip_weights_",
    "gradient_penalty",
    "GradientPenalty",
    "r1_penalty",
    "R1Penalty",
    "cycle_consistency_loss",
    "CycleConsistencyLoss",
    "identity_loss",
    "IdentityLoss",
    "feature_matching_loss",
    "FeatureMatchingLoss",
]
