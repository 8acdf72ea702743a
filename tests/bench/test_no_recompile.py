"""Under ``torch.compile`` (default ``dynamic=None``) a change of the batch size recompiles at
most once (automatic dynamic shapes: the second size marks the batch dim dynamic, a third
reuses that graph), with no graph break, for the losses of the side-by-side benchmark."""

from __future__ import annotations

import pytest
import torch

import visionloss as vl


def _seg(b):
    return torch.randn(b, 3, 8, 8, requires_grad=True), torch.randint(0, 3, (b, 8, 8))


def _binary(b):
    return torch.randn(b, 3, 8, 8, requires_grad=True), (torch.rand(b, 3, 8, 8) > 0.7).float()


def _views(b):
    return torch.randn(b, 16, requires_grad=True), torch.randn(b, 16, requires_grad=True)


CASES = {
    "dice_loss": _seg,
    "dice_ce_loss": _seg,
    "tversky_loss": _seg,
    "focal_loss": _binary,
    "cross_entropy_loss": _seg,
    "nt_xent_loss": _views,
    "total_variation_loss": lambda b: (torch.rand(b, 3, 8, 8, requires_grad=True),),
    "ssim_loss": lambda b: (torch.rand(b, 3, 16, 16, requires_grad=True), torch.rand(b, 3, 16, 16)),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_batch_size_change_does_not_recompile(name):
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    fn = getattr(vl, name)
    compiled = torch.compile(fn, backend="aot_eager")
    for b in (4, 5, 7):
        args = CASES[name](b)
        loss = compiled(*args)
        torch.testing.assert_close(loss, fn(*args), rtol=1e-5, atol=1e-6)
        leaves = [a for a in args if a.requires_grad]
        grads = torch.autograd.grad(loss, leaves)
        assert all(torch.isfinite(g).all() for g in grads)
    assert counters["stats"]["unique_graphs"] <= 2, dict(counters["stats"])
    assert not counters["graph_break"], dict(counters["graph_break"])
