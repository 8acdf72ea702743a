"""R1 gradient penalty on real data (Mescheder et al.)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .._core.checks import check_tensor, shape_str
from .._core.declare import loss_function
from .._core.options import NonNegative
from .._core.reduction import reduce_loss
from .._core.registry import register_loss
from ..errors import InputError
from ._common import ADVERSARIAL_DOCS, penalty_options, r1_examples
from ._penalty import input_gradients, tie_to_outputs

__all__ = ["r1_penalty", "R1Penalty"]


@loss_function(ADVERSARIAL_DOCS, options=penalty_options, keep_autocast=True)
def r1_penalty(
    real_logits: Tensor, real: Tensor, *, gamma: NonNegative = 10.0, **options: Any
) -> Tensor:
    r"""R1 regulariser: the squared norm of the discriminator's gradient on real data.

    .. math:: \ell_b = \frac{\gamma}{2} \big\lVert \nabla_x D(x_b) \big\rVert_2^2

    ``real_logits = D(real)`` must have been computed from ``real`` with
    ``real.requires_grad_(True)`` set first; the same logits can feed
    :func:`discriminator_loss`. Applied to generated samples it is the R2 penalty. The gradient
    is taken with ``create_graph=True``; the AMP (``scaler``) and DistributedDataParallel
    handling are those of :func:`gradient_penalty`. No square root is taken, so a zero gradient
    is harmless. StyleGAN2's lazy regularisation computes it every ``k`` steps and multiplies
    it by ``k``.

    Args:
        real_logits: ``D(real)``, one output per sample (``(B,)``, ``(B, 1)``, ``(B, ...)``).
        real: the real samples ``(B, *)``, requiring grad.
        gamma: the weight, ``>= 0`` (default 10).
        reduction: ``"mean"`` over samples (default), ``"sum"`` or ``"none"``.

    {{per_sample}}

    Reference:
        Mescheder, Geiger & Nowozin, *Which Training Methods for GANs do actually Converge?*,
        ICML 2018, arXiv:1801.04406, Eq. (9).

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 2.0]], requires_grad=True)
        >>> logits = (x * torch.tensor([3.0, 4.0])).sum(1)  # gradient (3, 4), norm^2 = 25
        >>> r1_penalty(logits, x, gamma=2.0)
        tensor(25., grad_fn=<...>)
    """
    fn = "r1_penalty"
    check_tensor(real_logits, "real_logits", fn, floating=True, min_ndim=1)
    check_tensor(real, "real", fn, floating=True, min_ndim=1)
    if not real.requires_grad:
        raise InputError(
            f"{fn}: expected real to require grad: call real.requires_grad_(True) "
            f"before computing real_logits = D(real)"
        )
    if real_logits.shape[0] != real.shape[0]:
        raise InputError(
            f"{fn}: expected real_logits with one output per sample, shape "
            f"({real.shape[0]}, ...), got {shape_str(real_logits)}"
        )
    if real_logits.grad_fn is None:
        raise InputError(
            f"{fn}: real_logits are not attached to a graph; compute them from "
            f"real (with real.requires_grad_(True)) outside torch.no_grad()"
        )
    grad = input_gradients(real_logits, real, options["scaler"], fn)
    per_sample = tie_to_outputs(0.5 * gamma * grad.square().sum(1), real_logits)
    return reduce_loss(per_sample, options["reduction"], fn=fn)


R1Penalty = register_loss(
    "r1",
    family="adversarial",
    function=r1_penalty,
    module="R1Penalty",
    aliases=("r1_penalty",),
    formula="gamma/2 ||grad_x D(x)||^2 on real x",
    reference="Mescheder et al., Which Training Methods for GANs do actually Converge?, "
    "ICML 2018, arXiv:1801.04406",
    examples=r1_examples,
).module
