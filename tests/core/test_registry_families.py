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
    pytest.param("regression", {"charbonnier", "huber", "l1", "mse", "smooth_l1"}, id="regression"),
    pytest.param(
        "classification",
        {
            "cross_entropy",
            "binary_cross_entropy",
            "focal",
            "softmax_focal",
            "kl_divergence",
            "js_divergence",
        },
        id="classification",
    ),
    pytest.param(
        "segmentation",
        {
            "dice",
            "dice_ce",
            "dice_focal",
            "focal_tversky",
            "generalized_dice",
            "jaccard",
            "lovasz",
            "tversky",
        },
        id="segmentation",
    ),
    pytest.param(
        "boxes",
        {
            "alpha_iou",
            "box_l1",
            "box_smooth_l1",
            "cdiou",
            "ciou",
            "diou",
            "eiou",
            "focal_eiou",
            "giou",
            "inner_iou",
            "iou",
            "mpdiou",
            "siou",
            "wiou",
        },
        id="boxes",
    ),
    pytest.param(
        "metric", {"contrastive", "triplet_margin", "batch_triplet", "center"}, id="metric"
    ),
    pytest.param(
        "contrastive",
        {"info_nce", "nt_xent", "supcon", "patch_contrast", "pixel_info_nce"},
        id="contrastive",
    ),
    pytest.param(
        "synthesis",
        {
            "perceptual",
            "content",
            "style",
            "texture",
            "content_style",
            "topology",
            "total_variation",
        },
        id="synthesis",
    ),
    pytest.param(
        "adversarial",
        {
            "cycle_consistency",
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
