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


def _boxes(b):
    xy = torch.rand(b, 2) * 10
    pred = torch.cat([xy, xy + 1 + torch.rand(b, 2)], 1).requires_grad_()
    return pred, pred.detach() + 0.5


def _sides(b):
    return torch.randn(b, 4, 16, requires_grad=True), torch.rand(b, 4) * 15


def _labelled(b):
    return torch.randn(b, 1, 16, requires_grad=True), torch.arange(b) % 3


def _head(b):
    return torch.randn(b, 8, requires_grad=True), torch.arange(b) % 5, torch.randn(5, 8)


CASES = {
    "iou_loss": _boxes,
    "giou_loss": _boxes,
    "ciou_loss": _boxes,
    "distribution_focal_loss": _sides,
    "supcon_loss": _labelled,
    "arcface_loss": _head,
    "dice_loss": _seg,
    "dice_ce_loss": _seg,
    "tversky_loss": _seg,
    "focal_loss": _binary,
    "binary_cross_entropy_loss": _binary,
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


@pytest.mark.slow
def test_many_losses_compiled_in_one_process_all_capture_graphs():
    """torch.compile keeps at most ``cache_size_limit`` (8) graphs per code object: each
    declared function (and Module.forward) has a code object of its own, so a twelfth loss
    compiled in the same process is still compiled, not run eager with a warning."""
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    limit = torch._dynamo.config.cache_size_limit
    seg, boxes = _seg(2), torch.tensor([[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 4.0]])
    calls = [
        (vl.dice_loss, seg),
        (vl.tversky_loss, seg),
        (vl.cross_entropy_loss, seg),
        (vl.dice_ce_loss, seg),
        (vl.lovasz_loss, seg),
        (vl.focal_loss, _binary(2)),
        (vl.total_variation_loss, (seg[0],)),
        (vl.mse_loss, (seg[0], seg[0].detach() + 1)),
        (vl.l1_loss, (seg[0], seg[0].detach() + 1)),
        (vl.iou_loss, (boxes, boxes + 0.5)),
        (vl.giou_loss, (boxes, boxes + 0.5)),
        (vl.ciou_loss, (boxes, boxes + 0.5)),
    ]
    assert len(calls) > limit
    for i, (fn, args) in enumerate(calls, 1):
        torch.compile(fn, backend="aot_eager")(*args)
        assert counters["stats"]["unique_graphs"] == i, (fn.__name__, dict(counters["stats"]))
    modules = [vl.DiceLoss(), vl.TverskyLoss(), vl.CrossEntropyLoss()]
    assert len({id(type(m).forward.__code__) for m in modules}) == len(modules)
    assert vl.dice_loss.__code__ is not vl.focal_loss.__code__
