"""The metric losses under torch.distributed (2 processes, gloo backend, CPU).

The contract of :mod:`visionloss.distributed`: with ``gather="global"`` or ``"local"`` the loss
value equals the single-process loss on the concatenated batch, and each process's input gradient
is ``W`` times the single-process gradient of its own inputs (DDP then averages it back). The
centres of ``CenterLoss`` stay identical on every process and equal the single-process update on
the concatenated batch. The processes hold unequal batches (7 and 5 samples).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import torch

import visionloss as vl
from tests.distributed._harness import free_port, gloo_group, leave

from ._data import clustered

WORLD = 2
SIZES = (7, 5)

TRIPLET_CASES = [
    ("hard", False),
    ("semihard", False),
    ("all", False),
    ("all", True),
]
CONTRASTIVE_CASES = ["pairs", "separate", "nonzero"]


def _global_batch():
    x, y = clustered(sum(SIZES), 3, 4, spread=0.9, seed=21, dtype=torch.float64)
    return x, y


def _cases():
    for mining, soft in TRIPLET_CASES:
        for gather in ("global", "local"):
            for reduction in ("mean", "sum"):
                opts = dict(
                    mining=mining, soft=soft, margin=0.3 if soft else 1.0, reduction=reduction
                )
                yield (
                    f"triplet-{mining}-{'soft' if soft else 'hinge'}-{gather}-{reduction}",
                    vl.batch_triplet_loss,
                    opts,
                    gather,
                )
    for average in CONTRASTIVE_CASES:
        for gather in ("global", "local"):
            for reduction in ("mean", "sum"):
                opts = dict(margin=2.0, average=average, reduction=reduction)
                yield (
                    f"contrastive-{average}-{gather}-{reduction}",
                    vl.contrastive_loss,
                    opts,
                    gather,
                )


def _worker(rank: int, port: int, out: str) -> None:
    torch.set_num_threads(1)
    with gloo_group(rank, WORLD, port):
        x, y = _global_batch()
        start = sum(SIZES[:rank])
        xl, yl = x[start : start + SIZES[rank]], y[start : start + SIZES[rank]]
        results = {}
        for name, fn, opts, gather in _cases():
            leaf = xl.clone().requires_grad_(True)
            value = fn(leaf, yl, gather=gather, **opts)
            (grad,) = torch.autograd.grad(value, leaf)
            results[name] = (value.detach(), grad)
        torch.manual_seed(100 + rank)  # different initial centres: rank 0's are broadcast
        center = vl.CenterLoss(3, 4).double()
        results["center-initial"] = center.centers.clone()
        center(xl, yl)
        center(xl.flip(0), yl.flip(0))
        results["center-after"] = center.centers.clone()
    torch.save(results, Path(out) / f"rank{rank}.pt")
    leave()


def _spawn() -> list[dict]:
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as tmp:
        mp.spawn(_worker, args=(free_port(), tmp), nprocs=WORLD, join=True)
        return [torch.load(Path(tmp) / f"rank{r}.pt") for r in range(WORLD)]


def _check_case(results, name, fn, opts) -> None:
    x, y = _global_batch()
    leaf = x.clone().requires_grad_(True)
    expected = fn(leaf, y, **opts)
    (grad,) = torch.autograd.grad(expected, leaf)
    assert grad.abs().sum() > 0, name  # the comparison is not between zeros
    for rank in range(WORLD):
        value, local_grad = results[rank][name]
        start = sum(SIZES[:rank])
        torch.testing.assert_close(value, expected.detach(), msg=f"{name}, rank {rank}: value")
        torch.testing.assert_close(
            local_grad,
            WORLD * grad[start : start + SIZES[rank]],
            msg=f"{name}, rank {rank}: gradient",
        )


def _check_centers(results) -> None:
    x, y = _global_batch()
    initial = results[0]["center-initial"]
    assert not torch.equal(initial, results[1]["center-initial"])
    expected = vl.update_centers(initial.clone(), x, y)
    flipped = torch.cat([x[:7].flip(0), x[7:].flip(0)]), torch.cat([y[:7].flip(0), y[7:].flip(0)])
    expected = vl.update_centers(expected, *flipped)
    for rank in range(WORLD):
        torch.testing.assert_close(results[rank]["center-after"], expected)


@pytest.mark.distributed
def test_two_gloo_processes_honour_the_gather_contract():
    """One spawn (two interpreters importing torch cost most of this test's time), then every
    case of the table: each loss, gather mode and reduction, and the centre updates."""
    results = _spawn()
    for name, fn, opts, _ in _cases():
        _check_case(results, name, fn, opts)
    _check_centers(results)
