"""Forward+backward time of the new metric losses against pytorch-metric-learning.

``python -m benchmarks.metric_breadth_peers [--batch 2048] [--dim 512] [--classes 1000]
[--reps 5] [--device cpu|cuda] [--out FILE.csv]``

Same inputs and the same class weights / proxies for both (float32), PML's conventions mapped
as in the tests (``tests/metric/test_margin_heads.py``, ``test_pair_losses.py``,
``test_proxy_losses.py``): ArcFace (``margin`` in degrees there, ``W`` transposed),
multi-similarity with its miner, circle, proxy-anchor. Each timing is the median of ``reps``
runs after one warm-up; the ratio is PML's time over ours (> 1: ours is faster).
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

import visionloss as vl


def _time(fn: Callable[[], torch.Tensor], reps: int, device: str) -> float:
    def once() -> float:
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn().backward()
        if device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    once()
    return statistics.median(once() for _ in range(reps))


def cases(batch: int, dim: int, classes: int, device: str):
    from pytorch_metric_learning import losses, miners

    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, classes, (batch,), generator=g).to(device)
    pair_labels = torch.randint(0, max(2, batch // 8), (batch,), generator=g).to(device)
    x = torch.randn(batch, dim, generator=g).to(device)
    w = torch.randn(classes, dim, generator=g).to(device)

    def leaf(t: torch.Tensor) -> torch.Tensor:
        return t.clone().requires_grad_()

    arc = losses.ArcFaceLoss(classes, dim, margin=math.degrees(0.5), scale=64.0).to(device)
    arc.W.data = w.T.clone()
    pa = losses.ProxyAnchorLoss(classes, dim).to(device)
    pa.proxies.data = w.clone()
    ms, miner = losses.MultiSimilarityLoss(), miners.MultiSimilarityMiner(0.1)
    circle = losses.CircleLoss(m=0.4, gamma=80)
    wl = leaf(w)

    def pml_ms() -> torch.Tensor:
        e = leaf(x)
        return ms(e, pair_labels, miner(e, pair_labels))

    return {
        "arcface": (
            lambda: vl.arcface_loss(leaf(x), labels, wl),
            lambda: arc(leaf(x), labels),
        ),
        "multi_similarity+miner": (
            lambda: vl.multi_similarity_loss(leaf(x), pair_labels),
            pml_ms,
        ),
        "circle": (
            lambda: vl.circle_loss(leaf(x), pair_labels),
            lambda: circle(leaf(x), pair_labels),
        ),
        "proxy_anchor": (
            lambda: vl.proxy_anchor_loss(leaf(x), labels, wl),
            lambda: pa(leaf(x), labels),
        ),
    }


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=2048)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    rows = []
    for name, (ours, pml) in cases(args.batch, args.dim, args.classes, args.device).items():
        t_ours = _time(ours, args.reps, args.device)
        t_pml = _time(pml, args.reps, args.device)
        row = {
            "loss": name,
            "shape": f"{args.batch}x{args.dim}",
            "device": args.device,
            "ours_ms": round(1e3 * t_ours, 2),
            "pml_ms": round(1e3 * t_pml, 2),
            "pml_over_ours": round(t_pml / t_ours, 2),
        }
        rows.append(row)
        print(", ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    if args.out:
        with args.out.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return rows


if __name__ == "__main__":
    main()
