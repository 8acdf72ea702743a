"""The exceptions visionloss raises.

Every error is a subclass of :class:`VisionLossError` *and* of the built-in exception a caller
would expect (``ValueError`` or ``TypeError``), so ``except ValueError`` keeps working while
applications (the command line, the experiment runner) can dispatch on the type instead of the
message text. Messages name the function (or Module) and the argument, e.g.
``dice_loss: expected target of shape (B, H, W) ..., got (4, 64)``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "VisionLossError",
    "InputError",
    "InputTypeError",
    "OptionError",
    "OptionTypeError",
    "UnknownOptionError",
    "UnknownNameError",
    "ExperimentError",
    "close_matches",
    "did_you_mean",
]


class VisionLossError(Exception):
    """Base of every error raised by visionloss on a caller's mistake."""


class InputError(VisionLossError, ValueError):
    """A tensor argument has the wrong shape, values or device."""


class InputTypeError(VisionLossError, TypeError):
    """A tensor argument has the wrong type or dtype."""


class OptionError(VisionLossError, ValueError):
    """An option has a value outside its domain (a negative temperature, an unknown word)."""


class OptionTypeError(VisionLossError, TypeError):
    """An option has the wrong type (a string where a number is expected)."""


class UnknownOptionError(VisionLossError, TypeError):
    """A keyword the loss does not take (``TypeError``, as Python raises for a bad keyword)."""


class UnknownNameError(VisionLossError, ValueError):
    """A name that is not registered (a loss, an experiment, a family, a command)."""


class ExperimentError(VisionLossError, ValueError):
    """An experiment was given options it does not take or cannot run with."""


def close_matches(word: str, choices: Iterable[str], n: int = 3, cutoff: float = 0.6) -> list[str]:
    """Up to ``n`` entries of ``choices`` that look like ``word`` (best first; ``cutoff`` is
    difflib's similarity threshold)."""
    return difflib.get_close_matches(str(word), sorted(set(choices)), n=n, cutoff=cutoff)


def did_you_mean(word: str, choices: Iterable[str], cutoff: float = 0.6) -> str:
    """``"; did you mean 'smooth'?"`` (or ``""`` when nothing is close)."""
    close = close_matches(word, choices, cutoff=cutoff)
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
