"""SSIM and MS-SSIM forward+backward time: visionloss against pytorch-msssim, piq, kornia and
torchmetrics, on the same (8, 3, 256, 256) float32 images.

``python -m benchmarks.ssim_peers [--device cpu|cuda] [--repeats N] [--threads N] [--out FILE.csv]``

Standalone (it does not use the side-by-side runner). Every implementation computes the same
number with the same settings (11-pixel Gaussian window, sigma 1.5, data range 1, K = 0.01,
0.03, valid statistics; MS-SSIM with Wang et al.'s five weights), except where a peer's
conventions differ (see tests/quality/test_ssim.py): kornia's SSIM is its reflect-padded map
(our ``padding="same"`` is timed beside it), torchmetrics' SSIM reflect-pads too; kornia has no
pyramid MS-SSIM. Each row is the median of ``repeats`` timed calls of
``loss(x, y).backward()`` after two warm-up calls; ``ratio`` is the row's median over ours
(visionloss with the same padding), so above 1 means the peer is slower.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

import visionloss as vl

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def implementations() -> list[tuple[str, str, str, Loss]]:
    """(metric, implementation, padding, loss) rows; peers missing here are left out."""
    rows: list[tuple[str, str, str, Loss]] = [
        ("ssim", "visionloss", "valid", lambda x, y: vl.ssim_loss(x, y)),
        ("ssim", "visionloss", "same", lambda x, y: vl.ssim_loss(x, y, padding="same")),
        ("ms_ssim", "visionloss", "valid", lambda x, y: vl.ms_ssim_loss(x, y)),
    ]
    try:
        import pytorch_msssim as pm

        rows += [
            ("ssim", "pytorch-msssim", "valid", lambda x, y: 1 - pm.ssim(x, y, data_range=1.0)),
            (
                "ms_ssim",
                "pytorch-msssim",
                "valid",
                lambda x, y: 1 - pm.ms_ssim(x, y, data_range=1.0),
            ),
        ]
    except ImportError:
        pass
    try:
        import piq

        rows += [
            ("ssim", "piq", "valid", lambda x, y: 1 - piq.ssim(x, y, downsample=False)),
            ("ms_ssim", "piq", "valid", lambda x, y: 1 - piq.multi_scale_ssim(x, y)),
        ]
    except ImportError:
        pass
    try:
        import kornia

        rows.append(("ssim", "kornia", "same", lambda x, y: kornia.losses.ssim_loss(x, y, 11) * 2))
    except ImportError:
        pass
    try:
        from torchmetrics.functional.image import (
            multiscale_structural_similarity_index_measure as tm_ms,
        )
        from torchmetrics.functional.image import structural_similarity_index_measure as tm_ssim

        rows += [
            ("ssim", "torchmetrics", "same", lambda x, y: 1 - tm_ssim(x, y, data_range=1.0)),
            (
                "ms_ssim",
                "torchmetrics",
                "valid",
                lambda x, y: 1 - tm_ms(x, y, data_range=1.0, normalize="relu"),
            ),
        ]
    except ImportError:
        pass
    return rows


def time_one(loss: Loss, x: torch.Tensor, y: torch.Tensor, repeats: int) -> float:
    def call() -> None:
        xi = x.detach().requires_grad_(True)
        loss(xi, y).backward()
        if x.is_cuda:
            torch.cuda.synchronize()

    for _ in range(2):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--shape", type=int, nargs=4, default=(8, 3, 256, 256))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    y = torch.rand(*args.shape, generator=gen)
    x = (y + 0.1 * torch.randn(*args.shape, generator=gen)).clamp(0, 1)
    x, y = x.to(args.device), y.to(args.device)
    results: list[dict[str, object]] = []
    ours: dict[tuple[str, str], float] = {}
    for metric, impl, padding, loss in implementations():
        seconds = time_one(loss, x, y, args.repeats)
        if impl == "visionloss":
            ours[(metric, padding)] = seconds
        base = ours.get((metric, padding), float("nan"))
        results.append(
            {
                "metric": metric,
                "implementation": impl,
                "padding": padding,
                "ms": round(1000 * seconds, 2),
                "ratio": round(seconds / base, 2),
            }
        )
        print(
            f"{metric:8s} {impl:15s} {padding:6s} {1000 * seconds:9.1f} ms  x{seconds / base:.2f}"
        )
    if args.out is not None:
        with args.out.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(results[0]))
            writer.writeheader()
            writer.writerows(results)
    return results


if __name__ == "__main__":
    main()
