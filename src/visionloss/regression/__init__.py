"""Regression losses: L1, MSE, smooth L1, Huber, Charbonnier."""

from .charbonnier import CharbonnierLoss, charbonnier_loss
from .huber import HuberLoss, huber_loss
from .l1 import L1Loss, l1_loss
from .mse import MSELoss, mse_loss
from .smooth_l1 import SmoothL1Loss, smooth_l1_loss

__all__ = [
    "l1_loss",
    "L1Loss",
    "mse_loss",
    "MSELoss",
    "smooth_l1_loss",
    "SmoothL1Loss",
    "huber_loss",
    "HuberLoss",
    "charbonnier_loss",
    "CharbonnierLoss",
]
