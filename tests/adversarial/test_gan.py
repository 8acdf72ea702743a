"""discriminator_loss and generator_loss: every kind against its formula written by hand with
BCE / MSE, hand values, the saturating generator's vanishing gradient, stability at logits of
+-1e4 in every dtype, CPU autocast, reductions, gradcheck, Modules, and bad inputs."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import visionloss as vl
from tests.conftest import HALF_DTYPES, assert_close_dtype
from tests.helpers import assert_finite_graph, gradcheck, grads

KINDS = ["minimax", "nonsaturating", "lsgan", "wgan", "hinge"]


def _logits(n=6, seed=0, dtype=torch.float64, scale=2.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, generator=g, dtype=dtype) * scale


def bce(x, target):
    return F.binary_cross_entropy_with_logits(x, torch.full_like(x, target))


# kind: (discriminator by hand, generator by hand); lsgan with Mao et al.'s a=-1, b=1, c=0
BY_HAND = {
    "minimax": (lambda r, f: bce(r, 1.0) + bce(f, 0.0), lambda f: -bce(f, 0.0)),
    "nonsaturating": (lambda r, f: bce(r, 1.0) + bce(f, 0.0), lambda f: bce(f, 1.0)),
    "lsgan": (
        lambda r, f: (
            0.5 * F.mse_loss(r, torch.ones_like(r)) + 0.5 * F.mse_loss(f, -torch.ones_like(f))
        ),
        lambda f: 0.5 * F.mse_loss(f, torch.zeros_like(f)),
    ),
    "wgan": (lambda r, f: f.mean() - r.mean(), lambda f: -f.mean()),
    "hinge": (lambda r, f: F.relu(1 - r).mean() + F.relu(1 + f).mean(), lambda f: -f.mean()),
}


def _codes(kind, side):
    if kind != "lsgan":
        return {}
    return {"a": -1.0, "b": 1.0} if side == "d" else {"c": 0.0}


@pytest.mark.parametrize("kind", KINDS)
def test_discriminator_matches_the_formula_by_hand(kind):
    r, f = _logits(6), _logits(4, seed=1)  # batches of different sizes
    value, (gr, gf) = grads(vl.discriminator_loss, r, f, kind=kind, **_codes(kind, "d"))
    expected, (er, ef) = grads(BY_HAND[kind][0], r, f)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(gr, er)
    torch.testing.assert_close(gf, ef)


@pytest.mark.parametrize("kind", KINDS)
def test_generator_matches_the_formula_by_hand(kind):
    f = _logits(5, seed=2)
    value, (g,) = grads(vl.generator_loss, f, kind=kind, **_codes(kind, "g"))
    expected, (e,) = grads(BY_HAND[kind][1], f)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(g, e)


@pytest.mark.parametrize(
    "kind, opts, real, fake, d_value, g_value",
    [
        # D outputs 1/2 on both: -log(1/2) - log(1/2); G: log(1 - 1/2) / -log(1/2)
        pytest.param("minimax", {}, 0.0, 0.0, 2 * math.log(2), -math.log(2), id="minimax"),
        pytest.param("nonsaturating", {}, 0.0, 0.0, 2 * math.log(2), math.log(2), id="ns"),
        # 0-1 coding: 0.5 (0.5 - 1)^2 + 0.5 (0.5 - 0)^2 ; G 0.5 (0.5 - 1)^2
        pytest.param("lsgan", {}, 0.5, 0.5, 0.25, 0.125, id="lsgan"),
        pytest.param("wgan", {}, 3.0, 1.0, -2.0, -1.0, id="wgan"),
        # margins: real 0.5 -> 0.5, fake -0.25 -> 0.75
        pytest.param("hinge", {}, 0.5, -0.25, 1.25, 0.25, id="hinge"),
    ],
)
def test_hand_values(kind, opts, real, fake, d_value, g_value):
    r, f = torch.tensor([real]), torch.tensor([fake])
    torch.testing.assert_close(vl.discriminator_loss(r, f, kind=kind), torch.tensor(d_value))
    torch.testing.assert_close(vl.generator_loss(f, kind=kind), torch.tensor(g_value))


def test_saturating_generator_gradient_vanishes_when_d_rejects_the_samples():
    """Goodfellow et al. Sec. 3: early on D(G(z)) -> 0 and log(1 - D(G(z))) saturates."""
    f = torch.tensor([-10.0, -20.0], requires_grad=True)  # D(G(z)) = 4.5e-5, 2.1e-9
    (g_minimax,) = torch.autograd.grad(vl.generator_loss(f, kind="minimax", reduction="sum"), f)
    (g_ns,) = torch.autograd.grad(vl.generator_loss(f, kind="nonsaturating", reduction="sum"), f)
    torch.testing.assert_close(g_minimax, -torch.sigmoid(f.detach()))
    assert g_minimax.abs().max() < 1e-4
    assert (g_ns.abs() > 0.9999).all()  # sigmoid(f) - 1: a full-size signal


@pytest.mark.parametrize(
    "dtype", [torch.float32, *[p.values[0] for p in HALF_DTYPES]], ids=["fp32", "fp16", "bf16"]
)
@pytest.mark.parametrize("kind", KINDS)
def test_extreme_logits_are_finite_in_every_dtype(kind, dtype):
    r = torch.tensor([-1e4, 1e4, 0.0], dtype=dtype, requires_grad=True)
    f = torch.tensor([1e4, -1e4, 0.0], dtype=dtype, requires_grad=True)
    d = vl.discriminator_loss(r, f, kind=kind)
    g = vl.generator_loss(f, kind=kind)
    assert d.dtype == torch.float32 and g.dtype == torch.float32
    assert_finite_graph(d, r, f)
    assert_finite_graph(g, f)
    if kind in ("minimax", "nonsaturating"):  # exact for any logit: log sigmoid(-v) = -v
        v = float(torch.tensor(1e4, dtype=dtype))  # 1e4 as the dtype rounds it (bf16: 9984)
        torch.testing.assert_close(d, torch.tensor((2 * v + 2 * math.log(2)) / 3))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_half_inputs_computed_in_fp32(kind, dtype):
    r, f = _logits(8, dtype=torch.float32), _logits(8, seed=1, dtype=torch.float32)
    codes = _codes(kind, "d")
    out = vl.discriminator_loss(r.to(dtype), f.to(dtype), kind=kind, **codes)
    assert_close_dtype(
        out,
        vl.discriminator_loss(r.to(dtype).float(), f.to(dtype).float(), kind=kind, **codes),
        dtype,
    )


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_cpu_autocast(kind, dtype):
    """A discriminator run under autocast returns half-precision logits; both losses, computed
    in the same autocast region, return float32 close to the fp32 run, with a finite graph."""
    torch.manual_seed(0)
    disc = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    real = torch.randn(8, 4)
    fake = torch.randn(8, 4, requires_grad=True)  # stands for the generator's output
    d_codes, g_codes = _codes(kind, "d"), _codes(kind, "g")
    d_ref = vl.discriminator_loss(disc(real), disc(fake), kind=kind, **d_codes)
    g_ref = vl.generator_loss(disc(fake), kind=kind, **g_codes)
    with torch.autocast("cpu", dtype=dtype):
        r, f = disc(real), disc(fake)
        assert r.dtype == f.dtype == dtype
        d = vl.discriminator_loss(r, f, kind=kind, **d_codes)
        g = vl.generator_loss(disc(fake), kind=kind, **g_codes)  # its own graph
    assert d.dtype == g.dtype == torch.float32
    assert_finite_graph(d, fake, *disc.parameters())
    assert_finite_graph(g, fake, *disc.parameters())
    assert_close_dtype(d, d_ref, dtype)
    assert_close_dtype(g, g_ref, dtype)


@pytest.mark.parametrize("kind", KINDS)
def test_reductions(kind):
    r, f = _logits(6), _logits(6, seed=1)
    d_none = vl.discriminator_loss(r, f, kind=kind, reduction="none")
    assert d_none.shape == (6, 1)
    torch.testing.assert_close(vl.discriminator_loss(r, f, kind=kind), d_none.mean())
    torch.testing.assert_close(
        vl.discriminator_loss(r, f, kind=kind, reduction="sum"), d_none.sum()
    )
    g_none = vl.generator_loss(f, kind=kind, reduction="none")
    assert g_none.shape == (6, 1)
    torch.testing.assert_close(vl.generator_loss(f, kind=kind, reduction="sum"), g_none.sum())
    patch = _logits(2 * 9, seed=3).view(2, 1, 3, 3)  # PatchGAN outputs
    assert vl.generator_loss(patch, kind=kind, reduction="none").shape == (2, 1, 3, 3)


@pytest.mark.parametrize("kind", KINDS)
def test_gradcheck(kind):
    r, f = _logits(3), _logits(3, seed=1)
    r = r + 0.05  # away from hinge kinks at +-1
    gradcheck(vl.discriminator_loss, r, f, kind=kind)
    gradcheck(vl.generator_loss, f, kind=kind)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_modules_equal_functions(kind, reduction):
    r, f = _logits(4), _logits(4, seed=1)
    d = vl.DiscriminatorLoss(kind=kind, reduction=reduction, **_codes(kind, "d"))
    g = vl.GeneratorLoss(kind=kind, reduction=reduction, **_codes(kind, "g"))
    torch.testing.assert_close(
        d(r, f), vl.discriminator_loss(r, f, kind=kind, reduction=reduction, **_codes(kind, "d"))
    )
    torch.testing.assert_close(
        g(f), vl.generator_loss(f, kind=kind, reduction=reduction, **_codes(kind, "g"))
    )
    assert isinstance(vl.build_loss("gan_discriminator", kind=kind), vl.DiscriminatorLoss)
    assert isinstance(vl.build_loss("generator", kind=kind), vl.GeneratorLoss)


@pytest.mark.parametrize("kind", KINDS)
def test_empty_batches_are_zero_with_graph(kind):
    r = torch.zeros(0, requires_grad=True)
    f = torch.zeros(0, requires_grad=True)
    d = vl.discriminator_loss(r, f, kind=kind)
    assert d.item() == 0.0
    assert_finite_graph(d, r, f)
    assert vl.generator_loss(f, kind=kind).item() == 0.0


@pytest.mark.parametrize(
    "call, error, match",
    [
        pytest.param(
            lambda: vl.discriminator_loss(torch.zeros(2), torch.zeros(2), kind="ls"),
            ValueError,
            "discriminator_loss: expected kind to be one of 'minimax', "
            "'nonsaturating', 'lsgan', 'wgan', 'hinge', 'rasgan', 'ralsgan', 'rahinge', "
            "got 'ls'",
            id="kind",
        ),
        pytest.param(
            lambda: vl.discriminator_loss(torch.zeros(2), torch.zeros(3), reduction="none"),
            ValueError,
            r"discriminator_loss: expected fake_logits of shape \(2,\) matching "
            r"real_logits, got \(3,\)",
            id="none-needs-equal-shapes",
        ),
        pytest.param(
            lambda: vl.discriminator_loss(torch.zeros(2), torch.zeros(2), a=-1.0),
            ValueError,
            "discriminator_loss: a apply to kind='lsgan' only",
            id="codes-outside-lsgan",
        ),
        pytest.param(
            lambda: vl.generator_loss(torch.zeros(2), kind="hinge", c=0.0),
            ValueError,
            "generator_loss: c apply to kind='lsgan' only",
            id="c",
        ),
        pytest.param(
            lambda: vl.generator_loss(torch.zeros(2, dtype=torch.long)),
            TypeError,
            "generator_loss: expected fake_logits to be a floating-point",
            id="int",
        ),
        pytest.param(
            lambda: vl.generator_loss(torch.zeros(2), reduction="avg"),
            ValueError,
            "generator_loss: expected reduction",
            id="reduction",
        ),
        pytest.param(
            lambda: vl.DiscriminatorLoss(kind="wgan", b=2.0),
            ValueError,
            "DiscriminatorLoss: b apply to kind='lsgan' only",
            id="module-codes",
        ),
        pytest.param(
            lambda: vl.GeneratorLoss(kind="gan"),
            ValueError,
            "GeneratorLoss: expected kind",
            id="module-kind",
        ),
    ],
)
def test_bad_inputs(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_clip_weights_clamps_every_parameter_in_place():
    torch.manual_seed(0)
    critic = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    with torch.no_grad():
        for p in critic.parameters():
            p.mul_(100)
    before = [p.detach().clone() for p in critic.parameters()]
    assert vl.clip_weights_(critic, c=0.05) is critic
    for p, b in zip(critic.parameters(), before):
        torch.testing.assert_close(p.detach(), b.clamp(-0.05, 0.05))
        assert p.requires_grad
    with pytest.raises(ValueError, match="clip_weights_: expected c > 0"):
        vl.clip_weights_(critic, c=0.0)
    with pytest.raises(TypeError, match="clip_weights_: expected an nn.Module"):
        vl.clip_weights_([torch.zeros(2)])
