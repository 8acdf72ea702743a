"""The multi-process contract of :mod:`visionloss.distributed`, with 2 and 3 processes on the
gloo backend (CPU).

For every batch-global loss and both gather modes, each process holds a slice of one global
batch (the slices have different sizes) and checks that

* the loss value equals the single-process loss on the concatenated batch, and
* its input gradients are ``W`` times the single-process gradients of its own inputs,

plus ``all_gather_with_grad`` itself and a small DDP model whose parameters after a few SGD
steps equal single-process training on the concatenated batch. One process group per world
size runs every check (spawning is the slow part). Inside a worker every collective runs before
any comparison, so a failing check cannot leave the other processes waiting.
"""

from __future__ import annotations

import copy

import pytest
import torch

import visionloss as vl
from tests.distributed._harness import gloo_only, passed, spawn
from visionloss import distributed as vdist

pytestmark = pytest.mark.distributed

SIZES = {2: [3, 5], 3: [2, 4, 3]}  # samples (images) per process
D = 6


def _data(n: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return {
        "x": torch.randn(n, D, generator=g, dtype=torch.float64),
        "y": torch.randn(n, D, generator=g, dtype=torch.float64),
        "views": torch.randn(n, 3, D, generator=g, dtype=torch.float64),
        "labels": torch.randint(0, 3, (n,), generator=g),
        "negatives": torch.randn(7, D, generator=g, dtype=torch.float64),
        "maps": torch.randn(n, 4, 4, 4, generator=g, dtype=torch.float64),
        "masks": (torch.rand(n, 4, 4, generator=g) > 0.6).long(),
    }


# name: (loss(inputs, gather) with the first inputs sliced per process, names of the sliced inputs)
LOSSES = {
    "info_nce-in-batch": (lambda a, g: vl.info_nce_loss(a["x"], a["y"], gather=g), ("x", "y")),
    "info_nce-symmetric-sum": (
        lambda a, g: vl.info_nce_loss(a["x"], a["y"], symmetric=True, gather=g, reduction="sum"),
        ("x", "y"),
    ),
    "info_nce-shared-negatives": (
        lambda a, g: vl.info_nce_loss(a["x"], a["y"], a["negatives"], gather=g),
        ("x", "y"),
    ),
    "nt_xent": (lambda a, g: vl.nt_xent_loss(a["x"], a["y"], gather=g), ("x", "y")),
    "supcon-out": (lambda a, g: vl.supcon_loss(a["x"], a["labels"], gather=g), ("x", "labels")),
    "supcon-in-views-sum": (
        lambda a, g: vl.supcon_loss(
            a["views"], a["labels"], variant="in", gather=g, reduction="sum"
        ),
        ("views", "labels"),
    ),
    "supcon-no-labels": (lambda a, g: vl.supcon_loss(a["views"], gather=g), ("views",)),
    "pixel_info_nce-batch": (
        lambda a, g: vl.pixel_info_nce_loss(a["maps"], a["masks"], scope="batch", gather=g),
        ("maps", "masks"),
    ),
    "pixel_info_nce-batch-mean_exp-both": (
        lambda a, g: vl.pixel_info_nce_loss(
            a["maps"], a["masks"], scope="batch", positive="mean_exp", anchors="both", gather=g
        ),
        ("maps", "masks"),
    ),
    "pixel_info_nce-image": (
        lambda a, g: vl.pixel_info_nce_loss(a["maps"], a["masks"], gather=g),
        ("maps", "masks"),
    ),
    "patch_contrast": (
        lambda a, g: vl.patch_contrast_loss(a["maps"], a["masks"], patch_size=1, gather=g),
        ("maps", "masks"),
    ),
    # the batch-global metric losses (their 2-process table is tests/metric)
    **{
        f"batch_triplet-{mining}": (
            lambda a, g, mining=mining: vl.batch_triplet_loss(
                a["x"], a["labels"], mining=mining, margin=1.0, gather=g
            ),
            ("x", "labels"),
        )
        for mining in ("hard", "semihard", "all")
    },
    "batch_triplet-all-soft-sum": (
        lambda a, g: vl.batch_triplet_loss(
            a["x"], a["labels"], mining="all", soft=True, gather=g, reduction="sum"
        ),
        ("x", "labels"),
    ),
    "contrastive-batch": (
        lambda a, g: vl.contrastive_loss(a["x"], a["labels"], margin=2.0, gather=g),
        ("x", "labels"),
    ),
}


def _leaves(inputs):
    return {k: v.detach().clone().requires_grad_(v.is_floating_point()) for k, v in inputs.items()}


def _check_losses(rank, world, start, stop):
    """(label, actual, expected) triples for every loss and mode."""
    full = _data(sum(SIZES[world]))
    out = []
    for name, (loss, sliced) in LOSSES.items():
        ref_in = _leaves(full)
        ref = loss(ref_in, "none")  # one process's view of the whole batch: no collectives
        floats = [k for k in sliced if ref_in[k].is_floating_point()]
        ref_grads = torch.autograd.grad(ref, [ref_in[k] for k in floats])
        for mode in ("global", "local"):
            local = _leaves({k: (v[start:stop] if k in sliced else v) for k, v in full.items()})
            value = loss(local, mode)
            grads = torch.autograd.grad(value, [local[k] for k in floats])
            out.append((f"{name}/{mode}/value", value.detach(), ref.detach()))
            for k, g, r in zip(floats, grads, ref_grads):
                out.append((f"{name}/{mode}/grad-{k}", g, world * r[start:stop]))
    # "none" in global mode: the per-anchor losses of the whole batch, on every process
    x = full["x"][start:stop]
    every = vl.supcon_loss(x, full["labels"][start:stop], gather="global", reduction="none")
    out.append(
        ("supcon/global/none", every, vl.supcon_loss(full["x"], full["labels"], reduction="none"))
    )
    return out


def _check_all_gather(rank, world, start, stop):
    full = torch.arange(sum(SIZES[world]) * 3, dtype=torch.float64).view(-1, 3)
    weights = torch.linspace(-1, 1, full.numel(), dtype=torch.float64).view_as(full)
    x = full[start:stop].clone().requires_grad_()
    gathered = vdist.all_gather_with_grad(x)
    (grad,) = torch.autograd.grad((gathered * weights).sum(), x)
    labels = vdist.all_gather_no_grad(torch.arange(start, stop))
    total = vdist.all_reduce_sum(torch.tensor(float(rank)))
    mean = vdist.global_mean(x.sum(), torch.tensor(stop - start), gather="local")
    (mean_grad,) = torch.autograd.grad(mean, x)
    n = full.shape[0]
    return [
        ("all_gather_with_grad/value", gathered.detach(), full),
        ("all_gather_with_grad/grad", grad, world * weights[start:stop]),
        ("all_gather_no_grad", labels, torch.arange(n)),
        ("all_reduce_sum", total, torch.tensor(float(sum(range(world))))),
        ("global_mean/value", mean.detach(), full.sum() / n),
        ("global_mean/grad", mean_grad, torch.full_like(x, world / n)),
    ]


def _train(model, batches, loss_fn, steps=3):
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(model, batches).backward()
        opt.step()
    return [p.detach().clone() for p in model.parameters()]


def _check_ddp(rank, world, start, stop):
    from torch.nn.parallel import DistributedDataParallel as DDP

    n = sum(SIZES[world])
    g = torch.Generator().manual_seed(3)
    views = torch.randn(n, 2, 8, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 3, (n,), generator=g)
    torch.manual_seed(0)
    base = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Tanh(), torch.nn.Linear(8, 4))
    base = base.double()
    losses = {
        "nt_xent": lambda m, b, mode: vl.nt_xent_loss(
            m(b[0][:, 0]), m(b[0][:, 1]), temperature=0.3, gather=mode
        ),
        "supcon": lambda m, b, mode: vl.supcon_loss(m(b[0]), b[1], gather=mode),
    }
    out = []
    for name, fn in losses.items():
        single = _train(copy.deepcopy(base), (views, labels), lambda m, b, f=fn: f(m, b, "none"))
        for mode in ("global", "local"):
            ddp = DDP(copy.deepcopy(base))
            local = (views[start:stop], labels[start:stop])
            params = _train(ddp, local, lambda m, b, f=fn, mode=mode: f(m, b, mode))
            for i, (p, q) in enumerate(zip(params, single)):
                out.append((f"ddp-{name}/{mode}/param{i}", p, q))
    return out


# bf16 embeddings: gathered as bf16 GEMM operands (``_core.dtypes.product_dtype``); a
# process's product of its own rows may round a last bit differently from the one-process
# matrix, so values are held to bf16's resolution of a logit (2^-8 / t at t = 0.5) and
# gradients to 2^-6 of their largest entry, as a difference that must come out 0
BF16_LOSSES = {
    "nt_xent": (lambda a, g: vl.nt_xent_loss(a["x"], a["y"], gather=g), ("x", "y")),
    "info_nce": (lambda a, g: vl.info_nce_loss(a["x"], a["y"], gather=g), ("x", "y")),
    "supcon": (lambda a, g: vl.supcon_loss(a["x"], a["labels"], gather=g), ("x",)),
}


def _beyond(actual: torch.Tensor, expected: torch.Tensor, tol: float) -> torch.Tensor:
    return ((actual.double() - expected.double()).abs() - tol).clamp_min(0)


def _check_bf16(rank, world, start, stop):
    full = _data(sum(SIZES[world]))
    full = {k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in full.items()}
    out = []
    for name, (loss, floats) in BF16_LOSSES.items():
        ref_in = _leaves(full)
        ref = loss(ref_in, "none")
        ref_grads = torch.autograd.grad(ref, [ref_in[k] for k in floats])
        for mode in ("global", "local"):
            local = _leaves({k: v[start:stop] if k != "negatives" else v for k, v in full.items()})
            value = loss(local, mode)
            grads = torch.autograd.grad(value, [local[k] for k in floats])
            zero = torch.zeros((), dtype=torch.float64)
            out.append((f"bf16-{name}/{mode}/value", _beyond(value, ref, 2.0**-8 / 0.5), zero))
            for k, g, r in zip(floats, grads, ref_grads):
                tol = float(r.abs().max()) * world * 2.0**-6
                out.append(
                    (
                        f"bf16-{name}/{mode}/grad-{k}",
                        _beyond(g, world * r[start:stop], tol).max(),
                        zero,
                    )
                )
    return out


def _checks(rank: int, world: int):
    start = sum(SIZES[world][:rank])
    stop = start + SIZES[world][rank]
    for check in (_check_all_gather, _check_losses, _check_ddp, _check_bf16):
        yield from check(rank, world, start, stop)


@gloo_only
def test_contract_with_2_and_3_processes(tmp_path):
    results = passed(spawn(_checks, tmp_path))
    floats = [k for _, sliced in LOSSES.values() for k in sliced if k not in ("labels", "masks")]
    expected = 6 + 2 * len(LOSSES) + 2 * len(floats)  # all_gather; value + grads, two modes
    expected += 1 + 2 * 2 * 4  # supcon "none"; two DDP losses x two modes x four parameters
    expected += sum(2 * (1 + len(floats)) for _, floats in BF16_LOSSES.values())
    for result in results:
        assert len(result["checks"]) == expected, result["checks"]


def test_single_process_gather_is_a_no_op():
    # without a process group, every mode is the plain loss
    x, y = _data(5)["x"], _data(5)["y"]
    for mode in ("global", "local"):
        torch.testing.assert_close(
            vl.nt_xent_loss(x, y, gather=mode), vl.nt_xent_loss(x, y, gather="none")
        )
    assert vdist.all_gather_with_grad(x) is x
