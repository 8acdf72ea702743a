"""total_variation_loss against kornia (per pixel and per image) and a loop reference, on a
ramp by hand, at a constant image (isotropic: finite gradient), and with bad inputs."""

from __future__ import annotations

import pytest
import torch

import visionloss as vl
from tests.helpers import grads
from tests.reference import synthesis as ref

from ._data import images

KINDS = ["anisotropic", "isotropic", "squared"]


@pytest.mark.parametrize("kind", KINDS)
def test_matches_the_loop_reference_values_and_gradients(kind):
    x = images(2, 2, 4, 5, dtype=torch.float64, low=-1.0)
    value, (g,) = grads(vl.total_variation_loss, x, kind=kind, eps=1e-3, reduction="none")
    expected, (g_ref,) = grads(lambda t: ref.total_variation(t, kind, eps=1e-3), x)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(g, g_ref)


def test_kornia_total_variation_mapping():
    """kornia.losses.total_variation(img, reduction="sum") returns, per (B, C), the sum of the
    absolute vertical and horizontal differences: our anisotropic per-pixel map summed over
    (H, W). (Its "mean" averages each direction over its own count of differences and adds the
    two means, a different normalisation from our per-pixel mean.)"""
    kornia = pytest.importorskip("kornia")
    x = images(3, 2, 6, 7, dtype=torch.float64, low=-1.0)
    ours, (g,) = grads(lambda t: vl.total_variation_loss(t, reduction="none").sum((-2, -1)), x)
    theirs, (g_ref,) = grads(lambda t: kornia.losses.total_variation(t, reduction="sum"), x)
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(g, g_ref)
    torch.testing.assert_close(vl.total_variation_loss(x, reduction="sum"), theirs.sum())


@pytest.mark.parametrize(
    "shape, sum_dims",
    [
        # (B, C, H, W): kornia returns (B, C), one sum per channel; ours sums the channels too
        pytest.param((3, 2, 6, 7), (-1,), id="BCHW"),
        # (B, H, W): kornia returns (B,), already one value per image
        pytest.param((4, 5, 6), (), id="BHW"),
    ],
)
def test_per_image_matches_kornia_total_variation(shape, sum_dims):
    """kornia.losses.total_variation(img, reduction="sum") gives, per (*) of an input (*, H, W),
    the summed absolute vertical and horizontal differences. Our per_image=True value of a
    (B, *, H, W) batch is the sum over (*, H, W) of the anisotropic per-pixel map, so it is
    kornia's output summed over the dims between B and (H, W). Gradients agree too."""
    kornia = pytest.importorskip("kornia")
    x = images(*shape, dtype=torch.float64, low=-1.0)
    ours, (g,) = grads(vl.total_variation_loss, x, per_image=True, reduction="none")

    def theirs_fn(t):
        tv = kornia.losses.total_variation(t, reduction="sum")
        return tv.sum(sum_dims) if sum_dims else tv

    theirs, (g_ref,) = grads(theirs_fn, x)
    assert ours.shape == (shape[0],)
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(g, g_ref)
    torch.testing.assert_close(
        vl.total_variation_loss(x, per_image=True), theirs.mean()
    )  # "mean": over images
    torch.testing.assert_close(
        vl.total_variation_loss(x, per_image=True, reduction="sum"), theirs.sum()
    )


@pytest.mark.parametrize("kind", KINDS)
def test_per_image_sums_the_pixel_map_of_each_image(kind):
    x = images(3, 2, 5, 4, dtype=torch.float64, low=-1.0)
    pixel_map = vl.total_variation_loss(x, kind=kind, reduction="none")
    per_image = vl.total_variation_loss(x, kind=kind, per_image=True, reduction="none")
    torch.testing.assert_close(per_image, pixel_map.sum((1, 2, 3)))
    torch.testing.assert_close(
        vl.total_variation_loss(x, kind=kind, per_image=True), per_image.mean()
    )
    # "sum" is the batch's TV either way; "mean" differs by the pixels per image, C * H * W
    torch.testing.assert_close(
        vl.total_variation_loss(x, kind=kind, per_image=True, reduction="sum"),
        vl.total_variation_loss(x, kind=kind, reduction="sum"),
    )
    torch.testing.assert_close(
        vl.total_variation_loss(x, kind=kind, per_image=True),
        2 * 5 * 4 * vl.total_variation_loss(x, kind=kind),
    )
    module = vl.TotalVariationLoss(kind=kind, per_image=True, reduction="none")
    torch.testing.assert_close(module(x), per_image)


def test_per_image_ramp_by_hand():
    ramp = torch.arange(4.0).expand(1, 3, 4)  # each row 0, 1, 2, 3: TV 9 (3 rows x 3 steps)
    batch = torch.stack([ramp, 2 * ramp, torch.zeros_like(ramp)])  # (3, 1, 3, 4)
    out = vl.total_variation_loss(batch, per_image=True, reduction="none")
    torch.testing.assert_close(out, torch.tensor([9.0, 18.0, 0.0]))
    torch.testing.assert_close(
        vl.total_variation_loss(batch, kind="squared", per_image=True, reduction="none"),
        torch.tensor([9.0, 36.0, 0.0]),
    )


@pytest.mark.parametrize(
    "kind, expected",
    [
        # each row 0, 1, 2, 3 (3 rows): 3 horizontal steps of 1 per row, no vertical change
        pytest.param("anisotropic", 9.0, id="anisotropic"),
        pytest.param("squared", 9.0, id="squared"),
        pytest.param("isotropic", 9.0, id="isotropic"),
    ],
)
def test_ramp_by_hand(kind, expected):
    ramp = torch.arange(4.0).expand(1, 1, 3, 4)
    out = vl.total_variation_loss(ramp, kind=kind, reduction="sum")
    torch.testing.assert_close(out, torch.tensor(expected), atol=1e-5, rtol=0)
    # per pixel: 1 where a right neighbour exists, 0 in the last column
    expected_map = torch.tensor([1.0, 1.0, 1.0, 0.0]).expand(1, 1, 3, 4)
    torch.testing.assert_close(
        vl.total_variation_loss(ramp, kind=kind, reduction="none"), expected_map, atol=1e-5, rtol=0
    )
    torch.testing.assert_close(
        vl.total_variation_loss(ramp, kind=kind), torch.tensor(9 / 12), atol=1e-6, rtol=0
    )


def test_diagonal_ramp_distinguishes_the_kinds():
    x = (torch.arange(3.0).view(3, 1) + torch.arange(3.0).view(1, 3)).view(1, 1, 3, 3)
    # interior pixels (2x2) see dx = dy = 1: anisotropic 2, isotropic sqrt(2), squared 2
    # border pixels (4) see one difference of 1; the corner none
    aniso = vl.total_variation_loss(x, reduction="sum")
    iso = vl.total_variation_loss(x, kind="isotropic", reduction="sum")
    torch.testing.assert_close(aniso, torch.tensor(4 * 2.0 + 4 * 1.0))
    torch.testing.assert_close(iso, torch.tensor(4 * 2**0.5 + 4 * 1.0), atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", KINDS)
def test_constant_image_is_zero_with_a_finite_zero_gradient(kind):
    x = torch.full((2, 3, 5, 5), 0.7, requires_grad=True)
    out = vl.total_variation_loss(x, kind=kind, reduction="sum")
    (g,) = torch.autograd.grad(out, x)
    assert out.item() == pytest.approx(0.0, abs=1e-6)
    assert torch.isfinite(g).all() and g.abs().max() == 0


def test_isotropic_without_eps_would_be_nan_at_a_constant_image():
    """Why eps exists: the exact root has an undefined gradient at zero."""
    x = torch.zeros(1, 1, 3, 3, requires_grad=True)
    dx = x[..., :, 1:] - x[..., :, :-1]
    dy = x[..., 1:, :] - x[..., :-1, :]
    (g,) = torch.autograd.grad(torch.sqrt(dx[..., :-1, :] ** 2 + dy[..., :-1] ** 2).sum(), x)
    assert torch.isnan(g).any()


@pytest.mark.parametrize("shape", [(5, 6), (2, 2, 3, 5, 6)], ids=["2-d", "5-d"])
def test_any_leading_dims(shape):
    x = images(*shape, dtype=torch.float64)
    assert vl.total_variation_loss(x, reduction="none").shape == shape
    flat = x.reshape(-1, *shape[-2:])
    torch.testing.assert_close(
        vl.total_variation_loss(x, reduction="sum"), vl.total_variation_loss(flat, reduction="sum")
    )


def test_half_extremes_are_finite():
    x = torch.tensor([[-6e4, 6e4], [6e4, -6e4]], dtype=torch.float16).expand(1, 1, 2, 2)
    out = vl.total_variation_loss(x, kind="squared", reduction="sum")
    assert out.dtype == torch.float32 and torch.isfinite(out)


@pytest.mark.parametrize(
    "kwargs, x, error, match, bad_option",
    [
        pytest.param(
            {"kind": "l2"},
            images(1, 1, 3, 3),
            ValueError,
            "expected kind to be one of 'anisotropic', 'isotropic', 'squared'",
            True,
            id="kind",
        ),
        pytest.param(
            {"eps": 0.0}, images(1, 1, 3, 3), ValueError, "expected eps > 0", True, id="eps"
        ),
        pytest.param(
            {"per_image": "yes"},
            images(1, 1, 3, 3),
            ValueError,
            "expected per_image to be one of False, True, got 'yes'",
            True,
            id="per-image-word",
        ),
        pytest.param(
            {"per_image": True},
            images(3, 3),
            ValueError,
            r"expected input of shape \(B, \*, H, W\) with per_image=True .*, got \(3, 3\)",
            False,
            id="per-image-2-d",
        ),
        pytest.param(
            {}, images(5), ValueError, r"at least 2 dims, got shape \(5,\)", False, id="1-d"
        ),
        pytest.param(
            {},
            torch.zeros(3, 3, dtype=torch.long),
            TypeError,
            "floating-point",
            False,
            id="integer",
        ),
    ],
)
def test_bad_inputs(kwargs, x, error, match, bad_option):
    with pytest.raises(error, match=f"total_variation_loss: .*{match}"):
        vl.total_variation_loss(x, **kwargs)
    if bad_option:
        with pytest.raises(ValueError, match="TotalVariationLoss"):
            vl.TotalVariationLoss(**kwargs)


def test_float32_sum_accumulates_accurately():
    """The anisotropic path sums 3 million differences in float32: cascade summation keeps it
    within 1e-6 of float64 (a sequential L1 norm, ``vector_norm(d, 1)``, was off by 4e-5)."""
    x = torch.rand(8, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    value = vl.total_variation_loss(x, reduction="sum")
    exact = vl.total_variation_loss(x.double(), reduction="sum")
    torch.testing.assert_close(value.double(), exact, rtol=1e-6, atol=0)
