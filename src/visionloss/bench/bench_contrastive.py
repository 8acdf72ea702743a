"""Contrastive losses: ours against a plain-torch InfoNCE / NT-Xent and pytorch-metric-learning.

Run alone: ``python -m visionloss.bench.bench_contrastive [--device cuda] [--peers]``. A shape
``(N, D)`` means two views of ``N`` samples of dimension ``D``; the floor is the flops of the
similarity matrices (forward and backward) at the device's measured matmul rate.
"""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F

from .cases import BenchCase, add_cases

SHAPES = {"cpu": [(256, 128)], "cuda": [(8192, 256), (32768, 256)]}


def two_views(shape, dtype, device):
    z1 = torch.randn(shape, device=device).to(dtype).requires_grad_(True)
    z2 = torch.randn(shape, device=device).to(dtype).requires_grad_(True)
    return z1, z2


def info_nce_floor(shape, dtype):
    n, d = shape
    return {"flops": 3 * 2.0 * n * n * d}


def nt_xent_floor(shape, dtype):
    n, d = shape
    return {"flops": 3 * 2.0 * (2 * n) ** 2 * d}


def _info_nce(q, k, temperature=0.07):
    logits = F.normalize(q, dim=1) @ F.normalize(k, dim=1).T / temperature
    return F.cross_entropy(logits, torch.arange(q.shape[0], device=q.device))


def _nt_xent(z1, z2, temperature=0.5):
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = z @ z.T / temperature
    logits = logits.masked_fill(torch.eye(len(z), dtype=torch.bool, device=z.device), float("-inf"))
    n = z1.shape[0]
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(logits, target)


def _pml_nt_xent():
    from pytorch_metric_learning import losses

    loss = losses.NTXentLoss(temperature=0.5)

    def call(z1, z2):
        n = z1.shape[0]
        labels = torch.arange(n, device=z1.device).repeat(2)
        return loss(torch.cat([z1, z2]), labels)

    return call


add_cases(
    BenchCase("info_nce", two_views, SHAPES, reference=_info_nce, floor=info_nce_floor),
    BenchCase(
        "nt_xent",
        two_views,
        SHAPES,
        reference=_nt_xent,
        peers={"pml": _pml_nt_xent},
        floor=nt_xent_floor,
    ),
)

if __name__ == "__main__":
    from .runner import main

    sys.exit(main(["--family", "contrastive", *sys.argv[1:]]))
