"""Every family's registry lists the losses it ships (CONTRIBUTING.md, "How to add a loss":
a loss exists for ``build_loss``, the CLI, the docs and the registry-wide conformance suite
only through ``register_loss``). The conformance suite runs over whatever is registered, so a
loss that drops out of the registry fails nothing there: this table of expected names does."""

from __future__ import annotations

import pytest

import visionloss as vl
from visionloss._core.registry import FAMILIES

# family: registry names it must list (more may be added)
EXPECTED = [
    pytest.param(
        "regression",
        {
            "charbonnier",
            "huber",
            "l1",
            "mse",
            "smooth_l1",
        },
        id="regression",
    ),
    pytest.param(
        "classification",
        {
            "asymmetric",
            "binary_cross_entropy",
            "cross_entropy",
            "focal",
            "ghm_c",
            "js_divergence",
            "kl_divergence",
            "poly",
            "quality_focal",
            "seesaw",
            "sigmoid_poly",
            "softmax_asymmetric",
            "softmax_focal",
            "varifocal",
        },
        id="classification",
    ),
    pytest.param(
        "segmentation",
        {
            "asymmetric_unified_focal",
            "boundary",
            "cldice",
            "dice",
            "dice_ce",
            "dice_cldice",
            "dice_focal",
            "dice_topk",
            "focal_tversky",
            "generalized_dice",
            "generalized_wasserstein_dice",
            "hausdorff_dt",
            "hausdorff_er",
            "jaccard",
            "log_cosh_dice",
            "lovasz",
            "mcc",
            "topk_cross_entropy",
            "tversky",
        },
        id="segmentation",
    ),
    pytest.param(
        "boxes",
        {
            "alpha_iou",
            "balanced_l1",
            "box_l1",
            "box_smooth_l1",
            "cdiou",
            "ciou",
            "diou",
            "distribution_focal",
            "eiou",
            "focal_eiou",
            "ghm_r",
            "giou",
            "gwd",
            "inner_iou",
            "iou",
            "kld",
            "mpdiou",
            "probiou",
            "siou",
            "wiou",
        },
        id="boxes",
    ),
    pytest.param(
        "metric",
        {
            "adaface",
            "arcface",
            "batch_triplet",
            "center",
            "circle",
            "contrastive",
            "cosface",
            "lifted_structure",
            "margin",
            "multi_similarity",
            "npair",
            "proxy_anchor",
            "proxy_nca",
            "soft_triple",
            "sphereface",
            "subcenter_arcface",
            "triplet_margin",
        },
        id="metric",
    ),
    pytest.param(
        "contrastive",
        {
            "clip",
            "dcl",
            "info_nce",
            "nt_xent",
            "patch_contrast",
            "patch_nce",
            "pixel_info_nce",
            "siglip",
            "supcon",
        },
        id="contrastive",
    ),
    pytest.param(
        "synthesis",
        {
            "content",
            "content_style",
            "lpips",
            "perceptual",
            "style",
            "texture",
            "topology",
            "total_variation",
        },
        id="synthesis",
    ),
    pytest.param(
        "quality",
        {
            "focal_frequency",
            "gradient_difference",
            "ms_ssim",
            "ms_ssim_l1",
            "psnr",
            "ssim",
        },
        id="quality",
    ),
    pytest.param(
        "self_supervised",
        {
            "barlow_twins",
            "dino",
            "koleo",
            "negative_cosine",
            "swav",
            "vicreg",
        },
        id="self_supervised",
    ),
    pytest.param(
        "adversarial",
        {
            "cycle_consistency",
            "feature_matching",
            "gan_discriminator",
            "gan_generator",
            "gradient_penalty",
            "identity",
            "r1",
        },
        id="adversarial",
    ),
]


@pytest.mark.parametrize("family, names", EXPECTED)
def test_registry_lists_the_family(family, names):
    listed = {s.name for s in vl.list_losses(family)}
    assert names <= listed, f"{family}: not registered: {sorted(names - listed)}"
    for name in names:
        assert vl.get_loss(name).family == family


def test_every_family_has_a_table():
    assert {p.values[0] for p in EXPECTED} == set(FAMILIES)
