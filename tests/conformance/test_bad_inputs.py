"""No silent wrong numbers: a bad-input sweep of every registered loss, read from its registry row.

Every case is generated from the loss's example (``spec.examples``) and its declaration
(``visionloss._core.declare.declaration``); there is no test code for one loss. A case is one bad
call and what is due instead of a number:

* ``option`` / ``module``: a bad option value (NaN, +inf, outside the declared range and a string
  for a number; ``"yes"`` and ``1`` for a flag; a misspelt word for a choice; ``1.5`` for an index;
  a negative entry for non-negative tensor options), given to the function and to the Module's
  constructor: a ValueError or TypeError whose message starts with the function's (the Module's)
  name and names the option. An option is a number when its declared check is a ``Number`` or
  accepts a plain ``1.0`` (the families' own number checks declare no range: they get NaN, +inf
  and a string only).
* ``type`` / ``dtype`` / ``rank`` / ``device``: one positional tensor as a list (TypeError naming
  the function and the argument), with the other kind of dtype (floating as int64, integer as
  float32: a ValueError or TypeError naming both), with one extra leading dim or one dim removed
  (a ValueError naming the function), or on the ``meta`` device while the others stay on the
  CPU (an InputError naming both; not generated for a loss with one tensor). A loss may
  *accept* a changed dtype when it converts it exactly (the same loss as with the same values
  in the original dtype: BCE's documented integer 0/1 targets, a float mask), and an extra
  leading dim when it returns a finite value of the original's dtype and shape; such cases are
  recorded as ``accepted``, not failures.
* ``nan``: a NaN in one element of one floating input: the loss (``"mean"`` and ``"sum"``) is
  NaN or inf (or a ValueError naming the function), never a finite number.
* ``label`` / ``label_compile``: a class-index input (documented as class indices or with a range
  ``[0, S)``; ``S`` read from the shape another input documents, e.g. ``C`` of ``(B, C, *)``; a
  ``0/1`` mask has 2 classes) with one label set to the number of classes, or to -1 (unless it is
  the ignore index): a ValueError naming the function and the argument in eager CPU code; an
  exception of any kind under ``torch.compile`` (``eager`` and ``aot_eager`` backends).
* ``weight``: a per-call ``weight`` / ``weight_map`` that does not broadcast *to* the loss's
  elementwise shape (the shape of ``reduction="none"``): ``(N, 1, ..., 1)`` one dim too many, a
  leading ``2``, a wrong first size: a ValueError naming the function and the argument.
* ``normalizer``: a ``(2,)`` tensor as normalizer: a ValueError naming the function and it.

Each case ends in one outcome: ``ok``, ``accepted`` (see above), ``silent`` (a finite number where
an error or a non-finite value was due), ``returned`` (a non-finite or meta value where an error
was due), ``unnamed`` (raised, but the message lacks the function's or the argument's name) or
``type`` (named, but not the expected exception type). Run as a script,
``python -m tests.conformance.test_bad_inputs`` prints every failing case and a table of the
outcomes per loss and kind (``-v``: every case; ``--known``: the KNOWN_FAILURES entries that are
missing or stale).

A case that fails today is listed in :data:`KNOWN_FAILURES` (a strict xfail): the fix of a loss
makes its entries pass, which fails the suite until the entries are deleted.
"""

from __future__ import annotations

import math
import re
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from tests.conformance.test_registry_conformance import (  # noqa: F401 (autouse fixture)
    ROWS,
    _declared,
    _forbid_downloads,
    make,
)
from visionloss._core.declare import Declaration
from visionloss._core.examples import Example
from visionloss._core.options import Choice, Flag, IndexOption, Number, TensorOption
from visionloss._core.registry import LossSpec
from visionloss.errors import InputError

# ----------------------------------------------------------------------- known failures
# case id -> reason. Strict xfails: a fix makes the case pass and the suite fail until the entry
# is deleted.
# (loss, argument) documented as taking any number of leading dims: the input with its leading
# dim removed is a valid smaller input (total variation's (*, H, W) images, the GAN losses'
# logits of any shape), so a finite result of the same kind is ``accepted`` there
ANY_RANK = {
    ("total_variation", "input"),
    ("gan_discriminator", "real_logits"),
    ("gan_discriminator", "fake_logits"),
    ("gan_generator", "fake_logits"),
}
KNOWN_FAILURES: dict[str, str] = {}


# ------------------------------------------------------------------------------ outcomes
OK = ("ok", "accepted")


@dataclass(frozen=True)
class Result:
    outcome: str  # ok, accepted, silent, returned, unnamed, type
    detail: str = ""


@dataclass(frozen=True)
class Case:
    id: str
    loss: str
    kind: str
    run: Callable[[], Result]


def _named(message: str, name: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(name)}(?!\w)", message) is not None


def _starts_with(message: str, name: str) -> bool:
    return re.match(rf"{re.escape(name)}(?!\w)", message) is not None


def _finite(value: Any) -> bool:
    if not isinstance(value, Tensor) or value.device.type == "meta":
        return False
    return bool(torch.isfinite(value.detach()).all())


def _describe(value: Any) -> str:
    if isinstance(value, Tensor):
        if value.device.type == "meta" or value.numel() > 4:
            return f"a {value.dtype} tensor of shape {tuple(value.shape)} on {value.device.type}"
        return f"{value.detach().tolist()}"
    return f"{type(value).__name__}"


def _raised(
    error: Exception,
    names: tuple[str, ...],
    types: tuple[type[BaseException], ...],
    first: str | None = None,
) -> Result:
    """``first``: the name the message must start with; ``names``: the names it must contain."""
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    text = f"{type(error).__name__}: {message[:200]}"
    missing = [n for n in names if not _named(str(error), n)]
    if first is not None and not _starts_with(message, first):
        missing.insert(0, f"^{first}")
    if missing:
        return Result("unnamed", f"{text} (lacks {', '.join(missing)})")
    if not isinstance(error, types):
        return Result("type", text)
    return Result("ok", text)


def _expect_error(
    call: Callable[[], Any],
    names: tuple[str, ...],
    types: tuple[type[BaseException], ...] = (ValueError, TypeError),
    *,
    first: str | None = None,
    accept: Callable[[Any], bool] | None = None,
) -> Result:
    """An error is due: ``ok`` when ``call`` raises one of ``types`` naming ``names``."""
    try:
        value = call()
    except Exception as error:
        return _raised(error, names, types, first)
    if accept is not None and accept(value):
        return Result("accepted", f"returned {_describe(value)}")
    if _finite(value):
        return Result("silent", f"returned {_describe(value)}")
    return Result("returned", f"returned {_describe(value)}")


# ------------------------------------------------------------------------------ helpers
def _call(spec: LossSpec, example: Example, args: list[Any] | None = None, **more: Any) -> Any:
    """The example's call, with ``args`` in place of its positional inputs and ``more``
    added to (or replacing) its options and per-call arguments."""
    kwargs = {**example.options, **example.kwargs, **more}
    return spec.function(*(example.args if args is None else args), **kwargs)


def _default(decl: Declaration, example: Example, name: str) -> Any:
    for p in (*decl.options, *decl.per_call):
        if p.name == name:
            return example.options.get(name, example.kwargs.get(name, p.default))
    return None


def _reduction_words(decl: Declaration) -> tuple[str, ...]:
    checks = decl.checks.get("reduction", ())
    return tuple(
        w for c in checks if isinstance(c, Choice) for w in c.choices if isinstance(w, str)
    )


def _accepts_number(decl: Declaration, name: str, fn: str) -> bool:
    try:
        decl.check(name, 1.0, fn)
    except (ValueError, TypeError):
        return False
    return True


def _tensor_slots(spec: LossSpec, decl: Declaration) -> list[tuple[int, str, Tensor]]:
    example = make(spec)
    names = [p.name for p in decl.positional]
    return [
        (i, names[i], a)
        for i, a in enumerate(example.args)
        if isinstance(a, Tensor) and i < len(names)
    ]


def _module_builds(spec: LossSpec) -> bool:
    try:
        spec.module(**make(spec).options)
    except Exception:
        return False
    return True


# ---------------------------------------------------------------------- 1. bad options
def _bad_option_values(decl: Declaration, name: str, fn: str) -> list[tuple[str, Any]]:
    """(label, value) of the values every check of this option must refuse."""
    out: list[tuple[str, Any]] = []
    checks = decl.checks.get(name, ())
    numbers = [c for c in checks if isinstance(c, Number)]
    if numbers or (
        not any(isinstance(c, (Choice, Flag, IndexOption, TensorOption)) for c in checks)
        and _accepts_number(decl, name, fn)
    ):
        out += [("nan", math.nan), ("str", "one")]
        if not any(c.infinite for c in numbers):
            out.append(("inf", math.inf))
        for c in numbers:
            if c.lo is not None:
                out.append(("below", c.lo - 1))
                if c.lo_open:
                    out.append(("at-lo", c.lo))
            if c.hi is not None:
                out.append(("above", c.hi + 1))
                if c.hi_open:
                    out.append(("at-hi", c.hi))
    for c in checks:
        if isinstance(c, Flag):
            out += [("yes", "yes"), ("int", 1)]
        elif isinstance(c, Choice):
            words = [w for w in c.choices if isinstance(w, str)]
            out.append(("misspelt", (words[0] + "x") if words else "not-a-choice"))
        elif isinstance(c, IndexOption):
            out.append(("float", 1.5))
        elif isinstance(c, TensorOption) and c.nonnegative:
            out.append(("negative", [1.0, -1.0, 1.0]))
    return list(dict(out).items())


def _option_cases() -> list[Case]:
    cases = []
    for loss, spec in ROWS.items():
        decl = _declared(spec)
        if decl is None:
            continue
        fn, cls = spec.function.__name__, spec.module.__name__
        builds = _module_builds(spec)
        for option in decl.options:
            for label, value in _bad_option_values(decl, option.name, fn):

                def function(spec=spec, option=option.name, value=value, fn=fn) -> Result:
                    example = make(spec)
                    return _expect_error(
                        lambda: _call(spec, example, **{option: value}), (option,), first=fn
                    )

                cases.append(Case(f"{loss}-option-{option.name}-{label}", loss, "option", function))
                if not builds:
                    continue

                def module(spec=spec, option=option.name, value=value, cls=cls) -> Result:
                    example = make(spec)
                    options = {**example.options, option: value}
                    # a Module that takes the value is called: the outcome is its loss
                    return _expect_error(
                        lambda: spec.module(**options)(*example.args, **example.kwargs),
                        (option,),
                        first=cls,
                    )

                cases.append(Case(f"{loss}-module-{option.name}-{label}", loss, "module", module))
    return cases


# ----------------------------------------------------------------------- 2. bad tensors
def _replace(spec: LossSpec, index: int, change: Callable[[Tensor], Any]) -> Callable[[], Any]:
    """A call of a fresh example with its ``index``-th positional input changed."""

    def call() -> Any:
        example = make(spec)
        args = list(example.args)
        args[index] = change(args[index])
        return _call(spec, example, args)

    return call


def _same_as(
    spec: LossSpec, index: int, reference: Callable[[Tensor], Any]
) -> Callable[[Any], bool]:
    """Accept a value equal to the loss with ``reference(x)`` as the ``index``-th input: the
    loss converted the other dtype exactly (``x.long()`` taken as ``x.long().float()``)."""

    def accept(value: Any) -> bool:
        expected = _replace(spec, index, reference)()
        return (
            _finite(value)
            and value.shape == expected.shape
            and bool(torch.allclose(value.detach().float(), expected.detach().float()))
        )

    return accept


def _converted_back(x: Tensor) -> Tensor:
    return _other_dtype(x).to(x.dtype)


def _same_kind(spec: LossSpec) -> Callable[[Any], bool]:
    def accept(value: Any) -> bool:
        expected = _call(spec, make(spec))
        return _finite(value) and value.dtype == expected.dtype and value.shape == expected.shape

    return accept


def _other_dtype(x: Tensor) -> Tensor:
    return x.detach().long() if x.is_floating_point() else x.float()


def _removed_dim(x: Tensor) -> Tensor:
    return x[0]


def _extra_dim(x: Tensor) -> Tensor:
    return x.unsqueeze(0)


def _meta(x: Tensor) -> Tensor:
    return x.detach().to("meta")


def _has_other_tensor(spec: LossSpec, index: int) -> bool:
    example = make(spec)
    others = [a for i, a in enumerate(example.args) if i != index]
    others += [*example.kwargs.values(), *example.options.values()]
    return any(
        isinstance(v, Tensor) or (isinstance(v, nn.Module) and any(True for _ in v.parameters()))
        for v in others
    )


def _tensor_cases() -> list[Case]:
    cases = []
    for loss, spec in ROWS.items():
        decl = _declared(spec)
        if decl is None:
            continue
        fn = spec.function.__name__
        for index, arg, tensor in _tensor_slots(spec, decl):
            kind = "floating" if tensor.is_floating_point() else "integer"
            rows: list[tuple[str, str, Callable[[], Result]]] = [
                (
                    "type",
                    f"{arg}-list",
                    lambda s=spec, i=index, a=arg, f=fn: _expect_error(
                        _replace(s, i, lambda x: x.tolist()), (f, a), (TypeError,)
                    ),
                ),
                (
                    "dtype",
                    f"{arg}-{'int64' if kind == 'floating' else 'float32'}",
                    lambda s=spec, i=index, a=arg, f=fn: _expect_error(
                        _replace(s, i, _other_dtype),
                        (f, a),
                        accept=_same_as(s, i, _converted_back),
                    ),
                ),
                (
                    "rank",
                    f"{arg}-extra-dim",
                    lambda s=spec, i=index, f=fn: _expect_error(
                        _replace(s, i, _extra_dim), (f,), (ValueError,), accept=_same_kind(s)
                    ),
                ),
                (
                    "rank",
                    f"{arg}-removed-dim",
                    lambda s=spec, i=index, f=fn, a=arg: _expect_error(
                        _replace(s, i, _removed_dim),
                        (f,),
                        (ValueError,),
                        accept=_same_kind(s) if (s.name, a) in ANY_RANK else None,
                    ),
                ),
            ]
            if _has_other_tensor(spec, index):
                rows.append(
                    (
                        "device",
                        f"{arg}-meta",
                        lambda s=spec, i=index, a=arg, f=fn: _expect_error(
                            _replace(s, i, _meta), (f, a), (InputError,)
                        ),
                    )
                )
            for case_kind, label, run in rows:
                cases.append(Case(f"{loss}-{case_kind}-{label}", loss, case_kind, run))
    return cases


# --------------------------------------------------------------------------- NaN inputs
def _with_nan(x: Tensor) -> Tensor:
    y = x.clone()
    with torch.no_grad():
        y.view(-1)[0] = math.nan
    return y


def _nan_result(call: Callable[[], Any], fn: str) -> Result:
    try:
        value = call()
    except Exception as error:
        return _raised(error, (fn,), (ValueError,))
    if _finite(value):
        return Result("silent", f"returned {_describe(value)}")
    return Result("ok", f"returned {_describe(value)}")


def _nan_cases() -> list[Case]:
    cases = []
    for loss, spec in ROWS.items():
        decl = _declared(spec)
        if decl is None:
            continue
        fn = spec.function.__name__
        words = [w for w in ("mean", "sum") if w in _reduction_words(decl)]
        for index, arg, tensor in _tensor_slots(spec, decl):
            if not tensor.is_floating_point():
                continue
            for word in words:

                def run(s=spec, i=index, w=word, f=fn) -> Result:
                    example = make(s)
                    args = list(example.args)
                    args[i] = _with_nan(args[i])
                    return _nan_result(lambda: _call(s, example, args, reduction=w), f)

                cases.append(Case(f"{loss}-nan-{arg}-{word}", loss, "nan", run))
    return cases


# ------------------------------------------------------------------------ 3. bad labels
_RANGE = re.compile(r"\[0, (\w+)\)")
_SHAPE = re.compile(r"``\(([^)]*)\)``")


def _num_classes(spec: LossSpec, decl: Declaration, arg: str) -> int | None:
    """The number of classes of an integer input documented as class indices (``[0, S)``, or
    ``class indices``: ``S = C``; read from the example shape of the input documenting ``S``
    in its shape), or 2 for a documented ``0/1`` mask; None for other integer inputs."""
    entry = " ".join(decl.entries[arg].split())
    match = _RANGE.search(entry)
    if match is None and "class indices" not in entry:
        return 2 if "0/1" in entry else None
    symbol = match.group(1) if match else "C"
    example = make(spec)
    for p, value in zip(decl.positional, example.args):
        if p.name == arg or not isinstance(value, Tensor):
            continue
        shape = _SHAPE.search(" ".join(decl.entries[p.name].split()))
        if shape is None:
            continue
        dims = [d.strip() for d in shape.group(1).split(",")]
        if symbol in dims and dims.index(symbol) < value.dim():
            return int(value.shape[dims.index(symbol)])
    return None


def _set_label(x: Tensor, value: int) -> Tensor:
    y = x.clone()
    y.view(-1)[0] = value
    return y


def _compiled(spec: LossSpec, backend: str, call: Callable[[Callable[..., Any]], Any]) -> Any:
    torch._dynamo.reset()
    try:
        return call(torch.compile(spec.function, backend=backend))
    finally:
        torch._dynamo.reset()


def _label_cases() -> list[Case]:
    cases = []
    for loss, spec in ROWS.items():
        decl = _declared(spec)
        if decl is None:
            continue
        fn = spec.function.__name__
        example = make(spec)
        ignore = _default(decl, example, "ignore_index")
        for index, arg, tensor in _tensor_slots(spec, decl):
            if tensor.is_floating_point():
                continue
            classes = _num_classes(spec, decl, arg)
            if classes is None:
                continue
            for label, value in (("num_classes", classes), ("minus1", -1)):
                if value == ignore:
                    continue
                change = lambda x, v=value: _set_label(x, v)  # noqa: E731
                cases.append(
                    Case(
                        f"{loss}-label-{arg}-{label}-eager",
                        loss,
                        "label",
                        lambda s=spec, i=index, c=change, f=fn, a=arg: _expect_error(
                            _replace(s, i, c), (f, a), (ValueError,)
                        ),
                    )
                )
                for backend in ("eager", "aot_eager"):

                    def run(s=spec, i=index, c=change, b=backend) -> Result:
                        def call(compiled: Callable[..., Any]) -> Any:
                            ex = make(s)
                            args = list(ex.args)
                            args[i] = c(args[i])
                            return compiled(*args, **ex.options, **ex.kwargs)

                        return _expect_error(lambda: _compiled(s, b, call), (), (Exception,))

                    cases.append(
                        Case(
                            f"{loss}-label-{arg}-{label}-compile_{backend}",
                            loss,
                            "label_compile",
                            run,
                        )
                    )
    return cases


# ----------------------------------------------------------------- 4, 5. per-call args
def _weight_shapes(shape: tuple[int, ...]) -> list[tuple[str, tuple[int, ...]]]:
    """Shapes that do not broadcast *to* ``shape``: ``(N, 1, ..., 1)`` with one dim more (it
    broadcasts with ``shape`` to a larger one), a leading 2 (the same), a wrong first size."""
    if not shape:
        return [("leading2", (2,))]
    return [
        ("column", (shape[0], *([1] * len(shape)))),
        ("leading2", (2, *shape)),
        ("first-size", (shape[0] + 1, *shape[1:])),
    ]


def _per_call_cases() -> list[Case]:
    cases = []
    for loss, spec in ROWS.items():
        decl = _declared(spec)
        if decl is None:
            continue
        fn = spec.function.__name__
        per_call = {p.name for p in decl.per_call}
        weights = [n for n in ("weight", "weight_map") if n in per_call]
        if weights and "none" in _reduction_words(decl):
            shape = tuple(_call(spec, make(spec), reduction="none").shape)
            for name in weights:
                for label, bad in _weight_shapes(shape):

                    def run(s=spec, n=name, b=bad, f=fn) -> Result:
                        example = make(s)
                        dtype = example.floating()[0].dtype
                        weight = torch.ones(b, dtype=dtype)
                        return _expect_error(
                            lambda: _call(s, example, **{n: weight}), (f, n), (ValueError,)
                        )

                    cases.append(Case(f"{loss}-weight-{name}-{label}", loss, "weight", run))
        if "normalizer" in {p.name for p in (*decl.options, *decl.per_call)}:

            def run(s=spec, f=fn) -> Result:
                example = make(s)
                normalizer = torch.tensor([2.0, 3.0])
                return _expect_error(
                    lambda: _call(s, example, normalizer=normalizer, reduction="mean"),
                    (f, "normalizer"),
                    (ValueError,),
                )

            cases.append(Case(f"{loss}-normalizer-vector", loss, "normalizer", run))
    return cases


# --------------------------------------------------------------------------------- tables
CASES: dict[str, list[Case]] = {
    "options": _option_cases(),
    "tensors": _tensor_cases(),
    "nan": _nan_cases(),
    "labels": _label_cases(),
    "per_call": _per_call_cases(),
}
_IDS = [c.id for cases in CASES.values() for c in cases]
assert len(_IDS) == len(set(_IDS)), "duplicate case ids"


def _params() -> list[Any]:
    """Every case of every group (options, tensors, nan, labels, per_call), its id prefixed
    with the group."""
    params = []
    for group, cases in CASES.items():
        for case in cases:
            reason = KNOWN_FAILURES.get(case.id)
            marks = () if reason is None else (pytest.mark.xfail(strict=True, reason=reason),)
            params.append(pytest.param(case, id=f"{group}:{case.id}", marks=marks))
    return params


@pytest.mark.parametrize("case", _params())
def test_bad_input_is_an_error_naming_the_argument_or_a_non_finite_loss(case):
    """What each group asserts is in the module docstring: a bad option value, tensor, label
    or per-call argument raises naming the function (and argument); a NaN input gives a
    non-finite loss."""
    result = case.run()
    assert result.outcome in OK, f"{case.id}: {result.outcome}: {result.detail}"


def test_known_failures_name_real_cases():
    """Every KNOWN_FAILURES entry names a generated case (no stale entries)."""
    stale = sorted(set(KNOWN_FAILURES) - set(_IDS))
    assert not stale, stale


# ---------------------------------------------------------------------------- summary
def summary() -> tuple[list[tuple[Case, Result]], str]:
    """Run every case; the outcomes and a table of silent / unnamed (and other failures) per
    loss and kind."""
    results = []
    for cases in CASES.values():
        for case in cases:
            results.append((case, case.run()))
    kinds = list(dict.fromkeys(c.kind for c, _ in results))
    bad = ("silent", "unnamed", "returned", "type")
    lines = ["loss".ljust(22) + "".join(k.rjust(14) for k in kinds) + "total".rjust(12)]
    totals: Counter[tuple[str, str]] = Counter()
    for loss in ROWS:
        counts = Counter((c.kind, r.outcome) for c, r in results if c.loss == loss)
        totals.update(counts)
        if not any(counts[(k, o)] for k in kinds for o in bad):
            continue
        cells = []
        for k in kinds:
            s, u = counts[(k, "silent")], counts[(k, "unnamed")]
            other = counts[(k, "returned")] + counts[(k, "type")]
            cells.append((f"{s}/{u}" + (f"+{other}" if other else "")) if s or u or other else ".")
        row_s = sum(counts[(k, "silent")] for k in kinds)
        row_u = sum(counts[(k, "unnamed")] for k in kinds)
        row_o = sum(counts[(k, o)] for k in kinds for o in ("returned", "type"))
        lines.append(
            loss.ljust(22)
            + "".join(c.rjust(14) for c in cells)
            + f"{row_s}/{row_u}+{row_o}".rjust(12)
        )
    cells = []
    for k in kinds:
        cells.append(
            f"{totals[(k, 'silent')]}/{totals[(k, 'unnamed')]}"
            f"+{totals[(k, 'returned')] + totals[(k, 'type')]}"
        )
    n = Counter(r.outcome for _, r in results)
    lines.append("TOTAL".ljust(22) + "".join(c.rjust(14) for c in cells))
    lines.append(f"cases {len(results)}: " + ", ".join(f"{k} {v}" for k, v in sorted(n.items())))
    return results, "\n".join(lines)


def _known_report(results: list[tuple[Case, Result]]) -> str:
    failing = {c.id: r for c, r in results if r.outcome not in OK}
    lines = [f"    {cid!r}: {f'{r.outcome}: {r.detail}'!r}," for cid, r in failing.items()]
    lines = [ln for ln, cid in zip(lines, failing) if cid not in KNOWN_FAILURES]
    stale = [cid for cid in KNOWN_FAILURES if cid not in failing]
    return "\n".join(
        ["missing entries:", *lines, "stale entries (passing now):", *map(repr, stale)]
    )


if __name__ == "__main__":
    outcomes, table = summary()
    if "--known" in sys.argv:
        print(_known_report(outcomes))
        sys.exit()
    for case, result in outcomes:
        if result.outcome not in OK or "-v" in sys.argv:
            print(f"{case.id}\t{result.outcome}\t{result.detail}")
    print()
    print("silent/unnamed(+returned or wrong type), per loss (losses with no failure omitted)")
    print(table)
