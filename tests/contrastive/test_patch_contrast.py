"""patch_contrast_loss against a float64 loop of CFL-Net's Eqs. (1)-(2), against CFL-Net's own
code (re-expressed: equal without its per-column max shift, different with it), the mask at
other resolutions, hand values and degenerate inputs."""

from __future__ import annotations

import math

import pytest
import torch

import visionloss as vl
from tests.helpers import assert_finite_graph, grads
from tests.reference import contrastive as ref

from ._data import REDUCE, forgery_mask, vectors


def _lone_forged_patch():
    mask = torch.zeros(1, 4, 4, dtype=torch.long)
    mask[0, :2, :2] = 1  # with patch_size 2: exactly one forged patch (no positive)
    return mask


CASES = [
    pytest.param(1, 0.5, lambda: forgery_mask(3, 4, 4), id="patch1"),
    pytest.param(2, 0.5, lambda: forgery_mask(3, 6, 6, seed=5), id="patch2"),
    pytest.param(2, 0.2, lambda: forgery_mask(3, 6, 6, seed=5), id="patch2-threshold0.2"),
    pytest.param(2, 0.5, _lone_forged_patch, id="lone-forged-patch"),
]


@pytest.mark.parametrize("patch, threshold, make_mask", CASES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_matches_float64_loop(patch, threshold, make_mask, reduction):
    mask = make_mask()
    b, h, w = mask.shape
    f = vectors(b, 3, h, w)
    tau = 0.4

    def loop(x):
        per_image = ref.patch_contrast(x, mask, patch, tau, threshold)
        valid = torch.isfinite(per_image)
        if reduction == "none":
            return torch.where(valid, per_image, torch.zeros(()))
        return REDUCE[reduction](per_image[valid])

    def ours(x):
        return vl.patch_contrast_loss(
            x, mask, patch_size=patch, temperature=tau, threshold=threshold, reduction=reduction
        )

    value, (g,) = grads(ours, f)
    expected, (r,) = grads(loop, f)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(g, r)


def test_equals_cfl_net_code_without_its_column_shift_and_differs_with_it():
    mask = torch.zeros(3, 8, 8, dtype=torch.long)
    mask[0, :, :4] = 1
    mask[1, :4] = 1
    mask[2, 2:6, 3:7] = 1  # two forged patches; the half-covered ones stay pristine
    f = vectors(3, 6, 8, 8) * 3
    ours = vl.patch_contrast_loss(f, mask, patch_size=2, temperature=0.1, reduction="none")
    assert (ours > 0).all()  # every image has two classes and every patch a positive
    unshifted = ref.cfl_net_code(f, mask, 2, 0.1, column_shift=False)
    torch.testing.assert_close(ours.mean(), unshifted)
    shifted = ref.cfl_net_code(f, mask, 2, 0.1)
    assert abs(float(shifted - unshifted)) > 1e-2  # the per-column max changes the value


def test_rectangular_patches():
    mask = forgery_mask(2, 4, 6, seed=3)
    f = vectors(2, 3, 4, 6)
    pooled = torch.nn.functional.avg_pool2d(f, (2, 3))
    fraction = torch.nn.functional.avg_pool2d(mask[:, None].double(), (2, 3))[:, 0]
    torch.testing.assert_close(
        vl.patch_contrast_loss(f, mask, patch_size=(2, 3)),
        vl.patch_contrast_loss(pooled, fraction, patch_size=1),
    )


def test_mask_at_image_resolution_is_area_averaged():
    # features at 1/4 of the image: a mask at full resolution gives each patch its forged fraction
    mask_full = forgery_mask(2, 16, 16, seed=4)
    f = vectors(2, 3, 4, 4)
    fraction = torch.nn.functional.avg_pool2d(mask_full[:, None].double(), 4)[:, 0]
    torch.testing.assert_close(
        vl.patch_contrast_loss(f, mask_full, patch_size=1),
        vl.patch_contrast_loss(f, fraction, patch_size=1),
    )
    torch.testing.assert_close(
        vl.patch_contrast_loss(f, mask_full[:, None].bool(), patch_size=1),
        vl.patch_contrast_loss(f, fraction > 0.5, patch_size=1),
    )


@pytest.mark.parametrize("tau", [1.0, 0.2])
def test_hand_value_two_orthogonal_halves(tau):
    # left half along x (pristine), right half along y (forged): every patch sees one positive
    # at 1 and two negatives at 0: log(1 + 2 e^{-1/tau})
    f = torch.zeros(1, 2, 2, 2)
    f[0, 0, :, 0] = 1.0
    f[0, 1, :, 1] = 1.0
    mask = torch.tensor([[[0, 1], [0, 1]]])
    out = vl.patch_contrast_loss(f, mask, patch_size=1, temperature=tau)
    torch.testing.assert_close(out.item(), math.log1p(2 * math.exp(-1.0 / tau)))


def test_a_single_class_image_contributes_nothing():
    mask = forgery_mask(2, 4, 4)
    f = vectors(3, 3, 4, 4)
    with_plain = torch.cat([mask, torch.zeros(1, 4, 4, dtype=torch.long)])
    torch.testing.assert_close(
        vl.patch_contrast_loss(f, with_plain, patch_size=1),
        vl.patch_contrast_loss(f[:2], mask, patch_size=1),
    )
    assert vl.patch_contrast_loss(f, with_plain, patch_size=1, reduction="none")[2] == 0


@pytest.mark.parametrize("value", [0, 1])
def test_all_single_class_batch_is_zero_with_graph(value):
    f = vectors(2, 3, 4, 4).requires_grad_()
    out = vl.patch_contrast_loss(f, torch.full((2, 4, 4), value), patch_size=2)
    assert out.item() == 0.0
    assert_finite_graph(out, f)


BAD = [
    pytest.param(
        lambda f, m: (f[..., :3], m),
        {"patch_size": 2},
        ValueError,
        r"expected features whose H, W are multiples of patch_size \(2, 2\), got "
        r"\(2, 3, 4, 3\)",
        id="not-divisible",
    ),
    pytest.param(
        lambda f, m: (f, m[:1]),
        {},
        ValueError,
        r"expected mask with batch size 2 matching features \(2, 3, 4, 4\), got "
        r"\(1, 4, 4\)",
        id="mask-batch",
    ),
    pytest.param(
        lambda f, m: (f, m[:, None].repeat(1, 2, 1, 1)),
        {},
        ValueError,
        r"expected mask of shape \(B, H, W\) or \(B, 1, H, W\)",
        id="mask-channels",
    ),
    pytest.param(
        lambda f, m: (f, m[0, 0]), {}, ValueError, "expected mask to be 3-D or 4-D", id="mask-rank"
    ),
    pytest.param(
        lambda f, m: (f[0], m), {}, ValueError, "expected features to be 4-D", id="features-rank"
    ),
    pytest.param(
        lambda f, m: (f, m),
        {"patch_size": 0},
        ValueError,
        "expected patch_size to be an int >= 1 or a pair, got 0",
        id="patch-zero",
    ),
    pytest.param(
        lambda f, m: (f, m),
        {"patch_size": 1.5},
        ValueError,
        "expected patch_size to be an int >= 1 or a pair",
        id="patch-float",
    ),
    pytest.param(
        lambda f, m: (f, m),
        {"threshold": 1.0},
        ValueError,
        r"expected threshold in \[0, 1\), got 1.0",
        id="threshold",
    ),
]


@pytest.mark.parametrize("make, opts, error, match", BAD)
def test_bad_inputs(make, opts, error, match):
    f, m = vectors(2, 3, 4, 4), forgery_mask(2, 4, 4)
    with pytest.raises(error, match=f"patch_contrast_loss: {match}"):
        vl.patch_contrast_loss(*make(f, m), **opts)
