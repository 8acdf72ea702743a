"""A weighted sum of losses, each fed its own inputs, whose parts are readable for logging."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from numbers import Real
from typing import Any, cast

import torch
from torch import Tensor, nn

from ..errors import InputError, OptionError, OptionTypeError, UnknownOptionError

# the keys of one term in a config (anything else is an error with a close match)
TERM_KEYS = ("loss", "weight", "inputs")


def _weight(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
        raise OptionTypeError(
            f"CombinedLoss: expected the weight of {name!r} to be a finite number, got {value!r}"
        )
    return float(value)


def _inputs(value: Any, name: str) -> dict[str, str] | tuple[str, ...] | None:
    """A term's input map: ``{argument: input name}`` (passed as keywords) or a sequence of
    input names (passed positionally, in order), or None (the term takes the whole call)."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        out = {str(k): v for k, v in value.items()}
        items = list(out.values())
    elif isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        items = list(value)
        out = None
    else:
        raise OptionTypeError(
            f"CombinedLoss: expected the inputs of {name!r} to be a mapping "
            f"{{argument: input name}} or a list of input names, got {type(value).__name__}"
        )
    if not all(isinstance(v, str) for v in items):
        raise OptionTypeError(
            f"CombinedLoss: expected the inputs of {name!r} to be names, got {items!r}"
        )
    return out if out is not None else tuple(items)


class CombinedLoss(nn.Module):
    """Weighted sum of loss Modules; each term takes the whole call or its own named inputs.

    .. math:: L = \\sum_k w_k \\, L_k(\\text{inputs}_k)

    Args:
        losses: mapping ``name -> term``, a term being a Module (weight 1), ``(module,
            weight)``, ``(module, weight, inputs)``, or a mapping ``{"loss": module or config,
            "weight": w, "inputs": ...}`` (a config builds the Module with :func:`build_loss`).
            ``inputs`` says which inputs of the call a term takes: ``{"pred": "boxes",
            "target": "gt_boxes"}`` passes the call's keyword ``boxes`` as the term's ``pred``
            and ``gt_boxes`` as its ``target``; a list ``["logits", "labels"]`` passes those
            keywords positionally, in order. A term without ``inputs`` takes the call's
            arguments as they are (every term then shares one call form).
        return_parts: ``forward`` returns ``(total, parts)`` where ``parts`` maps each name to
            its weighted value (detached), instead of the total alone (default False).

    After each call, ``last`` maps every name to its detached, unweighted value,
    ``last_parts`` to its detached weighted value (0-dim tensors: reading them with ``.item()``
    is the caller's choice, so no host sync happens here), and ``last_total`` holds the
    detached total.

    Build it from a nested config (YAML, OmegaConf) with :func:`build_loss`::

        build_loss({"name": "combined", "terms": {
            "box": {"loss": {"name": "ciou"}, "weight": 2.0,
                    "inputs": {"pred": "boxes", "target": "gt_boxes"}},
            "cls": {"loss": {"name": "focal", "gamma": 2.0},
                    "inputs": {"input": "logits", "target": "labels"}}}})

    Example:
        >>> import torch, visionloss
        >>> loss = visionloss.CombinedLoss({
        ...     "l1": (visionloss.L1Loss(), 1.0), "mse": (visionloss.MSELoss(), 0.5)})
        >>> x, y = torch.zeros(4), torch.full((4,), 2.0)
        >>> float(loss(x, y))
        4.0
        >>> {k: float(v) for k, v in loss.last.items()}
        {'l1': 2.0, 'mse': 4.0}
        >>> detector = visionloss.CombinedLoss({
        ...     "box": (visionloss.GIoULoss(), 2.0, {"pred": "boxes", "target": "gt"}),
        ...     "cls": (visionloss.BinaryCrossEntropyLoss(), 1.0, ["logits", "labels"]),
        ... }, return_parts=True)
        >>> boxes = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
        >>> total, parts = detector(boxes=boxes, gt=boxes, logits=torch.zeros(3),
        ...                         labels=torch.tensor([0.0, 1.0, 1.0]))
        >>> {k: round(float(v), 4) for k, v in parts.items()}
        {'box': 0.0, 'cls': 0.6931}
    """

    def __init__(self, losses: Mapping[str, Any], *, return_parts: bool = False) -> None:
        super().__init__()
        if not isinstance(losses, Mapping) or not losses:
            raise OptionError("CombinedLoss: expected a non-empty mapping name -> (module, weight)")
        if not isinstance(return_parts, bool):
            raise OptionTypeError(
                f"CombinedLoss: expected return_parts to be True or False, got {return_parts!r}"
            )
        modules: dict[str, nn.Module] = {}
        self.weights: dict[str, float] = {}
        self.inputs: dict[str, dict[str, str] | tuple[str, ...] | None] = {}
        for name, entry in losses.items():
            name = str(name)
            module, weight, inputs = self._term(name, entry)
            modules[name] = module
            self.weights[name] = _weight(weight, name)
            self.inputs[name] = _inputs(inputs, name)
        self.losses = nn.ModuleDict(modules)
        self.return_parts = return_parts
        self.last: dict[str, Tensor] = {}
        self.last_parts: dict[str, Tensor] = {}
        self.last_total: Tensor = torch.zeros(())

    @staticmethod
    def _term(name: str, entry: Any) -> tuple[nn.Module, Any, Any]:
        if isinstance(entry, Mapping) and "name" not in entry:  # {"loss": ..., "weight": ...}
            from ..errors import did_you_mean

            unknown = [k for k in entry if k not in TERM_KEYS]
            if unknown:
                raise UnknownOptionError(
                    f"CombinedLoss: unknown key {unknown[0]!r} in term {name!r}"
                    f"{did_you_mean(str(unknown[0]), TERM_KEYS)} (a term holds {TERM_KEYS})"
                )
            if "loss" not in entry:
                raise OptionError(f"CombinedLoss: term {name!r} has no 'loss' key")
            module, weight, inputs = entry["loss"], entry.get("weight", 1.0), entry.get("inputs")
        elif isinstance(entry, tuple):
            if not 1 <= len(entry) <= 3:
                raise OptionTypeError(
                    f"CombinedLoss: expected (module, weight[, inputs]) for {name!r}, "
                    f"got {len(entry)} items"
                )
            padded: list[Any] = [*entry, *(1.0, None)[len(entry) - 1 :]]
            module, weight, inputs = padded
        else:
            module, weight, inputs = entry, 1.0, None
        if isinstance(module, (str, Mapping)):  # a loss name or a config: build it
            from .registry import build_loss

            module = build_loss(module)
        if not isinstance(module, nn.Module):
            raise OptionTypeError(
                f"CombinedLoss: expected an nn.Module for {name!r}, got {type(module).__name__}"
            )
        return module, weight, inputs

    @classmethod
    def from_config(cls, terms: Mapping[str, Any], *, return_parts: bool = False) -> CombinedLoss:
        """Build from a nested config: ``terms`` maps each name to ``{"loss": {"name": ...,
        options...}, "weight": w, "inputs": {...}}`` (or to a loss config / name, weight 1)."""
        if not isinstance(terms, Mapping):
            raise OptionTypeError(
                f"CombinedLoss: expected 'terms' to be a mapping, got {type(terms).__name__}"
            )
        return cls(dict(terms), return_parts=return_parts)

    def _call_term(self, name: str, module: nn.Module, args: tuple, kwargs: dict) -> Tensor:
        inputs = self.inputs[name]
        if inputs is None:
            return module(*args, **kwargs)
        names = list(inputs.values()) if isinstance(inputs, dict) else list(inputs)
        missing = [n for n in names if n not in kwargs]
        if missing:
            raise InputError(
                f"CombinedLoss: term {name!r} takes the input {missing[0]!r}; pass it by "
                f"keyword (got {sorted(kwargs) or 'no keywords'}"
                f"{f' and {len(args)} positional' if args else ''})"
            )
        if isinstance(inputs, dict):
            return module(**{arg: kwargs[src] for arg, src in inputs.items()})
        return module(*(kwargs[src] for src in inputs))

    def forward(self, *args: Any, **kwargs: Any) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
        if args and all(self.inputs[n] is not None for n in self.losses):
            raise InputError(
                "CombinedLoss: every term takes named inputs; pass them by keyword, "
                f"got {len(args)} positional argument(s)"
            )
        total: Tensor | None = None
        last, parts = {}, {}
        for name, module in self.losses.items():
            value = self._call_term(name, module, args, kwargs)
            term = self.weights[name] * value
            last[name], parts[name] = value.detach(), term.detach()
            total = term if total is None else total + term
        out = cast(Tensor, total)  # the constructor refuses an empty mapping
        self.last, self.last_parts = last, parts
        self.last_total = out.detach()
        if self.return_parts:
            return out, parts
        return out

    def extra_repr(self) -> str:
        text = "weights=" + repr(self.weights)
        routed = {k: v for k, v in self.inputs.items() if v is not None}
        return text + (f", inputs={routed!r}" if routed else "")
