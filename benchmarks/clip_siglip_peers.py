"""Moved: CLIP and SigLIP against OpenCLIP's ClipLoss and SigLipLoss
are cases of the side-by-side suite now (``visionloss/bench/bench_family_peers.py``, value
mappings checked in ``tests/bench/test_family_peers.py``). Run them with
``visionloss bench --peers --loss NAME ...``;
this wrapper does that for clip, siglip (extra
arguments are passed on, e.g. ``--device cuda --compile``)."""

from __future__ import annotations

import sys

from visionloss.bench.runner import main

LOSSES = "clip siglip".split()

if __name__ == "__main__":
    sys.exit(main(["--peers", *(a for name in LOSSES for a in ("--loss", name)), *sys.argv[1:]]))
