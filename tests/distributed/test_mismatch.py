"""A process whose inputs differ from the others' (feature size, dtype) makes EVERY process end
in the same clear error naming the function and each rank's shape, quickly: no process aborts
inside the collective and none waits for the process group's timeout (30 minutes by default).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import visionloss as vl
from tests.distributed._harness import free_port, gloo_group, leave

pytestmark = [
    pytest.mark.distributed,
    pytest.mark.skipif(
        not (dist.is_available() and dist.is_gloo_available()),
        reason="needs torch.distributed gloo",
    ),
]

# rank -> (feature size, dtype) per case; rank 1 differs
CASES = {
    "feature-size": [(8, torch.float32), (6, torch.float32)],
    "dtype": [(8, torch.float32), (8, torch.float64)],
}


def _worker(rank: int, port: int, out_dir: str) -> None:
    torch.set_num_threads(1)
    report = {}
    # the process group's own timeout is long: the test shows the error does not wait for it
    with gloo_group(rank, 2, port, timeout=300.0):
        for case, specs in CASES.items():
            d, dtype = specs[rank]
            z = torch.randn(4, d, dtype=dtype)
            try:
                vl.nt_xent_loss(z, z + 0.1, gather="global")
                report[case] = {"raised": None}
            except Exception as err:  # the test asserts the type by name
                report[case] = {"raised": type(err).__name__, "message": str(err)}
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(report))
    leave()


def test_a_feature_size_or_dtype_mismatch_ends_every_rank_with_a_clear_error(tmp_path):
    start = time.monotonic()
    ctx = mp.start_processes(
        _worker, args=(free_port(), str(tmp_path)), nprocs=2, join=False, start_method="spawn"
    )
    while not ctx.join(timeout=1.0):
        if time.monotonic() - start > 60:
            for p in ctx.processes:
                p.kill()
            pytest.fail("a rank was still waiting after 60 s")
    reports = [json.loads(Path(tmp_path, f"rank{r}.json").read_text()) for r in range(2)]
    for rank, report in enumerate(reports):
        for case in CASES:
            got = report[case]
            assert got["raised"] == "InputError", (rank, case, got)
            assert got["message"].startswith("nt_xent_loss: "), got["message"]
        assert (
            "rank 0 has (4, 2, 8) float32, rank 1 has (4, 2, 6) float32"
            in report["feature-size"]["message"]
        )
        assert (
            "rank 0 has (4, 2, 8) float32, rank 1 has (4, 2, 8) float64"
            in report["dtype"]["message"]
        )
