"""Input checks with messages that name the function and both shapes.

All checks raise the typed errors of :mod:`visionloss.errors` (subclasses of ``TypeError`` for a
wrong kind or dtype and of ``ValueError`` for a wrong shape or value).

Value checks (label range, target domain, box order) go through :func:`require`: on a CPU
tensor in eager mode they raise the typed error at once; on another device, or while
``torch.compile`` traces, they become a device-side assertion (``torch._assert_async``), which
stops the program with the same message without a host synchronisation on the fast path.
:func:`set_value_checks` switches them off for speed (shape, dtype, device and option checks
always run).
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real

import torch
from torch import Tensor

from ..errors import InputError, InputTypeError, OptionError, did_you_mean


def shape_str(x: Tensor | Sequence[int]) -> str:
    """``(4, 3, 64, 64)`` for a tensor or a shape."""
    shape = tuple(x.shape) if isinstance(x, Tensor) else tuple(x)
    if len(shape) == 1:
        return f"({shape[0]},)"
    return "(" + ", ".join(str(s) for s in shape) + ")"


_VALUE_CHECKS = True


def set_value_checks(enabled: bool) -> bool:
    """Turn the value checks (label range, target domain) on or off for the whole process;
    returns the previous setting. Shape, dtype, device and option checks always run."""
    global _VALUE_CHECKS
    previous, _VALUE_CHECKS = _VALUE_CHECKS, bool(enabled)
    return previous


def value_checks_enabled() -> bool:
    """Whether :func:`require` checks values (see :func:`set_value_checks`)."""
    return _VALUE_CHECKS


def _compiling() -> bool:
    compiler = getattr(torch, "compiler", None)
    if compiler is not None and hasattr(compiler, "is_compiling") and compiler.is_compiling():
        return True
    return bool(torch.jit.is_tracing())


def require(ok: Tensor, message: str, error: type[Exception] = InputError) -> None:
    """Raise ``error(message)`` unless every entry of the bool tensor ``ok`` is True.

    Eager CPU: an immediate check. Other devices and under ``torch.compile``: a device-side
    assertion carrying ``message`` (a RuntimeError when it fires), no host synchronisation.
    Nothing happens while value checks are switched off.
    """
    if not _VALUE_CHECKS or ok.numel() == 0:
        return
    if ok.device.type == "cpu" and not _compiling():
        if not bool(ok.all()):
            raise error(message)
        return
    torch._assert_async(ok.all(), message)


def values_checkable(x: Tensor) -> bool:
    """True when value checks are cheap and safe: a CPU tensor, not under compile tracing."""
    if x.device.type != "cpu":
        return False
    compiler = getattr(torch, "compiler", None)
    if compiler is not None and hasattr(compiler, "is_compiling") and compiler.is_compiling():
        return False
    return not torch.jit.is_tracing()


def check_tensor(
    x: object,
    name: str,
    fn: str,
    *,
    floating: bool | None = None,
    ndim: int | Sequence[int] | None = None,
    min_ndim: int | None = None,
    max_ndim: int | None = None,
) -> Tensor:
    """Check that ``x`` is a tensor of the expected kind and rank; return it.

    ``floating=True`` requires a floating dtype, ``False`` an integer or bool dtype.
    """
    if not isinstance(x, Tensor):
        raise InputTypeError(f"{fn}: expected {name} to be a torch.Tensor, got {type(x).__name__}")
    if floating is True and not x.is_floating_point():
        raise InputTypeError(f"{fn}: expected {name} to be a floating-point tensor, got {x.dtype}")
    if floating is False and (x.is_floating_point() or x.is_complex()):
        raise InputTypeError(f"{fn}: expected {name} to be an integer tensor, got {x.dtype}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.dim() not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise InputError(
                f"{fn}: expected {name} to be {want}, got shape {shape_str(x)} ({x.dim()}-D)"
            )
    if min_ndim is not None and x.dim() < min_ndim:
        raise InputError(
            f"{fn}: expected {name} with at least {min_ndim} dims, got shape {shape_str(x)}"
        )
    if max_ndim is not None and x.dim() > max_ndim:
        raise InputError(
            f"{fn}: expected {name} with at most {max_ndim} dims, got shape {shape_str(x)}"
        )
    return x


def check_same_shape(
    a: Tensor, b: Tensor, fn: str, names: tuple[str, str] = ("input", "target")
) -> None:
    """Raise ValueError unless ``a`` and ``b`` have the same shape."""
    if a.shape != b.shape:
        raise InputError(
            f"{fn}: expected {names[1]} of shape {shape_str(a)} matching {names[0]}, "
            f"got {shape_str(b)}"
        )


def check_broadcastable(x: Tensor, shape: Sequence[int], name: str, fn: str) -> None:
    """Raise InputError unless ``x`` broadcasts *to* ``shape`` (without enlarging it)."""
    own, target = tuple(x.shape), tuple(shape)
    # the rule of torch.broadcast_shapes(own, target) == target, without its Python overhead
    ok = len(own) <= len(target) and all(
        a == 1 or a == b for a, b in zip(reversed(own), reversed(target))
    )
    if not ok:
        raise InputError(
            f"{fn}: expected {name} broadcastable to {shape_str(shape)}, got {shape_str(x)}"
        )


def check_labels(
    labels: Tensor,
    num_classes: int | None,
    fn: str,
    *,
    name: str = "target",
    ignore_index: int | None = None,
) -> None:
    """Check an integer label tensor and ``0 <= label < num_classes`` (see :func:`require`:
    immediately on the CPU in eager mode, by a device-side assertion on a GPU and under
    ``torch.compile``). Labels equal to ``ignore_index`` are allowed anywhere."""
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise InputTypeError(f"{fn}: expected {name} of integer class indices, got {labels.dtype}")
    if num_classes is None or labels.numel() == 0 or not _VALUE_CHECKS or labels.is_meta:
        return
    ignore = "" if ignore_index is None else f" (or ignore_index={ignore_index})"
    expected = f"{fn}: expected {name} class indices in [0, {num_classes - 1}]{ignore}"
    if values_checkable(labels):  # eager CPU: say which values were found
        valid = labels if ignore_index is None else labels[labels != ignore_index]
        if valid.numel() == 0:
            return
        lo_t, hi_t = torch.aminmax(valid)  # one pass over the labels
        lo, hi = int(lo_t), int(hi_t)
        if lo < 0 or hi >= num_classes:
            raise InputError(f"{expected}, got values in [{lo}, {hi}]")
        return
    ok = (labels >= 0) & (labels < num_classes)
    if ignore_index is not None:
        ok = ok | (labels == ignore_index)
    require(ok, f"{expected}; a label outside that range was found")


def check_positive(value: float, name: str, fn: str, *, allow_zero: bool = False) -> None:
    """Raise ValueError unless a scalar option is > 0 (or >= 0 with ``allow_zero``)."""
    bad = value < 0 if allow_zero else value <= 0
    if isinstance(value, Tensor):
        bad = bool(bad.any()) if values_checkable(value) else False
    if bad:
        op = ">= 0" if allow_zero else "> 0"
        raise OptionError(f"{fn}: expected {name} {op}, got {value}")


def check_fraction(value: float, name: str, fn: str) -> None:
    """Raise ValueError unless ``value`` is a real number with ``0 <= value <= 1`` (label
    smoothing, a scalar alpha, a learning rate of running centres)."""
    if isinstance(value, bool) or not isinstance(value, Real) or not 0.0 <= float(value) <= 1.0:
        raise OptionError(f"{fn}: expected {name} in [0, 1], got {value!r}")


def check_choice(value: object, choices: Sequence[object], name: str, fn: str) -> None:
    """Raise ValueError unless ``value`` is one of ``choices``."""
    if value not in choices:
        opts = ", ".join(repr(c) for c in choices)
        hint = did_you_mean(str(value), [c for c in choices if isinstance(c, str)])
        raise OptionError(f"{fn}: expected {name} to be one of {opts}, got {value!r}{hint}")
