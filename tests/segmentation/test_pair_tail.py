"""The overlap losses' ``(B', K)`` tail in one autograd Function (``_tail._PairTail``).

Against the plain functions it replaces (``pair_losses`` and ``reduce_pairs`` after the score,
the reference and the ``torch.compile`` path): the same value bit for bit (the forward runs the
same operations), gradients equal to rounding, gradcheck of the hand-derived backward in
float64, and the second derivative through the plain graph. Every branch of the backward is
reached: both linear scores, the three empty-mask policies with empty pairs and pairs without
valid pixels, ``gamma``, the three reductions, a squared denominator (``P`` and ``S`` two
tensors), class weights with a zero total, a zero denominator, and a target that requires grad.
"""

from __future__ import annotations

import pytest
import torch

import visionloss as vl
from visionloss._core import numerics
from visionloss.segmentation import _tail
from visionloss.segmentation._tail import Stats, dice_score, reduced_pair_losses, tversky_score

SCORES = {
    "dice": (dice_score, {}),
    "tversky": (tversky_score, {"alpha": 0.3, "beta": 0.7}),
    "tversky-asym": (tversky_score, {"alpha": 0.9, "beta": 0.4}),
}


def _stats(squared: bool, dtype=torch.float64, seed=0, b=3, k=4, zero_denominator=True):
    """Sums with an empty pair (G = 0), a pair without valid pixels (n = 0) and a pair whose
    denominator is 0 (P = G = 0)."""
    g = torch.Generator().manual_seed(seed)
    n = torch.tensor([[20.0], [0.0], [12.0]], dtype=dtype)[:b]
    prob = torch.rand(b, k, generator=g, dtype=dtype) * 5 + 0.5
    target = torch.randint(0, 6, (b, k), generator=g).to(dtype)
    target[0, 1] = 0.0  # empty pair
    target[2, 3] = 0.0
    if zero_denominator:
        prob[2, 3] = 0.0  # 0 / 0
    inter = torch.minimum(prob, target) * torch.rand(b, k, generator=g, dtype=dtype)
    pred = prob * prob / 7 if squared else prob
    return inter, pred, target, prob, n


def _leaves(tensors, squared):
    inter, pred, target, prob, n = (t.clone().requires_grad_(i < 4) for i, t in enumerate(tensors))
    if not squared:
        pred = prob  # one tensor, as the pipeline passes it
    return inter, pred, target, prob, n


def _both(leaves, weight, score, params, **options):
    inter, pred, target, prob, n = leaves
    st = Stats(inter, pred, target, n, prob)
    fast = reduced_pair_losses(st, (0.0, 0.0), weight, score=score, **options, **params)
    spec = _tail._Spec(
        score,
        params,
        (0.0, 0.0),
        options["empty"],
        options.get("gamma", 1.0),
        options["reduction"],
        options["fn"],
    )
    plain = _tail._plain(st, weight, spec)
    return fast, plain


@pytest.mark.parametrize("score", SCORES)
@pytest.mark.parametrize("empty", ["penalize", "include", "exclude"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("gamma", [1.0, 0.75, 2.0])
def test_equals_the_plain_functions(score, empty, reduction, squared, gamma):
    fn, params = SCORES[score]
    leaves = _leaves(_stats(squared), squared)
    weight = torch.tensor([0.5, 2.0, 1.0, 3.0], dtype=torch.float64)
    opts = dict(empty=empty, reduction=reduction, fn="t", gamma=gamma)
    fast, plain = _both(leaves, weight, fn, params, **opts)
    assert fast.grad_fn is not None and "PairTail" in type(fast.grad_fn).__name__
    assert torch.equal(fast, plain)  # the same operations forward
    assert torch.isfinite(fast).all()
    # the target is a differentiable input too (soft targets)
    wrt = [leaves[0], leaves[2], leaves[3]] + ([leaves[1]] if squared else [])
    out = torch.randn(fast.shape, dtype=fast.dtype, generator=torch.Generator().manual_seed(2))
    g_fast = torch.autograd.grad(fast, wrt, out, allow_unused=True)
    g_plain = torch.autograd.grad(plain, wrt, out, allow_unused=True)
    for a, b in zip(g_fast, g_plain):
        if b is None:
            assert a is None or not a.any()
            continue
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("score", SCORES)
@pytest.mark.parametrize("empty", ["penalize", "include", "exclude"])
@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("squared", [False, True])
def test_gradcheck_and_second_derivative(score, empty, reduction, squared):
    fn, params = SCORES[score]
    # away from the kinks: a zero denominator (where the default score takes over) is one
    inter, pred, target, prob, n = _stats(squared, seed=1, zero_denominator=False)
    weight = torch.tensor([1.0, 0.5, 2.0, 1.5], dtype=torch.float64)
    opts = dict(empty=empty, reduction=reduction, fn="t", gamma=1.5, **params)

    def f(inter, pred, prob, target):
        st = Stats(inter, pred if squared else prob, target, n, prob)
        return reduced_pair_losses(st, (0.0, 0.0), weight, score=fn, **opts)

    # the target fixed (G = 0 is a branch of the policy: no derivative across it), then varying
    # where every pair is present
    for g, varies in ((target, False), (target + 1.0, True)):
        args = tuple(t.clone().requires_grad_() for t in (inter, pred, prob))
        args += (g.clone().requires_grad_(varies),)
        assert torch.autograd.gradcheck(f, args)
        assert torch.autograd.gradgradcheck(f, args)


def test_zero_total_weight_and_nothing_counted_give_zero():
    leaves = _leaves(_stats(False), False)
    for weight, empty in [(torch.zeros(4, dtype=torch.float64), "penalize"), (None, "exclude")]:
        inter, pred, target, prob, n = leaves
        if weight is None:  # every pair empty and excluded
            weight = torch.ones(4, dtype=torch.float64)
            target = torch.zeros_like(target)
        st = Stats(inter, pred, target, n, prob)
        out = reduced_pair_losses(
            st, (0.0, 0.0), weight, score=dice_score, empty=empty, reduction="mean", fn="t"
        )
        assert out.item() == 0.0
        (g,) = torch.autograd.grad(out, inter)
        assert torch.equal(g, torch.zeros_like(g))


def test_compiled_and_uncommon_inputs_take_the_plain_functions():
    leaves = _leaves(_stats(False), False)
    inter, pred, target, prob, n = leaves
    weight = torch.ones(4, dtype=torch.float64, requires_grad=True)
    st = Stats(inter, pred, target, n, prob)
    out = reduced_pair_losses(
        st, (0.0, 0.0), weight, score=dice_score, empty="penalize", reduction="mean", fn="t"
    )
    assert "PairTail" not in type(out.grad_fn).__name__
    (g,) = torch.autograd.grad(out, weight)  # the class weights' gradient is kept
    assert torch.isfinite(g).all() and g.abs().sum() > 0


@pytest.mark.parametrize(
    "name", ["dice_loss", "tversky_loss", "jaccard_loss", "focal_tversky_loss"]
)
@pytest.mark.parametrize("per_image", [True, False])
def test_losses_equal_their_compiled_form(name, per_image):
    """The public losses (Function eager, plain functions under torch.compile): equal values
    and gradients, with ignored pixels, class weights and a selection of classes."""
    g = torch.Generator().manual_seed(4)
    x = torch.randn(2, 4, 5, 6, generator=g, dtype=torch.float64)
    y = torch.randint(0, 4, (2, 5, 6), generator=g)
    y[0, :2] = 255
    fn = getattr(vl, name)
    opts = dict(per_image=per_image, ignore_index=255, weight=[1.0, 2.0, 0.5, 1.0], classes=[1, 3])

    def run(f):
        leaf = x.clone().requires_grad_()
        value = f(leaf, y, **opts)
        return value, torch.autograd.grad(value, leaf)[0]

    eager = run(fn)
    torch._dynamo.reset()
    compiled = run(torch.compile(fn, backend="aot_eager", fullgraph=True))
    for a, b in zip(eager, compiled):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("empty", ["penalize", "exclude"])
def test_device_mean_inverse_equals_the_host_one(monkeypatch, empty):
    """Off the CPU the mean's ``1 / D`` stays a tensor (no host sync): the same gradients,
    also where nothing is counted (``D = 0``: zero)."""
    leaves = _leaves(_stats(False), False)
    weight = torch.tensor([0.5, 2.0, 1.0, 3.0], dtype=torch.float64)
    opts = dict(score=dice_score, empty=empty, reduction="mean", fn="t")
    for target in (leaves[2], torch.zeros_like(leaves[2])):  # D > 0, then D = 0 (exclude)
        st = Stats(leaves[0], leaves[1], target, leaves[4], leaves[3])
        host = reduced_pair_losses(st, (0.0, 0.0), weight, **opts)
        g_host = torch.autograd.grad(host, (leaves[0], leaves[3]))
        with monkeypatch.context() as m:
            m.setattr(_tail, "_inverse", lambda total, tiny: numerics.reciprocal(total))
            device = reduced_pair_losses(st, (0.0, 0.0), weight, **opts)
            g_device = torch.autograd.grad(device, (leaves[0], leaves[3]))
        assert torch.equal(host, device)
        for a, b in zip(g_host, g_device):
            torch.testing.assert_close(a, b, rtol=1e-15, atol=0.0)
