"""Cost of the value checks (label range) on and off: forward+backward of losses that take
class indices, interleaved repetitions, median and spread; eager and ``torch.compile``.

``python -m visionloss.bench.check_cost [--repeat 15] [--compile] [--out FILE.csv]``
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from pathlib import Path

import torch

import visionloss as vl

CASES = {
    "dice (4, 19, 128, 256)": (vl.dice_loss, (4, 19, 128, 256)),
    "cross_entropy (4, 19, 128, 256)": (vl.cross_entropy_loss, (4, 19, 128, 256)),
}


def _step(fn, x, y):
    loss = fn(x, y)
    torch.autograd.grad(loss, x)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    rows = []
    modes = ["eager", "compile"] if args.compile else ["eager"]
    for name, (fn, shape) in CASES.items():
        g = torch.Generator().manual_seed(0)
        x = torch.randn(*shape, generator=g).requires_grad_()
        y = torch.randint(0, shape[1], (shape[0], *shape[2:]), generator=g)
        for mode in modes:
            f = torch.compile(fn) if mode == "compile" else fn
            times: dict[bool, list[float]] = {True: [], False: []}
            for on in (True, False):  # warm-up (and compilation) of both settings
                vl.set_value_checks(on)
                _step(f, x, y)
            for _ in range(args.repeat):
                for on in (True, False):
                    vl.set_value_checks(on)
                    t0 = time.perf_counter()
                    _step(f, x, y)
                    times[on].append(time.perf_counter() - t0)
            vl.set_value_checks(True)
            t_on, t_off = statistics.median(times[True]), statistics.median(times[False])
            rows.append(
                {
                    "case": name,
                    "mode": mode,
                    "checks_on_ms": round(1e3 * t_on, 2),
                    "checks_off_ms": round(1e3 * t_off, 2),
                    "ratio": round(t_on / t_off, 3),
                }
            )
            print(
                f"{name:34s} {mode:8s} on {1e3 * t_on:8.2f} ms  off {1e3 * t_off:8.2f} ms  "
                f"x{t_on / t_off:.3f}"
            )
    if args.out:
        with args.out.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    return rows


if __name__ == "__main__":
    main()
