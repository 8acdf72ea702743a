"""Speed of :func:`visionloss.signed_distance_map` against scipy's ``distance_transform_edt``.

Both compute Kervadec's signed map of every (image, class) mask of a batch: ours in one batched
call on the tensor's device, scipy per mask on the CPU (two ``edt`` calls per mask, as
Kervadec's ``one_hot2dist`` and MONAI's ``BoundaryLoss`` do). Run::

    python -m benchmarks.distance_map_speed [--threads N] [--repeats R] [--cuda]

Prints p20 / p50 / p80 milliseconds per batch for (4, 1, 256, 256) and (2, 1, 64, 64, 64).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import scipy.ndimage as ndi
import torch

from visionloss import signed_distance_map
from visionloss.segmentation import _distance

SHAPES = [(4, 1, 256, 256), (2, 1, 64, 64, 64)]


def masks(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    """Smooth random blobs covering about a third of each mask."""
    g = torch.Generator().manual_seed(seed)
    nd = len(shape) - 2
    low = torch.rand(shape[0], 1, *([8] * nd), generator=g)
    mode = "bilinear" if nd == 2 else "trilinear"
    field = torch.nn.functional.interpolate(low, size=shape[2:], mode=mode)
    return field > 0.6


def scipy_map(m: np.ndarray) -> np.ndarray:
    out = np.zeros(m.shape, dtype=np.float32)
    for b in range(m.shape[0]):
        for c in range(m.shape[1]):
            pos = m[b, c]
            if pos.any() and not pos.all():
                neg = ~pos
                out[b, c] = (
                    ndi.distance_transform_edt(neg) * neg
                    - (ndi.distance_transform_edt(pos) - 1) * pos
                )
    return out


def timed(fn, repeats: int, sync=lambda: None) -> list[float]:
    fn()
    sync()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync()
        times.append(1e3 * (time.perf_counter() - t))
    return times


def pct(xs: list[float]) -> str:
    q = statistics.quantiles(xs, n=10) if len(xs) > 1 else xs * 9
    return f"{q[1]:8.1f} {statistics.median(xs):8.1f} {q[7]:8.1f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cuda", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch threads {args.threads}; ms per batch: p20 p50 p80")
    for shape in SHAPES:
        bench(shape, args.repeats, args.cuda)


def bench(shape: tuple[int, ...], repeats: int, cuda: bool) -> None:
    m = masks(shape)
    mn = m.numpy()
    err = float(np.abs(signed_distance_map(m).numpy() - scipy_map(mn)).max())
    print(f"{shape}: max |ours - scipy| = {err:.2e}")
    print(f"  scipy (CPU, per mask)   {pct(timed(lambda: scipy_map(mn), repeats))}")
    print(f"  ours (CPU, default)     {pct(timed(lambda: signed_distance_map(m), repeats))}")
    # the device-agnostic min-plus form (what a GPU and torch.compile run), forced on the CPU
    backend, _distance.CPU_BACKEND = _distance.CPU_BACKEND, "torch"
    try:
        print(f"  ours (CPU, min-plus)    {pct(timed(lambda: signed_distance_map(m), repeats))}")
    finally:
        _distance.CPU_BACKEND = backend
    if cuda and torch.cuda.is_available():
        mc = m.cuda()
        t = timed(lambda: signed_distance_map(mc), repeats, torch.cuda.synchronize)
        print(f"  ours ({torch.cuda.get_device_name()}) {pct(t)}")


if __name__ == "__main__":
    main()
