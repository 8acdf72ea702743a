"""WGAN-GP gradient penalty (Gulrajani et al.)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from .._core.checks import check_positive, check_same_shape, check_tensor, shape_str
from .._core.module import LossModule
from .._core.reduction import check_reduction, reduce_loss
from .._core.registry import register_loss
from ._penalty import input_gradients, tie_to_outputs

__all__ = ["gradient_penalty", "GradientPenalty"]

_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


def _warn_batch_norm(critic: Any, fn: str) -> None:
    if isinstance(critic, nn.Module) and any(
        isinstance(m, _BATCH_NORMS) and m.training for m in critic.modules()
    ):
        warnings.warn(
            f"{fn}: the critic has BatchNorm layers in training mode; batch statistics couple "
            f"the samples, so the penalty is no longer a per-sample gradient norm (Gulrajani et "
            f"al. use layer normalization or none in the critic)",
            UserWarning,
            stacklevel=3,
        )


def _safe_norm(sq: Tensor) -> Tensor:
    """``sqrt(sq)`` with a finite (zero) gradient where ``sq == 0`` (double-where). NaN and inf
    pass through, so an overflow under a GradScaler is still seen and the step skipped."""
    zero = sq == 0
    return torch.where(zero, 0.0, torch.sqrt(torch.where(zero, torch.ones_like(sq), sq)))


def gradient_penalty(
    critic: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    *,
    lambda_: float = 10.0,
    reduction: str = "mean",
    scaler: Any | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""WGAN-GP gradient penalty on random interpolates of real and generated samples.

    .. math::
        \ell_b = \lambda \big(\lVert \nabla_{\hat x} D(\hat x_b) \rVert_2 - 1\big)^2,
        \qquad \hat x_b = \epsilon_b x_b + (1 - \epsilon_b) \tilde x_b,
        \quad \epsilon_b \sim U[0, 1]

    One interpolation factor per sample, drawn as ``torch.rand(B, dtype=real.dtype)`` on
    ``real.device``, or, with a ``generator``, on the generator's device (a generator draws only
    on its own device) and then moved to ``real.device``; the norm is taken over all of a
    sample's dimensions. The gradient is computed with ``create_graph=True`` so the penalty
    trains the critic; ``real`` and ``fake`` are detached. Numerics and scale:

    * the norm has a finite (zero) gradient where the input gradient is exactly zero;
    * under autocast pass the ``torch.amp.GradScaler`` you step with as ``scaler``: the input
      gradient is then taken on the scaled output and unscaled, outside autocast, as PyTorch's
      AMP notes prescribe for gradient penalties;
    * under DistributedDataParallel call it with the DDP-wrapped critic: the returned value
      carries a zero-valued term on the critic's output, so its backward reaches every
      parameter and DDP all-reduces all gradients (``autograd.grad`` alone does not trigger
      DDP's hooks, and the last bias gets no second-order gradient);
    * a critic with BatchNorm in training mode triggers a warning: batch statistics couple the
      samples and the per-sample penalty loses its meaning.

    Args:
        critic: the critic ``D``, called once on the interpolates ``(B, *)``; it must return one
            output per sample (``(B,)``, ``(B, 1)`` or patch outputs ``(B, ...)``, summed).
        real: real samples ``(B, *)``.
        fake: generated samples of the same shape.
        lambda_: the penalty weight, ``>= 0`` (default 10, as the paper).
        reduction: ``"mean"`` over samples (the paper's expectation), ``"sum"`` or ``"none"``.
        scaler: the ``torch.amp.GradScaler`` in use, if any.
        generator: a ``torch.Generator`` for the interpolation factors, on any device: a CPU
            generator with CUDA samples works (and gives the same factors as on the CPU) at the
            cost of one small host-to-device copy; one on ``real.device`` avoids the copy.

    Shape:
        output: scalar, or ``(B,)`` for ``"none"``.

    Returns:
        the penalty, float32 (float64 for float64 inputs).

    Reference:
        Gulrajani et al., *Improved Training of Wasserstein GANs*, NeurIPS 2017,
        arXiv:1704.00028, Alg. 1.

    Example:
        >>> import torch
        >>> critic = torch.nn.Linear(3, 1)
        >>> with torch.no_grad():
        ...     _ = critic.weight.copy_(torch.tensor([[2.0, 0.0, 0.0]]))
        >>> real, fake = torch.randn(4, 3), torch.randn(4, 3)
        >>> gradient_penalty(critic, real, fake)  # ||w|| = 2: 10 * (2 - 1)^2
        tensor(10., grad_fn=<...>)
    """
    fn = "gradient_penalty"
    check_reduction(reduction, fn)
    check_positive(lambda_, "lambda_", fn, allow_zero=True)
    if not callable(critic):
        raise TypeError(
            f"{fn}: expected critic to be a callable module, got {type(critic).__name__}"
        )
    check_tensor(real, "real", fn, floating=True, min_ndim=1)
    check_tensor(fake, "fake", fn, floating=True, min_ndim=1)
    check_same_shape(real, fake, fn, names=("real", "fake"))
    _warn_batch_norm(critic, fn)
    batch = real.shape[0]
    if generator is None:
        alpha = torch.rand(batch, dtype=real.dtype, device=real.device)
    else:  # a generator draws on its own device only
        alpha = torch.rand(batch, generator=generator, dtype=real.dtype, device=generator.device)
        alpha = alpha.to(real.device)
    alpha = alpha.view(batch, *([1] * (real.dim() - 1)))
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    out = critic(mixed)
    if not isinstance(out, Tensor) or out.dim() == 0 or out.shape[0] != batch:
        got = shape_str(out) if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(
            f"{fn}: expected the critic to return one output per sample, "
            f"shape ({batch}, ...), got {got}"
        )
    grad = input_gradients(out, mixed, scaler, fn)
    norm = _safe_norm(grad.square().sum(1))
    per_sample = tie_to_outputs(lambda_ * (norm - 1.0).square(), out)
    return reduce_loss(per_sample, reduction, fn=fn)


class GradientPenalty(LossModule):
    """Module form of :func:`gradient_penalty`: ``penalty(critic, real, fake)`` (``scaler``
    and ``generator`` may be passed per call)."""

    function = gradient_penalty

    def __init__(self, *, lambda_: float = 10.0, reduction: str = "mean") -> None:
        check_positive(lambda_, "lambda_", "GradientPenalty", allow_zero=True)
        super().__init__(lambda_=lambda_, reduction=reduction)


register_loss(
    "gradient_penalty",
    family="adversarial",
    function=gradient_penalty,
    module=GradientPenalty,
    aliases=("wgan_gp",),
    formula="lambda (||grad_x D(x_hat)||_2 - 1)^2, x_hat = e x + (1 - e) G(z)",
    reference="Gulrajani et al., Improved Training of WGANs, NeurIPS 2017, arXiv:1704.00028",
)
