"""gradient_penalty (WGAN-GP) and r1_penalty: a float64 per-sample reference with autograd run
twice, hand values, the zero-gradient case, the BatchNorm warning, autocast with a GradScaler
(CPU), and DistributedDataParallel with 2 processes (gloo)."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
import torch.distributed as dist

import visionloss as vl
from tests.distributed._harness import gloo_only, passed, spawn
from tests.reference import adversarial as ref


def _critic(d_in=4, hidden=8, seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(d_in, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 1)
    ).to(dtype)


def _samples(n=5, d=4, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=dtype), torch.randn(n, d, generator=g, dtype=dtype)


def _alpha(n, seed, dtype=torch.float64):
    """The interpolation factors gradient_penalty draws from a generator seeded with ``seed``."""
    return torch.rand(n, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _param_grads(value, module):
    """Gradients of ``value`` for every parameter (zeros for those it does not reach: the
    penalty does not depend on the last bias)."""
    params = list(module.parameters())
    g = torch.autograd.grad(value, params, allow_unused=True)
    return [torch.zeros_like(p) if gi is None else gi for p, gi in zip(params, g)]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gradient_penalty_matches_the_float64_reference(reduction):
    critic = _critic()
    real, fake = _samples()
    out = vl.gradient_penalty(
        critic,
        real,
        fake,
        lambda_=7.0,
        reduction=reduction,
        generator=torch.Generator().manual_seed(3),
    )
    per_sample = ref.gradient_penalty(critic, real, fake, _alpha(5, 3), lambda_=7.0)
    expected = {"mean": per_sample.mean(), "sum": per_sample.sum(), "none": per_sample}[reduction]
    torch.testing.assert_close(out, expected)
    # the penalty trains the critic: its parameter gradients (autograd a second time) agree
    for g, e in zip(_param_grads(out.sum(), critic), _param_grads(expected.sum(), critic)):
        torch.testing.assert_close(g, e)


def test_gradient_penalty_draws_from_the_generator_on_its_device():
    """With a generator the factors come from its stream (drawn on its device, then moved to
    the samples'): the same seed gives the same penalty, another seed another one."""
    critic = _critic()
    real, fake = _samples()

    def gp(seed):
        gen = torch.Generator(device=real.device).manual_seed(seed)
        return vl.gradient_penalty(critic, real, fake, reduction="none", generator=gen)

    torch.testing.assert_close(gp(3), gp(3))
    assert not torch.allclose(gp(3), gp(4))


@pytest.mark.gpu
def test_gradient_penalty_generator_on_the_other_device():
    """A CPU generator with CUDA samples (and a CUDA generator with CPU samples) works: the
    factors are drawn on the generator's device and moved to the samples'."""
    critic = _critic()
    real, fake = _samples()
    cpu_gen = torch.Generator().manual_seed(3)
    cuda_critic = copy.deepcopy(critic).cuda()
    out = vl.gradient_penalty(
        cuda_critic, real.cuda(), fake.cuda(), reduction="none", generator=cpu_gen
    )
    assert out.device.type == "cuda"
    expected = ref.gradient_penalty(critic, real, fake, _alpha(5, 3), lambda_=10.0)
    torch.testing.assert_close(out.cpu(), expected)
    cuda_gen = torch.Generator(device="cuda").manual_seed(3)
    out = vl.gradient_penalty(critic, real, fake, reduction="none", generator=cuda_gen)
    assert out.device.type == "cpu"
    alpha = torch.rand(
        5, generator=torch.Generator(device="cuda").manual_seed(3), dtype=real.dtype, device="cuda"
    ).cpu()
    torch.testing.assert_close(out, ref.gradient_penalty(critic, real, fake, alpha, 10.0))


def test_gradient_penalty_on_images_and_patch_outputs():
    torch.manual_seed(0)
    critic = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.Tanh(), torch.nn.Conv2d(4, 1, 3)
    ).double()  # (B, 1, 2, 2) patches
    g = torch.Generator().manual_seed(1)
    real = torch.randn(3, 3, 6, 6, generator=g, dtype=torch.float64)
    fake = torch.randn(3, 3, 6, 6, generator=g, dtype=torch.float64)
    out = vl.gradient_penalty(
        critic, real, fake, reduction="none", generator=torch.Generator().manual_seed(5)
    )
    torch.testing.assert_close(out, ref.gradient_penalty(critic, real, fake, _alpha(3, 5), 10.0))


def test_gradient_penalty_hand_values():
    critic = torch.nn.Linear(2, 1, bias=False)
    real, fake = torch.randn(4, 2), torch.randn(4, 2)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[0.6, 0.8]]))  # 1-Lipschitz: no penalty
    torch.testing.assert_close(vl.gradient_penalty(critic, real, fake).detach(), torch.tensor(0.0))
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[3.0, 4.0]]))  # norm 5: 10 * 4^2
    torch.testing.assert_close(
        vl.gradient_penalty(critic, real, fake).detach(), torch.tensor(160.0)
    )


def test_zero_input_gradient_gives_finite_parameter_gradients():
    critic = torch.nn.Linear(3, 1)
    with torch.no_grad():
        critic.weight.zero_()
    real, fake = torch.randn(4, 3), torch.randn(4, 3)
    out = vl.gradient_penalty(critic, real, fake)
    torch.testing.assert_close(out.detach(), torch.tensor(10.0))  # 10 (0 - 1)^2
    for g in _param_grads(out, critic):
        assert torch.isfinite(g).all()
    # the naive norm has no gradient there
    x = torch.randn(4, 3, requires_grad=True)
    (gx,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    naive = (gx.square().sum(1).sqrt() - 1).square().mean()
    assert not torch.isfinite(_param_grads(naive, critic)[0]).all()


def test_empty_batch_is_zero_with_graph():
    critic = _critic(dtype=torch.float32)
    real, fake = torch.zeros(0, 4), torch.zeros(0, 4)
    gp = vl.gradient_penalty(critic, real, fake)
    x = real.clone().requires_grad_(True)
    r1 = vl.r1_penalty(critic(x), x)
    for value in (gp, r1):
        assert value.item() == 0.0 and value.requires_grad
        assert all(torch.isfinite(g).all() for g in _param_grads(value, critic))


def test_gradient_penalty_detaches_real_and_fake():
    critic = _critic(dtype=torch.float32)
    real, fake = (t.requires_grad_(True) for t in _samples(dtype=torch.float32))
    vl.gradient_penalty(critic, real, fake).backward()
    assert real.grad is None and fake.grad is None
    assert all(p.grad is not None for p in critic.parameters())


def test_batch_norm_critic_warns_in_training_mode_only():
    critic = torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 1)
    )
    real, fake = _samples(dtype=torch.float32)
    with pytest.warns(UserWarning, match="gradient_penalty: the critic has BatchNorm"):
        vl.gradient_penalty(critic, real, fake)
    critic.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        vl.gradient_penalty(critic, real, fake)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_r1_matches_the_float64_reference(reduction):
    critic = _critic()
    real = _samples()[0].requires_grad_(True)
    out = vl.r1_penalty(critic(real), real, gamma=3.0, reduction=reduction)
    per_sample = ref.r1_penalty(critic, real, gamma=3.0)
    expected = {"mean": per_sample.mean(), "sum": per_sample.sum(), "none": per_sample}[reduction]
    torch.testing.assert_close(out, expected)
    for g, e in zip(_param_grads(out.sum(), critic), _param_grads(expected.sum(), critic)):
        torch.testing.assert_close(g, e)


def test_r1_hand_value_and_reuse_of_the_logits():
    x = torch.tensor([[1.0, 2.0], [0.0, 0.0]], requires_grad=True)
    logits = (x * torch.tensor([3.0, 4.0])).sum(1)  # gradient (3, 4) for every sample
    torch.testing.assert_close(
        vl.r1_penalty(logits, x, gamma=2.0, reduction="none").detach(), torch.tensor([25.0, 25.0])
    )
    # the same logits also feed the discriminator loss in one backward
    total = vl.discriminator_loss(logits, -logits) + vl.r1_penalty(logits, x)
    total.backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize(
    "penalty",
    [
        pytest.param(
            lambda c, r, f, **kw: vl.gradient_penalty(
                c, r, f, generator=torch.Generator().manual_seed(0), **kw
            ),
            id="gradient_penalty",
        ),
        pytest.param(
            lambda c, r, f, **kw: vl.r1_penalty(c(r.requires_grad_(True)), r, **kw), id="r1"
        ),
    ],
)
def test_gradcheck_with_respect_to_the_critic(penalty):
    real, fake = _samples(3, 2)
    w0 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)

    def value(w):
        return penalty(lambda x: torch.tanh(x @ w).sum(1), real.clone(), fake)

    assert torch.autograd.gradcheck(value, (w0,))


@pytest.mark.parametrize("scale", [2.0**8, 2.0**16])
def test_scaler_leaves_the_value_unchanged_in_fp32(scale):
    critic = _critic(dtype=torch.float32)
    real, fake = _samples(dtype=torch.float32)
    scaler = torch.amp.GradScaler("cpu", init_scale=scale)
    kw = {"generator": torch.Generator().manual_seed(0)}
    with_scaler = vl.gradient_penalty(critic, real, fake, scaler=scaler, **kw)
    kw = {"generator": torch.Generator().manual_seed(0)}
    torch.testing.assert_close(with_scaler, vl.gradient_penalty(critic, real, fake, **kw))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["fp16", "bf16"])
def test_under_cpu_autocast_with_a_scaler(dtype):
    critic = _critic(dtype=torch.float32)
    real, fake = _samples(16, dtype=torch.float32)
    kw = {"generator": torch.Generator().manual_seed(0)}
    expected = vl.gradient_penalty(critic, real, fake, **kw)
    with torch.autocast("cpu", dtype=dtype):
        kw = {"generator": torch.Generator().manual_seed(0)}
        out = vl.gradient_penalty(critic, real, fake, scaler=torch.amp.GradScaler("cpu"), **kw)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, expected, rtol=0.05, atol=1e-2)


def test_scaler_keeps_small_fp16_gradients_from_flushing_to_zero():
    """AMP's reason for scaling: with weights of 2^-14 the input gradient is 2^-26 per entry,
    below fp16's smallest subnormal (2^-24). Unscaled, the fp16 backward returns 0 and the R1
    penalty vanishes; with the GradScaler it matches fp32."""
    critic = torch.nn.Sequential(
        torch.nn.Linear(4, 4, bias=False), torch.nn.Linear(4, 1, bias=False)
    )
    with torch.no_grad():
        for p in critic.parameters():
            p.fill_(2.0**-14)
    x = torch.rand(8, 4)

    def r1(amp, scaler=None):
        real = x.clone().requires_grad_(True)
        with torch.autocast("cpu", dtype=torch.float16, enabled=amp):
            return vl.r1_penalty(critic(real), real, gamma=2.0, scaler=scaler)

    exact = r1(False)
    assert exact > 0
    assert r1(True) == 0
    torch.testing.assert_close(r1(True, torch.amp.GradScaler("cpu")), exact, rtol=1e-2, atol=0)


def test_an_overflowing_scale_makes_the_scaler_skip_the_step():
    critic = _critic(dtype=torch.float32)
    opt = torch.optim.SGD(critic.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**40)
    real, fake = _samples(dtype=torch.float32)
    before = [p.detach().clone() for p in critic.parameters()]
    with torch.autocast("cpu", dtype=torch.float16):
        loss = vl.gradient_penalty(critic, real, fake, scaler=scaler)
    assert not torch.isfinite(loss)
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()
    assert scaler.get_scale() < 2.0**40
    for p, b in zip(critic.parameters(), before):
        torch.testing.assert_close(p.detach(), b)


@pytest.mark.parametrize(
    "call, error, match",
    [
        pytest.param(
            lambda: vl.gradient_penalty(_critic(), *_samples(), lambda_=-1.0),
            ValueError,
            "gradient_penalty: expected lambda_ >= 0",
            id="lambda",
        ),
        pytest.param(
            lambda: vl.gradient_penalty(_critic(), _samples()[0], _samples(3)[1]),
            ValueError,
            r"gradient_penalty: expected fake of shape \(5, 4\) matching "
            r"real, got \(3, 4\)",
            id="shape",
        ),
        pytest.param(
            lambda: vl.gradient_penalty(lambda x: x.sum(), *_samples()),
            ValueError,
            r"expected the critic to return one output per sample, shape \(5, \.\.\.\)",
            id="scalar-critic",
        ),
        pytest.param(
            lambda: vl.gradient_penalty(lambda x: torch.ones(5, 1), *_samples()),
            ValueError,
            "the discriminator output does not depend on its input",
            id="constant-critic",
        ),
        pytest.param(
            lambda: vl.gradient_penalty("critic", *_samples()),
            TypeError,
            "expected critic to be a callable",
            id="not-callable",
        ),
        pytest.param(
            lambda: vl.r1_penalty(torch.zeros(5, requires_grad=True), _samples()[0]),
            ValueError,
            r"r1_penalty: expected real to require grad: call "
            r"real.requires_grad_\(True\)",
            id="r1-no-grad",
        ),
        pytest.param(
            lambda: vl.r1_penalty(torch.zeros(3, 1), _samples()[0].requires_grad_(True)),
            ValueError,
            r"r1_penalty: expected real_logits with one output per sample",
            id="r1-batch",
        ),
        pytest.param(
            lambda: vl.r1_penalty(torch.zeros(5, 1), _samples()[0].requires_grad_(True)),
            ValueError,
            "r1_penalty: real_logits are not attached to a graph",
            id="r1-detached",
        ),
        pytest.param(
            lambda: vl.r1_penalty(torch.zeros(5), torch.zeros(5), gamma=-2.0),
            ValueError,
            "r1_penalty: expected gamma >= 0",
            id="gamma",
        ),
    ],
)
def test_bad_inputs(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_modules_equal_functions():
    critic = _critic()
    real, fake = _samples()
    gp = vl.GradientPenalty(lambda_=5.0, reduction="none")
    kw = {"generator": torch.Generator().manual_seed(1)}
    torch.testing.assert_close(
        gp(critic, real, fake, **kw),
        vl.gradient_penalty(
            critic,
            real,
            fake,
            lambda_=5.0,
            reduction="none",
            generator=torch.Generator().manual_seed(1),
        ),
    )
    x = real.clone().requires_grad_(True)
    torch.testing.assert_close(
        vl.R1Penalty(gamma=4.0)(critic(x), x), vl.r1_penalty(critic(x), x, gamma=4.0)
    )
    assert isinstance(vl.build_loss("wgan_gp"), vl.GradientPenalty)
    assert isinstance(vl.build_loss("r1", gamma=1.0), vl.R1Penalty)


# --- DistributedDataParallel ------------------------------------------------------------------

WORLD, B, STEPS = 2, 4, 2


def _rank_data(rank):
    real, fake = _samples(B, seed=10 + rank)
    return real, fake, 100 + rank  # the rank's samples and the seed of its alphas


def _penalty(kind, critic, real, fake, seed):
    if kind == "gradient_penalty":
        return vl.gradient_penalty(
            critic, real, fake, generator=torch.Generator().manual_seed(seed)
        )
    x = real.clone().requires_grad_(True)
    return vl.r1_penalty(critic(x), x)


def _single_process(kind, base):
    """STEPS of SGD on the penalty alone over the global batch (mean over both ranks)."""
    critic = copy.deepcopy(base)
    opt = torch.optim.SGD(critic.parameters(), lr=0.05)
    for _ in range(STEPS):
        opt.zero_grad()
        total = sum(_penalty(kind, critic, *_rank_data(r)) for r in range(WORLD)) / WORLD
        total.backward()
        opt.step()
    return [p.detach() for p in critic.parameters()]


def _ddp_checks(rank, world):
    for kind in ("gradient_penalty", "r1"):
        base = _critic(hidden=6, seed=3)
        ddp = torch.nn.parallel.DistributedDataParallel(copy.deepcopy(base))
        opt = torch.optim.SGD(ddp.parameters(), lr=0.05)
        for _ in range(STEPS):  # the penalty alone, as in lazy regularisation
            opt.zero_grad()
            _penalty(kind, ddp, *_rank_data(rank)).backward()
            opt.step()
        expected = _single_process(kind, base)
        for i, (p, q) in enumerate(zip(ddp.module.parameters(), expected)):
            yield f"{kind}/param{i}", p.detach(), q
    dist.barrier()


@pytest.mark.distributed
@gloo_only
def test_penalties_under_ddp_equal_single_process_training(tmp_path):
    """Each of 2 processes holds half of a batch and trains a DDP critic on the penalty alone;
    the parameters must equal single-process training on the whole batch. The last layer's
    bias gets no gradient from the penalty itself: without the zero-valued tie to the critic's
    output its hook never fires and DDP would not all-reduce that bucket."""
    reports = spawn(_ddp_checks, tmp_path, worlds=(WORLD,), timeout=240)
    for result in passed(reports, worlds=(WORLD,)):
        assert len(result["checks"]) == 2 * 4, result["checks"]
