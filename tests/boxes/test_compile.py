"""The contract that makes the box losses graph-friendly: no host syncs and no boolean-mask
indexing, so ``torch.compile(fullgraph=True)`` traces forward and backward without a break."""

from __future__ import annotations

import pytest
import torch

import visionloss as vl
from tests.boxes.cases import DISTINCT, random_boxes

FUNCS = [pytest.param(fn, opts, id=name) for name, fn, _, opts in DISTINCT.values()]


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


@pytest.mark.slow
@pytest.mark.parametrize("fn, opts", FUNCS)
def test_fullgraph_trace_of_every_loss(fn, opts):
    """Dynamo + AOT autograd (no C++ compile): a graph break or a data-dependent branch
    raises here."""
    pred, target = random_boxes(8, dtype=torch.float32)
    pred.requires_grad_(True)
    compiled = torch.compile(fn, fullgraph=True, backend="aot_eager")
    out = compiled(pred, target, **opts)
    (g,) = torch.autograd.grad(out, pred)
    (expected,) = torch.autograd.grad(fn(pred, target, **opts), pred)
    torch.testing.assert_close(out, fn(pred, target, **opts))
    torch.testing.assert_close(g, expected)


@pytest.mark.slow
@pytest.mark.parametrize("fn", [vl.iou_loss, vl.giou_loss, vl.diou_loss, vl.ciou_loss])
def test_inductor_compiles_the_fused_losses(fn):
    """The losses with a compile-time form of their own (``boxes/_rows.py``) through the
    default backend (C++ code generation on the CPU), a target that needs a gradient too."""
    pred, target = random_boxes(16, dtype=torch.float32)
    pred.requires_grad_(True)
    target.requires_grad_(True)
    out = torch.compile(fn, fullgraph=True)(pred, target)
    got = torch.autograd.grad(out, (pred, target))
    expected = torch.autograd.grad(fn(pred, target), (pred, target))
    torch.testing.assert_close(out, fn(pred, target))
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b)


@pytest.mark.slow
def test_wiou_module_buffer_update_compiles():
    pred, target = random_boxes(8, dtype=torch.float32)
    crit = vl.WIoULoss(momentum=0.5)
    eager = vl.WIoULoss(momentum=0.5)
    out = torch.compile(crit, fullgraph=True, backend="aot_eager")(pred, target)
    torch.testing.assert_close(out, eager(pred, target))
    torch.testing.assert_close(crit.iou_mean, eager.iou_mean)


@pytest.mark.gpu
@pytest.mark.parametrize("fn, opts", FUNCS)
def test_no_host_sync_on_cuda(fn, opts):
    pred, target = (x.cuda() for x in random_boxes(256, dtype=torch.float32))
    pred.requires_grad_(True)
    w = torch.rand(256, device="cuda")
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        fn(pred, target, weight=w, normalizer=torch.tensor(7.0, device="cuda"), **opts).backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert torch.isfinite(pred.grad).all()
