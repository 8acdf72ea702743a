"""Benchmark cases: what to time for each loss, registered by the per-family scripts.

A family adds its cases in ``visionloss/bench/bench_<family>.py`` with :func:`add_cases`; the runner
imports every such script (:func:`load`), so a new script is picked up without touching the
runner or the command line. A case names a *registered* loss (``visionloss.get_loss``), an input
factory, the sizes to run on each device type, and optionally a plain-torch eager reference, peer
implementations and the bandwidth / flop floor of one forward+backward.

Every implementation is called as ``impl(*args)`` and returns a scalar loss; ``args`` come from
``make_inputs(shape, dtype, device)`` and the floating ones that require grad are differentiated.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

Shape = tuple[int, ...]
Inputs = Callable[[Shape, torch.dtype, torch.device], tuple[Any, ...]]


@dataclass(frozen=True)
class BenchCase:
    """One loss to time.

    Attributes:
        loss: registered name (``visionloss.get_loss(loss)``); "ours" calls its function.
        make_inputs: ``(shape, dtype, device) -> args``; tensors to differentiate have
            ``requires_grad=True``.
        shapes: sizes per device type, e.g. ``{"cpu": [(8, 3, 64, 64)], "cuda": [...]}``.
        options: keyword options of our function (and a note in the label when not empty).
        reference: a plain torch eager implementation ``(*args) -> loss`` (row "torch"), or None.
        peers: ``name -> factory``; the factory imports the peer and returns ``(*args) -> loss``
            (an ImportError means "not installed": the row is skipped). Run with ``--peers``.
        floor: ``(shape, dtype) -> {"bytes": n}`` and/or ``{"flops": n}``: the least memory
            traffic / arithmetic of one forward+backward, turned into milliseconds with the
            bandwidth and matmul rate measured on the device.
        dtypes: per device type, the dtypes to run (default float32 on CPU; float32 and
            bfloat16 on CUDA).
        label: distinguishes several cases of one loss (e.g. ``"beta=0.5"``).
        suite: ``"default"`` (the per-family suite) or ``"peers"`` (``--peers``: realistic
            sizes, every installed peer side by side, see ``bench_peers.py``).
        check_cost: also time ``ours`` with the value checks off (row ``ours[no checks]``).
    """

    loss: str
    make_inputs: Inputs
    shapes: Mapping[str, Sequence[Shape]]
    options: dict[str, Any] = field(default_factory=dict)
    reference: Callable[..., torch.Tensor] | None = None
    peers: dict[str, Callable[[], Callable[..., torch.Tensor]]] = field(default_factory=dict)
    floor: Callable[[Shape, torch.dtype], dict[str, float]] | None = None
    dtypes: Mapping[str, Sequence[torch.dtype]] = field(
        default_factory=lambda: {"cpu": (torch.float32,), "cuda": (torch.float32, torch.bfloat16)}
    )
    label: str = ""
    suite: str = "default"
    check_cost: bool = False

    @property
    def title(self) -> str:
        return f"{self.loss} ({self.label})" if self.label else self.loss


_CASES: list[BenchCase] = []


def add_cases(*cases: BenchCase) -> None:
    """Register cases (called at import time by the ``bench_<family>.py`` scripts)."""
    _CASES.extend(cases)


def load(family: str | None = None, suite: str | None = "default") -> list[BenchCase]:
    """Import every ``visionloss/bench/bench_*.py`` and return the cases (of one family)."""
    import visionloss
    from visionloss.errors import UnknownNameError

    here = Path(__file__).resolve().parent
    for info in pkgutil.iter_modules([str(here)]):
        if info.name.startswith("bench_"):
            importlib.import_module(f"{__package__}.{info.name}")
    out = []
    for case in _CASES:
        try:
            spec = visionloss.get_loss(case.loss)
        except UnknownNameError:
            continue  # the script knows a loss that is not registered (yet): nothing to time
        if (family is None or spec.family == family) and (suite is None or case.suite == suite):
            out.append(case)
    return out


# --- helpers shared by the scripts ------------------------------------------------------------


def prediction_and_target(shape: Shape, dtype: torch.dtype, device: torch.device):
    """``(input, target)``: standard normal, the input a leaf that requires grad."""
    x = torch.randn(shape, device=device).to(dtype).requires_grad_(True)
    y = torch.randn(shape, device=device).to(dtype)
    return x, y


def numel(shape: Shape) -> int:
    out = 1
    for s in shape:
        out *= s
    return out


def itemsize(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


def elementwise_floor(shape: Shape, dtype: torch.dtype) -> dict[str, float]:
    """A fused forward+backward of an elementwise loss reads input and target once and writes
    the input's gradient once: ``3 * numel * itemsize`` bytes."""
    return {"bytes": 3.0 * numel(shape) * itemsize(dtype)}
