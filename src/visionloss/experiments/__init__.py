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
) -> Callable[[Callable[..., ExperimentResult]], Callable[..., ExperimentResult]]:
    """Decorator registering ``fn(quick, out, **options) -> ExperimentResult`` under ``name``.

    ``losses`` names (registry names) the losses the experiment compares."""

    def decorate(fn: Callable[..., ExperimentResult]) -> Callable[..., ExperimentResult]:
        if name in _EXPERIMENTS:
            raise OptionError(f"register_experiment: {name!r} is already registered")
        _EXPERIMENTS[name] = Experiment(
            name, summary, family, fn, reference, tuple(arguments), tuple(losses)
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


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            return f"{value:.3e}"
        return f"{value:.4f}"
    return str(value)


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table with aligned columns.

    Example:
        >>> print(format_table(["loss", "AP"], [["bce", 0.5], ["focal", 0.75]]))
        loss   AP
        -----  ------
        bce    0.5000
        focal  0.7500
    """
    cells = [[_fmt(v) for v in row] for row in rows]
    widths = [len(c) for c in columns]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)
