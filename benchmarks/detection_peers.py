"""Moved: distribution focal and CIoU against ultralytics, asymmetric against timm
are cases of the side-by-side suite now (``visionloss/bench/bench_family_peers.py``, value
mappings checked in ``tests/bench/test_family_peers.py``). Run them with
``visionloss bench --peers --loss NAME ...``;
this wrapper does that for distribution_focal, ciou, asymmetric (extra
arguments are passed on, e.g. ``--device cuda --compile``)."""

from __future__ import annotations

import sys

from visionloss.bench.runner import main

LOSSES = "distribution_focal ciou asymmetric".split()

if __name__ == "__main__":
    sys.exit(main(["--peers", *(a for name in LOSSES for a in ("--loss", name)), *sys.argv[1:]]))
