"""WGAN-GP gradient penalty (Gulrajani et al.)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Annotated, Any

import torch
from torch import Tensor, nn

from .._core.checks import check_same_shape, check_tensor, shape_str
from .._core.declare import loss_function
from .._core.numerics import norm
from .._core.options import PER_CALL, NonNegative
from .._core.reduction import reduce_loss
from .._core.registry import register_loss
from ..errors import InputError, InputTypeError
from ._common import ADVERSARIAL_DOCS, critic_examples, penalty_options
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
            stacklevel=4,  # the caller of gradient_penalty (past the option-checking wrapper)
        )


@loss_function(ADVERSARIAL_DOCS, options=penalty_options, keep_autocast=True)
def gradient_penalty(
    critic: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    *,
    lambda_: NonNegative = 10.0,
    generator: Annotated[torch.Generator | None, PER_CALL] = None,
    **options: Any,
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
        generator: a ``torch.Generator`` for the interpolation factors, on any device: a CPU
            generator with CUDA samples works (and gives the same factors as on the CPU) at the
            cost of one small host-to-device copy; one on ``real.device`` avoids the copy (per
            call).

    {{per_sample}}

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
    if not callable(critic):
        raise InputTypeError(
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
        raise InputError(
            f"{fn}: expected the critic to return one output per sample, "
            f"shape ({batch}, ...), got {got}"
        )
    grad = input_gradients(out, mixed, options["scaler"], fn)
    per_sample = tie_to_outputs(lambda_ * (norm(grad, dim=1) - 1.0).square(), out)
    return reduce_loss(per_sample, options["reduction"], fn=fn)


GradientPenalty = register_loss(
    "gradient_penalty",
    family="adversarial",
    function=gradient_penalty,
    module="GradientPenalty",
    aliases=("wgan_gp",),
    formula="lambda (||grad_x D(x_hat)||_2 - 1)^2, x_hat = e x + (1 - e) G(z)",
    reference="Gulrajani et al., Improved Training of WGANs, NeurIPS 2017, arXiv:1704.00028",
    examples=critic_examples,
).module
