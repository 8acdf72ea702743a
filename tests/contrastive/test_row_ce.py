"""The two-view NT-Xent core (``contrastive/_row_ce.py``): the rows' cross entropy with the
logits kept for an in-place softmax in the backward, against autograd's cross entropy of the
same logits, in float64 (values, gradients of anchors and keys, the same tensor as both, a
retained graph run twice, second derivatives, a temperature with a gradient, the row blocks of
the forward's log-sum-exp)."""

from __future__ import annotations

import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck

from visionloss.contrastive import _row_ce


def _inputs(n: int = 12, k: int = 12, d: int = 5, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    a = torch.nn.functional.normalize(torch.randn(n, d, generator=g, dtype=torch.float64), dim=1)
    keys = torch.nn.functional.normalize(torch.randn(k, d, generator=g, dtype=torch.float64), dim=1)
    self_rows = torch.arange(n) % k
    pos = (self_rows + 1) % k
    return a, keys, self_rows, pos


@pytest.mark.parametrize("same", [False, True], ids=["anchors-keys", "one-tensor"])
@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_matches_autograd_cross_entropy(same, temperature):
    a, keys, self_rows, pos = _inputs()
    if same:
        keys = a
    w = torch.rand(a.shape[0], generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    out = []
    for fn in (_row_ce.row_cross_entropy, _row_ce.plain_row_cross_entropy):
        x = a.clone().requires_grad_()
        y = x if same else keys.clone().requires_grad_()
        loss = fn(x, y, temperature, self_rows, pos)
        grads = torch.autograd.grad(loss, (x,) if same else (x, y), w)
        out.append((loss, *grads))
    for got, want in zip(*out):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_one_input_with_a_gradient_and_a_retained_graph():
    """Only the keys need a gradient; a retained graph's second backward forms the logits
    again (the first turned them into the softmax) and gives the same gradient."""
    a, keys, self_rows, pos = _inputs(8, 10)
    y = keys.clone().requires_grad_()
    loss = _row_ce.row_cross_entropy(a, y, 0.2, self_rows, pos).sum()
    g1 = torch.autograd.grad(loss, y, retain_graph=True)[0]
    g2 = torch.autograd.grad(loss, y)[0]
    assert torch.equal(g1, g2)
    ref = _row_ce.plain_row_cross_entropy(a, y, 0.2, self_rows, pos).sum()
    torch.testing.assert_close(g1, torch.autograd.grad(ref, y)[0], rtol=1e-12, atol=1e-12)


def test_gradcheck_and_second_derivatives():
    a, keys, self_rows, pos = _inputs(5, 6, 3)
    a.requires_grad_()
    keys.requires_grad_()

    def f(x, y):
        return _row_ce.row_cross_entropy(x, y, 0.3, self_rows, pos)

    assert gradcheck(f, (a, keys))
    assert gradgradcheck(f, (a, keys))


def test_a_temperature_with_a_gradient_takes_autograd():
    a, keys, self_rows, pos = _inputs()
    t = torch.tensor(0.2, dtype=torch.float64, requires_grad=True)
    loss = _row_ce.row_cross_entropy(a, keys, t, self_rows, pos).sum()
    (gt,) = torch.autograd.grad(loss, t)
    ref = _row_ce.plain_row_cross_entropy(a, keys, t, self_rows, pos).sum()
    torch.testing.assert_close(gt, torch.autograd.grad(ref, t)[0])
    assert gt != 0


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_row_blocks(monkeypatch, dtype):
    """Blocks of 3 rows (a partial last block) against the whole matrix: values and gradients
    (the forward's log-softmax and the backward's in-place softmax go block by block; bf16
    blocks are upcast one at a time, with the CPU's float32 block size)."""
    a, keys, self_rows, pos = _inputs(13, 7)
    a, keys = a.to(dtype), keys.to(dtype)
    w = torch.rand(13, generator=torch.Generator().manual_seed(2), dtype=torch.float64)

    def run() -> tuple[torch.Tensor, ...]:
        x, y = a.clone().requires_grad_(), keys.clone().requires_grad_()
        loss = _row_ce.row_cross_entropy(x, y, 0.1, self_rows, pos)
        return (loss.detach(), *torch.autograd.grad(loss, (x, y), w))

    whole = run()
    monkeypatch.setattr(_row_ce, "_BLOCK", 3 * 7)
    assert len(list(_row_ce._row_blocks(torch.empty(13, 7, dtype=dtype)))) == 5
    blocked = run()
    for got, want in zip(blocked, whole):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("same", [False, True], ids=["anchors-keys", "one-tensor"])
@pytest.mark.parametrize("upstream", ["mean", "sum", "zero"])
def test_one_upstream_number_folds_into_the_products(monkeypatch, same, upstream):
    """A mean or sum of the rows gives every row the same upstream gradient: the backward
    takes ``g / t`` as the products' ``alpha`` (float64: the same gradients as autograd's);
    a zero upstream gradient keeps the general path."""
    a, keys, self_rows, pos = _inputs()
    if same:
        keys = a
    taken: list[float | None] = []
    common = _row_ce._common_scale
    monkeypatch.setattr(
        _row_ce, "_common_scale", lambda g, t: taken.append(common(g, t)) or taken[-1]
    )
    out = []
    for fn in (_row_ce.row_cross_entropy, _row_ce.plain_row_cross_entropy):
        x = a.clone().requires_grad_()
        y = x if same else keys.clone().requires_grad_()
        loss = fn(x, y, 0.2, self_rows, pos)
        total = {"mean": loss.mean(), "sum": loss.sum(), "zero": loss.sum() * 0}[upstream]
        out.append(torch.autograd.grad(total, (x,) if same else (x, y)))
    want_scale = {"mean": 1 / 12 / 0.2, "sum": 1 / 0.2, "zero": None}[upstream]
    assert taken == [pytest.approx(want_scale) if want_scale else None]
    for got, want in zip(*out):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_one_upstream_number_in_bf16_is_rounded_once():
    """bf16 operands: with the scale as the products' alpha each gradient entry is rounded
    once; it is at least as near the float64 gradient as the general path's (the product
    rounded to bf16, then scaled and rounded again), here by the median relative error."""
    a, keys, self_rows, pos = _inputs(64, 64, 16)
    x64 = a.clone().requires_grad_()
    y64 = keys.clone().requires_grad_()
    ref = torch.autograd.grad(
        _row_ce.plain_row_cross_entropy(x64, y64, 0.1, self_rows, pos).mean(), (x64, y64)
    )
    errors = []
    for weights in (
        None,
        torch.full((64,), 1 / 64, dtype=torch.float64) * (1 + 1e-6 * torch.arange(64)),
    ):
        x = a.bfloat16().requires_grad_()
        y = keys.bfloat16().requires_grad_()
        loss = _row_ce.row_cross_entropy(x, y, 0.1, self_rows, pos)
        total = loss.mean() if weights is None else (loss * weights.float()).sum()
        grads = torch.autograd.grad(total, (x, y))
        errors.append(
            [
                ((g.double() - r).abs() / r.abs().clamp_min(1e-3)).median()
                for g, r in zip(grads, ref)
            ]
        )
    (alpha_a, alpha_k), (general_a, general_k) = errors
    assert alpha_a <= general_a * 1.05 and alpha_k <= general_k * 1.05
    assert max(alpha_a, alpha_k) < 8e-3  # bf16: 2^-8 is one unit at 1
