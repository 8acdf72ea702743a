"""The margin-softmax Function of the heads (``metric/_margin.py``: ArcFace, CosFace,
sub-center ArcFace) against the plain autograd graph of the same logits: values, the gradient
of the cosines (zero where the clamp acts, i.e. rounding took a cosine past 1) and of the
target column, second derivatives, empty batches and half inputs."""

from __future__ import annotations

import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck

import visionloss as vl
from visionloss.metric import _margin as M


def _plain(c, labels, target, scale):
    return M.softmax_head(M._margin_logits(c, labels, target, scale), labels)


def _inputs(dtype=torch.float64, b=12, classes=7):
    g = torch.Generator().manual_seed(0)
    c = (torch.rand(b, classes, generator=g, dtype=dtype) * 2 - 1) * 0.99
    c[0, 1] = 1.0 + 4 * torch.finfo(dtype).eps  # past 1 by rounding: the clamp's zero slope
    c[1, 2] = -1.0 - 4 * torch.finfo(dtype).eps
    c[2, 3] = 1.0  # on the bound: torch's clamp passes no gradient there either
    labels = torch.randint(0, classes, (b,), generator=g)
    labels[0] = 4  # the clamped entries are off the label
    labels[1] = 5
    target = (torch.rand(b, generator=g, dtype=dtype) * 2 - 1) * 0.9
    return c, labels, target


@pytest.mark.parametrize("scale", [1.0, 64.0])
def test_same_values_and_gradients_as_the_plain_graph(scale):
    c, labels, target = _inputs()
    w = torch.rand(c.shape[0], generator=torch.Generator().manual_seed(1), dtype=c.dtype)
    got, want = [], []
    for f, out in (
        (lambda a, t: M._MarginSoftmax.apply(a, labels, t, scale), got),
        (lambda a, t: _plain(a, labels, t, scale), want),
    ):
        a, t = c.clone().requires_grad_(), target.clone().requires_grad_()
        value = f(a, t)
        out.append(value)
        out.extend(torch.autograd.grad(value, (a, t), w))
    torch.testing.assert_close(got[0], want[0], rtol=1e-12, atol=1e-12)
    for x, y in zip(got[1:], want[1:]):
        torch.testing.assert_close(x, y, rtol=1e-10, atol=1e-12)
    assert got[1][0, 1] == 0 and got[1][1, 2] == 0 and got[1][2, 3] == 0  # the clamp
    assert got[1][2, 4] != 0


def test_gradcheck_and_second_derivatives():
    c, labels, target = _inputs(b=5, classes=6)
    c = c.clamp(-0.95, 0.95)  # finite differences need room on both sides of the clamp
    a, t = c.requires_grad_(), target.requires_grad_()

    def f(x, y):
        return M._MarginSoftmax.apply(x, labels, y, 3.0)

    assert gradcheck(f, (a, t))
    assert gradgradcheck(f, (a, t))  # through the plain graph under create_graph


@pytest.mark.parametrize(
    "fn", [vl.arcface_loss, vl.cosface_loss, vl.subcenter_arcface_loss], ids=lambda f: f.__name__
)
def test_heads_take_the_function_with_options(fn, monkeypatch):
    """The heads' values and gradients equal the plain graph of the same loss (the Function
    swapped for it), every reduction, an empty batch, fp16 in."""
    g = torch.Generator().manual_seed(2)
    x = torch.randn(10, 6, generator=g)
    shape = (5, 3, 6) if fn is vl.subcenter_arcface_loss else (5, 6)
    w = torch.randn(shape, generator=g)
    y = torch.randint(0, 5, (10,), generator=g)

    def run(reduction):
        a, b = x.clone().requires_grad_(), w.clone().requires_grad_()
        out = fn(a, y, b, reduction=reduction, scale=16.0)
        return out, torch.autograd.grad(out.sum(), (a, b))

    for reduction in ("mean", "sum", "none"):
        out, grads = run(reduction)
        with monkeypatch.context() as m:
            m.setattr(M._MarginSoftmax, "apply", _plain)
            ref, ref_grads = run(reduction)
        torch.testing.assert_close(out, ref)
        for u, v in zip(grads, ref_grads):
            torch.testing.assert_close(u, v, rtol=1e-5, atol=1e-6)
    empty = torch.zeros(0, 6, requires_grad=True)
    value = fn(empty, torch.zeros(0, dtype=torch.long), w)
    value.backward()
    assert value == 0 and empty.grad is not None and empty.grad.shape == (0, 6)
    half = fn(x.half(), y, w.half())
    assert half.dtype == torch.float32
    torch.testing.assert_close(half, fn(x.half().float(), y, w.half().float()))
