"""The softmax helpers of ``_core/softmax.py``: ``exp_of_log`` (``exp2(log_p log2 e)`` for
float32 on a CPU) and ``class_softmax`` (the log-softmax's ``exp_of_log`` from 64 classes on)
against float64, their bounds (relative ``|log p| 2^-24`` more than ``exp``; within 2e-6 of
float64 at 150 classes), and the cases that keep torch's own kernels bit for bit."""

from __future__ import annotations

import pytest
import torch

from visionloss._core import softmax as S


def _logits(c: int, n: int = 300, dtype=torch.float32, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (6 * torch.randn(2, c, n, generator=g, dtype=torch.float64)).to(dtype)


@pytest.mark.parametrize("inplace", [False, True])
def test_exp_of_log_against_float64(inplace):
    lp = torch.log_softmax(_logits(40), 1)
    ref = lp.double().exp()
    before = lp.clone()
    got = S.exp_of_log(lp, inplace=inplace)
    assert (got.data_ptr() == lp.data_ptr()) == inplace
    if not inplace:
        assert torch.equal(lp, before)
    # the float32 exp of the same log-probabilities is within 1 ulp; the rounding of
    # log p log2 e (and of log2 e in float32) adds about |log p| 2^-24 (a subnormal result:
    # its own spacing, 2^-149)
    bound = 2**-23 * (1 + before.double().abs()) * ref + 2**-149
    assert ((got.double() - ref).abs() <= bound).all()


def test_exp_of_log_keeps_exp_elsewhere():
    lp = torch.log_softmax(_logits(5, dtype=torch.float64), 1)
    assert torch.equal(S.exp_of_log(lp), lp.exp())


def _errors(p: torch.Tensor, x: torch.Tensor) -> tuple[float, float, float]:
    """Against float64: the largest absolute error, the largest relative error on
    probabilities of at least 1e-3, and on all."""
    ref = torch.softmax(x.double(), 1)
    err = (p.double() - ref).abs()
    rel = err / ref
    return err.max().item(), rel[ref >= 1e-3].max().item(), rel.max().item()


@pytest.mark.parametrize(
    "c, dtype", [(64, torch.float32), (150, torch.float32), (100, torch.bfloat16)]
)
def test_class_softmax_from_many_classes(c, dtype):
    """Measured (logits of spread 6): absolute errors as torch's float32 softmax's (5e-7 to
    1.1e-6); relative 1.5e-6 at most on p >= 1e-3 (torch 1.2e-6), 5.6e-6 on the smallest
    (torch 2.7e-6): the log-softmax's absolute error of about an ulp of ``|x - max|``."""
    x = _logits(c, dtype=dtype)
    p = S.class_softmax(x, torch.float32)
    assert p.dtype == torch.float32
    assert not torch.equal(p, torch.softmax(x, 1, dtype=torch.float32))  # the exp2 form
    ours, theirs = _errors(p, x), _errors(torch.softmax(x, 1, dtype=torch.float32), x)
    assert ours[0] <= 1.5 * theirs[0]
    assert ours[1] <= 2e-6 and ours[2] <= 8e-6
    torch.testing.assert_close(p.sum(1), torch.ones(2, 300), rtol=0, atol=5e-6)


@pytest.mark.parametrize("c, dtype", [(19, torch.float32), (150, torch.float64)])
def test_class_softmax_keeps_torch_below_the_threshold_and_for_float64(c, dtype):
    x = _logits(c, dtype=dtype)
    assert torch.equal(S.class_softmax(x, dtype), torch.softmax(x, 1, dtype=dtype))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_class_softmax_of_two_classes(dtype):
    """Two classes: the sigmoid of the difference, as accurate as torch's softmax (3.2e-7
    relative against 3.8e-7 measured), both columns."""
    x = _logits(2, n=2000, dtype=dtype)
    p = S.class_softmax(x, torch.float32)
    ref = torch.softmax(x.double(), 1)
    theirs = torch.softmax(x, 1, dtype=torch.float32).double()
    ours_rel = ((p.double() - ref).abs() / ref).max()
    assert ours_rel <= 1.5 * ((theirs - ref).abs() / ref).max() + 2**-24
    assert p.dtype == torch.float32 and p.shape == x.shape
    torch.testing.assert_close(p.sum(1), torch.ones(2, 2000), rtol=0, atol=2e-7)


@pytest.mark.parametrize("c", [2, 19, 150])
def test_under_autograd_the_helpers_record_torch_ops(c):
    """With a graph to record (grad mode, an input that requires a gradient) both helpers are
    torch's own ops, so second derivatives can go through them."""
    x = _logits(c).requires_grad_()
    p = S.class_softmax(x, torch.float32)
    assert torch.equal(p, torch.softmax(x, 1)) and p.grad_fn is not None
    lp = torch.log_softmax(x, 1)
    e = S.exp_of_log(lp, inplace=True)
    assert torch.equal(e, lp.exp()) and e.data_ptr() != lp.data_ptr()
    (g,) = torch.autograd.grad((p * e).sum(), x)
    assert torch.isfinite(g).all()
    with torch.no_grad():  # no graph: the fast forms
        assert (c == 19) == torch.equal(S.class_softmax(x, torch.float32), torch.softmax(x, 1))
