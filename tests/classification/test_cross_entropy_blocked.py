"""Cross entropy from class indices on the CPU in blocks (``classification/_blocked_ce.py``):
fp16/bf16 logits, and float32 ones without label smoothing. Each block is upcast on its own;
the backward writes 2 ** (x log2 e + offset) from the forward's log-sum-exp (or, with label
smoothing, each block's softmax again) in the input's dtype. References: torch's cross
entropy of the same values upcast to float32 (the one-piece path it replaces) and in float64,
values and gradients; blocks of a few logits (``_BLOCK`` patched) against one block."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import visionloss as vl
from visionloss.classification import _blocked_ce
from visionloss.errors import InputError


@pytest.fixture(autouse=True)
def _blocked_at_every_size(monkeypatch):
    """These tests run the blocked path on small logits: the size below which torch's
    kernel is taken instead (``_MIN_LOGITS``) is lowered to one logit, except where a test
    sets it back."""
    monkeypatch.setattr(_blocked_ce, "_MIN_LOGITS", 1)


SHAPES = [
    pytest.param((6, 5), id="rows"),  # (N, C): blocks of whole rows
    pytest.param((3, 4, 7, 9), id="images"),  # blocks of whole images or runs of pixels
    pytest.param((2, 3, 5, 4, 6), id="volumes"),
]
OPTIONS = [
    pytest.param({}, id="plain"),
    pytest.param({"ignore_index": -1}, id="ignore"),
    pytest.param({"label_smoothing": 0.2}, id="smoothing"),
    pytest.param({"ignore_index": 255, "label_smoothing": 0.1}, id="ignore-smoothing"),
]


def _data(shape, dtype, options):
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(*shape, generator=g) * 4).to(dtype)
    y = torch.randint(0, shape[1], (shape[0], *shape[2:]), generator=g)
    if "ignore_index" in options:
        y.view(-1)[::3] = options["ignore_index"]
    return x, y


def _loss_and_grad(fn, x, y, reduction, options):
    xi = x.clone().requires_grad_(True)
    loss = fn(xi, y, reduction=reduction, **options)
    (grad,) = torch.autograd.grad(loss, xi)
    return loss, grad


def _float32_reference(x, y, reduction, label_smoothing=0.0, ignore_index=-100):
    return F.cross_entropy(
        x.float(),
        y,
        reduction=reduction,
        label_smoothing=label_smoothing,
        ignore_index=ignore_index,
    )


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
# (_BLOCK, _LARGEST): runs of a few logits, pairs of images (an image: 252 logits), one block
@pytest.mark.parametrize("block", [(7, 7), (600, 1 << 18), (1 << 18, 1 << 18)])
def test_equals_torch_in_float32(monkeypatch, dtype, shape, options, reduction, block):
    monkeypatch.setattr(_blocked_ce, "_BLOCK", block[0])
    monkeypatch.setattr(_blocked_ce, "_LARGEST", block[1])
    x, y = _data(shape, dtype, options)
    smoothing = options.get("label_smoothing", 0.0)
    blocked = _blocked_ce.blocked_cross_entropy_applies(x, None, smoothing)
    assert blocked == (dtype != torch.float32 or (smoothing == 0 and len(shape) > 2))
    loss, grad = _loss_and_grad(vl.cross_entropy_loss, x, y, reduction, options)
    ref, ref_grad = _loss_and_grad(_float32_reference, x, y, reduction, options)
    assert loss.dtype == torch.float32 and grad.dtype == dtype
    torch.testing.assert_close(loss, ref, rtol=2e-6, atol=1e-6)
    if dtype == torch.float32:  # exp2 of x log2 e + offset against exp(log_softmax): the
        # exponents' roundings, a few ulp(|x| log2 e) relative (float64: the test below)
        torch.testing.assert_close(grad, ref_grad, rtol=2e-5, atol=1e-7)
        return
    # the gradient is rounded to the input's dtype once, from float32 values that agree to
    # a float32 ulp (softmax - q against torch's exp(log_softmax) - q): equal, or one ulp
    torch.testing.assert_close(
        grad.float(), ref_grad.float(), rtol=torch.finfo(dtype).eps, atol=1e-7
    )


def test_all_ignored_is_zero_with_a_zero_gradient():
    x = torch.randn(2, 3, 4, 4).bfloat16()
    y = torch.full((2, 4, 4), -1)
    loss, grad = _loss_and_grad(vl.cross_entropy_loss, x, y, "mean", {"ignore_index": -1})
    assert loss.item() == 0.0 and torch.isfinite(loss)
    assert (grad == 0).all()


def test_saturated_logits_stay_finite():
    x = torch.tensor([[300.0, -300.0, 0.0], [-1e4, 1e4, 5.0]]).bfloat16()
    y = torch.tensor([1, 0])
    loss, grad = _loss_and_grad(vl.cross_entropy_loss, x, y, "sum", {})
    ref, ref_grad = _loss_and_grad(_float32_reference, x, y, "sum", {})
    assert torch.isfinite(loss) and torch.isfinite(grad).all()
    torch.testing.assert_close(loss, ref)
    torch.testing.assert_close(grad.float(), ref_grad.float())


@pytest.mark.parametrize("bad", [4, -2])
def test_a_bad_label_is_our_error(bad):
    x = torch.randn(2, 4, 3, 5).bfloat16()
    y = torch.randint(0, 4, (2, 3, 5))
    y[1, 2, 3] = bad
    with pytest.raises(InputError, match=r"cross_entropy_loss: expected target class"):
        vl.cross_entropy_loss(x, y)


def test_other_cases_keep_torchs_path():
    """Class weights, float32 logits with label smoothing and non-contiguous logits take
    torch's kernel."""
    x = torch.randn(2, 3, 4, 4).bfloat16()
    assert _blocked_ce.blocked_cross_entropy_applies(x, None, 0.1)
    assert _blocked_ce.blocked_cross_entropy_applies(x.float(), None, 0.0)  # dense
    assert not _blocked_ce.blocked_cross_entropy_applies(x, torch.ones(3), 0.0)
    assert not _blocked_ce.blocked_cross_entropy_applies(x.float(), None, 0.1)
    assert not _blocked_ce.blocked_cross_entropy_applies(x.transpose(2, 3), None, 0.0)
    assert not _blocked_ce.blocked_cross_entropy_applies(x[:0], None, 0.0)


def test_small_logits_and_float32_rows_keep_torchs_path(monkeypatch):
    """Below ``_MIN_LOGITS`` torch's kernel is faster (its float32 intermediates stay in the
    caches; the Function has a fixed cost), and so it is for float32 ``(N, C)`` logits at
    any size (contiguous rows): those take it, values and gradients unchanged; as many
    logits as the threshold take the blocked path."""
    monkeypatch.setattr(_blocked_ce, "_MIN_LOGITS", 600)
    for dtype in (torch.float32, torch.bfloat16):
        x = torch.randn(2, 3, 10, 10).to(dtype)  # 600 logits
        assert _blocked_ce.blocked_cross_entropy_applies(x, None, 0.0)
        assert not _blocked_ce.blocked_cross_entropy_applies(x[:1], None, 0.0)
    assert _blocked_ce.blocked_cross_entropy_applies(torch.randn(20, 30).bfloat16(), None, 0)
    assert not _blocked_ce.blocked_cross_entropy_applies(torch.randn(20, 30), None, 0.0)
    monkeypatch.undo()
    for x, y in [
        (torch.randn(256, 1000), torch.randint(0, 1000, (256,))),
        (torch.randn(2, 19, 32, 32), torch.randint(0, 19, (2, 32, 32))),
    ]:
        assert not _blocked_ce.blocked_cross_entropy_applies(x, None, 0.0)
        loss, grad = _loss_and_grad(vl.cross_entropy_loss, x, y, "mean", {})
        ref, ref_grad = _loss_and_grad(_float32_reference, x, y, "mean", {})
        torch.testing.assert_close(loss, ref)
        torch.testing.assert_close(grad, ref_grad)


def test_second_derivative_is_the_float32_graphs():
    """Under create_graph=True the backward differentiates torch's float32 cross entropy."""
    x, y = _data((3, 4, 5, 5), torch.bfloat16, {})
    v = torch.randn(x.shape).bfloat16()

    def hvp(fn):
        xi = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(fn(xi, y, reduction="sum"), xi, create_graph=True)
        (h,) = torch.autograd.grad((g.float() * v.float()).sum(), xi)
        return g, h

    g, h = hvp(vl.cross_entropy_loss)
    g_ref, h_ref = hvp(_float32_reference)
    torch.testing.assert_close(g, g_ref)
    torch.testing.assert_close(h, h_ref)


def test_torchs_bf16_kernel_rounds_the_loss_where_ours_does_not():
    """The module docstring's comparison: torch's bf16 cross entropy rounds each
    log-probability and the loss itself to bf16 (about 1e-2 off a loss near 3.4 here); ours,
    on the same bf16 logits, is the float64 value of those logits to float32 accuracy."""
    x, y = _data((4, 19, 16, 32), torch.bfloat16, {})
    ref = F.cross_entropy(x.double(), y)
    ours = vl.cross_entropy_loss(x, y)
    peer = F.cross_entropy(x, y)
    assert peer.dtype == torch.bfloat16 and ours.dtype == torch.float32
    assert abs(peer.double() - ref).item() > 1e-3
    assert abs(ours.double() - ref).item() < 1e-5


def _float64_grad(x, y, reduction, scale, ignore_index=None):
    xd = x.double().requires_grad_(True)
    loss = F.cross_entropy(
        xd, y, reduction=reduction, ignore_index=-100 if ignore_index is None else ignore_index
    )
    (grad,) = torch.autograd.grad(loss, xd, grad_outputs=torch.tensor(scale, dtype=xd.dtype))
    return grad


def _ulp(exact, dtype):
    """The unit in the last place of ``exact`` rounded to ``dtype`` (subnormals included)."""
    rounded = exact.to(dtype).abs()
    return (torch.nextafter(rounded, rounded.new_tensor(float("inf"))) - rounded).double()


def _units_off(grad, exact):
    """How many units in the last place each entry of ``grad`` is from ``exact`` rounded to
    ``grad``'s dtype (0: correctly rounded)."""
    rounded = exact.to(grad.dtype)
    return (grad.double() - rounded.double()).abs() / _ulp(exact, grad.dtype)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("spread", [1.0, 8.0, 60.0])
@pytest.mark.parametrize("scale", [1.0, -3.7, 4096.0, 1e-3])
@pytest.mark.parametrize("ignore_index", [None, 255])
def test_backward_is_the_float64_gradient_rounded_once(dtype, spread, scale, ignore_index):
    """Without label smoothing the backward writes 2 ** (x log2 e + offset) from the forward's
    log-sum-exp, the incoming gradient (negative, large as a loss scaler's, small) folded into
    the exponent. Away from the target each entry is the float64 gradient correctly rounded
    to the input's dtype, or one unit in the last place from it where the exponent's float32
    roundings reach a rounding boundary (a handful of entries).

    At the target, g expm1(log p_y) carries the float32 log-softmax's own error, about
    ulp(lse) absolute on log p_y: torch's float32 cross entropy has the same (it is 244 bf16
    units off where p_y is within 1e-5 of 1 at spread 60; so is ours, equally)."""
    g = torch.Generator().manual_seed(3)
    x = (torch.randn(3, 19, 8, 16, generator=g) * spread).to(dtype)
    y = torch.randint(0, 19, (3, 8, 16), generator=g)
    if ignore_index is not None:
        y.view(-1)[::5] = ignore_index
    options = {} if ignore_index is None else {"ignore_index": ignore_index}
    at_target = torch.zeros(x.shape, dtype=torch.bool)
    at_target.scatter_(1, (y * (y != 255)).unsqueeze(1), True)
    lse = torch.logsumexp(x.float(), 1, keepdim=True).expand(x.shape)
    for reduction in ("mean", "sum"):
        xi = x.clone().requires_grad_(True)
        loss = vl.cross_entropy_loss(xi, y, reduction=reduction, **options)
        (grad,) = torch.autograd.grad(loss, xi, grad_outputs=torch.tensor(scale))
        exact = _float64_grad(x, y, reduction, scale, ignore_index)
        off = _units_off(grad, exact)
        assert off[~at_target].max().item() <= 1.0
        assert (off > 0).float().mean().item() < 0.01
        # the target: log p_y's float32 error (a few ulp(lse)) times |d loss / d log p_y|
        g_i = abs(scale) / ((y != 255).sum().item() if reduction == "mean" else 1)
        per = g_i * 4 * torch.finfo(torch.float32).eps * lse.abs().clamp_min(1)
        assert ((grad.double() - exact).abs() <= per + _ulp(exact, dtype))[at_target].all()
        # ... and no further off there than torch's float32 cross entropy rounded once
        xt = x.float().requires_grad_(True)
        peer_loss = F.cross_entropy(xt, y, reduction=reduction, ignore_index=ignore_index or -100)
        (peer,) = torch.autograd.grad(peer_loss, xt, grad_outputs=torch.tensor(scale))
        peer_off = (peer.to(dtype).double() - exact).abs()
        assert ((grad.double() - exact).abs() <= peer_off + _ulp(exact, dtype))[at_target].all()
        if ignore_index is not None:
            assert (grad.movedim(1, -1)[y == ignore_index] == 0).all()


@pytest.mark.parametrize("spread", [1.0, 8.0, 60.0])
@pytest.mark.parametrize("scale", [1.0, -3.7])
def test_float32_backward_against_float64(spread, scale):
    """float32 logits: the exponent x log2 e + offset (one fused multiply-add) carries the
    roundings of the offset and of log2 e, about ulp(|x| + |lse|) relative on each entry.
    Measured at spread 60 (logits to +-250): 2.0e-5 at most, 3e-6 median, against torch's
    float32 kernel 6.4e-6 and 5e-8 (its log p = (x - max) - log(sum) keeps the large parts
    apart); at spread 1 and 8 both are 0.8e-6 and 3.7e-6 at most."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(3, 19, 8, 16, generator=g) * spread
    y = torch.randint(0, 19, (3, 8, 16), generator=g)
    xi = x.clone().requires_grad_(True)
    loss = vl.cross_entropy_loss(xi, y, reduction="sum")
    (grad,) = torch.autograd.grad(loss, xi, grad_outputs=torch.tensor(scale))
    exact = _float64_grad(x, y, "sum", scale)
    lse = torch.logsumexp(x, 1, keepdim=True)
    size = (x.abs() + lse.abs() + 1).double()
    bound = 8 * torch.finfo(torch.float32).eps * size * exact.abs() + 1e-30
    at_target = torch.zeros(x.shape, dtype=torch.bool).scatter_(1, y.unsqueeze(1), True)
    off = (grad.double() - exact).abs()
    assert (off <= bound)[~at_target].all()
    # the target: g expm1(log p_y), log p_y torch's float32 log-softmax
    assert (off <= 4 * torch.finfo(torch.float32).eps * abs(scale) * size)[at_target].all()
    normal = exact.abs() > torch.finfo(torch.float32).tiny  # not underflowing in float32
    relative = (off / exact.abs())[~at_target & normal]
    assert relative.median().item() < 1e-5
    # against torch's float32 kernel on the same logits (the figures above): as accurate at
    # spreads 1 and 8, a few times less at 60, where torch keeps the large parts apart
    xt = x.clone().requires_grad_(True)
    (peer,) = torch.autograd.grad(
        F.cross_entropy(xt, y, reduction="sum"), xt, grad_outputs=torch.tensor(scale)
    )
    peer_relative = ((peer.double() - exact).abs() / exact.abs())[~at_target & normal]
    ratio = relative.max().item() / peer_relative.max().item()
    assert ratio <= (4.0 if spread > 8 else 1.5)


def test_zero_incoming_gradient_gives_zeros():
    x, y = _data((2, 5, 4, 4), torch.bfloat16, {})
    xi = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(vl.cross_entropy_loss(xi, y), xi, torch.tensor(0.0))
    assert (grad == 0).all()


def test_class_zero_far_below_takes_the_log_sum_exp_again():
    """lse = x_0 - log p_0 would carry the rounding of a huge log p_0 (ulp(1e6) = 0.06: p off
    by 6%, 15 bf16 units): past _FAR the block's logsumexp is taken again, and the gradient
    stays the float64 one rounded."""
    x = torch.randn(2, 4, 6, 6) * 3
    x[:, 0] = -1e6
    x[0, 1, 0, 0] = 1e4  # a location far from zero as well
    x = x.bfloat16()
    y = torch.randint(1, 4, (2, 6, 6))
    assert (torch.log_softmax(x.float(), 1)[:, 0] < -_blocked_ce._FAR).all()
    xi = x.clone().requires_grad_(True)
    loss = vl.cross_entropy_loss(xi, y, reduction="sum")
    (grad,) = torch.autograd.grad(loss, xi)
    ref = F.cross_entropy(x.double(), y, reduction="sum")
    torch.testing.assert_close(loss.double(), ref, rtol=1e-6, atol=0)
    assert _units_off(grad, _float64_grad(x, y, "sum", 1.0)).max().item() <= 1.0


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_compiled_log_sum_exp_form_equals_eager(dtype, options, reduction):
    """Under torch.compile the cross entropy is lse - x_y (smoothed: lse - (1 - eps) x_y - eps
    mean_c x_c), the form whose backward compiles to one pass; traced in one graph (dynamo +
    AOT autograd, no inductor: the formula is what is tested), equal to eager in value and
    gradient, ignored locations and smoothing included."""
    torch._dynamo.reset()
    x, y = _data((3, 4, 5, 6), dtype, options)
    compiled = torch.compile(vl.cross_entropy_loss, backend="aot_eager", fullgraph=True)
    loss, grad = _loss_and_grad(compiled, x, y, reduction, options)
    ref, ref_grad = _loss_and_grad(_float32_reference, x, y, reduction, options)
    torch.testing.assert_close(loss, ref, rtol=2e-6, atol=1e-6)
    # float32: p - 1 at the target cancels to a few ulp(1) either way
    tolerance = {"rtol": 2e-5, "atol": 1e-6} if dtype == torch.float32 else {}
    torch.testing.assert_close(grad.float(), ref_grad.float(), **tolerance)
