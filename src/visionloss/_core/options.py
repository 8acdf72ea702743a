"""Option types: what each keyword option of a loss accepts, declared once in its annotation.

A loss's options are annotated with ``typing.Annotated`` carrying a check, for example::

    def dice_loss(input, target, *, smooth: NonNegative = 0.0, reduction: Reduction = "mean")

:func:`visionloss._core.declare.loss_function` reads these annotations once: the function
checks every option a caller passes, and the derived Module checks its constructor arguments,
with the same messages (naming the function or the Module and the option). A check returns
the value to use, so conversions (a list of class weights from a config file becomes a tensor)
happen in the same place.

Checks look at Python values only (type, finiteness, range); a tensor option (a learnable
temperature, class weights) is checked for its kind here and for its values by the loss.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Annotated, Any

import torch
from torch import Tensor

from ..errors import OptionError, OptionTypeError, did_you_mean

__all__ = [
    "Check",
    "Choice",
    "Number",
    "Flag",
    "TensorOption",
    "IndexOption",
    "PER_CALL",
    "Reduction",
    "REDUCTIONS",
    "Bool",
    "NonNegative",
    "Positive",
    "Fraction",
    "IgnoreIndex",
    "ClassWeights",
    "plain_sequence",
]


class _PerCall:
    """Annotation marker: a per-call argument (taken by the Module's ``forward``, not its
    constructor), e.g. per-box weights or a precomputed distance map."""

    def __repr__(self) -> str:
        return "PER_CALL"


PER_CALL = _PerCall()


class Check:
    """Base of the option checks; ``check(value, name, fn)`` returns the value to use."""

    def __call__(self, value: Any, name: str, fn: str) -> Any:
        raise NotImplementedError


class Choice(Check):
    """One of a fixed set of words (``None`` too when ``optional``)."""

    def __init__(self, *choices: Any, optional: bool = False) -> None:
        self.choices = choices
        self.optional = optional

    def __call__(self, value: Any, name: str, fn: str) -> Any:
        if value is None and self.optional:
            return value
        if isinstance(value, str) and value in self.choices:
            return value
        if not isinstance(value, str) and any(value is c for c in self.choices):
            return value
        opts = ", ".join(repr(c) for c in self.choices)
        hint = did_you_mean(str(value), [c for c in self.choices if isinstance(c, str)])
        raise OptionError(f"{fn}: expected {name} to be one of {opts}, got {value!r}{hint}")


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


class Number(Check):
    """A finite real number in a range; a floating tensor too with ``tensor=True`` (its values
    are the loss's to check)."""

    def __init__(
        self,
        lo: float | None = None,
        hi: float | None = None,
        *,
        lo_open: bool = False,
        hi_open: bool = False,
        integer: bool = False,
        optional: bool = False,
        tensor: bool = False,
        infinite: bool = False,
    ) -> None:
        self.lo, self.hi, self.lo_open, self.hi_open = lo, hi, lo_open, hi_open
        self.integer, self.optional, self.tensor, self.infinite = (
            integer,
            optional,
            tensor,
            infinite,
        )

    def describe(self) -> str:
        """The condition, as in ``expected gamma > 0`` / ``expected alpha in [0, 1]``."""
        if self.lo is not None and self.hi is not None:
            lb = "(" if self.lo_open else "["
            hb = ")" if self.hi_open else "]"
            return f"in {lb}{self.lo:g}, {self.hi:g}{hb}"
        if self.lo is not None:
            return f"{'>' if self.lo_open else '>='} {self.lo:g}"
        if self.hi is not None:
            return f"{'<' if self.hi_open else '<='} {self.hi:g}"
        return "to be finite"

    def __call__(self, value: Any, name: str, fn: str) -> Any:
        if value is None and self.optional:
            return value
        if self.tensor and isinstance(value, Tensor):
            if not (value.is_floating_point() and value.dim() == 0):
                raise OptionTypeError(
                    f"{fn}: expected {name} to be a number or a 0-dim floating tensor, got a "
                    f"{value.dtype} tensor of shape {tuple(value.shape)}"
                )
            return value
        ok_type = isinstance(value, Integral) if self.integer else _is_number(value)
        if not ok_type or isinstance(value, bool):
            kind = "an int" if self.integer else "a number"
            raise OptionTypeError(
                f"{fn}: expected {name} to be {kind}, got {type(value).__name__} {value!r}"
            )
        v = float(value)
        bad = math.isnan(v) or (math.isinf(v) and not self.infinite)
        if self.lo is not None:
            bad = bad or (v <= self.lo if self.lo_open else v < self.lo)
        if self.hi is not None:
            bad = bad or (v >= self.hi if self.hi_open else v > self.hi)
        if bad:
            raise OptionError(f"{fn}: expected {name} {self.describe()}, got {value!r}")
        return value


class Flag(Check):
    """``True`` or ``False`` (not ``"yes"``, not 1)."""

    def __call__(self, value: Any, name: str, fn: str) -> Any:
        if not isinstance(value, bool):
            raise OptionTypeError(f"{fn}: expected {name} to be True or False, got {value!r}")
        return value


class IndexOption(Check):
    """An integer (or ``None`` with ``optional``), e.g. ``ignore_index``."""

    def __init__(self, *, optional: bool = True) -> None:
        self.optional = optional

    def __call__(self, value: Any, name: str, fn: str) -> Any:
        if value is None and self.optional:
            return value
        if isinstance(value, bool) or not isinstance(value, Integral):
            raise OptionTypeError(f"{fn}: expected {name} to be an int, got {value!r}")
        return int(value)


class TensorOption(Check):
    """A tensor, or any sequence of numbers (a list, a tuple, an OmegaConf ``ListConfig``),
    converted to a float32 tensor; ``None`` when ``optional``. With ``nonnegative`` a
    sequence's entries must be finite and ``>= 0`` (class weights)."""

    def __init__(self, *, optional: bool = True, nonnegative: bool = False) -> None:
        self.optional, self.nonnegative = optional, nonnegative

    def __call__(self, value: Any, name: str, fn: str) -> Any:
        if value is None and self.optional:
            return value
        if isinstance(value, Tensor):
            return value
        if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, _SequenceLike)):
            raise OptionTypeError(
                f"{fn}: expected {name} to be a tensor or a sequence of numbers, got "
                f"{type(value).__name__}"
            )
        items = list(value)  # type: ignore[arg-type]
        if not all(_is_number(v) for v in items):
            raise OptionTypeError(f"{fn}: expected {name} to hold numbers, got {items!r}")
        if self.nonnegative and not all(math.isfinite(float(v)) and v >= 0 for v in items):
            raise OptionError(f"{fn}: expected {name} >= 0 and finite, got {items!r}")
        return torch.tensor([float(v) for v in items], dtype=torch.float32)


class _SequenceLikeMeta(type):
    """Anything iterable with a length that is not a mapping or a string (config containers
    that do not register as ``collections.abc.Sequence``)."""

    def __instancecheck__(cls, obj: Any) -> bool:
        return (
            hasattr(obj, "__iter__")
            and hasattr(obj, "__len__")
            and not hasattr(obj, "keys")
            and not isinstance(obj, (str, bytes))
        )


class _SequenceLike(metaclass=_SequenceLikeMeta):
    pass


# option values passed through unchanged by :func:`plain_sequence` (the common, cheap case)
_PLAIN = (bool, int, float, str, bytes, list, tuple, Tensor, type(None))


def plain_sequence(value: Any) -> Any:
    """A config library's sequence (OmegaConf ``ListConfig``, any ``Sequence``-like that is
    not a list, a tuple, a string or a tensor) as a list, nested ones too; other values as
    they are. The declaration applies it to every option before its check, so each option
    type that accepts a list accepts these as well."""
    if isinstance(value, _PLAIN) or not isinstance(value, _SequenceLike):
        return value
    if isinstance(value, torch.nn.Module) or hasattr(value, "__array__"):
        return value  # a feature network (nn.Sequential), an array: not a config list
    return [plain_sequence(v) for v in value]  # type: ignore[attr-defined]


REDUCTIONS = ("mean", "sum", "none")

Reduction = Annotated[str, Choice(*REDUCTIONS)]

# Option types shared by several families.
Bool = Annotated[bool, Flag()]
NonNegative = Annotated[float, Number(0)]
Positive = Annotated[float, Number(0, lo_open=True)]
Fraction = Annotated[float, Number(0, 1)]
IgnoreIndex = Annotated[int | None, IndexOption()]
ClassWeights = Annotated[Tensor | Sequence[float] | None, TensorOption(nonnegative=True)]
