"""unet_weight_map against a brute-force float64 reference, and fed to the cross entropy.

No peer library ships the U-Net weight map; the reference measures every distance from every
background pixel to every pixel of every object, so it shares nothing with the scipy path.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
import torch

import visionloss as vl
from tests.reference import classification as ref

pytest.importorskip("scipy")


def _instances() -> np.ndarray:
    """Four objects, two of them touching, on a 14 x 16 image."""
    m = np.zeros((14, 16), dtype=np.int64)
    m[1:5, 1:6] = 1
    m[1:5, 6:9] = 2  # touches object 1
    m[8:12, 3:7] = 3
    m[9:13, 11:15] = 4
    return m


def _balanced(mask: np.ndarray) -> tuple[float, float]:
    n_fg = int((mask > 0).sum())
    n_bg = mask.size - n_fg
    return mask.size / (2 * n_bg), mask.size / (2 * n_fg)


@pytest.mark.parametrize("w0, sigma", [(10.0, 5.0), (5.0, 2.0)])
@pytest.mark.parametrize("class_weights", [None, (0.5, 2.0)], ids=["balanced", "given"])
def test_matches_brute_force_reference(w0, sigma, class_weights):
    m = _instances()
    out = vl.unet_weight_map(torch.from_numpy(m), w0=w0, sigma=sigma, class_weights=class_weights)
    expected = ref.unet_weight_map(m, w0, sigma, class_weights or _balanced(m))
    assert out.dtype == torch.float32 and out.shape == m.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6, atol=1e-6)


def test_hand_value():
    out = vl.unet_weight_map(torch.tensor([[1, 0, 0, 0, 2]]), w0=10.0, sigma=2.0)
    gap = 5 / 6 + 10 * math.exp(-16 / 8)  # d1 + d2 = 4 at every gap pixel
    torch.testing.assert_close(out, torch.tensor([[1.25, gap, gap, gap, 1.25]]))


def test_binary_mask_objects_are_connected_components():
    m = _instances()
    separated = np.where(m == 2, 0, m)  # drop the touching object: the others are apart
    binary = (separated > 0).astype(np.int64)
    torch.testing.assert_close(vl.unet_weight_map(binary), vl.unet_weight_map(separated))


def test_batch_numpy_and_bool_inputs():
    m = _instances()
    batch = np.stack([m, np.flipud(m).copy()])
    out = vl.unet_weight_map(batch)
    assert out.shape == (2, 14, 16)
    torch.testing.assert_close(out[1], vl.unet_weight_map(np.flipud(m).copy()))
    torch.testing.assert_close(vl.unet_weight_map(m > 0), vl.unet_weight_map((m > 0).astype(int)))


@pytest.mark.parametrize(
    "mask, expected",
    [
        pytest.param(np.zeros((4, 5), dtype=np.int64), np.ones((4, 5)), id="all-background"),
        pytest.param(np.ones((4, 5), dtype=np.int64), np.ones((4, 5)), id="all-foreground"),
        pytest.param(
            np.pad(np.ones((2, 2), dtype=np.int64), 1),
            np.where(np.pad(np.ones((2, 2)), 1) > 0, 16 / 8, 16 / 24),
            id="one-object",
        ),
    ],
)
def test_degenerate_masks_have_no_border_term(mask, expected):
    np.testing.assert_allclose(vl.unet_weight_map(mask).numpy(), expected, rtol=1e-6)


def test_empty_batch():
    assert vl.unet_weight_map(np.zeros((0, 4, 4), dtype=np.int64)).shape == (0, 4, 4)


def test_feeds_the_pixel_weighted_cross_entropy():
    m = torch.from_numpy(_instances())
    labels = (m > 0).long()[None]
    w = vl.unet_weight_map(m)[None]
    x = torch.randn(1, 2, 14, 16, requires_grad=True)
    out = vl.cross_entropy_loss(x, labels, weight_map=w)
    per_pixel = vl.cross_entropy_loss(x, labels, reduction="none")
    torch.testing.assert_close(out, (w * per_pixel).mean())
    out.backward()
    assert torch.isfinite(x.grad).all()


def test_missing_scipy_gives_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy", None)
    monkeypatch.setitem(sys.modules, "scipy.ndimage", None)
    with pytest.raises(ImportError, match=r"unet_weight_map needs scipy.*pip install scipy"):
        vl.unet_weight_map(np.zeros((3, 3), dtype=np.int64))


@pytest.mark.parametrize(
    "mask, kwargs, error, match",
    [
        pytest.param(
            np.zeros((3, 3)),
            {},
            TypeError,
            "integer or bool label mask, got float64",
            id="float-mask",
        ),
        pytest.param([[0, 1]], {}, TypeError, "tensor or a NumPy array, got list", id="list"),
        pytest.param(
            np.zeros(3, dtype=int), {}, ValueError, r"\(H, W\) or \(N, H, W\), got \(3,\)", id="1d"
        ),
        pytest.param(np.array([[0, -1]]), {}, ValueError, "labels >= 0", id="negative"),
        pytest.param(
            np.zeros((2, 2), dtype=int), {"sigma": 0.0}, ValueError, "sigma > 0", id="sigma"
        ),
        pytest.param(np.zeros((2, 2), dtype=int), {"w0": -1.0}, ValueError, "w0 >= 0", id="w0"),
        pytest.param(
            np.zeros((2, 2), dtype=int), {"w0": float("nan")}, ValueError, "w0 >= 0", id="w0-nan"
        ),
        pytest.param(
            np.zeros((2, 2), dtype=int), {"w0": float("inf")}, ValueError, "finite", id="w0-inf"
        ),
        pytest.param(
            np.zeros((2, 2), dtype=int),
            {"sigma": float("inf")},
            ValueError,
            "sigma > 0 and finite",
            id="sigma-inf",
        ),
        pytest.param(
            np.zeros((2, 2), dtype=int),
            {"class_weights": (1.0, float("nan"))},
            ValueError,
            "class_weights .*finite",
            id="class-weights-nan",
        ),
        pytest.param(
            np.zeros((2, 2), dtype=int),
            {"class_weights": (1.0, 2.0, 3.0)},
            ValueError,
            "class_weights",
            id="class-weights",
        ),
    ],
)
def test_bad_inputs(mask, kwargs, error, match):
    with pytest.raises(error, match="unet_weight_map: .*" + match):
        vl.unet_weight_map(mask, **kwargs)
