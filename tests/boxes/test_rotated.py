"""Oriented-box losses (probiou, kld, gwd) against ultralytics' probiou and float64
transcriptions of mmrotate's matrix code (tests/reference/detection.py); their invariances
(hypothesis); degenerate boxes; box_to_gaussian and regularize_rotated_boxes."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import visionloss as vl
from tests.reference import detection as ref
from visionloss.errors import InputError, OptionError

LOSSES = {"probiou": vl.probiou_loss, "kld": vl.kld_loss, "gwd": vl.gwd_loss}


def _pairs(seed=0, n=16, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    c = torch.rand(n, 2, generator=g, dtype=dtype) * 10
    wh = 0.5 + 4 * torch.rand(n, 2, generator=g, dtype=dtype)
    a = (torch.rand(n, 1, generator=g, dtype=dtype) - 0.5) * 2 * math.pi
    pred = torch.cat([c, wh, a], -1)
    target = torch.cat(
        [c + torch.randn(n, 2, generator=g, dtype=dtype),
         wh * (0.6 + 0.8 * torch.rand(n, 2, generator=g, dtype=dtype)),
         a + torch.randn(n, 1, generator=g, dtype=dtype)], -1,
    )  # fmt: skip
    return pred, target


def _compare_grads(ours_fn, ref_fn, pred, target, rtol=1e-7, atol=1e-9):
    p1, t1 = pred.clone().requires_grad_(True), target.clone().requires_grad_(True)
    p2, t2 = pred.clone().requires_grad_(True), target.clone().requires_grad_(True)
    ours, theirs = ours_fn(p1, t1), ref_fn(p2, t2)
    torch.testing.assert_close(ours, theirs, rtol=rtol, atol=atol)
    ours.sum().backward()
    theirs.sum().backward()
    torch.testing.assert_close(p1.grad, p2.grad, rtol=rtol * 10, atol=atol * 10)
    torch.testing.assert_close(t1.grad, t2.grad, rtol=rtol * 10, atol=atol * 10)


@pytest.mark.parametrize(
    "kwargs", [{}, {"fun": "sqrt", "tau": 2.0}, {"fun": "none", "tau": 0.0, "alpha": 2.0},
               {"normalize": False, "fun": "log1p", "tau": 0.0}],
)  # fmt: skip
def test_gwd_matches_mmrotate(kwargs):
    pred, target = _pairs()
    _compare_grads(
        lambda p, t: vl.gwd_loss(p, t, reduction="none", **kwargs),
        lambda p, t: ref.gwd_loss(p, t, **kwargs),
        pred, target,
    )  # fmt: skip


@pytest.mark.parametrize(
    "kwargs", [{}, {"fun": "sqrt", "tau": 2.0}, {"fun": "none", "tau": 0.0, "sqrt": False},
               {"alpha": 2.0}],
)  # fmt: skip
def test_kld_matches_mmrotate(kwargs):
    pred, target = _pairs(seed=1)
    _compare_grads(
        lambda p, t: vl.kld_loss(p, t, reduction="none", **kwargs),
        lambda p, t: ref.kld_loss(p, t, **kwargs),
        pred, target,
    )  # fmt: skip


def test_probiou_matches_reference_and_ultralytics():
    from ultralytics.utils.metrics import probiou

    pred, target = _pairs(seed=2)
    # float64 matrix form of the paper's Bhattacharyya distance: mode "l2" is B_D itself
    _compare_grads(
        lambda p, t: vl.probiou_loss(p, t, mode="l2", reduction="none"),
        lambda p, t: ref.bhattacharyya(p, t),
        pred, target,
    )  # fmt: skip
    # ultralytics: 1 - probiou(obb1=target, obb2=pred), xywhr, with eps = 1e-7 inside the
    # divisions, the log and the square root and B_D clamped to [1e-7, 100]: equal within
    # ~1e-6 for these boxes (B_D from 0.05 up); gradients to the same order
    _compare_grads(
        lambda p, t: vl.probiou_loss(p, t, reduction="none"),
        lambda p, t: 1 - probiou(t, p).squeeze(-1),
        pred, target, rtol=1e-5, atol=1e-6,
    )  # fmt: skip


def test_hand_values():
    p = torch.tensor([[0.0, 0.0, 4.0, 2.0, 0.0]], dtype=torch.float64)
    t = torch.tensor([[1.0, 0.0, 4.0, 2.0, 0.0]], dtype=torch.float64)
    # same shape, offset 1 along w: KL = 0.5 * 1 / (w^2/4) = 1/8, sqrt, log1p, 1 - 1/(1 + .)
    d = math.log1p(math.sqrt(1 / 8))
    torch.testing.assert_close(vl.kld_loss(p, t), torch.tensor(1 - 1 / (1 + d), dtype=p.dtype))
    # GWD: W = 1, normalised by 2 (det Sp det St)^(1/8) = 2 (4 * 2 / 4 ... )
    det = (4.0 * 2.0 / 4.0) ** 2  # det of diag(w^2/4, h^2/4) = (w h / 4)^2
    s = 2 * (det * det) ** 0.125
    g = math.log1p(1 / s)
    torch.testing.assert_close(vl.gwd_loss(p, t), torch.tensor(1 - 1 / (1 + g), dtype=p.dtype))
    # ProbIoU: B_D = 1/8 * 1 / (w^2/12) = 12 / 128
    bd = 12 / 128
    torch.testing.assert_close(
        vl.probiou_loss(p, t), torch.tensor(math.sqrt(1 - math.exp(-bd)), dtype=p.dtype)
    )


_box = st.tuples(
    st.floats(-5, 5), st.floats(-5, 5), st.floats(0.2, 6), st.floats(0.2, 6),
    st.floats(-math.pi, math.pi),
)  # fmt: skip


@settings(max_examples=25, deadline=None)
@given(a=_box, b=_box, k=st.integers(-3, 3), name=st.sampled_from(sorted(LOSSES)))
def test_invariant_to_period_and_quarter_turn(a, b, k, name):
    fn = LOSSES[name]
    p = torch.tensor([a], dtype=torch.float64)
    t = torch.tensor([b], dtype=torch.float64)
    base = fn(p, t, reduction="none")
    turned = p.clone()
    turned[0, 4] += k * math.pi  # period
    torch.testing.assert_close(fn(turned, t, reduction="none"), base, rtol=1e-9, atol=1e-9)
    swapped = p.clone()
    swapped[0, 2], swapped[0, 3] = p[0, 3], p[0, 2]
    swapped[0, 4] += math.pi / 2  # (w, h, theta) -> (h, w, theta + pi/2)
    torch.testing.assert_close(fn(swapped, t, reduction="none"), base, rtol=1e-9, atol=1e-9)
    # in degrees too
    deg = p.clone()
    deg[0, 4] = p[0, 4] * 180 / math.pi
    tdeg = t.clone()
    tdeg[0, 4] = t[0, 4] * 180 / math.pi
    torch.testing.assert_close(
        fn(deg, tdeg, angle_unit="degrees", reduction="none"), base, rtol=1e-9, atol=1e-9
    )


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_degenerate(name):
    fn = LOSSES[name]
    boxes = torch.tensor(
        [[0.0, 0.0, 0.0, 2.0, 0.3],   # zero width
         [1.0, 1.0, 0.0, 0.0, 0.0],   # a point
         [0.0, 0.0, 3.0, 1.0, math.pi / 2],
         [0.0, 0.0, 3.0, 1.0, -math.pi / 2],
         [2.0, 2.0, 1e-30, 1e-30, 1.0]],
    )  # fmt: skip
    targets = torch.tensor(
        [[0.5, 0.0, 1.0, 2.0, 0.0],
         [1.0, 1.0, 0.0, 0.0, 0.0],   # identical points
         [0.0, 0.0, 3.0, 1.0, -math.pi / 2],  # the same box
         [0.0, 0.0, 1.0, 3.0, 0.0],   # the same box again
         [0.0, 0.0, 0.0, 0.0, 0.0]],
    )  # fmt: skip
    for dtype in (torch.float32, torch.float16, torch.float64):
        p = boxes.to(dtype).requires_grad_(True)
        t = targets.to(dtype).requires_grad_(True)
        out = fn(p, t, reduction="none")
        assert out.dtype == (torch.float64 if dtype == torch.float64 else torch.float32)
        gp, gt = torch.autograd.grad(out.sum(), (p, t))
        assert torch.isfinite(out).all() and torch.isfinite(gp).all() and torch.isfinite(gt).all()
        # the same box written twice: 0 up to the rounding of pi/2 (fp16: 1e-3 rad, and the
        # square-root transforms turn an angle error e into about e)
        tol = 5e-3 if dtype == torch.float16 else 1e-5
        same = out.detach()[2:4].abs()
        assert out[1] == 0 and (same < tol).all()
    e = fn(torch.zeros(0, 5, requires_grad=True), torch.zeros(0, 5))
    assert e == 0 and e.requires_grad


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_errors_and_gradcheck(name):
    fn = LOSSES[name]
    with pytest.raises(InputError, match=r"\(\.\.\., 5\)"):
        fn(torch.zeros(2, 4), torch.zeros(2, 4))
    with pytest.raises(InputError, match="matching pred"):
        fn(torch.zeros(2, 5), torch.zeros(3, 5))
    with pytest.raises(OptionError, match="angle_unit"):
        fn(torch.zeros(2, 5), torch.zeros(2, 5), angle_unit="grad")
    pred, target = _pairs(n=3)
    pred.requires_grad_(True)
    target.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda p, t: fn(p, t), (pred, target))


def test_box_to_gaussian_and_regularize():
    pred, _ = _pairs(seed=4)
    mu, sigma = vl.box_to_gaussian(pred)
    mu_ref, sigma_ref = ref.xy_wh_r_2_xy_sigma(pred)
    torch.testing.assert_close(mu, mu_ref)
    torch.testing.assert_close(sigma, sigma_ref)
    _, s12 = vl.box_to_gaussian(pred, variance=1 / 12)
    torch.testing.assert_close(s12, sigma_ref / 3)
    for convention, (lo, hi) in {
        "le90": (-math.pi / 2, math.pi / 2),
        "le135": (-math.pi / 4, 3 * math.pi / 4),
        "oc": (0.0, math.pi / 2),
    }.items():
        r = vl.regularize_rotated_boxes(pred, convention=convention)
        assert (r[:, 4] >= lo - 1e-12).all() and (r[:, 4] < hi + 1e-12).all()
        if convention != "oc":
            assert (r[:, 2] >= r[:, 3]).all()
        torch.testing.assert_close(vl.box_to_gaussian(r)[1], sigma)  # the same box
    deg = pred.clone()
    deg[:, 4] = deg[:, 4] * 180 / math.pi
    r = vl.regularize_rotated_boxes(deg, angle_unit="degrees")
    assert (r[:, 4] >= -90).all() and (r[:, 4] < 90).all()
    with pytest.raises(OptionError, match="convention"):
        vl.regularize_rotated_boxes(pred, convention="le45")
