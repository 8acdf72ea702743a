"""The side-by-side cases of ``visionloss/bench/bench_family_peers.py`` at tiny sizes: each
builds its inputs, ours and every installed peer run forward+backward once, and where the
conventions match, ours and the peer give the same value.

Convention mapping (the full ones are in the family tests named in each comment):

* ssim (valid): ``1 - pytorch_msssim.ssim(x, y, data_range=1)``,
  ``1 - piq.ssim(x, y, data_range=1, downsample=False)`` (tests/quality/test_ssim.py).
* ssim (padded, ours ``padding="same"``): ``2 * kornia.losses.ssim_loss(x, y, 11)`` (kornia's
  loss is ``(1 - SSIM) / 2`` of its reflect-padded map); ``1 - torchmetrics``' SSIM (it
  reflect-pads and crops only the cs map, so its SSIM is our ``"same"``).
* ms_ssim: ``1 - pytorch_msssim.ms_ssim``, ``1 - piq.multi_scale_ssim`` (same five weights,
  relu'd cs); torchmetrics' MS-SSIM mixes paddings (valid cs terms, a "same" SSIM at the
  coarsest scale, see test_ssim.py::test_ms_ssim_torchmetrics_mapping): timed, not compared.
* arcface: PML ``ArcFaceLoss(margin=degrees(0.5), scale=64)`` with ``W = weight.T``;
  proxy_anchor: PML ``ProxyAnchorLoss`` with ``proxies = weight`` (margin 0.1, alpha 32);
  multi_similarity: PML ``MultiSimilarityLoss()`` with ``MultiSimilarityMiner(0.1)`` = our
  ``mine=True, epsilon=0.1``; circle: PML ``CircleLoss(m=0.4, gamma=80)``
  (tests/metric/test_margin_heads.py, test_pair_losses.py, test_proxy_losses.py).
* clip / siglip: OpenCLIP's ``ClipLoss`` / ``SigLipLoss`` on ``F.normalize``'d features with
  ``exp(log_scale)`` (and the bias): same values (tests/contrastive/).
* distribution_focal: ultralytics ``DFLoss(reg_max=16)`` (16 bins = our 0..15) on
  ``(N * 4, 16)`` logits, mean of its ``(N, 1)`` per-anchor side means = our mean.
* ciou: ``(1 - bbox_iou(p, t, xywh=False, CIoU=True)).mean()`` (eps 1e-7 there).
* asymmetric: timm ``AsymmetricLossMultiLabel(4, 1, clip=0.05, reduction="sum")``, our
  ``reduction="sum"``.
"""

from __future__ import annotations

import pytest
import torch

import visionloss as vl
from visionloss.bench import bench_family_peers as fp
from visionloss.bench import cases as bench_cases
from visionloss.bench.runner import fwd_bwd

TINY = {
    "ssim": (2, 3, 32, 32),
    "ms_ssim": (1, 1, 176, 176),  # five scales of an 11-pixel window need > 160 pixels
    "arcface": (64, 16),
    "multi_similarity": (64, 16),
    "circle": (64, 16),
    "proxy_anchor": (64, 16),
    "clip": (32, 8),
    "siglip": (32, 8),
    "distribution_focal": (256,),
    "ciou": (256,),
    "asymmetric": (16, 50),
}

# (case title, peer): relative tolerance of the value comparison in float64; a peer of a case
# that is not listed here is only run (its conventions differ, see the module docstring)
SAME_VALUE = {
    ("ssim (valid)", "pytorch-msssim"): 1e-6,
    ("ssim (valid)", "piq"): 1e-5,  # piq's eps 1e-8 in the ratios
    ("ssim (padded)", "kornia"): 1e-6,
    ("ssim (padded)", "torchmetrics"): 1e-6,
    ("ms_ssim", "pytorch-msssim"): 1e-4,  # pooling of odd sizes (count_include_pad)
    ("ms_ssim", "piq"): 1e-4,  # piq replicate-pads the top / left before pooling
    ("arcface", "pml"): 1e-6,
    ("multi_similarity (miner)", "pml"): 1e-6,
    ("circle", "pml"): 1e-6,
    ("proxy_anchor", "pml"): 1e-6,
    ("clip", "open_clip"): 1e-6,
    ("siglip", "open_clip"): 1e-6,
    ("distribution_focal", "ultralytics"): 1e-6,
    ("ciou", "ultralytics"): 1e-5,  # ultralytics' eps 1e-7 in the IoU and the aspect term
    ("asymmetric", "timm"): 1e-6,  # timm's eps 1e-8 inside the logs
}

IMPORTS = {
    "pytorch-msssim": "pytorch_msssim",
    "piq": "piq",
    "kornia": "kornia",
    "torchmetrics": "torchmetrics",
    "pml": "pytorch_metric_learning",
    "open_clip": "open_clip",
    "ultralytics": "ultralytics",
    "timm": "timm",
}


def test_cases_are_registered_in_the_peer_suite():
    peers = bench_cases.load(None, "peers")
    titles = {c.title for c in peers}
    assert {c.title for c in fp.CASES} <= titles
    assert {c.loss for c in fp.CASES} == set(TINY)
    for case in fp.CASES:
        assert case.suite == "peers" and case.peers
        assert set(case.peers) <= set(IMPORTS)
        assert case.shapes["cpu"] and case.shapes["cuda"]
    # the sizes of the issues on the CPU
    sizes = {c.loss: tuple(c.shapes["cpu"][0]) for c in fp.CASES}
    assert sizes["ssim"] == sizes["ms_ssim"] == (8, 3, 256, 256)
    assert sizes["arcface"] == sizes["proxy_anchor"] == (2048, 512)
    assert sizes["clip"] == sizes["siglip"] == (2048, 512)
    assert sizes["distribution_focal"] == (1 << 20,)
    assert sizes["asymmetric"] == (1024, 1000)


@pytest.mark.parametrize("case", fp.CASES, ids=lambda c: c.title.replace(" ", "-"))
def test_case_runs_and_matches_its_peers(case):
    cpu = torch.device("cpu")
    shape = TINY[case.loss]
    fn = vl.get_loss(case.loss).function
    args = case.make_inputs(shape, torch.float32, cpu)
    fwd_bwd(lambda *a: fn(*a, **case.options), args)  # the runner's call, float32
    args64 = case.make_inputs(shape, torch.float64, cpu)
    ours = fn(*args64, **case.options)
    assert torch.isfinite(ours)
    compared = 0
    for name, make in case.peers.items():
        pytest.importorskip(IMPORTS[name])
        impl = make()
        fwd_bwd(impl, args)  # forward+backward once at the runner's dtype
        value = impl(*args64)
        assert torch.isfinite(value), name
        rtol = SAME_VALUE.get((case.title, name))
        if rtol is not None:
            torch.testing.assert_close(value.double(), ours.double(), rtol=rtol, atol=1e-9)
            compared += 1
    assert compared >= 1  # every case has at least one peer with the same convention
