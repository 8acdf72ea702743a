"""The pair and proxy losses that couple a batch's samples (circle, multi-similarity, lifted
structure, N-pair, margin, proxy-anchor) under torch.distributed, 2 and 3 gloo processes with uneven batches, following
``test_gather.py``: for ``gather="global"`` and ``"local"`` the value equals the
single-process loss of the concatenated batch, each process's embedding gradients are ``W``
times the single-process slice, and the average over processes (DDP's) of a replicated input's
gradient (proxies, margin's beta) is the single-process gradient; in ``"global"`` mode every
process already holds it."""

from __future__ import annotations

import pytest
import torch

import visionloss as vl
from tests.distributed._harness import gloo_only, passed, spawn
from visionloss import distributed as vdist

pytestmark = pytest.mark.distributed

SIZES = {2: [5, 7], 3: [3, 6, 4]}
D = 5


def _data(n: int):
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 3, (n,), generator=g)
    centres = torch.randn(3, D, generator=g, dtype=torch.float64)
    x = centres[labels] + 0.8 * torch.randn(n, D, generator=g, dtype=torch.float64)
    proxies = torch.randn(3, D, generator=g, dtype=torch.float64)
    beta = torch.tensor([0.9, 1.1, 1.3], dtype=torch.float64)
    return {"x": x, "labels": labels, "proxies": proxies, "beta": beta}


# name: (loss(inputs, gather), replicated float inputs whose gradient is the single-process one)
LOSSES = {
    "circle": (lambda a, g: vl.circle_loss(a["x"], a["labels"], gamma=8.0, gather=g), ()),
    "circle-sum": (
        lambda a, g: vl.circle_loss(a["x"], a["labels"], gamma=8.0, gather=g, reduction="sum"),
        (),
    ),
    "multi_similarity-mined": (
        lambda a, g: vl.multi_similarity_loss(a["x"], a["labels"], beta=10.0, gather=g),
        (),
    ),
    "multi_similarity-all-pairs": (
        lambda a, g: vl.multi_similarity_loss(a["x"], a["labels"], beta=10.0, mine=False, gather=g),
        (),
    ),
    "lifted_structure": (
        lambda a, g: vl.lifted_structure_loss(a["x"], a["labels"], margin=2.0, gather=g),
        (),
    ),
    "lifted_structure-generalized": (
        lambda a, g: vl.lifted_structure_loss(a["x"], a["labels"], generalized=True, gather=g),
        (),
    ),
    "margin": (
        lambda a, g: vl.margin_loss(a["x"], a["labels"], a["beta"], nu=0.1, gather=g),
        ("beta",),
    ),
    "npair": (lambda a, g: vl.npair_loss(a["x"], a["labels"], normalize=True, gather=g), ()),
    "proxy_anchor": (
        lambda a, g: vl.proxy_anchor_loss(a["x"], a["labels"], a["proxies"], alpha=4.0, gather=g),
        ("proxies",),
    ),
}


def _leaves(inputs):
    return {k: v.detach().clone().requires_grad_(v.is_floating_point()) for k, v in inputs.items()}


def _check_losses(world, start, stop):
    full = _data(sum(SIZES[world]))
    out = []
    for name, (loss, replicated) in LOSSES.items():
        ref_in = _leaves(full)
        ref = loss(ref_in, "none")
        names = ["x", *replicated]
        ref_grads = dict(zip(names, torch.autograd.grad(ref, [ref_in[k] for k in names])))
        for mode in ("global", "local"):
            local = _leaves(
                {k: (v[start:stop] if k in ("x", "labels") else v) for k, v in full.items()}
            )
            value = loss(local, mode)
            got = dict(zip(names, torch.autograd.grad(value, [local[k] for k in names])))
            out.append((f"{name}/{mode}/value", value.detach(), ref.detach()))
            out.append((f"{name}/{mode}/grad-x", got["x"], world * ref_grads["x"][start:stop]))
            for k in replicated:  # DDP averages a replicated parameter's gradient
                average = vdist.all_reduce_sum(got[k]) / world
                out.append((f"{name}/{mode}/grad-{k}-average", average, ref_grads[k]))
                if mode == "global":  # every process holds the whole loss
                    out.append((f"{name}/{mode}/grad-{k}", got[k], ref_grads[k]))
    return out


def _checks(rank: int, world: int):
    start = sum(SIZES[world][:rank])
    return _check_losses(world, start, start + SIZES[world][rank])


@gloo_only
def test_pair_and_proxy_losses_with_2_and_3_processes(tmp_path):
    results = passed(spawn(_checks, tmp_path))
    replicated = sum(len(r) for _, r in LOSSES.values())
    expected = 2 * 2 * len(LOSSES) + 3 * replicated  # value, grad-x; replicated: 2 + 1
    for result in results:
        assert len(result["checks"]) == expected, result["checks"]
