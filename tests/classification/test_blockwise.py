"""The blockwise elementwise Functions (``classification/_blockwise.py``): ``softplus_pair``
against float64, and the binary cross entropy on logits (``_LogitBCE``) against its autograd
graph, float64 and torch, in blocks and in one piece."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import visionloss as vl
from visionloss.classification import _blockwise

_EDGES = [0.0, 1e-30, 1e-7, 0.5, 15.0, 16.7, 17.0, 20.0, 30.0, 87.0, 88.7, 103.0, 1e4]


def test_softplus_pair_is_within_two_ulp_of_float64():
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(20000, generator=g) * 12, torch.tensor(_EDGES)])
    x = torch.cat([x, -x])
    got = [t.double() for t in _blockwise.softplus_pair(x)]
    xd = x.double()
    tail = torch.log1p(torch.exp(-xd.abs()))
    want = [tail - xd.clamp_max(0), tail + xd.clamp_min(0), torch.sigmoid(-xd), torch.sigmoid(xd)]
    tiny, eps = torch.finfo(torch.float32).tiny, torch.finfo(torch.float32).eps
    for a, b in zip(got, want):
        normal = b.abs() >= tiny  # below: subnormal float32 results, absolute error < tiny
        assert ((a - b).abs()[normal] / b.abs()[normal]).max() <= 2 * eps
        assert ((a - b).abs()[~normal] <= tiny).all()


def test_softplus_pair_at_the_infinities_and_nan():
    x = torch.tensor([float("inf"), float("-inf"), float("nan")])
    sp_neg, sp_pos, sig_neg, sig_pos = _blockwise.softplus_pair(x)
    assert sp_neg[:2].tolist() == [0.0, float("inf")] and sp_pos[:2].tolist() == [float("inf"), 0.0]
    assert sig_neg[:2].tolist() == [0.0, 1.0] and sig_pos[:2].tolist() == [1.0, 0.0]
    assert all(torch.isnan(t[2]) for t in (sp_neg, sp_pos, sig_neg, sig_pos))


BCE_CASES = [
    pytest.param(torch.float32, {}, id="fp32"),
    pytest.param(torch.float64, {"pos_weight": 3.0}, id="fp64-pos-weight"),
    pytest.param(torch.bfloat16, {}, id="bf16"),
    pytest.param(torch.float16, {"label_smoothing": 0.1}, id="fp16-smoothing"),
    pytest.param(torch.float32, {"pos_weight": [0.5, 1.0, 2.0]}, id="class-pos-weight"),
    pytest.param(torch.float32, {"reduction": "none"}, id="none"),
]


def _soft_targets(shape, dtype, options):
    g = torch.Generator().manual_seed(1)
    y = (torch.rand(shape, generator=g) > 0.6).to(dtype)
    y[0, 0] = 0.3  # a soft target
    return y


@pytest.mark.parametrize("dtype, options", BCE_CASES)
def test_bce_blocks_equal_one_block_and_the_graph(monkeypatch, dtype, options):
    """Blocks of 37 elements (32 blocks of 5 x 3 x 7 x 11) equal one block (to an ulp); both
    equal the autograd graph of logsigmoid terms (a target that needs a gradient takes it) and
    the float64 loss."""
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(5, 3, 7, 11, generator=g) * 6).to(dtype)
    y = _soft_targets(x.shape, dtype, options)
    opts = dict(options)
    if isinstance(opts.get("pos_weight"), list):
        opts["pos_weight"] = torch.tensor(opts["pos_weight"])

    def run(block, target=y):
        monkeypatch.setattr(_blockwise, "_BLOCK", block)
        xi = x.clone().requires_grad_(True)
        loss = vl.binary_cross_entropy_loss(xi, target, **opts)
        (grad,) = torch.autograd.grad(loss.sum(), xi)
        return loss, grad

    blocked, one = run(37), run(1 << 40)
    assert blocked[1].dtype == dtype
    # the same operations on the same values; torch's vectorised kernels take the last
    # elements of a block through their scalar tail, which may differ by an ulp (a few after
    # the focal powers)
    ulp = torch.finfo(blocked[0].dtype).eps
    torch.testing.assert_close(blocked[0], one[0], rtol=8 * ulp, atol=1e-12)
    torch.testing.assert_close(blocked[1], one[1], rtol=8 * torch.finfo(dtype).eps, atol=1e-12)
    graph = run(37, y.clone().requires_grad_(True))  # the generic autograd path
    torch.testing.assert_close(blocked[0], graph[0], rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(blocked[1], graph[1])
    if "pos_weight" in opts and isinstance(opts["pos_weight"], torch.Tensor):
        opts["pos_weight"] = opts["pos_weight"].double()
    ref = vl.binary_cross_entropy_loss(x.double(), y.double(), **opts)
    torch.testing.assert_close(blocked[0].double(), ref, rtol=1e-6, atol=1e-7)


def test_bce_matches_torch_and_is_accurate_where_torch_rounds_to_zero():
    """torch's ``binary_cross_entropy_with_logits`` computes ``(1 - y) x + max(-x, 0) +
    log(exp(-max) + exp(-x - max))``: for y = 0 and x = -20 that is ``log(1 + 2e-9)``, 0 in
    float32; ours keeps ``softplus(x)`` whole (2.06e-9), as the float64 value."""
    x = torch.tensor([-100.0, -20.0, -3.0, 0.0, 3.0, 20.0, 100.0]).repeat(2)
    y = torch.tensor([0.0] * 7 + [1.0] * 7)
    xi = x.clone().requires_grad_(True)
    ours = vl.binary_cross_entropy_loss(xi, y, reduction="none")
    (grad,) = torch.autograd.grad(ours.sum(), xi)
    peer = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    torch.testing.assert_close(ours, peer, rtol=1e-6, atol=1e-8)
    xd = x.double().requires_grad_(True)
    ref = vl.binary_cross_entropy_loss(xd, y.double(), reduction="none")
    (grad_ref,) = torch.autograd.grad(ref.sum(), xd)
    assert peer[1].item() == 0.0 and ours[1].item() == pytest.approx(ref[1].item(), rel=1e-6)
    tiny = torch.finfo(torch.float32).tiny  # x = -100: e^-100 is a float32 subnormal
    torch.testing.assert_close(ours.double(), ref, rtol=1e-6, atol=tiny)
    # the gradient is torch's sigmoid(x) - y: within an ulp of 1 (for y = 1, x = 20 the exact
    # -2.06e-9 comes out as 0); with pos_weight the two sigmoids are kept apart, exact
    torch.testing.assert_close(
        grad.double(), grad_ref, rtol=1e-6, atol=torch.finfo(torch.float32).eps
    )
    xw = x.clone().requires_grad_(True)
    (grad_w,) = torch.autograd.grad(
        vl.binary_cross_entropy_loss(xw, y, pos_weight=1.0, reduction="sum"), xw
    )
    torch.testing.assert_close(grad_w.double(), grad_ref, rtol=1e-6, atol=tiny)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
def test_bce_backward_takes_the_derivative_again_in_blocks(monkeypatch, dtype):
    """Without pos_weight the forward keeps only the inputs (nothing of the input's size) and
    the backward takes ``sigmoid(x) - y`` again block by block: an upstream gradient that
    varies per element (reduction ``"none"``), blocks of 37 against one block and against the
    autograd graph; a retained graph run twice; the second derivative of the graph."""
    g = torch.Generator().manual_seed(2)
    x = (torch.randn(5, 3, 7, 11, generator=g) * 6).to(dtype)
    y = _soft_targets(x.shape, dtype, {})
    up = torch.rand(x.shape, generator=g)

    def run(block, target=y):
        monkeypatch.setattr(_blockwise, "_BLOCK", block)
        xi = x.clone().requires_grad_(True)
        loss = vl.binary_cross_entropy_loss(xi, target, reduction="none", label_smoothing=0.1)
        if not target.requires_grad:
            saved = loss.grad_fn.saved_tensors
            assert len(saved) == 2 and saved[0] is xi and saved[1] is target
        g1 = torch.autograd.grad(loss, xi, up, retain_graph=True)[0]
        assert torch.equal(torch.autograd.grad(loss, xi, up)[0], g1)
        return g1

    blocked, one = run(37), run(1 << 40)
    assert blocked.dtype == dtype
    torch.testing.assert_close(blocked, one, rtol=8 * torch.finfo(dtype).eps, atol=1e-12)
    graph = run(37, y.clone().requires_grad_(True))  # the generic autograd path
    torch.testing.assert_close(blocked, graph)
    xd = x.double().requires_grad_(True)
    (g1,) = torch.autograd.grad(vl.binary_cross_entropy_loss(xd, y.double()), xd, create_graph=True)
    (g2,) = torch.autograd.grad(g1.sum(), xd)  # sigmoid'(x) / N
    torch.testing.assert_close(g2, torch.sigmoid(xd) * torch.sigmoid(-xd) / x.numel())


@pytest.mark.slow
def test_bce_backward_that_takes_the_derivative_again_compiles():
    """The same Function traced by ``torch.compile`` (no graph break): the gradient of an
    upstream that varies per element and of a mean, as in eager mode."""
    torch._dynamo.reset()
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 3, 5, 7, generator=g) * 4
    y = _soft_targets(x.shape, torch.float32, {})
    up = torch.rand(x.shape, generator=g)
    compiled = torch.compile(vl.binary_cross_entropy_loss, backend="aot_eager", fullgraph=True)
    for reduction, upstream in (("none", up), ("mean", None)):
        grads = []
        for fn in (vl.binary_cross_entropy_loss, compiled):
            xi = x.clone().requires_grad_(True)
            loss = fn(xi, y, reduction=reduction)
            grads.append(torch.autograd.grad(loss, xi, upstream)[0])
        torch.testing.assert_close(grads[1], grads[0])
