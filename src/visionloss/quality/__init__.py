"""Image-quality and restoration losses: SSIM, MS-SSIM (and their metrics), the MS-SSIM + L1 mix,
PSNR, the gradient-difference and focal-frequency losses."""

__all__: list[str] = []
