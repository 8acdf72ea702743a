"""Forward + backward time of ``clip_loss`` and ``siglip_loss`` against OpenCLIP's ``ClipLoss``
and ``SigLipLoss`` (single process), side by side on the same inputs.

``python -m benchmarks.clip_siglip_peers [--n 8192] [--d 512] [--repeats 3] [--device cpu]
[--out FILE.csv]``

Both sides take raw ``(N, D)`` image and text embeddings that require grad and a learned
log-scale (and SigLIP bias): OpenCLIP's losses expect normalised features and the scale
itself, so its timed call includes ``F.normalize`` and ``exp`` (what a model does before
calling it), and ours normalises inside. Each timing is the median of ``--repeats``
forward+backward passes after one warm-up; the value of both is checked equal first.

At ``N = 8192`` the logit matrix (``N^2 = 2^26`` entries) is above the contrastive family's
whole-matrix bound (``2^25``), so ours goes in checkpointed row blocks (memory O(block + N·D),
one extra forward pass over the blocks), while OpenCLIP forms the whole ``N x N`` matrix (and
its softmax / sigmoid temporaries). ``visionloss[one block]`` lifts the bound (the whole
matrix at once, as OpenCLIP) to separate the cost of the bounded memory from the rest. The
ratio columns are ours / OpenCLIP (above 1: slower).
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
import torch.nn.functional as F
from torch import Tensor


def _inputs(n: int, d: int, device: str) -> list[Tensor]:
    g = torch.Generator().manual_seed(0)
    img = torch.randn(n, d, generator=g)
    txt = img + 0.5 * torch.randn(n, d, generator=g)
    t = torch.tensor(math.log(10.0))
    b = torch.tensor(-10.0)
    return [x.to(device).requires_grad_() for x in (img, txt, t, b)]


def _one_block(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """``fn`` with the row-block bound lifted: the whole logit matrix at once."""
    from visionloss.contrastive import _image_text

    def run(*args: Tensor) -> Tensor:
        bound = _image_text.MAX_CHUNK_ELEMENTS
        _image_text.MAX_CHUNK_ELEMENTS = 1 << 62
        try:
            return fn(*args)
        finally:
            _image_text.MAX_CHUNK_ELEMENTS = bound

    return run


def _cases() -> dict[str, dict[str, Callable[..., Tensor]]]:
    from open_clip.loss import ClipLoss, SigLipLoss

    import visionloss as vl

    clip, siglip = ClipLoss(), SigLipLoss()
    cases: dict[str, dict[str, Callable[..., Tensor]]] = {
        "clip": {
            "visionloss": lambda i, t, s, b: vl.clip_loss(i, t, log_scale=s),
            "open_clip": lambda i, t, s, b: clip(
                F.normalize(i, dim=-1), F.normalize(t, dim=-1), s.exp()
            ),
        },
        "siglip": {
            "visionloss": lambda i, t, s, b: vl.siglip_loss(i, t, log_scale=s, bias=b),
            "open_clip": lambda i, t, s, b: siglip(
                F.normalize(i, dim=-1), F.normalize(t, dim=-1), s.exp(), b
            ),
        },
    }
    for impls in cases.values():
        impls["visionloss[one block]"] = _one_block(impls["visionloss"])
    return cases


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _time(fn: Callable[..., Tensor], inputs: list[Tensor], repeats: int, device: str) -> float:
    times = []
    for i in range(repeats + 1):
        for x in inputs:
            x.grad = None
        _sync(device)
        start = time.perf_counter()
        fn(*inputs).backward()
        _sync(device)
        if i:  # the first run warms up
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8192)
    parser.add_argument("--d", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    rows: list[dict[str, object]] = []
    inputs = _inputs(args.n, args.d, args.device)
    for loss, impls in _cases().items():
        values = {name: float(fn(*inputs).detach()) for name, fn in impls.items()}
        ours, peer = values["visionloss"], values["open_clip"]
        for name, value in values.items():
            if not math.isclose(value, peer, rel_tol=1e-4):
                raise RuntimeError(f"{loss}: {name} {value} != open_clip {peer}")
        seconds = {name: _time(fn, inputs, args.repeats, args.device) for name, fn in impls.items()}
        rows.append(
            {
                "loss": loss,
                "n": args.n,
                "d": args.d,
                "device": args.device,
                "threads": torch.get_num_threads(),
                "visionloss_s": round(seconds["visionloss"], 4),
                "visionloss_one_block_s": round(seconds["visionloss[one block]"], 4),
                "open_clip_s": round(seconds["open_clip"], 4),
                "ratio": round(seconds["visionloss"] / seconds["open_clip"], 3),
                "ratio_one_block": round(
                    seconds["visionloss[one block]"] / seconds["open_clip"], 3
                ),
                "value": round(ours, 6),
            }
        )
        print(
            f"{loss:7s} N={args.n} D={args.d} {args.device}: visionloss "
            f"{seconds['visionloss']:.3f}s (one block "
            f"{seconds['visionloss[one block]']:.3f}s), open_clip {seconds['open_clip']:.3f}s, "
            f"ratio {rows[-1]['ratio']} (one block {rows[-1]['ratio_one_block']})",
            flush=True,
        )
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return rows


if __name__ == "__main__":
    main()
