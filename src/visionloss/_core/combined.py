"""A weighted sum of losses whose last components are readable for logging."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import torch
from torch import Tensor, nn


class CombinedLoss(nn.Module):
    """Weighted sum of loss Modules that share the same call arguments.

    .. math:: L = \\sum_k w_k \\, L_k(\\text{args})

    Args:
        losses: mapping ``name -> (module, weight)`` or ``name -> module`` (weight 1).

    After each call, ``last`` maps every name to its detached, unweighted value (0-dim tensors:
    reading them with ``.item()`` is the caller's choice, so no host sync happens here) and
    ``last_total`` holds the detached total.

    Example:
        >>> import torch, visionloss
        >>> loss = visionloss.CombinedLoss({
        ...     "l1": (visionloss.L1Loss(), 1.0), "mse": (visionloss.MSELoss(), 0.5)})
        >>> x, y = torch.zeros(4), torch.full((4,), 2.0)
        >>> float(loss(x, y))
        4.0
        >>> {k: float(v) for k, v in loss.last.items()}
        {'l1': 2.0, 'mse': 4.0}
    """

    def __init__(self, losses: Mapping[str, nn.Module | tuple[nn.Module, float]]) -> None:
        super().__init__()
        if not isinstance(losses, Mapping) or not losses:
            raise ValueError("CombinedLoss: expected a non-empty mapping name -> (module, weight)")
        modules, weights = {}, {}
        for name, entry in losses.items():
            module, weight = entry if isinstance(entry, tuple) else (entry, 1.0)
            if not isinstance(module, nn.Module):
                raise TypeError(
                    f"CombinedLoss: expected an nn.Module for {name!r}, got {type(module).__name__}"
                )
            modules[name], weights[name] = module, float(weight)
        self.losses = nn.ModuleDict(modules)
        self.weights = weights
        self.last: dict[str, Tensor] = {}
        self.last_total: Tensor = torch.zeros(())

    def forward(self, *args: Any, **kwargs: Any) -> Tensor:
        total: Tensor | None = None
        last = {}
        for name, module in self.losses.items():
            value = module(*args, **kwargs)
            last[name] = value.detach()
            term = self.weights[name] * value
            total = term if total is None else total + term
        self.last = last
        out = cast(Tensor, total)  # the constructor refuses an empty mapping
        self.last_total = out.detach()
        return out

    def extra_repr(self) -> str:
        return "weights=" + repr(self.weights)
