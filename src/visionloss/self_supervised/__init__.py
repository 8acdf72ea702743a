"""Self-supervised (non-contrastive) losses: Barlow Twins, VICReg, BYOL/SimSiam negative cosine,
SwAV, DINO and the KoLeo regulariser."""

__all__: list[str] = []
