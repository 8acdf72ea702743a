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


def test_softplus_pair_and_the_tail_are_within_two_ulp_of_float64():
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(20000, generator=g) * 12, torch.tensor(_EDGES)])
    x = torch.cat([x, -x])
    got = [t.double() for t in (*_blockwise.softplus_pair(x), _blockwise.negative_tail(x))]
    xd = x.double()
    tail = torch.log1p(torch.exp(-xd.abs()))
    want = [tail - xd.clamp_max(0), tail + xd.clamp_min(0), torch.sigmoid(-xd), torch.sigmoid(xd)]
    want.append(-tail)  # the BCE's tail, log1p(-sigmoid(-|x|))
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


_SUMMED = [
    pytest.param(vl.binary_cross_entropy_loss, {}, "mean", id="bce-mean"),
    pytest.param(vl.binary_cross_entropy_loss, {}, "sum", id="bce-sum"),
    pytest.param(vl.binary_cross_entropy_loss, {"pos_weight": 2.0}, "mean", id="bce-pos-weight"),
    pytest.param(vl.binary_cross_entropy_loss, {"label_smoothing": 0.1}, "sum", id="bce-smoothing"),
    pytest.param(vl.focal_loss, {}, "mean", id="focal-mean"),
    pytest.param(vl.focal_loss, {}, "sum", id="focal-sum"),
    pytest.param(vl.focal_loss, {"normalizer": "positives"}, "mean", id="focal-positives"),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("loss_fn, options, reduction", _SUMMED)
def test_summed_blocks_equal_the_elementwise_loss_reduced(
    monkeypatch, loss_fn, options, reduction, dtype
):
    """A mean or sum without weights or ignored entries is summed block by block inside the
    Function (``total``: no loss of the input's size is written): values and gradients equal
    the elementwise loss (``reduction="none"``) reduced afterwards, in blocks of 37 and in one
    piece; with a weight the elementwise path is taken."""
    g = torch.Generator().manual_seed(4)
    x = (torch.randn(5, 3, 7, 11, generator=g) * 6).to(dtype)
    y = _soft_targets(x.shape, dtype, {})
    totals = []
    forward = _blockwise.forward
    plain = {"normalizer": None} if "normalizer" in options else {}

    def spy(*args, **kwargs):
        totals.append(kwargs.get("total", args[8] if len(args) > 8 else False))
        return forward(*args, **kwargs)

    monkeypatch.setattr(_blockwise, "forward", spy)

    def run(block, **extra):
        monkeypatch.setattr(_blockwise, "_BLOCK", block)
        xi = x.clone().requires_grad_(True)
        loss = loss_fn(xi, y, **{**options, **extra})
        return loss, torch.autograd.grad(loss.sum(), xi)[0]

    for block in (37, 1 << 40):
        totals.clear()
        summed = run(block, reduction=reduction)
        assert totals == [True]
        elementwise = run(block, reduction="none", **plain)
        assert totals == [True, False]
        xi = x.clone().requires_grad_(True)
        terms = loss_fn(xi, y, **{**options, **plain}, reduction="none")
        if reduction == "sum":
            want = terms.sum()
        elif options.get("normalizer") == "positives":
            want = terms.sum() / y.float().sum().clamp_min(1)
        else:
            want = terms.mean()
        (want_grad,) = torch.autograd.grad(want, xi)
        torch.testing.assert_close(terms.detach(), elementwise[0])
        assert summed[0].dtype == torch.float32 and summed[1].dtype == dtype
        torch.testing.assert_close(summed[0], want, rtol=2e-6, atol=1e-7)
        torch.testing.assert_close(summed[1], want_grad, rtol=2 * torch.finfo(dtype).eps, atol=1e-9)
    weighted = run(37, reduction=reduction, weight=torch.ones(x.shape))
    assert totals[-1] is False
    torch.testing.assert_close(weighted[0], summed[0], rtol=2e-6, atol=1e-7)


def test_summed_bce_of_an_empty_input_is_zero_and_attached():
    x = torch.zeros(0, 3, requires_grad=True)
    for reduction in ("mean", "sum"):
        loss = vl.binary_cross_entropy_loss(x, torch.zeros(0, 3), reduction=reduction)
        assert loss.item() == 0.0 and loss.requires_grad
        (grad,) = torch.autograd.grad(loss, x)
        assert grad.shape == x.shape


def test_bce_soft_targets_near_one_keep_every_digit():
    """The logit term is ``x (H(x) - y)``, ``H`` the step: for y = 0.999 and x = 30 it is
    ``30 * (1 - y)``, 1 - y exact (Sterbenz), one rounding; ``max(x, 0) - x y`` would lose
    the digits of ``x y`` (an ulp of 30 is 1.9e-6 against a loss of 0.03)."""
    x = torch.tensor([30.0, 5.0, -30.0, -5.0, 1e4, -1e4])
    y = torch.tensor([0.999, 0.9999, 0.001, 0.0001, 0.99999, 1e-5])
    ours = vl.binary_cross_entropy_loss(x, y, reduction="none").double()
    xd, yd = x.double(), y.double()
    ref = torch.log1p(torch.exp(-xd.abs())) + xd.clamp_min(0) * (1 - yd) - xd.clamp_max(0) * yd
    torch.testing.assert_close(ours, ref, rtol=4 * torch.finfo(torch.float32).eps, atol=0)
