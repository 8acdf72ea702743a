"""Box losses: ours against torchvision.ops (peers) on ``N`` random ``xyxy`` box pairs.

Run alone: ``python -m visionloss.bench.bench_boxes [--device cuda] [--peers]``. A shape ``(N,)``
means ``N`` predicted and ``N`` target boxes.
"""

from __future__ import annotations

import sys

import torch

from .cases import BenchCase, add_cases, itemsize

SHAPES = {"cpu": [(4096,)], "cuda": [(1 << 20,)]}


def _boxes(n, device):
    xy = torch.rand(n, 2, device=device) * 100
    wh = torch.rand(n, 2, device=device) * 50 + 1
    return torch.cat([xy, xy + wh], dim=1)


def box_pairs(shape, dtype, device):
    """``(pred, target)``: overlapping-or-not ``(N, 4)`` boxes; pred requires grad."""
    pred = _boxes(shape[0], device).to(dtype).requires_grad_(True)
    return pred, _boxes(shape[0], device).to(dtype)


def box_floor(shape, dtype):
    """Read both box sets and write the predictions' gradient: ``3 * N * 4`` values."""
    return {"bytes": 12.0 * shape[0] * itemsize(dtype)}


def _torchvision(name):
    def make():
        import torchvision.ops as ops

        fn = getattr(ops, name)
        return lambda p, t: fn(p, t, reduction="mean")

    return make


def _case(loss, peer=None):
    peers = {"torchvision": _torchvision(peer)} if peer else {}
    return BenchCase(loss, box_pairs, SHAPES, peers=peers, floor=box_floor)


add_cases(
    _case("iou"),
    _case("giou", "generalized_box_iou_loss"),
    _case("diou", "distance_box_iou_loss"),
    _case("ciou", "complete_box_iou_loss"),
    _case("eiou"),
    _case("siou"),
    _case("box_l1"),
)

if __name__ == "__main__":
    from .runner import main

    sys.exit(main(["--family", "boxes", *sys.argv[1:]]))
