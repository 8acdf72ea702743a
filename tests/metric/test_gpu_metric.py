"""CUDA: the metric losses agree with the CPU, and batch mining at B = 4096 stays O(B^2) in
memory (a B x B x B float tensor would need 256 GiB). Skipped without a CUDA device."""

from __future__ import annotations

import pytest
import torch

import visionloss as vl
from tests.helpers import grads

from ._data import clustered

pytestmark = pytest.mark.gpu

CASES = [
    pytest.param(vl.batch_triplet_loss, {"mining": "hard"}, id="hard"),
    pytest.param(vl.batch_triplet_loss, {"mining": "semihard"}, id="semihard"),
    pytest.param(vl.batch_triplet_loss, {"mining": "all"}, id="all"),
    pytest.param(vl.batch_triplet_loss, {"mining": "all", "soft": True}, id="all-soft"),
    pytest.param(vl.contrastive_loss, {"margin": 2.0}, id="contrastive"),
]


@pytest.mark.parametrize("fn, opts", CASES)
def test_cuda_matches_cpu(fn, opts):
    x, y = clustered(96, 6, 16, seed=30, dtype=torch.float32)
    value, (g,) = grads(lambda a: fn(a, y, **opts), x)
    cuda_value, (cuda_g,) = grads(lambda a: fn(a, y.cuda(), **opts), x.cuda())
    torch.testing.assert_close(cuda_value.cpu(), value, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(cuda_g.cpu(), g, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mining", ["hard", "semihard", "all"])
def test_batch_mining_memory_is_quadratic_at_4096(mining):
    g = torch.Generator(device="cuda").manual_seed(31)
    x = torch.randn(4096, 128, device="cuda", generator=g).requires_grad_(True)
    y = torch.randint(0, 100, (4096,), device="cuda", generator=g)
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    vl.batch_triplet_loss(x, y, mining=mining).backward()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - base
    assert peak < 4 * 2**30, f"{peak / 2**30:.2f} GiB"
    assert torch.isfinite(x.grad).all()
