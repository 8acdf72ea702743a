"""Small valid example inputs for every registered loss.

Each registry row carries ``examples(dtype=..., seed=...) -> Example``: the positional inputs
and per-call keyword arguments of one small, valid call (a few hundred elements). The
conformance tests, ``visionloss plot``, the docs and the benchmark cases build their inputs from
it instead of guessing a loss's layout. Families write one maker per input layout, keyed on the
library's uniform argument names (``input, target``; ``pred, target``; ``embeddings, labels``;
``query, key``), in their private module.

A loss whose Module holds state the function takes as an input or option (``CenterLoss``'s
centres, ``WIoULoss``'s running mean) sets ``Example.module``: a :class:`ModuleCall` saying how
to build the Module and which function arguments its state stands for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

__all__ = ["Example", "ExampleMaker", "ModuleCall", "generator", "normal", "uniform", "integers"]


class ModuleCall(NamedTuple):
    """How to build a Module that holds state of its own, and how to call its function alike.

    The Module is ``module(*init_args, **init_kwargs, **options)``. ``to_function(module)``
    gives the function arguments (inputs or options, by name) that the Module's state
    supplies, e.g. ``{"centers": module.centers}``: in eval mode (no state update) the Module
    called with the example's arguments but these equals the function called with all of the
    example's arguments, these replaced by the Module's. Use a module-level function, not a
    lambda, so that examples compare equal and pickle.
    """

    init_args: tuple[Any, ...] = ()
    init_kwargs: dict[str, Any] = {}
    to_function: Callable[[nn.Module], dict[str, Any]] | None = None


class Example(NamedTuple):
    """Positional inputs and per-call keyword arguments of one valid call, and the options
    the loss needs to run at all (``options``: e.g. a small feature network; usually empty).
    ``module``: set only for a Module with state of its own (see :class:`ModuleCall`)."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any] = {}
    options: dict[str, Any] = {}
    module: ModuleCall | None = None

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
