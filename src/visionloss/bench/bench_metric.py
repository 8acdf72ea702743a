"""Metric-learning losses: ours against pytorch-metric-learning (peer).

Run alone: ``python -m visionloss.bench.bench_metric [--device cuda] [--peers]``. A shape ``(N, D)``
means ``N`` embeddings of dimension ``D`` with ``N / 4`` classes. The floor counts the flops of
the ``N x N`` distance matrix (one matmul forward, two backward).
"""

from __future__ import annotations

import sys

import torch

from .cases import BenchCase, add_cases

SHAPES = {"cpu": [(256, 128)], "cuda": [(4096, 512)]}


def embeddings_and_labels(shape, dtype, device):
    x = torch.randn(shape, device=device).to(dtype).requires_grad_(True)
    labels = torch.randint(0, max(shape[0] // 4, 2), (shape[0],), device=device)
    return x, labels


def gram_floor(shape, dtype):
    n, d = shape
    return {"flops": 3 * 2.0 * n * n * d}


def _pml_triplet_hard():
    from pytorch_metric_learning import distances, losses, miners

    distance = distances.LpDistance(normalize_embeddings=False)
    loss = losses.TripletMarginLoss(margin=1.0, distance=distance)
    miner = miners.BatchHardMiner(distance=distance)
    return lambda x, y: loss(x, y, miner(x, y))


def _pml_contrastive():
    from pytorch_metric_learning import distances, losses

    distance = distances.LpDistance(normalize_embeddings=False)
    return losses.ContrastiveLoss(pos_margin=0.0, neg_margin=1.0, distance=distance)


def batch_hard_case(shapes: dict, suite: str = "default") -> BenchCase:
    """Batch-hard triplet against PML's ``TripletMarginLoss`` with its ``BatchHardMiner`` (this
    family's suite and the side-by-side one)."""
    return BenchCase(
        "batch_triplet",
        embeddings_and_labels,
        shapes,
        options={"mining": "hard"},
        peers={"pml": _pml_triplet_hard},
        floor=gram_floor,
        label="mining=hard",
        suite=suite,
    )


add_cases(
    batch_hard_case(SHAPES),
    BenchCase(
        "contrastive",
        embeddings_and_labels,
        SHAPES,
        peers={"pml": _pml_contrastive},
        floor=gram_floor,
    ),
)

if __name__ == "__main__":
    from .runner import main

    sys.exit(main(["--family", "metric", *sys.argv[1:]]))
