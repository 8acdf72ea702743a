"""Weight clipping of the original Wasserstein GAN critic."""

from __future__ import annotations

import torch
from torch import nn

from .._core.checks import check_positive

__all__ = ["clip_weights_"]


@torch.no_grad()
def clip_weights_(module: nn.Module, c: float = 0.01) -> nn.Module:
    r"""Clamp every parameter of ``module`` to ``[-c, c]`` in place (WGAN's Lipschitz
    constraint); call it after each critic optimiser step.

    .. math:: w \leftarrow \operatorname{clip}(w, -c, c)

    Arjovsky et al. call clipping "a clearly terrible way to enforce a Lipschitz constraint";
    :func:`gradient_penalty` (WGAN-GP) is the usual replacement.

    Args:
        module: the critic.
        c: the clipping bound, ``> 0`` (default 0.01, as the paper).

    Returns:
        ``module`` (for chaining).

    Reference:
        Arjovsky, Chintala & Bottou, *Wasserstein GAN*, ICML 2017, arXiv:1701.07875, Alg. 1.

    Example:
        >>> import torch
        >>> lin = torch.nn.Linear(2, 1)
        >>> with torch.no_grad():
        ...     _ = lin.weight.copy_(torch.tensor([[0.5, -0.003]]))
        >>> clip_weights_(lin).weight
        Parameter containing:
        tensor([[ 0.0100, -0.0030]], requires_grad=True)
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"clip_weights_: expected an nn.Module, got {type(module).__name__}")
    check_positive(c, "c", "clip_weights_")
    for p in module.parameters():
        p.clamp_(-c, c)
    return module
