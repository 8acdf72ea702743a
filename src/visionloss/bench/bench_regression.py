"""Regression losses: ours against torch.nn.functional (the peer), at the bandwidth floor.

Run alone: ``python -m visionloss.bench.bench_regression [--device cuda] [--out FILE.csv]``.
"""

from __future__ import annotations

import sys

import torch.nn.functional as F

from .cases import BenchCase, add_cases, elementwise_floor, prediction_and_target

SHAPES = {"cpu": [(4096,), (8, 3, 128, 128)], "cuda": [(8, 3, 512, 512), (64, 3, 512, 512)]}


def _case(loss, reference, **options):
    return BenchCase(
        loss=loss,
        make_inputs=prediction_and_target,
        shapes=SHAPES,
        options=options,
        reference=reference,
        floor=elementwise_floor,
    )


add_cases(
    _case("l1", F.l1_loss),
    _case("mse", F.mse_loss),
    _case("smooth_l1", lambda x, y: F.smooth_l1_loss(x, y, beta=1.0), beta=1.0),
    _case("huber", lambda x, y: F.huber_loss(x, y, delta=1.0), delta=1.0),
    # torch has no Charbonnier loss: the eager reference is the formula in plain torch
    _case("charbonnier", lambda x, y: ((x - y).square() + 1e-6).sqrt().mean(), eps=1e-3),
)

if __name__ == "__main__":
    from .runner import main

    sys.exit(main(["--family", "regression", *sys.argv[1:]]))
