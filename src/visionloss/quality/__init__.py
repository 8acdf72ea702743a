"""Image-quality and restoration losses: SSIM, MS-SSIM (and their metrics), the MS-SSIM + L1 mix,
PSNR, the gradient-difference and focal-frequency losses."""

from .focal_frequency import FocalFrequencyLoss, focal_frequency_loss
from .gradient_difference import GradientDifferenceLoss, gradient_difference_loss
from .ms_ssim import MSSSIMLoss, ms_ssim, ms_ssim_loss
from .ms_ssim_l1 import MSSSIML1Loss, ms_ssim_l1_loss
from .psnr import PSNRLoss, psnr_loss
from .ssim import SSIMLoss, ssim, ssim_loss

__all__: list[str] = [
    "ssim_loss",
    "SSIMLoss",
    "ssim",
    "ms_ssim_loss",
    "MSSSIMLoss",
    "ms_ssim",
    "ms_ssim_l1_loss",
    "MSSSIML1Loss",
    "psnr_loss",
    "PSNRLoss",
    "gradient_difference_loss",
    "GradientDifferenceLoss",
    "focal_frequency_loss",
    "FocalFrequencyLoss",
]
