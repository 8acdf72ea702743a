"""The gradient penalties under CPU autocast: the critic (the user's network) runs in the
autocast dtype, as the user set it up (``keep_autocast=True``), the input gradient is taken
outside autocast, and the penalty is returned in fp32, close to the fp32 penalty within the
tolerance table (with and without a GradScaler)."""

from __future__ import annotations

import pytest
import torch

import visionloss as vl
from tests.conftest import HALF_DTYPES, assert_close_dtype


class RecordingCritic(torch.nn.Module):
    """An MLP critic (fp32 weights) that records the dtype of its output."""

    def __init__(self, d_in: int = 6, hidden: int = 16) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(d_in, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 1)
        )
        with torch.no_grad():
            for p in self.net.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
        self.dtype: torch.dtype | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        self.dtype = out.dtype
        return out


def _samples(n: int = 16, d: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)


def _critic_grads(value: torch.Tensor, critic: torch.nn.Module) -> list[torch.Tensor]:
    params = list(critic.parameters())
    grads = torch.autograd.grad(value, params, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]


@pytest.mark.parametrize("dtype", HALF_DTYPES)
@pytest.mark.parametrize("with_scaler", [False, True], ids=["no-scaler", "scaler"])
def test_gradient_penalty_keeps_the_users_autocast(dtype, with_scaler):
    critic = RecordingCritic()
    real, fake = _samples()
    expected = vl.gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(0))
    assert critic.dtype == torch.float32
    scaler = torch.amp.GradScaler("cpu") if with_scaler else None
    with torch.autocast("cpu", dtype=dtype):
        value = vl.gradient_penalty(
            critic, real, fake, scaler=scaler, generator=torch.Generator().manual_seed(0)
        )
    assert critic.dtype == dtype  # the critic ran under the user's autocast
    assert value.dtype == torch.float32
    assert_close_dtype(value.detach(), expected.detach(), dtype)
    assert all(torch.isfinite(g).all() for g in _critic_grads(value, critic))


@pytest.mark.parametrize("dtype", HALF_DTYPES)
@pytest.mark.parametrize("with_scaler", [False, True], ids=["no-scaler", "scaler"])
def test_r1_keeps_the_users_autocast(dtype, with_scaler):
    critic = RecordingCritic()
    real = _samples()[0].requires_grad_(True)
    expected = vl.r1_penalty(critic(real), real, gamma=10.0)
    scaler = torch.amp.GradScaler("cpu") if with_scaler else None
    with torch.autocast("cpu", dtype=dtype):
        logits = critic(real)
        assert logits.dtype == dtype
        value = vl.r1_penalty(logits, real, gamma=10.0, scaler=scaler)
    assert value.dtype == torch.float32
    assert_close_dtype(value.detach(), expected.detach(), dtype)
    assert all(torch.isfinite(g).all() for g in _critic_grads(value, critic))
