"""The one-pass IoU / GIoU / DIoU / CIoU Functions (``boxes/_fused.py`` for eager calls and its
row-wise form ``boxes/_rows.py`` for ``torch.compile``) against the plain path of
``boxes/_geometry.py`` that they replace for ``xyxy`` boxes: the same values bit for bit and
the same gradients (to rounding) on the inputs where the guards act: identical boxes (ties of
every max and min: autograd splits the gradient in half there), shared edges, touching boxes,
inverted corners, zero-area and point boxes, subnormal and huge coordinates; the gradient of
the target too; second derivatives through the plain graph."""

from __future__ import annotations

import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck

import visionloss as vl
from visionloss.boxes import _fused, _rows
from visionloss.boxes import _geometry as G

VARIANTS = [
    pytest.param("iou", None, id="iou"),
    pytest.param("giou", None, id="giou"),
    pytest.param("diou", None, id="diou"),
    pytest.param("ciou", None, id="ciou"),
    pytest.param("ciou", 0.5, id="ciou-threshold"),
]


@pytest.fixture(autouse=True)
def _keep_subnormals():
    """Other tests turn on flush-to-zero for speed; subnormal inputs are part of this one."""
    torch.set_flush_denormal(False)


def _nasty(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(160, 2, generator=g, dtype=torch.float64) * 10
    wh = torch.rand(160, 2, generator=g, dtype=torch.float64) * 5
    p = torch.cat([xy, xy + wh], 1)
    xy = torch.rand(160, 2, generator=g, dtype=torch.float64) * 10
    wh = torch.rand(160, 2, generator=g, dtype=torch.float64) * 5
    t = torch.cat([xy, xy + wh], 1)
    t[:10] = p[:10]  # identical: every max and min ties
    t[10:20, 0] = p[10:20, 0]  # a shared left edge
    t[20:30, 2] = p[20:30, 2]  # a shared right edge
    p[30:40] = p[30:40][:, [2, 3, 0, 1]]  # inverted corners
    p[40:50, 2] = p[40:50, 0]  # zero width
    p[50:60, 2:] = p[50:60, :2]  # point boxes
    t[55:60] = p[55:60]  # identical point boxes
    t[60:70, 0] = p[60:70, 2]  # touching
    p[70:80] = p[70:80].round()
    t[70:80] = p[70:80] + 1  # integer corners, exact ties of sizes
    tiny = 1e-40 if dtype == torch.float32 else 1e-310
    p[80:90] *= tiny
    t[80:90] *= tiny  # subnormal
    huge = 1e37 if dtype == torch.float32 else 1e306
    p[90:100] *= huge
    t[90:100] *= huge  # near the maximum
    t[100:110] = p[100:110] + 0.5  # equal sizes: CIoU's v = 0
    return p.to(dtype), t.to(dtype)


def _plain(pred, target, variant, threshold):
    return _fused._plain(pred, target, variant, threshold)


FORMS = [pytest.param(_fused, id="blocks"), pytest.param(_rows, id="rows")]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["fp32", "fp64"])
@pytest.mark.parametrize("variant, threshold", VARIANTS)
def test_same_values_and_gradients_as_the_plain_path(variant, threshold, dtype, form):
    p, t = _nasty(dtype)
    p1, t1 = p.clone().requires_grad_(), t.clone().requires_grad_()
    fast = form.pair_value(p1, t1, variant, threshold)
    p2, t2 = p.clone().requires_grad_(), t.clone().requires_grad_()
    plain = _plain(p2, t2, variant, threshold)
    assert torch.equal(fast, plain)  # same operations in the same order
    w = torch.rand(fast.shape, generator=torch.Generator().manual_seed(1), dtype=dtype)
    gf = torch.autograd.grad(fast, (p1, t1), w)
    gp = torch.autograd.grad(plain, (p2, t2), w)
    rel = 1e-4 if dtype == torch.float32 else 1e-10
    for a, b in zip(gf, gp):
        assert torch.isfinite(a).all()
        # per pair, relative to the pair's largest component (sums in another order)
        scale = b.abs().amax(-1, keepdim=True).clamp_min(torch.finfo(dtype).tiny)
        assert ((a - b).abs() <= rel * scale).all()
        # exact zeros stay exact (stationary points, flushed ratios)
        assert torch.equal(a[b.abs().amax(-1) == 0], b[b.abs().amax(-1) == 0])


@pytest.mark.parametrize("variant, threshold", VARIANTS)
def test_gradcheck_and_second_derivatives(variant, threshold):
    g = torch.Generator().manual_seed(2)
    xy = torch.rand(6, 2, generator=g, dtype=torch.float64) * 4
    wh = 1 + torch.rand(6, 2, generator=g, dtype=torch.float64)
    p = torch.cat([xy, xy + wh], 1)
    # each target a shifted copy scaled by 0.8 (equal aspect ratios: CIoU's alpha, held
    # constant as in the paper, then multiplies v = 0 and the numerical gradient agrees)
    shift = 0.3 * torch.rand(6, 2, generator=g, dtype=torch.float64)
    t = torch.cat([xy + shift, xy + shift + 0.8 * wh], 1)
    p.requires_grad_()
    t.requires_grad_()

    def f(a, b):
        return _fused.pair_value(a, b, variant, threshold)

    def rows(a, b):
        return _rows.pair_value(a, b, variant, threshold)

    assert gradcheck(f, (p, t))
    assert gradgradcheck(f, (p, t))
    assert gradcheck(rows, (p, t))  # no second derivatives: compiled backwards have none


@pytest.mark.parametrize("variant, threshold", VARIANTS)
def test_rows_form_with_one_input_requiring_grad_and_half_inputs(variant, threshold):
    """Only ``pred`` requires a gradient (the usual case), fp16 boxes: the rows form computes
    in fp32 and returns an fp16 gradient, equal to the block form's."""
    p, t = (x.to(torch.float16) for x in _nasty(torch.float32))
    keep = slice(0, 80)  # fp16 cannot hold the subnormal and huge rows
    p, t = p[keep].reshape(2, 40, 4), t[keep].reshape(2, 40, 4)
    out = []
    for form in (_fused, _rows):
        a = p.clone().requires_grad_()
        value = form.pair_value(a, t, variant, threshold)
        (g,) = torch.autograd.grad(value.sum(), a)
        assert value.shape == (2, 40) and value.dtype == torch.float32
        assert g.dtype == torch.float16 and g.shape == p.shape
        out.append((value, g))
    assert torch.equal(out[0][0], out[1][0])
    torch.testing.assert_close(out[0][1], out[1][1], rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize(
    "fn", [vl.iou_loss, vl.giou_loss, vl.diou_loss, vl.ciou_loss], ids=lambda f: f.__name__
)
def test_losses_take_the_fast_path_with_options(fn):
    """fp16 in (fp32 out, fp16 gradient), leading dims, weight and reduction, target grads,
    a retained graph run twice: the same as the plain path (``cxcywh`` goes that way)."""
    g = torch.Generator().manual_seed(3)
    xy = torch.rand(2, 5, 2, generator=g) * 20
    p = torch.cat([xy, xy + 1 + 5 * torch.rand(2, 5, 2, generator=g)], -1)
    t = p + torch.rand(2, 5, 4, generator=g)
    w = torch.rand(2, 5, generator=g)
    for dtype in (torch.float32, torch.float16):
        a, b = p.to(dtype).requires_grad_(), t.to(dtype).requires_grad_()
        out = fn(a, b, weight=w, reduction="sum")
        assert out.dtype == torch.float32
        g1 = torch.autograd.grad(out, (a, b), retain_graph=True)
        g2 = torch.autograd.grad(out, (a, b))
        assert all(torch.equal(x, y) for x, y in zip(g1, g2))
        assert g1[0].dtype == dtype
        # fp16 boxes are computed in fp32: the same as their fp32 copies
        a32, b32 = a.detach().float().requires_grad_(), b.detach().float().requires_grad_()
        out32 = fn(a32, b32, weight=w, reduction="sum")
        g32 = torch.autograd.grad(out32, (a32, b32))
        assert torch.equal(out, out32)
        for x, y in zip(g1, g32):
            torch.testing.assert_close(x.float(), y.to(dtype).float())
    # the plain path (cxcywh boxes) gives the same loss and gradient
    a, b = p.clone().requires_grad_(), t.clone().requires_grad_()
    out = fn(a, b, weight=w, reduction="sum")
    ga = torch.autograd.grad(out, a)[0]
    c = G.from_corners(*G.corners(p.double(), "xyxy"), "cxcywh").float().requires_grad_()
    d = G.from_corners(*G.corners(t.double(), "xyxy"), "cxcywh").float()
    ref = fn(c, d, box_format="cxcywh", weight=w, reduction="sum")
    gc = torch.autograd.grad(ref, c)[0]
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    # d/d(cx, cy, w, h) from d/d(x1, y1, x2, y2): dcx = dx1 + dx2, dw = (dx2 - dx1) / 2
    expect = torch.cat([ga[..., :2] + ga[..., 2:], 0.5 * (ga[..., 2:] - ga[..., :2])], -1)
    torch.testing.assert_close(gc, expect, rtol=1e-4, atol=1e-5)
    none = fn(p, t, reduction="none")
    assert none.shape == (2, 5)
    empty = torch.zeros(0, 4, requires_grad=True)
    value = fn(empty, torch.zeros(0, 4))
    value.backward()
    assert value == 0 and empty.grad is not None and empty.grad.shape == (0, 4)


def test_unit_factors_from_the_bits_match_frexp():
    for dtype in (torch.float32, torch.float64):
        info = torch.finfo(dtype)
        g = torch.Generator().manual_seed(4)
        lo = -44 if dtype == torch.float32 else -320
        exponents = torch.randint(lo, 38, (2000,), generator=g).to(dtype)
        m = torch.rand(2000, generator=g, dtype=dtype) * 10.0**exponents
        special = [info.tiny, info.tiny / 2, info.tiny * info.eps, info.max, 1.0, 0.25, 3.0]
        m = torch.cat([m, torch.tensor(special, dtype=dtype)])
        m = m[m > 0]
        f1, f2 = _fused._unit_factors(m)  # the frame of both forms
        ref = G.unit_scale(m)
        assert torch.equal(f1, ref.f1.squeeze(-1)) and torch.equal(f2, ref.f2.squeeze(-1))


@pytest.mark.parametrize("variant, threshold", VARIANTS)
def test_blocks_of_pairs_match_one_block(variant, threshold, monkeypatch):
    """The pairs in blocks of 7 (the Jacobian of each block taken in the forward) against one
    block: each pair's value and derivative depend on that pair alone. To an ulp, not bit for
    bit: torch's vectorised kernels take a block's last elements through their scalar tail."""
    p, t = _nasty(torch.float32)
    out = []
    for block in (1 << 15, 7):
        monkeypatch.setattr(_fused, "_BLOCK", block)
        a, b = p.clone().requires_grad_(), t.clone().requires_grad_()
        value = _fused.pair_value(a, b, variant, threshold)
        w = torch.rand(value.shape, generator=torch.Generator().manual_seed(5))
        out.append((value, *torch.autograd.grad(value, (a, b), w)))
    torch.testing.assert_close(out[0][0], out[1][0], rtol=2e-7, atol=0)
    for x, y in zip(out[0][1:], out[1][1:]):
        # per pair, relative to the pair's largest component (CIoU's terms cancel)
        scale = y.abs().amax(-1, keepdim=True)
        assert ((x - y).abs() <= 1e-6 * scale).all()


@pytest.mark.parametrize("variant, threshold", VARIANTS)
def test_the_graph_keeps_a_jacobian_per_box_set(variant, threshold):
    """What the backward keeps beyond the inputs: per pair, the 4-vector of each box set that
    needs a gradient and the frame's two factors (not the forward's intermediates); a zero
    upstream gradient gives exact zeros, also where the raw-unit derivative overflows
    (subnormal boxes)."""
    p, t = _nasty(torch.float32)
    n = p.shape[0]
    for need_t, kept in ((False, 6), (True, 10)):
        a, b = p.clone().requires_grad_(), t.clone().requires_grad_(need_t)
        value = _fused.pair_value(a, b, variant, threshold)
        saved = value.grad_fn.saved_tensors
        assert saved[0] is a and saved[1] is b  # the inputs, for second derivatives
        assert sum(x.numel() for x in saved[2:]) == kept * n
        grads = torch.autograd.grad(value, (a, b) if need_t else (a,), torch.zeros(n))
        assert all(torch.equal(g, torch.zeros_like(g)) for g in grads)


def test_no_jacobian_without_grad_mode(monkeypatch):
    """Under ``no_grad`` (a validation loop) the forward takes no derivatives, though a custom
    Function's ``needs_input_grad`` still says the inputs require them."""
    p, t = _nasty(torch.float32)
    a = p.clone().requires_grad_()
    expected = _fused.pair_value(a, t, "ciou").detach()

    def no_derivatives(*args, **kwargs):
        raise AssertionError("a derivative was taken")

    monkeypatch.setattr(_fused, "_grads", no_derivatives)
    with torch.no_grad():
        assert torch.equal(_fused.pair_value(a, t, "ciou"), expected)
    with pytest.raises(AssertionError, match="derivative"):
        _fused.pair_value(a, t, "ciou")
