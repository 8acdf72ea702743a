"""Shared test configuration: the dtype tolerance table, seeding, and the gpu marker."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

# The one tolerance table (CONTRIBUTING.md, "Tests of one loss"): a loss computed from fp16/bf16 inputs must be close
# to the same loss computed in fp32 from the fp32 originals, within these bounds. The inputs'
# own rounding dominates (fp16 keeps 11 significant bits, bf16 8).
TOLERANCES: dict[torch.dtype, dict[str, float]] = {
    torch.float64: {"rtol": 1e-10, "atol": 1e-12},
    torch.float32: {"rtol": 1e-5, "atol": 1e-6},
    torch.float16: {"rtol": 1e-2, "atol": 1e-3},
    torch.bfloat16: {"rtol": 4e-2, "atol": 1e-2},
}

HALF_DTYPES = [pytest.param(torch.float16, id="fp16"), pytest.param(torch.bfloat16, id="bf16")]


def assert_close_dtype(actual: torch.Tensor, expected: torch.Tensor, dtype: torch.dtype) -> None:
    """``actual`` (from ``dtype`` inputs) is finite and within the table's tolerance of
    ``expected`` (from fp32 inputs)."""
    assert torch.isfinite(actual).all(), f"non-finite result for {dtype}: {actual}"
    torch.testing.assert_close(actual.float(), expected.float(), **TOLERANCES[dtype])


# Under pytest-xdist each worker takes one core: torch's own thread pool on top of it would
# oversubscribe the CPUs (tiny ops then run orders of magnitude slower).
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
