"""The multi-process contract of the self-supervised and image-text losses, with 2 and 3
processes on the gloo backend (CPU), equal and uneven batches.

Each process holds a slice of one global batch and checks that

* the loss value equals the single-process loss on the concatenated batch, and
* its input gradients are ``W`` times the single-process gradients of its own inputs (so
  DDP's gradient average is exact), and the learned SigLIP / CLIP scale and bias gradients,
  summed over processes, are ``W`` times the single-process ones;

for CLIP (``"global"`` and OpenCLIP's ``"local"``), SigLIP (``"global"`` and the ring,
``"local"``: text blocks passed round the ring by point-to-point sends), DCL / DCLW, Barlow
Twins and VICReg (global batch statistics from all-reduced sums), KoLeo, DINO and SwAV;
SwAV's Sinkhorn codes and DINO's center (after three updates) equal the single-process ones
on the concatenated batch. SigLIP's ring never materialises the global block row: the
largest tensor of its forward+backward (recorded by a ``TorchDispatchMode``) stays within two
``B_local x B_local`` blocks, the same with 2 and 3 processes at equal local batch. Same
harness as
``test_gather.py``: one spawn, every collective before any comparison.
"""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

import visionloss as vl
from tests.distributed._harness import gloo_only, passed, spawn

pytestmark = pytest.mark.distributed

# samples per process: uneven and equal batches for each world size
SIZES = {2: ([3, 5], [4, 4]), 3: ([2, 4, 3], [3, 3, 3])}
D = 5


def _data(n: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, D, generator=g, dtype=torch.float64)
    return {
        "x": x,
        "y": x + 0.5 * torch.randn(n, D, generator=g, dtype=torch.float64),
        "t": torch.tensor(1.3, dtype=torch.float64),
        "b": torch.tensor(-2.0, dtype=torch.float64),
    }


# name: (loss(inputs, gather), gather modes, names of the per-sample (sliced) inputs)
LOSSES = {
    "clip": (
        lambda a, g: vl.clip_loss(a["x"], a["y"], log_scale=a["t"], gather=g),
        ("global", "local"),
    ),
    "clip-sum": (
        lambda a, g: vl.clip_loss(a["x"], a["y"], gather=g, reduction="sum"),
        ("global", "local"),
    ),
    "siglip": (
        lambda a, g: vl.siglip_loss(a["x"], a["y"], log_scale=a["t"], bias=a["b"], gather=g),
        ("global", "local"),
    ),
    "siglip-sum": (
        lambda a, g: vl.siglip_loss(a["x"], a["y"], gather=g, reduction="sum"),
        ("local",),
    ),
    "dcl": (lambda a, g: vl.dcl_loss(a["x"], a["y"], gather=g), ("global", "local")),
    "dclw": (
        lambda a, g: vl.dcl_loss(a["x"], a["y"], weighting="vmf", gather=g),
        ("global", "local"),
    ),
    "barlow_twins": (
        lambda a, g: vl.barlow_twins_loss(a["x"], a["y"], off_diagonal_weight=0.1, gather=g),
        ("global", "local"),
    ),
    "vicreg": (lambda a, g: vl.vicreg_loss(0.3 * a["x"], a["y"], gather=g), ("global",)),
    "koleo": (lambda a, g: vl.koleo_loss(a["x"], gather=g), ("global", "local")),
}
SLICED = ("x", "y")
SHARED = ("t", "b")


def _leaves(inputs):
    return {k: v.detach().clone().requires_grad_() for k, v in inputs.items()}


def _check_losses(rank, world, start, stop, n):
    full = _data(n)
    out = []
    for name, (loss, modes) in LOSSES.items():
        ref_in = _leaves(full)
        ref = loss(ref_in, "none")  # the whole batch in one process: no collectives
        names = [*SLICED, *SHARED]
        ref_grads = dict(
            zip(names, torch.autograd.grad(ref, [ref_in[k] for k in names], allow_unused=True))
        )
        for mode in modes:
            local = _leaves({k: (v[start:stop] if k in SLICED else v) for k, v in full.items()})
            value = loss(local, mode)
            grads = dict(
                zip(names, torch.autograd.grad(value, [local[k] for k in names], allow_unused=True))
            )
            out.append((f"{name}/{mode}/value", value.detach(), ref.detach()))
            for k in SLICED:
                if ref_grads[k] is None:  # an input the loss does not take
                    continue
                out.append((f"{name}/{mode}/grad-{k}", grads[k], world * ref_grads[k][start:stop]))
            for k in SHARED:  # summed over processes: W times the single-process gradient
                if ref_grads[k] is None:
                    continue
                total = grads[k].detach().clone()
                dist.all_reduce(total)
                out.append((f"{name}/{mode}/grad-{k}", total, world * ref_grads[k]))
    return out


def _check_crops(rank, world, start, stop, n):
    """DINO and SwAV take crops first, ``(V, N, K)``: sliced along dim 1. Checks the loss
    contract, SwAV's codes of the global batch and DINO's center after three updates."""
    g = torch.Generator().manual_seed(1)
    student = torch.randn(4, n, 6, generator=g, dtype=torch.float64)
    teacher = torch.randn(2, n, 6, generator=g, dtype=torch.float64)
    scores = torch.randn(3, n, 6, generator=g, dtype=torch.float64).tanh()
    losses = {  # loss(crops, rows of the batch, gather)
        "dino": (lambda x, rows, gth: vl.dino_loss(x, teacher[:, rows], gather=gth), student),
        "swav": (lambda x, rows, gth: vl.swav_loss(x, epsilon=0.1, gather=gth), scores),
    }
    out = []
    for name, (loss, full) in losses.items():
        ref_in = full.clone().requires_grad_()
        ref = loss(ref_in, slice(0, n), "none")
        (ref_grad,) = torch.autograd.grad(ref, ref_in)
        for mode in ("global", "local"):
            local = full[:, start:stop].clone().requires_grad_()
            value = loss(local, slice(start, stop), mode)
            (grad,) = torch.autograd.grad(value, local)
            out.append((f"{name}/{mode}/value", value.detach(), ref.detach()))
            out.append((f"{name}/{mode}/grad", grad, world * ref_grad[:, start:stop]))
    codes = vl.sinkhorn_codes(scores[0, start:stop], 0.05, 3, reduce=True)
    out.append(
        ("swav/codes", codes, vl.sinkhorn_codes(scores[0], 0.05, 3, reduce=False)[start:stop])
    )
    single, shared = vl.DINOLoss(center_momentum=0.7).double(), vl.DINOLoss(center_momentum=0.7)
    shared = shared.double()
    for step in range(3):
        t = teacher + step
        single(student, t)
        shared(student[:, start:stop], t[:, start:stop])
    out.append(("dino/center", shared.center, single.center))
    return out


class _LargestTensor(TorchDispatchMode):
    """Records the largest ``numel`` of any tensor an aten op produces (forward, backward and
    the checkpoints' recomputation all dispatch through it)."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


RING_B, RING_D = 16, 4  # per-process batch and width of the ring-memory check


def ring_bound(b: int = RING_B, d: int = RING_D) -> int:
    """A small multiple of one ``B_local x B_local`` logit block (or one ``B_local x D`` text
    block): what the ring may hold at once, whatever the world size."""
    return 2 * b * max(b, d)


def _check_ring_memory(rank: int, world: int):
    """SigLIP's ring (``gather="local"``) never builds the global ``B_global x B_local`` block
    row: the largest tensor of its forward+backward stays within :func:`ring_bound`. Its size
    goes into the label, compared across world sizes by the test."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(world * RING_B, RING_D, generator=g)
    y = x + 0.5 * torch.randn(world * RING_B, RING_D, generator=g)
    rows = slice(rank * RING_B, (rank + 1) * RING_B)
    xl, yl = x[rows].clone().requires_grad_(), y[rows].clone().requires_grad_()
    t, b = torch.tensor(1.3, requires_grad=True), torch.tensor(-2.0, requires_grad=True)
    mode = _LargestTensor()
    with mode:
        value = vl.siglip_loss(xl, yl, log_scale=t, bias=b, gather="local")
        grads = torch.autograd.grad(value, [xl, yl, t, b])
    largest, bound = mode.largest, ring_bound()
    out = [
        (f"ring-memory/largest={largest}", torch.tensor(largest <= bound), torch.tensor(True)),
        (
            "ring-memory/finite",
            torch.isfinite(torch.stack([g_.sum() for g_ in grads])).all(),
            torch.tensor(True),
        ),
    ]
    if world >= 3:  # the global block row would hold world * B * B entries
        out.append(
            (
                "ring-memory/below-global-row",
                torch.tensor(largest < world * RING_B * RING_B),
                torch.tensor(True),
            )
        )
    return out


def _checks(rank: int, world: int):
    yield from _check_ring_memory(rank, world)
    for sizes in SIZES[world]:
        start = sum(sizes[:rank])
        tag = "uneven" if len(set(sizes)) > 1 else "equal"
        stop, n = start + sizes[rank], sum(sizes)
        checks = _check_losses(rank, world, start, stop, n)
        checks += _check_crops(rank, world, start, stop, n)
        yield from ((f"{tag}/{label}", a, e) for label, a, e in checks)


@gloo_only
def test_contract_with_2_and_3_processes(tmp_path):
    reports = spawn(_checks, tmp_path)
    results = passed(reports)
    # the ring's largest tensor is the same with 2 and 3 processes at equal local batch
    largest = {
        (rank, world): [c for c in result["checks"] if c.startswith("ring-memory/largest=")]
        for rank, report in enumerate(reports)
        for world, result in report.items()
    }
    assert all(len(v) == 1 for v in largest.values())
    sizes = {int(v[0].split("=")[1]) for v in largest.values()}
    assert len(sizes) == 1 and 0 < sizes.pop() <= ring_bound(), largest
    for result in results:
        labels = result["checks"]
        assert any("siglip/local" in label for label in labels)  # the ring ran
        assert any("dino/center" in label for label in labels)
        assert any("swav/codes" in label for label in labels)
        assert len(labels) == len(set(labels)) > 100
