"""The loss registry: each loss registers its name, family, paper, function and Module once.

``list_losses``, ``build_loss``, the command line and the documentation all read from here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from ..errors import (
    OptionError,
    OptionTypeError,
    UnknownNameError,
    UnknownOptionError,
    did_you_mean,
)
from .declare import loss_module
from .module import LossModule

FAMILIES = (
    "regression",
    "classification",
    "segmentation",
    "boxes",
    "metric",
    "contrastive",
    "synthesis",
    "quality",
    "self_supervised",
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
    examples: Callable[..., Any] | None = None

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
    module: type[nn.Module] | str,
    reference: str,
    formula: str = "",
    aliases: tuple[str, ...] = (),
    examples: Callable[..., Any] | None = None,
    base: type[LossModule] = LossModule,
) -> LossSpec:
    """Register a loss once; returns its row (``.module`` is its Module class).

    ``module`` is a Module class written by hand (losses with state: centres, running means),
    or the class name of the Module to derive from the declared ``function`` (see
    :func:`~visionloss._core.declare.loss_module`; ``base`` is then its base class).
    ``examples(dtype=..., seed=...)`` makes small valid inputs ``(args, kwargs)`` for the
    conformance tests, ``visionloss plot``, the docs and the benchmarks.
    Raises ValueError on a duplicate name or an unknown family.
    """
    if family not in FAMILIES:
        raise OptionError(f"register_loss: unknown family {family!r}; expected one of {FAMILIES}")
    if isinstance(module, str):
        module = loss_module(function, module, base=base)
    for key in (name, *aliases):
        if key in _REGISTRY or key in _ALIASES:
            raise OptionError(f"register_loss: the name {key!r} is already registered")
    spec = LossSpec(name, family, function, module, reference, formula, tuple(aliases), examples)
    _REGISTRY[name] = spec
    for alias in aliases:
        _ALIASES[alias] = name
    for alias in (function.__name__, module.__name__):
        _LOOKUP.setdefault(_key(alias), name)
    return spec


_LOOKUP: dict[str, str] = {}


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def get_loss(name: str) -> LossSpec:
    """The registry row of ``name``: a registry name (``"dice"``), an alias, a function name
    (``"dice_loss"``) or a class name (``"DiceLoss"``); UnknownNameError with close matches."""
    if not isinstance(name, str):
        raise OptionTypeError(f"get_loss: expected a loss name, got {type(name).__name__}")
    key = _key(name)
    key = _ALIASES.get(key, _LOOKUP.get(key, key))
    if key not in _REGISTRY:
        names = [*_REGISTRY, *_ALIASES]
        raise UnknownNameError(
            f"unknown loss {name!r}{did_you_mean(name, names, cutoff=0.5)} (see `visionloss list`)"
        )
    return _REGISTRY[key]


def list_losses(family: str | None = None) -> list[LossSpec]:
    """All registered losses sorted by family then name, optionally of one family."""
    if family is not None and family not in FAMILIES:
        raise UnknownNameError(
            f"list_losses: unknown family {family!r}; expected one of {FAMILIES}"
        )
    rows = [s for s in _REGISTRY.values() if family is None or s.family == family]
    return sorted(rows, key=lambda s: (FAMILIES.index(s.family), s.name))


def build_loss(spec: str | Mapping[str, Any], **kwargs: Any) -> nn.Module:
    """Build a loss Module by name: ``build_loss("focal", gamma=2.0)`` or
    ``build_loss({"name": "focal", "gamma": 2.0})``.

    ``spec`` may be a registry name, an alias, a function name (``"dice_loss"``) or a class
    name (``"DiceLoss"``); a mapping (a dict, an OmegaConf ``DictConfig``) holds ``name`` and
    the options. An option the loss does not take is an UnknownOptionError (a TypeError) with
    close matches. ``{"name": "combined", "terms": {...}}`` builds a :class:`CombinedLoss`
    (see there).

    Example:
        >>> import visionloss
        >>> type(visionloss.build_loss({"name": "mse"})).__name__
        'MSELoss'
        >>> type(visionloss.build_loss("DiceCELoss")).__name__
        'DiceCELoss'
    """
    if isinstance(spec, Mapping):
        options = dict(spec)
        if "name" not in options:
            raise OptionError(
                f"build_loss: expected a 'name' key in the config, got {sorted(spec)}"
            )
        name = options.pop("name")
        options.update(kwargs)
    elif isinstance(spec, str):
        name, options = spec, dict(kwargs)
    else:
        raise OptionTypeError(
            f"build_loss: expected a name or a mapping, got {type(spec).__name__}"
        )
    if isinstance(name, str) and _key(name) in COMBINED_NAMES:
        return _build_combined(options)
    return get_loss(name).module(**options)


# ``build_loss({"name": "combined", "terms": {...}})`` builds a CombinedLoss
COMBINED_NAMES = ("combined", "combinedloss", "combined_loss")


def _build_combined(options: dict[str, Any]) -> nn.Module:
    from .combined import CombinedLoss

    allowed = ("terms", "return_parts")
    for key in options:
        if key not in allowed:
            raise UnknownOptionError(
                f"build_loss: CombinedLoss got an unexpected key {key!r}"
                f"{did_you_mean(key, allowed)} (a combined config holds 'terms' and "
                "optionally 'return_parts')"
            )
    if "terms" not in options:
        raise OptionError("build_loss: a combined config needs 'terms': {name: term, ...}")
    return CombinedLoss.from_config(
        options["terms"], return_parts=options.get("return_parts", False)
    )
