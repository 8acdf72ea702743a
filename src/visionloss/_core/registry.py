"""The loss registry: each loss registers its name, family, paper, function and Module once.

``list_losses``, ``build_loss``, the command line and the documentation all read from here.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

FAMILIES = (
    "regression",
    "classification",
    "segmentation",
    "boxes",
    "metric",
    "contrastive",
    "synthesis",
    "adversarial",
)


@dataclass(frozen=True)
class LossSpec:
    """One registry row."""

    name: str
    family: str
    function: Callable[..., Any]
    module: type[nn.Module]
    reference: str
    formula: str = ""
    aliases: tuple[str, ...] = field(default_factory=tuple)

    @property
    def summary(self) -> str:
        """First line of the function's docstring."""
        doc = (self.function.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""


_REGISTRY: dict[str, LossSpec] = {}
_ALIASES: dict[str, str] = {}


def register_loss(
    name: str,
    *,
    family: str,
    function: Callable[..., Any],
    module: type[nn.Module],
    reference: str,
    formula: str = "",
    aliases: tuple[str, ...] = (),
) -> LossSpec:
    """Register a loss once. Raises ValueError on a duplicate name or an unknown family."""
    if family not in FAMILIES:
        raise ValueError(f"register_loss: unknown family {family!r}; expected one of {FAMILIES}")
    for key in (name, *aliases):
        if key in _REGISTRY or key in _ALIASES:
            raise ValueError(f"register_loss: the name {key!r} is already registered")
    spec = LossSpec(name, family, function, module, reference, formula, tuple(aliases))
    _REGISTRY[name] = spec
    for alias in aliases:
        _ALIASES[alias] = name
    return spec


def _unknown(name: str) -> ValueError:
    names = sorted([*_REGISTRY, *_ALIASES])
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return ValueError(f"unknown loss {name!r}{hint} (see `visionloss list`)")


def get_loss(name: str) -> LossSpec:
    """The registry row of ``name`` (or of one of its aliases); ValueError with close matches."""
    key = name.strip().lower().replace("-", "_") if isinstance(name, str) else name
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        raise _unknown(str(name))
    return _REGISTRY[key]


def list_losses(family: str | None = None) -> list[LossSpec]:
    """All registered losses sorted by family then name, optionally of one family."""
    if family is not None and family not in FAMILIES:
        raise ValueError(f"list_losses: unknown family {family!r}; expected one of {FAMILIES}")
    rows = [s for s in _REGISTRY.values() if family is None or s.family == family]
    return sorted(rows, key=lambda s: (FAMILIES.index(s.family), s.name))


def build_loss(spec: str | Mapping[str, Any], **kwargs: Any) -> nn.Module:
    """Build a loss Module by name: ``build_loss("focal", gamma=2.0)`` or
    ``build_loss({"name": "focal", "gamma": 2.0})``.

    Example:
        >>> import visionloss
        >>> type(visionloss.build_loss({"name": "mse"})).__name__
        'MSELoss'
    """
    if isinstance(spec, Mapping):
        options = dict(spec)
        if "name" not in options:
            raise ValueError(f"build_loss: expected a 'name' key in the config, got {sorted(spec)}")
        name = options.pop("name")
        options.update(kwargs)
    elif isinstance(spec, str):
        name, options = spec, dict(kwargs)
    else:
        raise TypeError(f"build_loss: expected a name or a mapping, got {type(spec).__name__}")
    return get_loss(name).module(**options)
