"""The fused class-index paths of the overlap losses (``_fused.IndexedOverlap``, and
``_fused.FewClassOverlap`` for the softmax of at most ``FEW_CLASSES`` classes).

Its hand-derived backward is checked by gradcheck in float64 for every activation, with and
without ignored pixels, ``squared`` and the target-class log-probability; its sums and
gradients equal the generic path's (``measure``: the plain autograd pipeline, which the dense
one-hot target also takes) and MONAI's ``DiceLoss`` / ``DiceCELoss`` on the same inputs.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import visionloss as vl
from visionloss.segmentation import _fused, _overlap
from visionloss.segmentation._fused import (
    FEW_CLASSES,
    FewClassOverlap,
    IndexedOverlap,
    compiled_sums,
    target_counts,
)

OPTS = dict(weight=None, include_background=True, classes=None)


def _inputs(b=2, c=4, n=30, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(b, c, n, generator=gen, dtype=dtype)
    y = torch.randint(0, c, (b, n), generator=gen)
    return x, y


@pytest.mark.parametrize("activation", ["softmax", "sigmoid", "none"])
@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("ignored", [False, True])
def test_gradcheck(activation, squared, ignored):
    x, y = _inputs()
    if activation == "none":
        x = torch.rand_like(x) * 0.8 + 0.1
    valid = None
    if ignored:
        valid = torch.rand(y.shape, generator=torch.Generator().manual_seed(1)) > 0.3
        y = y.masked_fill(~valid, -1)
    logpt = activation == "softmax"
    x.requires_grad_(True)

    def f(x):
        out = IndexedOverlap.apply(x, y, valid, activation, torch.float64, squared, logpt)
        return tuple(o for o in out if o.numel())

    assert torch.autograd.gradcheck(f, (x,))


@pytest.mark.parametrize("c", [2, FEW_CLASSES])
@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("ignored", [False, True])
def test_few_class_gradcheck_and_outputs(c, squared, ignored):
    """The dense one-hot Function: gradcheck of every differentiable output, and its five
    outputs equal the indexed Function's sums and ``target_counts``."""
    x, y = _inputs(c=c)
    valid = None
    if ignored:
        valid = torch.rand(y.shape, generator=torch.Generator().manual_seed(1)) > 0.3
        y = y.masked_fill(~valid, -1)
    x.requires_grad_(True)
    args = (y, valid, torch.float64, squared, True)

    def f(x):
        out = FewClassOverlap.apply(x, *args)[:4]
        return tuple(o for o in out if o.numel())

    assert torch.autograd.gradcheck(f, (x,))
    inter, psum, q, logpt, counts = FewClassOverlap.apply(x, *args)
    ref = IndexedOverlap.apply(x, y, valid, "softmax", torch.float64, squared, True)
    torch.testing.assert_close(counts, target_counts(y, valid, c, torch.float64))
    for a, b in zip((inter, psum, q), ref[:3]):
        torch.testing.assert_close(a, b)
    # log p of the target class; 0 at ignored pixels (the indexed Function gives class 0's)
    keep = torch.ones_like(y, dtype=torch.bool) if valid is None else valid
    torch.testing.assert_close(logpt[keep], ref[3][keep])
    assert (logpt[~keep] == 0).all()


def _generic(x, y, **kw):
    prep, st, _ = _overlap.measure(
        x, y, fn="t", smooth=0.0, per_image=kw.pop("per_image", True), **kw
    )
    return st


@pytest.mark.parametrize("activation", ["softmax", "sigmoid"])
@pytest.mark.parametrize("ignore_index", [None, 255])
@pytest.mark.parametrize("squared", [False, True])
# the dense few-class Function, the indexed one, the indexed one with the log-softmax's exp2
@pytest.mark.parametrize("c", [2, 5, 70])
def test_sums_and_gradients_equal_the_generic_path(activation, ignore_index, squared, c):
    x, y = _inputs(b=3, c=c, n=64, dtype=torch.float32)
    x = x.view(3, c, 8, 8)
    y = y.view(3, 8, 8)
    if ignore_index is not None:
        y[:, 0] = ignore_index
    kw = dict(activation=activation, ignore_index=ignore_index, squared=squared, **OPTS)
    a = x.clone().requires_grad_(True)
    b = x.clone().requires_grad_(True)
    assert _overlap.fused_applies(a, y, activation)
    _, fast, _ = _overlap.fused_measure(a, y, fn="t", smooth=0.0, per_image=True, **kw)
    slow = _generic(b, y, **kw)
    w = torch.randn(3, c)
    for name in ("intersection", "pred_sum", "target_sum", "count", "prob_sum"):
        torch.testing.assert_close(getattr(fast, name), getattr(slow, name))
    ga = torch.autograd.grad((fast.intersection * w).sum() + (fast.pred_sum * w.cos()).sum(), a)
    gb = torch.autograd.grad((slow.intersection * w).sum() + (slow.pred_sum * w.cos()).sum(), b)
    torch.testing.assert_close(ga[0], gb[0])


@pytest.mark.parametrize("name", ["dice_loss", "tversky_loss", "dice_ce_loss", "dice_focal_loss"])
@pytest.mark.parametrize("per_image", [True, False])
@pytest.mark.parametrize("c", [4, 6, 70])  # as above
def test_index_target_equals_its_one_hot(name, per_image, c):
    """The fused path (class indices) and the generic one (the equivalent one-hot target)
    give the same value and gradient, with ignored pixels and a class selection."""
    fn = getattr(vl, name)
    x, y = _inputs(b=2, c=c, n=48, seed=3, dtype=torch.float32)
    x = x.view(2, c, 6, 8)
    y = y.view(2, 6, 8)
    y[0, 0, :4] = 255
    onehot = F.one_hot(y.clamp_max(c - 1), c).permute(0, 3, 1, 2).float()
    onehot[:, :, 0, :4] = torch.where(y[:, None, 0, :4] == 255, 255.0, onehot[:, :, 0, :4])
    kw = dict(ignore_index=255, per_image=per_image, classes=[1, 2, 3])
    a = x.clone().requires_grad_(True)
    b = x.clone().requires_grad_(True)
    la, lb = fn(a, y, **kw), fn(b, onehot, **kw)
    torch.testing.assert_close(la, lb)
    torch.testing.assert_close(torch.autograd.grad(la, a)[0], torch.autograd.grad(lb, b)[0])


@pytest.mark.parametrize("c", [2, 5, 70])
def test_peer_monai_dice_and_dice_ce(c):
    monai = pytest.importorskip("monai")
    x, y = _inputs(b=2, c=c, n=256, seed=4, dtype=torch.float32)
    x = x.view(2, c, 16, 16)
    y = y.view(2, 16, 16)
    # MONAI DiceLoss(softmax, to_onehot_y) = our Dice with empty="include" and a tiny smooth
    # (MONAI's default smooth_nr = smooth_dr = 1e-5); DiceCELoss adds the mean CE.
    cases = [
        (vl.dice_loss, monai.losses.DiceLoss(softmax=True, to_onehot_y=True)),
        (vl.dice_ce_loss, monai.losses.DiceCELoss(softmax=True, to_onehot_y=True)),
    ]
    for ours, peer in cases:
        a = x.clone().requires_grad_(True)
        b = x.clone().requires_grad_(True)
        la = ours(a, y, smooth=1e-5, empty="include")
        lb = peer(b, y[:, None])
        torch.testing.assert_close(la, lb, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(
            torch.autograd.grad(la, a)[0], torch.autograd.grad(lb, b)[0], rtol=1e-4, atol=1e-7
        )


def test_degenerate_inputs_finite():
    for shape in [(0, 3, 4, 4), (2, 3, 0, 4)]:
        x = torch.randn(*shape, requires_grad=True)
        y = torch.zeros(shape[0], *shape[2:], dtype=torch.long)
        for fn in (vl.dice_loss, vl.dice_ce_loss, vl.tversky_loss):
            loss = fn(x, y)
            (g,) = torch.autograd.grad(loss, x)
            assert torch.isfinite(loss) and torch.isfinite(g).all()
    x = torch.tensor([[[1e4, -1e4]], [[-1e4, 1e4]]]).unsqueeze(0).requires_grad_(True)
    y = torch.tensor([[[1, 0]]])
    loss = vl.dice_ce_loss(x, y)
    (g,) = torch.autograd.grad(loss, x)
    assert torch.isfinite(loss) and torch.isfinite(g).all() and loss > 1


def test_bf16_input_fp32_sums_and_bf16_gradient():
    x, y = _inputs(b=2, c=3, n=64, dtype=torch.float32)
    xb = x.bfloat16().requires_grad_(True)
    loss = vl.dice_loss(xb.view(2, 3, 8, 8), y.view(2, 8, 8))
    assert loss.dtype == torch.float32
    (g,) = torch.autograd.grad(loss, xb)
    assert g.dtype == torch.bfloat16
    ref = vl.dice_loss(xb.float().view(2, 3, 8, 8), y.view(2, 8, 8))
    torch.testing.assert_close(loss, ref)


def test_compiled_sums_match_counts():
    x, y = _inputs(b=2, c=4, n=40, dtype=torch.float32)
    y[0, :5] = -1
    valid = y >= 0
    p = x.softmax(1)
    inter, counts, psum = compiled_sums(p, y)
    torch.testing.assert_close(counts, target_counts(y, valid, 4, torch.float32))
    ref = torch.stack([(p[:, k] * (y == k)).sum(-1) for k in range(4)], 1)
    torch.testing.assert_close(inter, ref)
    # the sum of p leaves the ignored pixels (label -1) out
    torch.testing.assert_close(psum, (p * valid.unsqueeze(1)).sum(-1))
    assert not torch.allclose(psum, p.sum(-1))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
def test_softmax_sums_against_float64(dtype):
    """``SoftmaxSums`` (the compiled softmax path above FEW_CLASSES classes, called eagerly
    here) against ``compiled_sums`` of float64 ``softmax`` through autograd: values and the
    gradient for arbitrary upstream gradients of ``I`` and ``P``, ignored pixels (label -1)
    included (their gradient is exactly 0: the saved log-sum-exp is +inf there)."""
    x, y = _inputs(b=2, c=7, n=50, seed=3, dtype=torch.float64)
    x = (4 * x).to(dtype)
    y[0, :6] = -1
    compute = torch.float64 if dtype == torch.float64 else torch.float32
    gen = torch.Generator().manual_seed(4)
    w_i, w_g, w_p = (torch.randn(2, 7, generator=gen, dtype=torch.float64) for _ in range(3))

    def run(fn, xx):
        xx = xx.detach().requires_grad_()
        sums = fn(xx)
        total = sum((s.double() * w).sum() for s, w in zip(sums, (w_i, w_g, w_p)))
        (g,) = torch.autograd.grad(total, xx)
        return [s.double() for s in sums], g.double()

    got, g = run(lambda a: _fused.SoftmaxSums.apply(a, y, compute), x)
    ref, g_ref = run(lambda a: compiled_sums(a.softmax(1), y), x.double())
    tol = {torch.float64: 1e-12, torch.float32: 2e-6, torch.bfloat16: 2e-6}[dtype]
    for a, b in zip(got, ref):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol)
    assert torch.equal(g[0, :, :6], torch.zeros_like(g[0, :, :6]))
    if dtype == torch.bfloat16:  # the gradient is rounded once, to bf16
        torch.testing.assert_close(g, g_ref.to(dtype).double(), rtol=2**-8, atol=1e-6)
    else:
        torch.testing.assert_close(g, g_ref, rtol=tol, atol=tol)


def test_softmax_sums_gradcheck():
    x, y = _inputs(b=2, c=6, n=9, seed=5)
    y[1, :3] = -1
    x.requires_grad_()
    assert torch.autograd.gradcheck(lambda a: _fused.SoftmaxSums.apply(a, y, torch.float64), (x,))


@pytest.mark.parametrize("name", ["dice", "tversky"])
def test_compiled_softmax_path_matches_eager(name):
    """Under tracing (AOT autograd, as inductor gets it) a softmax of more than FEW_CLASSES
    classes takes ``SoftmaxSums``: the same loss and gradient as the eager fused path."""
    fn = getattr(vl, f"{name}_loss")
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(2, FEW_CLASSES + 3, 8, 8, generator=gen)
    t = torch.randint(0, FEW_CLASSES + 3, (2, 8, 8), generator=gen)
    t[0, :2] = 255

    def loss(a, b):
        return fn(a, b, ignore_index=255)

    out = []
    for f in (loss, torch.compile(loss, backend="aot_eager", fullgraph=True)):
        a = x.clone().requires_grad_()
        value = f(a, t)
        out.append((value, *torch.autograd.grad(value, a)))
    codes: list[str] = []

    def record(gm, inputs):
        codes.extend(m.code for m in gm.modules() if isinstance(m, torch.fx.GraphModule))
        return gm

    torch.compile(loss, backend=record, fullgraph=True)(x, t)
    assert any("exp2" in code for code in codes)  # the traced call took SoftmaxSums
    torch.testing.assert_close(out[1][0], out[0][0], rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(out[1][1], out[0][1], rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name", ["dice_loss", "dice_ce_loss", "tversky_loss"])
@pytest.mark.parametrize("c", [2, 5, 70])
def test_float32_second_derivatives(name, c):
    """Second derivatives of float32 logits go through the plain graph (``_plain_sums``),
    where the softmax helpers record torch's ops (their fast forms write in place and into
    ``out=``, which autograd cannot differentiate): the same as from float64 logits."""
    fn = getattr(vl, name)
    x, y = _inputs(b=2, c=c, n=25, seed=7, dtype=torch.float32)
    x, y = x.view(2, c, 5, 5), y.view(2, 5, 5)
    y[0, 0] = 255
    out = []
    for dtype in (torch.float32, torch.float64):
        a = x.to(dtype).requires_grad_()
        (g,) = torch.autograd.grad(fn(a, y, ignore_index=255), a, create_graph=True)
        (h,) = torch.autograd.grad(g.square().sum(), a)
        out.append(h.double())
    torch.testing.assert_close(out[0], out[1], rtol=1e-4, atol=1e-6 * out[1].abs().max().item())


def test_two_class_softmax_hand_value():
    """Equal logits of two classes: the sigmoid form gives p = 1/2 exactly, so per image and
    class Dice = 2 I / (P + G) = G / (N / 2 + G) (I = G / 2, P = N / 2), by hand."""
    y = torch.tensor([[[0, 1, 1, 1]], [[0, 0, 0, 1]]])  # (2, 1, 4): N = 4 pixels an image
    x = torch.zeros(2, 2, 1, 4, requires_grad=True)
    loss = vl.dice_loss(x, y, reduction="none")
    g = torch.tensor([[1.0, 3.0], [3.0, 1.0]])  # G per image and class
    torch.testing.assert_close(loss, 1 - g / (2 + g))
    (grad,) = torch.autograd.grad(loss.sum(), x)
    assert torch.isfinite(grad).all()


@pytest.mark.parametrize("c", [2, 70])
def test_fast_softmax_forms_degenerate_inputs(c):
    """Every pixel ignored, and classes absent from the target, at the class counts that take
    the fast softmax forms: finite values and gradients, and no gradient reaches ignored
    pixels."""
    x, y = _inputs(b=2, c=c, n=16, seed=8, dtype=torch.float32)
    x, y = x.view(2, c, 4, 4), y.view(2, 4, 4) % 2  # classes 2.. are absent
    y[1] = 255  # the second image wholly ignored
    a = x.clone().requires_grad_()
    for empty in ("penalize", "include", "exclude"):
        loss = vl.dice_loss(a, y, ignore_index=255, empty=empty)
        (grad,) = torch.autograd.grad(loss, a)
        assert torch.isfinite(loss) and torch.isfinite(grad).all()
        assert torch.equal(grad[1], torch.zeros_like(grad[1]))
    everything = torch.full_like(y, 255)
    loss = vl.dice_ce_loss(a, everything, ignore_index=255)
    (grad,) = torch.autograd.grad(loss, a)
    assert torch.isfinite(loss) and torch.equal(grad, torch.zeros_like(grad))


def test_compiled_softmax_path_all_ignored():
    """``SoftmaxSums`` traced with every pixel ignored: the eager value, a zero gradient."""
    gen = torch.Generator().manual_seed(9)
    x = torch.randn(2, FEW_CLASSES + 3, 4, 4, generator=gen)
    t = torch.full((2, 4, 4), 255)

    def loss(a, b):
        return vl.tversky_loss(a, b, ignore_index=255)

    compiled = torch.compile(loss, backend="aot_eager", fullgraph=True)
    a = x.clone().requires_grad_()
    value = compiled(a, t)
    (grad,) = torch.autograd.grad(value, a)
    torch.testing.assert_close(value, loss(x, t))
    assert torch.equal(grad, torch.zeros_like(grad))
