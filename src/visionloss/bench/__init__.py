"""The benchmark suite, shipped with the package (``visionloss bench``).

* :mod:`.cases`: :class:`~.cases.BenchCase` and the registry the ``bench_<family>.py`` modules
  fill (the ``peers`` suite of :mod:`.bench_peers` holds the side-by-side cases at realistic
  sizes);
* :mod:`.runner`: timing (interleaved repetitions, medians), peak extra memory (the CUDA
  allocator, or a fresh process per case on the CPU), CSV and console table;
* :mod:`.make_table`: CSV to markdown (the documentation's benchmark page);
* :mod:`.check_cost`, :mod:`.contrastive_memory`: two focused studies.

``RESULTS`` is the committed results folder of a source checkout (``benchmarks/results``),
or ``out/bench`` under the working directory for an installed wheel.
"""

from __future__ import annotations

from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[3] / "benchmarks" / "results"
RESULTS = _CHECKOUT if _CHECKOUT.is_dir() else Path("out") / "bench"

__all__ = ["RESULTS"]
