"""Small reproducible experiments on embedded data (paper reproductions and comparisons).

Each experiment is a function ``fn(quick: bool, out: Path, **options) -> ExperimentResult``
registered with :func:`register_experiment` in its own module of this package; modules are
discovered automatically. :func:`run_experiment` creates the output folder, runs it, prints the
result table and writes ``results.json`` next to the PNG figures.

An experiment checks its options before doing any work and rejects a bad value with
:class:`~visionloss.errors.ExperimentError` (a ``ValueError``) whose message starts with the
experiment's name and a colon (``"gan-2d: expected steps >= 1, got 0"``). The command line
prints that error as one line (exit code 2), told apart by its type; any other exception keeps
its traceback.
"""

from __future__ import annotations

import importlib
import json
import math
import pkgutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ExperimentError, OptionError, UnknownNameError, did_you_mean

__all__ = [
    "Experiment",
    "ExperimentOptionError",
    "ExperimentResult",
    "register_experiment",
    "list_experiments",
    "get_experiment",
    "run_experiment",
    "format_table",
    "format_cells",
    "column_formats",
]


# the former name of the error an experiment raises on a bad option value
ExperimentOptionError = ExperimentError


@dataclass
class ExperimentResult:
    """What an experiment hands back: a table, figures, and any extra JSON-able data."""

    title: str
    columns: list[str]
    rows: list[list[Any]]
    figures: list[Path] = field(default_factory=list)
    notes: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def table(self) -> str:
        return format_table(self.columns, self.rows)

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "columns": self.columns,
            "rows": self.rows,
            "figures": [str(f) for f in self.figures],
            "notes": self.notes,
            "data": self.data,
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class Experiment:
    name: str
    summary: str
    family: str
    function: Callable[..., ExperimentResult]
    reference: str = ""
    # extra command-line options: (flags, argparse keyword arguments)
    arguments: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = ()
    # registry names of the losses the experiment compares (the report lists these)
    losses: tuple[str, ...] = ()
    # the column that ranks the rows and whether "max" or "min" is best (the report marks it)
    metric: tuple[str, str] | None = None
    # first cells of rows that are references, not contenders (never marked best)
    baselines: tuple[str, ...] = ()

    def best_rows(self, result: ExperimentResult) -> list[int]:
        """Indices of the rows of ``result`` with the best value of :attr:`metric` (ties all
        marked; baselines and non-finite values never); empty without a declared metric."""
        if self.metric is None or self.metric[0] not in result.columns:
            return []
        col = result.columns.index(self.metric[0])
        values = {
            i: float(row[col])
            for i, row in enumerate(result.rows)
            if _is_number(row[col])
            and math.isfinite(row[col])
            and str(row[0]) not in self.baselines
        }
        if not values:
            return []
        best = (max if self.metric[1] == "max" else min)(values.values())
        return [i for i, v in values.items() if v == best]


_EXPERIMENTS: dict[str, Experiment] = {}
_DISCOVERED = False


def register_experiment(
    name: str,
    *,
    summary: str,
    family: str,
    reference: str = "",
    arguments: Sequence[tuple[tuple[str, ...], dict[str, Any]]] = (),
    losses: Sequence[str] = (),
    metric: tuple[str, str] | None = None,
    baselines: Sequence[str] = (),
) -> Callable[[Callable[..., ExperimentResult]], Callable[..., ExperimentResult]]:
    """Decorator registering ``fn(quick, out, **options) -> ExperimentResult`` under ``name``.

    ``losses`` names (registry names) the losses the experiment compares; ``metric`` is
    ``(column, "max" | "min")``, the column of the result table that ranks its rows (the
    report marks the best row); ``baselines`` the first cells of reference rows that do not
    compete (``"untrained"``, ``"target (floor)"``)."""
    if metric is not None and (len(metric) != 2 or metric[1] not in ("max", "min")):
        raise OptionError(
            f"register_experiment: expected metric=(column, 'max' | 'min'), got {metric!r}"
        )

    def decorate(fn: Callable[..., ExperimentResult]) -> Callable[..., ExperimentResult]:
        if name in _EXPERIMENTS:
            raise OptionError(f"register_experiment: {name!r} is already registered")
        _EXPERIMENTS[name] = Experiment(
            name,
            summary,
            family,
            fn,
            reference,
            tuple(arguments),
            tuple(losses),
            None if metric is None else (str(metric[0]), str(metric[1])),
            tuple(baselines),
        )
        return fn

    return decorate


def _discover() -> None:
    global _DISCOVERED
    if _DISCOVERED:
        return
    _DISCOVERED = True
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


def list_experiments() -> list[Experiment]:
    """Every registered experiment, sorted by name."""
    _discover()
    return [_EXPERIMENTS[k] for k in sorted(_EXPERIMENTS)]


def get_experiment(name: str) -> Experiment:
    """The experiment called ``name``; UnknownNameError with close matches otherwise."""
    _discover()
    if name not in _EXPERIMENTS:
        raise UnknownNameError(
            f"unknown experiment {name!r}{did_you_mean(name, _EXPERIMENTS)} "
            "(see `visionloss experiment --list`)"
        )
    return _EXPERIMENTS[name]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return value


def run_experiment(
    name: str,
    *,
    quick: bool = False,
    out: str | Path | None = None,
    verbose: bool = True,
    **options: Any,
) -> ExperimentResult:
    """Run experiment ``name``, print its table, write ``results.json`` and figures to ``out``
    (default ``out/<name>``) and return the result. A bad option value raises
    :class:`~visionloss.errors.ExperimentError` (a ValueError)."""
    exp = get_experiment(name)
    out_dir = Path(out) if out is not None else Path("out") / name
    out_dir.mkdir(parents=True, exist_ok=True)
    import torch

    threads = torch.get_num_threads()
    start = time.perf_counter()
    try:
        result = exp.function(quick=quick, out=out_dir, **options)
    finally:
        torch.set_num_threads(threads)  # experiments may limit threads; leave the caller's
    result.seconds = time.perf_counter() - start
    payload = {**_jsonable(result.to_json()), "quick": quick}  # the docs say which run it is
    (out_dir / "results.json").write_text(json.dumps(payload, indent=2))
    if verbose:
        print(f"\n{result.title}  ({'quick' if quick else 'full'} run, {result.seconds:.1f}s)")
        print(result.table())
        if result.notes:
            print(result.notes)
        for fig in result.figures:
            print(f"figure: {fig}")
        print(f"results: {out_dir / 'results.json'}")
        sys.stdout.flush()
    return result


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fmt(value: Any) -> str:
    """One value alone (see :func:`column_formats` for a table's columns)."""
    return column_formats([[value]])[0](value)


def column_formats(rows: Sequence[Sequence[Any]]) -> list[Callable[[Any], str]]:
    """One formatter per column, so that a column's numbers share one format: integers as
    integers; floats with 4 decimals (2 from 100 on), or in scientific notation when the
    column's largest magnitude is 1e5 or more, or its smallest nonzero one below 0.001 (which
    4 decimals would show as 0). Missing values (None, NaN) are
    ``-``; a standard-deviation column (``... std``) that is 0 throughout (one seed) is ``-``
    too. Text is text."""
    width = max((len(r) for r in rows), default=0)
    formats: list[Callable[[Any], str]] = []
    for col in range(width):
        values = [r[col] for r in rows if col < len(r)]
        floats = [float(v) for v in values if _is_number(v) and math.isfinite(v)]
        if floats and all(isinstance(v, int) for v in values if _is_number(v)):
            spec = "d"
        elif floats:
            top = max(abs(v) for v in floats)
            low = min((abs(v) for v in floats if v != 0), default=0.0)
            spec = ".3e" if top >= 1e5 or 0 < low < 1e-3 else (".2f" if top >= 100 else ".4f")
        else:
            spec = ".4f"
        formats.append(_formatter(spec))
    return formats


def _formatter(spec: str) -> Callable[[Any], str]:
    def fmt(value: Any) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "-"
        if _is_number(value):
            if math.isinf(value):
                return "inf" if value > 0 else "-inf"
            return format(int(value), "d") if spec == "d" else format(float(value), spec)
        return str(value)

    return fmt


def format_cells(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[list[str]]:
    """The rows as text, one format per column (:func:`column_formats`); a ``... std`` column
    that is 0 in every row (a single seed) is ``-``."""
    formats = column_formats(rows)
    cells = [[formats[i](v) for i, v in enumerate(row)] for row in rows]
    for i, name in enumerate(columns):
        values = [r[i] for r in rows if i < len(r)]
        if (
            str(name).strip().lower().endswith("std")
            and values
            and all(_is_number(v) and v == 0 for v in values)
        ):
            for row in cells:
                row[i] = "-"
    return cells


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table with aligned columns, one number format per column.

    Example:
        >>> print(format_table(["loss", "AP"], [["bce", 0.5], ["focal", 0.75]]))
        loss   AP
        -----  ------
        bce    0.5000
        focal  0.7500
    """
    cells = format_cells(columns, rows)
    widths = [len(c) for c in columns]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)
