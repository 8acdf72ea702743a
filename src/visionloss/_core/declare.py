"""One declaration per loss: the function's signature is the single source of its options.

A loss is written as a function whose keyword-only parameters are its options, each annotated
with an option type from :mod:`.options` (what values it accepts), and decorated with
:func:`loss_function`. The decorator

* composes the docstring: arguments the function's own ``Args:`` section leaves out are taken
  from its family's shared descriptions (:class:`DocParts`), in signature order, and
  ``{{marker}}`` lines are replaced by the family's shared paragraphs, so each description is
  written once per family;
* checks every option a caller passes (type, range, choice; unknown keywords get a close-match
  suggestion), once, at the public boundary.

:func:`loss_module` then derives the Module: its ``__init__`` takes the options (real signature,
the function's defaults), its ``forward`` the inputs plus the per-call arguments (``PER_CALL``
in the annotation), and both carry docstrings composed from the same descriptions.
:func:`~visionloss._core.registry.register_loss` does this when given the Module's class name.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import re
import typing
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ..errors import InputError, InputTypeError, UnknownOptionError, did_you_mean
from .dtypes import autocast_off
from .migration import peer_hint
from .module import LossModule
from .options import PER_CALL, Check, plain_sequence

__all__ = ["DocParts", "Declaration", "loss_function", "loss_module", "declaration"]

_MARKER = re.compile(r"\{\{(\w+)\}\}")
_ENTRY = re.compile(r"^(\*{0,2}\w+)(\s*\([^)]*\))?:")


@dataclass(frozen=True)
class DocParts:
    """Docstring text a family writes once: argument descriptions by name, and paragraphs that
    a docstring pulls in with a ``{{name}}`` marker."""

    args: Mapping[str, str] = field(default_factory=dict)
    paragraphs: Mapping[str, str] = field(default_factory=dict)

    def __or__(self, other: DocParts) -> DocParts:
        return DocParts({**self.args, **other.args}, {**self.paragraphs, **other.paragraphs})


@dataclass(frozen=True)
class Declaration:
    """What :func:`loss_function` learned from a loss's signature."""

    name: str
    signature: inspect.Signature
    positional: tuple[inspect.Parameter, ...]
    options: tuple[inspect.Parameter, ...]
    per_call: tuple[inspect.Parameter, ...]
    checks: Mapping[str, tuple[Check, ...]]
    entries: Mapping[str, str]
    # deprecated argument names -> their current names (accepted with a FutureWarning)
    renamed: Mapping[str, str] = field(default_factory=dict)
    # appended to the error of a call that lacks a required input (another library's form)
    call_hint: str = ""

    def check_arity(self, args: tuple[Any, ...], kwargs: Mapping[str, Any], fn: str) -> None:
        """A call without a required input is a TypeError naming it, and ``call_hint``."""
        missing = [
            p.name
            for p in self.positional[len(args) :]
            if p.default is p.empty and p.name not in kwargs
        ]
        if missing:
            raise InputTypeError(
                f"{fn}: missing required argument {missing[0]!r}; {self.call_hint}"
            )

    @property
    def keywords(self) -> tuple[str, ...]:
        return tuple(p.name for p in (*self.options, *self.per_call))

    def check(self, key: str, value: Any, fn: str) -> Any:
        value = plain_sequence(value)  # a ListConfig from a config file is a list here
        for check in self.checks.get(key, ()):
            value = check(value, key, fn)
        return value

    def rename(self, kwargs: dict[str, Any], fn: str, stacklevel: int = 3) -> dict[str, Any]:
        """``kwargs`` with every deprecated argument name replaced by its current name, and one
        FutureWarning naming them (the old names are kept for one release)."""
        if not self.renamed or not any(k in self.renamed for k in kwargs):
            return kwargs
        out = dict(kwargs)
        moved = []
        for old, new in self.renamed.items():
            if old not in out:
                continue
            if new in out:
                raise UnknownOptionError(
                    f"{fn}: got both {old!r} (its former name) and {new!r}; pass only {new!r}"
                )
            out[new] = out.pop(old)
            moved.append(f"{old!r} is now called {new!r}")
        warnings.warn(
            f"{fn}: the argument {'; '.join(moved)}; the old name will be removed in the next "
            "release",
            FutureWarning,
            stacklevel=stacklevel,
        )
        return out

    def unknown(self, key: str, fn: str, allowed: tuple[str, ...]) -> UnknownOptionError:
        return UnknownOptionError(
            f"{fn}: got an unexpected keyword argument {key!r}{did_you_mean(key, allowed)}"
            f"{peer_hint(key)}"  # another library's keyword: name our equivalent and the guide
        )


def declaration(function: Callable[..., Any]) -> Declaration:
    """The :class:`Declaration` of a function decorated with :func:`loss_function`."""
    decl = getattr(function, "__visionloss__", None)
    if not isinstance(decl, Declaration):
        raise TypeError(f"{getattr(function, '__name__', function)!r} is not a declared loss")
    return decl


# ------------------------------------------------------------------------------ docstrings
def _indent(text: str, prefix: str) -> str:
    lines = inspect.cleandoc(text).splitlines()
    return "\n".join([lines[0], *[(prefix + ln) if ln else ln for ln in lines[1:]]])


def _section(lines: list[str], title: str) -> tuple[int, int] | None:
    """``(start, end)`` line indices of a top-level Google section's body."""
    try:
        start = lines.index(f"{title}:") + 1
    except ValueError:
        return None
    end = start
    while end < len(lines) and (not lines[end] or lines[end].startswith(" ")):
        end += 1
    while end > start and not lines[end - 1]:
        end -= 1
    return start, end


def _parse_entries(body: list[str]) -> dict[str, list[str]]:
    entries: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in body:
        text = line[4:] if line.startswith("    ") else line.strip()
        match = _ENTRY.match(text) if not text.startswith(" ") else None
        if match:
            current = entries.setdefault(match.group(1).lstrip("*"), [])
            current.append(text)
        elif current is not None:
            current.append(text)
    return entries


def _compose(
    function: Callable[..., Any], sig: inspect.Signature, parts: DocParts
) -> tuple[str, dict[str, str]]:
    doc = inspect.cleandoc(function.__doc__ or "")
    out = []
    for line in doc.splitlines():
        match = _MARKER.search(line)
        if match:
            key = match.group(1)
            if key not in parts.paragraphs:
                raise KeyError(f"{function.__name__}: no shared paragraph {key!r}")
            prefix = line[: len(line) - len(line.lstrip())]
            line = line.replace(match.group(0), _indent(parts.paragraphs[key], prefix))
        out.append(line)
    lines = "\n".join(out).splitlines()
    names = [p.name for p in sig.parameters.values()]
    span = _section(lines, "Args")
    own = _parse_entries(lines[span[0] : span[1]]) if span else {}
    entries: dict[str, str] = {}
    for name in names:
        if name in own:
            entries[name] = "\n".join(own[name])
        elif name in parts.args:
            entries[name] = f"{name}: " + _indent(parts.args[name], "    ")
        else:
            raise TypeError(f"{function.__name__}: argument {name!r} is not documented")
    for name, text in own.items():  # documented extras (``**kwargs`` forms) stay
        entries.setdefault(name, "\n".join(text))
    body = ["    " + ln if ln else ln for e in entries.values() for ln in e.splitlines()]
    if span:
        lines[span[0] : span[1]] = body
    else:
        cut = next((i for i, ln in enumerate(lines) if re.match(r"^[A-Z]\w*:$", ln)), len(lines))
        lines[cut:cut] = ["Args:", *body, ""]
    return "\n".join(lines) + "\n", entries


# ------------------------------------------------------------------------------- functions
def _checks_of(
    functions: Sequence[Callable[..., Any]],
) -> tuple[dict[str, tuple[Check, ...]], set[str]]:
    checks: dict[str, tuple[Check, ...]] = {}
    per_call: set[str] = set()
    for function in functions:
        for name, hint in typing.get_type_hints(function, include_extras=True).items():
            meta = getattr(hint, "__metadata__", ())
            found = tuple(m for m in meta if isinstance(m, Check))
            if found:
                checks[name] = found
            if any(m is PER_CALL for m in meta):
                per_call.add(name)
    return checks, per_call


def _check_devices(
    fn: str, names: tuple[str, ...], args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> None:
    """Every tensor argument on one device (0-dim CPU tensors, like Python numbers, mix with
    any device); otherwise an InputError naming the function and each tensor's device."""
    found: list[tuple[str, torch.device]] = []
    for name, value in (*zip(names, args), *kwargs.items()):
        if isinstance(value, Tensor) and not (value.dim() == 0 and value.device.type == "cpu"):
            found.append((name, value.device))
    if len({d for _, d in found}) > 1:
        where = ", ".join(f"{name} on {device}" for name, device in found)
        raise InputError(f"{fn}: expected every tensor on the same device, got {where}")


@contextlib.contextmanager
def _autocast_off() -> Iterator[None]:
    """Losses compute in fp32 (fp64 for fp64 inputs) and return fp32, as torch's own losses do
    under autocast: autocast is switched off inside, half inputs are upcast by the loss."""
    with contextlib.ExitStack() as stack:
        for device in ("cpu", "cuda"):
            stack.enter_context(autocast_off(device))
        yield


OptionGroup = Callable[..., None]


def _expand(
    function: Callable[..., Any], groups: Sequence[OptionGroup]
) -> tuple[inspect.Signature, dict[str, Any]]:
    """The function's signature with ``**options`` replaced by the keyword-only parameters of
    its option groups, and those parameters' defaults."""
    sig = inspect.signature(function)
    params = list(sig.parameters.values())
    var = [p for p in params if p.kind is p.VAR_KEYWORD]
    if not groups:
        return sig, {}
    if not var:
        raise TypeError(f"{function.__name__}: option groups need a ``**options`` parameter")
    extra = [
        p
        for g in groups
        for p in inspect.signature(g).parameters.values()
        if p.kind is p.KEYWORD_ONLY
    ]
    names = [p.name for p in params if p.kind is not p.VAR_KEYWORD] + [p.name for p in extra]
    if len(set(names)) != len(names):
        raise TypeError(f"{function.__name__}: an option is declared twice: {names}")
    full = [p for p in params if p.kind is not p.VAR_KEYWORD] + extra
    defaults = {p.name: p.default for p in extra if p.default is not p.empty}
    return sig.replace(parameters=full), defaults


def loss_function(
    parts: DocParts | None = None,
    *,
    options: OptionGroup | Sequence[OptionGroup] = (),
    keep_autocast: bool = False,
    renamed: Mapping[str, str] | None = None,
    call_hint: str = "",
) -> Callable[[Callable[..., Tensor]], Callable[..., Tensor]]:
    """Declare a loss function: compose its docstring from ``parts`` and check the options a
    caller passes against their annotated option types.

    ``options``: option groups, i.e. signature-only functions ``def group(*, a: A = 1, ...)``
    that declare options several losses of a family share, once. A function using groups
    ends its signature with ``**options``; its real signature (``inspect.signature``, the
    docs, the derived Module) lists the groups' options in their place, and the body receives
    every group option in ``options`` (defaults filled in).

    Under ``torch.autocast`` the loss runs with autocast switched off (it computes in fp32 and
    returns fp32); ``keep_autocast=True`` is for losses whose main cost is a network the user
    passes (feature losses, gradient penalties): that network then runs under the user's
    autocast, and the loss is returned in fp32.

    ``renamed``: ``{"old_name": "new_name"}`` for arguments that were renamed; a caller (of the
    function or of the Module's ``forward`` and constructor) passing the old keyword gets a
    ``FutureWarning`` and the value goes to the new argument, for one release.
    ``call_hint``: a sentence added to the error of a call that lacks a required input, for
    losses whose name another library uses with another calling form (say which call fits).
    """
    groups = (options,) if callable(options) else tuple(options)

    def wrap(function: Callable[..., Tensor]) -> Callable[..., Tensor]:
        sig, group_defaults = _expand(function, groups)
        checks, per_call_names = _checks_of((function, *groups))
        params = tuple(sig.parameters.values())
        positional = tuple(
            p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        )
        keyword = tuple(p for p in params if p.kind is p.KEYWORD_ONLY)
        doc, entries = _compose(function, sig, parts or DocParts())
        decl = Declaration(
            name=function.__name__,
            signature=sig,
            positional=positional,
            options=tuple(p for p in keyword if p.name not in per_call_names),
            per_call=tuple(p for p in keyword if p.name in per_call_names),
            checks=checks,
            entries=entries,
            renamed=dict(renamed or {}),
            call_hint=call_hint,
        )
        for old, new in decl.renamed.items():
            if new not in sig.parameters or old in sig.parameters:
                raise TypeError(f"{function.__name__}: renamed={{{old!r}: {new!r}}} does not fit")
        for p in keyword:  # the declared defaults must pass their own checks
            if p.default is not p.empty:
                decl.check(p.name, p.default, function.__name__)
        fn_name = function.__name__
        accepted = tuple(sig.parameters)
        arg_names = tuple(p.name for p in positional)

        @functools.wraps(function)
        def checked(*args: Any, **kwargs: Any) -> Tensor:
            if decl.renamed:
                kwargs = decl.rename(kwargs, fn_name)
            if decl.call_hint and len(args) < len(arg_names):
                decl.check_arity(args, kwargs, fn_name)
            for key in kwargs:
                if key in checks:
                    kwargs[key] = decl.check(key, kwargs[key], fn_name)
                elif key not in sig.parameters:
                    raise decl.unknown(key, fn_name, accepted)
            if group_defaults:
                kwargs = {**group_defaults, **kwargs}
            _check_devices(fn_name, arg_names, args, kwargs)
            if torch.is_autocast_enabled("cpu") or torch.is_autocast_enabled("cuda"):
                if keep_autocast:  # the user's network runs as the user set it up
                    out = function(*args, **kwargs)
                    return out.float() if out.dtype in (torch.float16, torch.bfloat16) else out
                with _autocast_off():
                    return function(*args, **kwargs)
            return function(*args, **kwargs)

        own_code_object(checked, fn_name)
        checked.__signature__ = sig  # type: ignore[attr-defined]
        # documentation tools follow __wrapped__ to the undecorated function (raw signature,
        # uncomposed docstring); the declaration and __signature__ say everything instead
        del checked.__wrapped__
        checked.__doc__ = doc
        checked.__visionloss__ = decl  # type: ignore[attr-defined]
        return checked

    return wrap


def own_code_object(function: Any, name: str) -> None:
    """Give ``function`` (made by a shared factory) a code object of its own, named ``name``.

    torch.compile keeps its compiled graphs per code object, at most
    ``torch._dynamo.config.cache_size_limit`` (8): with one code object shared by every
    declared function, the ninth loss compiled in a process ran eager, silently. The name
    also tells the functions apart in profiles and tracebacks."""
    short = name.rsplit(".", 1)[-1]
    function.__code__ = function.__code__.replace(co_name=short, co_qualname=name)


# --------------------------------------------------------------------------------- Modules
def _entries_doc(decl: Declaration, params: tuple[inspect.Parameter, ...]) -> str:
    lines: list[str] = []
    for p in params:
        lines.extend("    " + ln if ln else ln for ln in decl.entries[p.name].splitlines())
    return "\n".join(lines)


def loss_module(
    function: Callable[..., Tensor],
    class_name: str,
    *,
    base: type[LossModule] = LossModule,
    module: str | None = None,
) -> type[LossModule]:
    """Derive the Module of a declared loss function.

    ``__init__`` takes the function's options (keyword-only, same defaults, checked with the
    class name in messages); ``forward`` takes its positional inputs and its per-call
    arguments. Tensor options become buffers (they follow ``.to()`` and ``.double()``).
    """
    decl = declaration(function)
    options = decl.options
    init_names = tuple(p.name for p in options)
    call_names = tuple(p.name for p in (*decl.positional, *decl.per_call))
    defaults = {p.name: p.default for p in options if p.default is not p.empty}
    summary = (function.__doc__ or "").strip().splitlines()[0]

    def __init__(self: LossModule, **kwargs: Any) -> None:
        kwargs = decl.rename(kwargs, class_name)
        for key in kwargs:
            if key in call_names and key not in init_names:
                raise UnknownOptionError(
                    f"{class_name}: {key!r} is a per-call argument: pass it to forward"
                )
            if key not in init_names:
                raise decl.unknown(key, class_name, init_names)
        checked = {k: decl.check(k, v, class_name) for k, v in kwargs.items()}
        missing = [n for n in init_names if n not in checked and n not in defaults]
        if missing:
            raise TypeError(f"{class_name}: missing required option {missing[0]!r}")
        base.__init__(self, **{**defaults, **checked})

    def forward(self: LossModule, *args: Any, **kwargs: Any) -> Tensor:
        kwargs = decl.rename(kwargs, f"{class_name}.forward", stacklevel=5)
        if decl.call_hint and len(args) < len(decl.positional):
            decl.check_arity(args, kwargs, class_name)
        for key in kwargs:
            if key in init_names and key not in call_names:
                raise UnknownOptionError(
                    f"{class_name}.forward: {key!r} is an option: set it when constructing "
                    f"the Module"
                )
            if key not in call_names:
                raise decl.unknown(key, f"{class_name}.forward", call_names)
        return type(self).function(*args, **self.options(), **kwargs)

    self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    __init__.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [self_param, *options], return_annotation=None
    )
    forward.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [self_param, *decl.positional, *decl.per_call], return_annotation=Tensor
    )
    init_doc = _entries_doc(decl, options)
    __init__.__doc__ = f"Set the options of :func:`{decl.name}`.\n\nArgs:\n{init_doc}\n"
    forward.__doc__ = (
        f"Compute :func:`{decl.name}` with this Module's options.\n\nArgs:\n"
        f"{_entries_doc(decl, (*decl.positional, *decl.per_call))}\n\nReturns:\n"
        f"    the loss (see :func:`{decl.name}`).\n"
    )
    doc = f"{summary}\n\nModule form of :func:`{decl.name}`.\n\nArgs:\n{init_doc}\n"
    namespace = {
        "function": staticmethod(function),
        "__init__": __init__,
        "forward": forward,
        "__doc__": doc,
        "__module__": module or function.__module__,
        "__qualname__": class_name,
    }
    cls = type(class_name, (base,), namespace)
    for attr in ("__init__", "forward"):
        method = getattr(cls, attr)
        method.__qualname__ = f"{class_name}.{attr}"
        method.__module__ = cls.__module__  # documentation tools resolve methods by module
        own_code_object(method, method.__qualname__)
    return cls
