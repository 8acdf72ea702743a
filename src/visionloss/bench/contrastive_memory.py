"""Peak extra memory and time of the contrastive losses' bounded-memory torch path.

``python -m visionloss.bench.contrastive_memory [--device cpu|cuda] [--quick] [--out FILE.csv]``

Each row runs one forward+backward in a fresh subprocess, twice: once for the time (default
allocator settings) and once for the peak memory above what the process held after building its
inputs (inputs excluded, gradients included): on CUDA
``torch.cuda.max_memory_allocated``, on the CPU the growth of the process's peak resident set
(``ru_maxrss``; the CPU allocator keeps no statistics). On the CPU each child first runs the
loss once on a tiny input (so one-off start-up allocations are not counted) and runs with
``MALLOC_MMAP_THRESHOLD_=65536`` in the memory run: with glibc's default dynamic threshold, freed
blocks of a few MiB are reused from a growing heap and the resident set overstates the live
memory of the blocked path several times (measured: 1.4 GiB instead of about 0.2 GiB at
N = 16,384). That setting makes every large allocation a fresh ``mmap`` and slows
allocation-heavy code (the blocked path about 2x), so the time comes from the other run. The
implementations:

* ``ours``: the library as shipped (row blocks of at most ``MAX_CHUNK_ELEMENTS`` logits,
  recomputed in the backward pass);
* ``ours[one block]``: the same maths with the block bound lifted (the whole logit matrix at
  once, what the path did before blocks);
* ``torch``: the plain matmul + cross entropy (NT-Xent) or the masked matrix form (pixel
  InfoNCE), for scale.

The columns match ``visionloss.bench.runner`` so ``make_table`` renders the CSV; the floor is the
matmul flops of the forward and backward at the matmul rate measured in the same run.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

from .runner import COLUMNS, matmul_rate

# (loss, shape label, builder arguments); full sizes, then what --quick keeps
CASES = [
    ("nt_xent", {"n": 4096, "d": 128}),
    ("nt_xent", {"n": 8192, "d": 128}),
    ("pixel_info_nce", {"b": 1, "d": 64, "h": 64, "w": 64}),
    ("pixel_info_nce", {"b": 1, "d": 64, "h": 96, "w": 96}),
]
QUICK = [CASES[0], CASES[2]]
IMPLS = ("ours", "ours[one block]", "torch")

_CHILD = r"""
import json, resource, sys, time
import torch
import torch.nn.functional as F
import visionloss as vl
from .bench_contrastive import _nt_xent
from visionloss.contrastive import _core

loss, impl, device, args = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
torch.manual_seed(0)
if impl == "ours[one block]":
    _core.MAX_CHUNK_ELEMENTS = 1 << 62
cuda = device == "cuda"


def rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if loss == "nt_xent":
    n, d = args["n"], args["d"]
    leaves = [torch.randn(n, d, device=device, requires_grad=True) for _ in range(2)]
    flops = 3 * 2.0 * (2 * n) ** 2 * d

    def run(z1, z2):
        if impl != "torch":
            return vl.nt_xent_loss(z1, z2, temperature=0.5)
        return _nt_xent(z1, z2, temperature=0.5)  # the runner's plain-torch reference
else:
    b, d, h, w = args["b"], args["d"], args["h"], args["w"]
    leaves = [torch.randn(b, d, h, w, device=device, requires_grad=True)]
    mask = torch.zeros(b, h, w, device=device)
    mask[:, h // 4 : h // 2, w // 4 : w // 2] = 1
    m = h * w
    flops = 3 * 2.0 * b * m * m * d

    def run(f):
        msk = mask[:, : f.shape[2], : f.shape[3]]
        if impl != "torch":
            return vl.pixel_info_nce_loss(f, msk, temperature=0.1, max_samples=None)
        # FOCAL's matrix form: every pixel against every pixel of its image, mean-logit positive
        x = F.normalize(f.flatten(2).transpose(1, 2), dim=-1)
        lab = msk.flatten(1)
        logits = x @ x.transpose(1, 2) / 0.1
        same = lab[:, :, None] == lab[:, None, :]
        eye = torch.eye(lab.shape[1], dtype=torch.bool, device=f.device)
        pos = same & ~eye
        mean_pos = (logits * pos).sum(-1) / pos.sum(-1).clamp_min(1)
        neg = logits.masked_fill(same, float("-inf"))
        per = F.softplus(torch.logsumexp(neg, -1) - mean_pos)
        return per[lab == 0].mean()

# one-off start-up allocations (thread pools, kernels' workspaces) on a tiny input
if loss == "pixel_info_nce":  # the top-left 40 x 40 pixels: both classes present
    small = [x.detach()[:, :, :40, :40].clone().requires_grad_(True) for x in leaves]
else:
    small = [x.detach()[:8].clone().requires_grad_(True) for x in leaves]
torch.autograd.grad(run(*small), small)
if cuda:
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
else:
    base = rss_mib()
start = time.perf_counter()
value = run(*leaves)
grads = torch.autograd.grad(value, leaves)
if cuda:
    torch.cuda.synchronize()
    peak = (torch.cuda.max_memory_allocated() - base) / 2**20
else:
    peak = rss_mib() - base
seconds = time.perf_counter() - start
print(json.dumps({"ms": 1000 * seconds, "peak": peak, "flops": flops, "value": float(value)}))
"""


def _shape(args: dict) -> str:
    if "n" in args:
        return f"2x({args['n']}, {args['d']})"
    return f"({args['b']}, {args['d']}, {args['h']}, {args['w']})"


def _child(loss: str, impl: str, device: str, args: dict, env: dict) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, loss, impl, device, json.dumps(args)],
        capture_output=True,
        text=True,
        env=env,
    )
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["killed"])[-1]
        return {"error": tail[:120]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(loss: str, impl: str, device: str, args: dict) -> dict:
    """The time of a run with default settings, the peak of a run with a fixed mmap threshold."""
    timed = _child(loss, impl, device, args, dict(os.environ))
    if "error" in timed or device == "cuda":
        return timed
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    memory = _child(loss, impl, device, args, env)
    return {**timed, "peak": memory.get("peak")} if "error" not in memory else memory


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m visionloss.bench.contrastive_memory", description=__doc__
    )
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--quick", action="store_true", help="the two small cases only")
    p.add_argument("--out", type=Path, help="write the rows to this CSV")
    opts = p.parse_args(argv)
    import torch

    rate = matmul_rate(torch.device(opts.device), torch.float32)

    name = torch.cuda.get_device_name() if opts.device == "cuda" else "cpu"
    rows = []
    for loss, args in QUICK if opts.quick else CASES:
        for impl in IMPLS:
            r = measure(loss, impl, opts.device, args)
            floor = None if "flops" not in r else 1000 * r["flops"] / rate
            row = {
                "loss": loss,
                "family": "contrastive",
                "implementation": impl,
                "shape": _shape(args),
                "dtype": "float32",
                "device": f"{name} (1 run, extra memory in a fresh process)",
                "p20_ms": "",
                "p50_ms": "" if "ms" not in r else f"{r['ms']:.1f}",
                "p80_ms": "",
                "peak_extra_mib": "" if "peak" not in r else f"{r['peak']:.0f}",
                "floor_ms": "" if floor is None else f"{floor:.1f}",
                "ratio_to_floor": "" if floor is None else f"{r['ms'] / floor:.2f}",
                "note": r.get("error", f"loss {r.get('value', float('nan')):.4f}"),
            }
            rows.append(row)
            print(
                f"{loss:15s} {impl:16s} {row['shape']:22s} {row['p50_ms']:>9s} ms "
                f"{row['peak_extra_mib']:>7s} MiB  x{row['ratio_to_floor']:>5s} floor  {row['note']}",
                flush=True,
            )
    if opts.out:
        opts.out.parent.mkdir(parents=True, exist_ok=True)
        with opts.out.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
