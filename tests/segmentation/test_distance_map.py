"""signed_distance_map and the exact distance transform against scipy and MONAI.

Convention mapping: our map of a mask ``m`` is ``edt(~m) * ~m - (edt(m) - 1) * m`` in scipy's
terms (``scipy.ndimage.distance_transform_edt(x, sampling=spacing)``: the distance of every
nonzero element of ``x`` to the nearest zero), i.e. Kervadec's ``one_hot2dist`` and MONAI's
``BoundaryLoss.compute_distance_map``. Disagreement: for a full mask Kervadec's code calls
``edt`` on an array without zeros, where scipy returns distances to a point outside the array
(meaningless values); MONAI and we return zeros (no interface). For an empty mask all three
give zeros.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch
from monai.losses import BoundaryLoss as MonaiBoundary

import visionloss as vl
from tests.reference.segmentation_shape import kervadec_dist
from visionloss.errors import InputError, OptionError, OptionTypeError
from visionloss.segmentation import _distance
from visionloss.segmentation._distance import distance


@pytest.fixture(autouse=True, params=["torch", "scipy"])
def cpu_backend(request, monkeypatch):
    """Every test runs on both CPU implementations: the device-agnostic min-plus form (what a
    GPU and torch.compile run) and the SciPy path used on the CPU in eager mode."""
    monkeypatch.setattr(_distance, "CPU_BACKEND", request.param)
    return request.param


def _masks(shape, seed=0, density=0.15):
    g = np.random.default_rng(seed)
    return g.random(shape) < density


@pytest.mark.parametrize(
    "shape, spacing",
    [
        pytest.param((41,), (1.0,), id="1d"),
        pytest.param((23, 31), (1.0, 1.0), id="2d"),
        pytest.param((23, 31), (0.7, 2.3), id="2d-anisotropic"),
        pytest.param((9, 11, 13), (1.0, 1.0, 1.0), id="3d"),
        pytest.param((9, 11, 13), (2.5, 0.5, 1.25), id="3d-anisotropic"),
        pytest.param((1, 64), (1.0, 1.0), id="2d-one-row"),
    ],
)
@pytest.mark.parametrize("density", [0.02, 0.3], ids=["sparse", "dense"])
def test_distance_equals_scipy(shape, spacing, density):
    m = _masks(shape, density=density)
    m.flat[0] = True  # at least one feature
    expected = ndi.distance_transform_edt(~m, sampling=spacing)
    ours = distance(torch.from_numpy(m), spacing, dtype=torch.float64)
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-12, atol=1e-12)


def test_distance_batched_and_without_features():
    m = torch.from_numpy(_masks((3, 2, 12, 10)))
    m[1, 0] = False  # no feature at all: inf
    ours = distance(m, (1.0, 1.0), dtype=torch.float64)
    assert torch.isinf(ours[1, 0]).all()
    for b, c in [(0, 0), (2, 1)]:
        ref = ndi.distance_transform_edt(~m[b, c].numpy())
        np.testing.assert_allclose(ours[b, c].numpy(), ref)


def test_distance_chunked_pass(monkeypatch):
    """The min-plus pass in many small chunks gives the same values."""
    import visionloss.segmentation._distance as d

    m = torch.from_numpy(_masks((4, 17, 19), seed=3))
    whole = distance(m, (1.0, 1.0))
    monkeypatch.setattr(d, "_CHUNK", 19 * 19 * 3)
    torch.testing.assert_close(distance(m, (1.0, 1.0)), whole, rtol=0, atol=0)


@pytest.mark.parametrize(
    "shape, spacing",
    [
        pytest.param((2, 3, 40), None, id="1d"),
        pytest.param((2, 3, 17, 23), None, id="2d"),
        pytest.param((2, 3, 17, 23), (0.5, 1.5), id="2d-anisotropic"),
        pytest.param((1, 2, 7, 9, 11), (1.0, 2.0, 0.5), id="3d-anisotropic"),
    ],
)
def test_signed_map_equals_kervadec(shape, spacing):
    m = _masks(shape, seed=4, density=0.3)
    m[0, 0] = False  # empty mask
    ours = vl.signed_distance_map(torch.from_numpy(m), spacing=spacing).double()
    for b in range(shape[0]):
        expected = kervadec_dist(m[b].astype(np.uint8), spacing)
        np.testing.assert_allclose(ours[b].numpy(), expected, rtol=1e-6, atol=1e-5)
    assert (ours[0, 0] == 0).all()


def test_full_mask_is_zero_as_monai():
    t = torch.ones(1, 1, 6, 7)
    t[0, 0, 0, 0] = 1
    assert (vl.signed_distance_map(t) == 0).all()
    # MONAI's map of a full and an empty channel
    monai_map = MonaiBoundary().compute_distance_map(torch.cat([t, 1 - t], 1))
    assert (monai_map == 0).all()


def test_equals_monai_boundary_map():
    t = torch.from_numpy(_masks((2, 3, 16, 12), seed=5, density=0.4)).float()
    expected = MonaiBoundary().compute_distance_map(t)
    torch.testing.assert_close(vl.signed_distance_map(t), expected)


def test_index_target_with_ignore_index():
    g = torch.Generator().manual_seed(0)
    t = torch.randint(0, 3, (2, 9, 11), generator=g)
    t[0, 0, :4] = 255
    ours = vl.signed_distance_map(t, num_classes=3, ignore_index=255)
    onehot = torch.stack([t == c for c in range(3)], 1)  # 255 belongs to no class
    torch.testing.assert_close(ours, vl.signed_distance_map(onehot))
    assert ours.shape == (2, 3, 9, 11) and ours.dtype == torch.float32


def test_float64_target_gives_float64():
    t = torch.zeros(1, 1, 5, 5, dtype=torch.float64)
    t[0, 0, 2, 2] = 1.0
    out = vl.signed_distance_map(t)
    assert out.dtype == torch.float64
    assert out[0, 0, 0, 0] == pytest.approx(2 * 2**0.5)
    assert out[0, 0, 2, 2] == 0.0


@pytest.mark.parametrize(
    "call, error, match",
    [
        pytest.param(
            lambda: vl.signed_distance_map(torch.zeros(2, 3)),
            InputError,
            "masks of shape",
            id="rank",
        ),
        pytest.param(
            lambda: vl.signed_distance_map(torch.zeros(2, 3), num_classes=2),
            InputError,
            "integer class",
            id="float-indices",
        ),
        pytest.param(
            lambda: vl.signed_distance_map(torch.zeros(2, 3, dtype=torch.long), num_classes=0),
            OptionError,
            "num_classes",
            id="num-classes",
        ),
        pytest.param(
            lambda: vl.signed_distance_map(torch.full((2, 3), 5), num_classes=2),
            ValueError,
            "signed_distance_map",
            id="label-range",
        ),
        pytest.param(
            lambda: vl.signed_distance_map(torch.zeros(1, 1, 4), spacing=0.0),
            OptionError,
            "spacing",
            id="spacing-zero",
        ),
        pytest.param(
            lambda: vl.signed_distance_map(torch.zeros(1, 1, 4, 4), spacing=(1.0,)),
            OptionError,
            "spacing",
            id="spacing-length",
        ),
        pytest.param(
            lambda: vl.signed_distance_map(torch.zeros(1, 1, 4), spacing="1"),
            OptionTypeError,
            "spacing",
            id="spacing-type",
        ),
    ],
)
def test_bad_inputs(call, error, match):
    with pytest.raises(error, match=match):
        call()
