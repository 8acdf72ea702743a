"""Detection and multi-label losses side by side with their peers, forward + backward.

* ``dfl_ciou``: a YOLOv8-style box loss on ``N`` anchors: side distributions ``(N, 4, 16)``
  decoded by the softmax integral, CIoU of the decoded boxes with their targets, plus the
  distribution focal loss. Ours: :func:`visionloss.distribution_to_bbox`,
  :func:`visionloss.ciou_loss`, :func:`visionloss.distribution_focal_loss`; ultralytics: the
  same three steps of ``BboxLoss`` (``softmax @ proj``, ``dist2bbox``, ``bbox_iou(CIoU=True)``,
  ``DFLoss``), all summed.
* ``asl``: :func:`visionloss.asymmetric_loss` against timm's ``AsymmetricLossMultiLabel`` on
  ``(B, C)`` logits (sum reduction, the authors').

Standalone: ``python -m benchmarks.detection_peers [--device cuda] [--anchors N]
[--batch B --classes C] [--repeats R]``; prints the median time of each and the ratio
ours / peer (below 1: ours is faster).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

import visionloss as vl

REG_MAX = 16  # ultralytics' bins; ours: reg_max = 15 (the last bin's index)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timeit(
    ours: Callable[[], None], peer: Callable[[], None], device: str, repeats: int
) -> tuple[float, float]:
    """Median seconds of each step, the two interleaved (one warm-up call each first): on a
    busy machine both see the same load."""
    times: tuple[list[float], list[float]] = ([], [])
    for step in (ours, peer):
        step()
    for _ in range(repeats):
        for step, out in zip((ours, peer), times):
            _sync(device)
            start = time.perf_counter()
            step()
            _sync(device)
            out.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def dfl_ciou_inputs(n: int, device: str, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    points = torch.rand(n, 2, generator=g) * 640
    wh = torch.rand(n, 2, generator=g) * 100 + 4
    offset = (torch.rand(n, 2, generator=g) - 0.5) * wh * 0.8
    target = torch.cat([points + offset - wh / 2, points + offset + wh / 2], -1)
    stride = 8.0
    ltrb = vl.bbox_to_distribution(points, target, reg_max=REG_MAX - 1, stride=stride)
    logits = torch.randn(n, 4, REG_MAX, generator=g)
    return [t.to(device) for t in (logits, points, target, ltrb)], stride


def dfl_ciou_ours(logits, points, target, ltrb, stride):
    boxes = vl.distribution_to_bbox(points, logits, stride=stride)
    return vl.ciou_loss(boxes, target, reduction="sum") + vl.distribution_focal_loss(
        logits, ltrb, reduction="sum"
    )


def dfl_ciou_ultralytics(logits, points, target, ltrb, stride):
    from ultralytics.utils.loss import DFLoss
    from ultralytics.utils.metrics import bbox_iou
    from ultralytics.utils.tal import dist2bbox

    proj = torch.arange(REG_MAX, dtype=logits.dtype, device=logits.device)
    dist = logits.softmax(-1).matmul(proj) * stride
    boxes = dist2bbox(dist, points, xywh=False)
    ciou = bbox_iou(boxes, target, xywh=False, CIoU=True)
    dfl = DFLoss(REG_MAX)(logits.reshape(-1, REG_MAX), ltrb.clone())  # (N, 1): mean of 4 sides
    return (1 - ciou).sum() + 4 * dfl.sum()


def asl_inputs(batch: int, classes: int, device: str, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, classes, generator=g) * 3
    y = (torch.rand(batch, classes, generator=g) < 0.01).float()
    return [x.to(device), y.to(device)]


def asl_ours(x, y):
    return vl.asymmetric_loss(x, y, reduction="sum")


def asl_timm(x, y):
    from timm.loss import AsymmetricLossMultiLabel

    return AsymmetricLossMultiLabel(gamma_neg=4, gamma_pos=1, clip=0.05, reduction="sum")(x, y)


def _step(fn: Callable[..., torch.Tensor], leaf: torch.Tensor, *args) -> Callable[[], None]:
    def run() -> None:
        leaf.grad = None
        fn(leaf, *args).backward()

    return run


def main(argv: list[str] | None = None) -> list[tuple[str, float, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--anchors", type=int, default=1 << 20)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    results = []
    (logits, points, target, ltrb), stride = dfl_ciou_inputs(args.anchors, args.device)
    leaf = logits.requires_grad_(True)
    ours_v = dfl_ciou_ours(leaf, points, target, ltrb, stride)
    peer_v = dfl_ciou_ultralytics(leaf, points, target, ltrb, stride)
    # ultralytics' eps (1e-7 in the IoU, the CIoU alpha and the aspect term) and its DFL clamp
    # (reg_max - 1 - 0.01, as bbox_to_distribution's margin) leave the sums within 1e-4
    print(f"dfl_ciou values: ours {ours_v.item():.6g}, ultralytics {peer_v.item():.6g}")
    ours, peer = timeit(
        _step(dfl_ciou_ours, leaf, points, target, ltrb, stride),
        _step(dfl_ciou_ultralytics, leaf, points, target, ltrb, stride),
        args.device,
        args.repeats,
    )
    results.append((f"dfl_ciou N={args.anchors}", ours, peer))
    x, y = asl_inputs(args.batch, args.classes, args.device)
    leaf = x.requires_grad_(True)
    print(f"asl values: ours {asl_ours(leaf, y).item():.6g}, timm {asl_timm(leaf, y).item():.6g}")
    ours, peer = timeit(
        _step(asl_ours, leaf, y), _step(asl_timm, leaf, y), args.device, args.repeats
    )
    results.append((f"asl {args.batch}x{args.classes}", ours, peer))
    print(f"{'case':28s} {'ours ms':>10s} {'peer ms':>10s} {'ours/peer':>10s}")
    for name, o, p in results:
        print(f"{name:28s} {1e3 * o:10.2f} {1e3 * p:10.2f} {o / p:10.2f}")
    return results


if __name__ == "__main__":
    main()
