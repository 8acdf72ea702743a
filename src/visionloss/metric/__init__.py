"""Metric learning: losses on embeddings ``(B, D)`` and integer ``labels`` ``(B,)``.

Contrastive loss (Hadsell et al. 2006, pair and batch forms), triplet margin loss on explicit
triplets, triplet loss with online mining inside the batch (batch-hard, FaceNet semi-hard,
batch-all), and center loss with the paper's centre update. ``pairwise_distance``,
``mine_triplets`` and ``update_centers`` are the building blocks they share.

Every distance is a dissimilarity computed through one matrix product (no ``B x B x D``
tensor), in fp32 for half inputs, with a gradient of 0 (not NaN) where a Euclidean distance is
0. Mining works on the ``B x B`` distance matrix: no ``B x B x B`` tensor at any batch size.
``batch_triplet_loss`` and the batch form of ``contrastive_loss`` take
``gather="none" | "global" | "local"`` for torch.distributed (see
``visionloss.distributed``); ``CenterLoss`` all-reduces its centre updates.

How the peers' conventions map to ours:

| peer | convention | ours |
| --- | --- | --- |
| pytorch-metric-learning, every loss | L2-normalises (`LpDistance(normalize_embeddings=True)`), distances not squared, mean over losses > 0 (`AvgNonZeroReducer`) | `normalize=True`, `average="nonzero"` |
| PML `ContrastiveLoss(pos_margin=a, neg_margin=b)` | `[D - a]_+ + [b - D]_+`, no square, no 1/2, positive and negative means added | `contrastive_loss(..., normalize=True, power=1, half=False, average="nonzero", pos_margin=a, margin=b)` |
| PML `TripletMarginLoss(margin=m)` + `BatchHardMiner` | as above | `batch_triplet_loss(..., mining="hard", normalize=True, average="nonzero")` |
| PML `TripletMarginLoss(margin=m)` (+ `TripletMarginMiner("all")`) | every triplet | `batch_triplet_loss(..., mining="all", normalize=True)` |
| PML `TripletMarginMiner("semihard")` | every triplet with `0 < D_an - D_ap <= m` | not FaceNet's semi-hard; `mine_triplets(x, y, "all", margin=m)` filtered by `D_an > D_ap` |
| TF-Addons `triplet_semihard_loss` (v0.11+) | default `"L2"`: the plain Euclidean distance (the squared one before v0.11); `"squared-L2"`; `"angular"`; margin 1 | `batch_triplet_loss(..., mining="semihard")`; `metric="squared_euclidean"`; `metric="cosine"` |
| TF-Addons `contrastive_loss`, Keras | `y D^2 + (1 - y)[m - D]_+^2`, 1 = similar, no 1/2 | `half=False` |
| Caffe `ContrastiveLoss(legacy_version)` | `D^2` and `[m - D^2]_+` | `metric="squared_euclidean", power=1` |
| `torch.nn.TripletMarginLoss(margin, eps=1e-6)` | `‖a - p + eps‖` | the same with `eps=0` |
| `torch.nn.CosineEmbeddingLoss(margin=c)` | `1 - cos`, `[cos - c]_+`, targets ±1 | pair form, `metric="cosine", power=1, half=False, margin=1 - c` |
| KaiyangZhou `CenterLoss` | learned centres, no 1/2, a `B x C` distance matrix | `CenterLoss(learn_centers=True)`: half its value, `B x D` memory |
"""

from .adaface import AdaFaceLoss, adaface_loss
from .arcface import ArcFaceLoss, arcface_loss
from .batch_triplet import BatchTripletLoss, batch_triplet_loss
from .center import CenterLoss, center_loss, update_centers
from .circle import CircleLoss, circle_loss
from .contrastive import ContrastiveLoss, contrastive_loss
from .cosface import CosFaceLoss, cosface_loss
from .cross_batch_memory import CrossBatchMemory
from .distance import pairwise_distance
from .lifted_structure import LiftedStructureLoss, lifted_structure_loss
from .margin import MarginLoss, distance_weights, margin_loss
from .mining import mine_triplets
from .multi_similarity import MultiSimilarityLoss, mine_multi_similarity, multi_similarity_loss
from .npair import NPairLoss, npair_loss
from .proxy_anchor import ProxyAnchorLoss, proxy_anchor_loss
from .proxy_nca import ProxyNCALoss, proxy_nca_loss
from .soft_triple import SoftTripleLoss, soft_triple_loss
from .sphereface import SphereFaceLoss, sphereface_loss
from .subcenter_arcface import SubCenterArcFaceLoss, subcenter_arcface_loss, subcenter_outliers
from .triplet_margin import TripletMarginLoss, triplet_margin_loss

__all__ = [
    "pairwise_distance",
    "mine_triplets",
    "update_centers",
    "contrastive_loss",
    "ContrastiveLoss",
    "triplet_margin_loss",
    "TripletMarginLoss",
    "batch_triplet_loss",
    "BatchTripletLoss",
    "center_loss",
    "CenterLoss",
    "arcface_loss",
    "ArcFaceLoss",
    "cosface_loss",
    "CosFaceLoss",
    "circle_loss",
    "CircleLoss",
    "mine_multi_similarity",
    "multi_similarity_loss",
    "MultiSimilarityLoss",
    "proxy_anchor_loss",
    "ProxyAnchorLoss",
    "proxy_nca_loss",
    "ProxyNCALoss",
    "soft_triple_loss",
    "SoftTripleLoss",
    "subcenter_arcface_loss",
    "SubCenterArcFaceLoss",
    "subcenter_outliers",
    "lifted_structure_loss",
    "LiftedStructureLoss",
    "npair_loss",
    "NPairLoss",
    "CrossBatchMemory",
    "sphereface_loss",
    "SphereFaceLoss",
    "margin_loss",
    "MarginLoss",
    "distance_weights",
    "adaface_loss",
    "AdaFaceLoss",
]
