"""Small valid example inputs for every registered loss.

Each registry row carries ``examples(dtype=..., seed=...) -> Example``: the positional inputs
and per-call keyword arguments of one small, valid call (a few hundred elements). The
conformance tests, ``visionloss plot``, the docs and the benchmark cases build their inputs from
it instead of guessing a loss's layout. Families write one maker per input layout, keyed on the
library's uniform argument names (``input, target``; ``pred, target``; ``embeddings, labels``;
``query, key``), in their private module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor

__all__ = ["Example", "ExampleMaker", "generator", "normal", "uniform", "integers"]


class Example(NamedTuple):
    """Positional inputs and per-call keyword arguments of one valid call, and the options
    the loss needs to run at all (``options``: e.g. a small feature network; usually empty)."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any] = {}
    options: dict[str, Any] = {}

    def floating(self) -> list[Tensor]:
        """The floating-point tensors among the inputs (the ones gradients flow to)."""
        values = [*self.args, *self.kwargs.values()]
        return [v for v in values if isinstance(v, Tensor) and v.is_floating_point()]


ExampleMaker = Callable[..., Example]


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def normal(*shape: int, dtype: torch.dtype, gen: torch.Generator, scale: float = 1.0) -> Tensor:
    return (scale * torch.randn(*shape, generator=gen, dtype=torch.float64)).to(dtype)


def uniform(
    *shape: int, dtype: torch.dtype, gen: torch.Generator, lo: float = 0.0, hi: float = 1.0
) -> Tensor:
    return (lo + (hi - lo) * torch.rand(*shape, generator=gen, dtype=torch.float64)).to(dtype)


def integers(*shape: int, high: int, gen: torch.Generator) -> Tensor:
    return torch.randint(0, high, shape, generator=gen)
