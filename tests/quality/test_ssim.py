"""ssim_loss / ms_ssim_loss and the ssim / ms_ssim metrics against pytorch-msssim, piq, kornia,
torchmetrics and MONAI (3-D), values and gradients, with the convention mapping of each peer;
values by hand; negative contrast-structure terms; too-small images; degenerate inputs.

Convention mapping (ours: Gaussian window ``win_size`` x ``sigma``, normalised; "valid"
statistics; C1 = (k1 L)^2, C2 = (k2 L)^2 with L = ``data_range``; per-image mean over positions
and channels; MS-SSIM per channel, then the mean over channels):

| peer | window | padding | data range | K | MS-SSIM pooling | negative cs |
| --- | --- | --- | --- | --- | --- | --- |
| pytorch-msssim 1.x | ``win_size``, ``win_sigma`` | valid | ``data_range`` | ``K=(k1, k2)`` | per channel, mean over C | relu (``mcs.append(torch.relu(cs))``) |
| piq | ``kernel_size``, ``kernel_sigma`` | valid | divides by ``data_range``, inputs must lie in ``[0, data_range]`` | ``k1``, ``k2`` | per channel, mean over C; custom ``scale_weights`` renormalised to sum 1 | relu |
| kornia ``metrics.ssim`` | ``window_size``, sigma fixed 1.5 | ``"same"`` = reflect (our ``padding="same"``), ``"valid"`` = crop | ``max_val`` | fixed 0.01, 0.03 | (map only; no pyramid MS-SSIM) | - |
| torchmetrics | sigma sets the width ``int(3.5 sigma + 0.5) * 2 + 1`` (11 for 1.5) | reflect-pads; crops the cs map only: its SSIM is our ``padding="same"``, its MS-SSIM uses valid cs terms and a "same" SSIM at the coarsest scale | ``data_range`` (None infers it: always pass it) | ``k1``, ``k2`` | pools over C *before* the power (equal to ours for C = 1) | ``normalize="relu"`` / ``"simple"`` = our ``cs_policy`` |
| MONAI | ``win_size``, ``kernel_sigma`` (N-D kernel) | valid | ``data_range`` | ``k1``, ``k2`` | pools over C before the power | relu |

Pyramid steps: 2x2 averages; for odd sizes pytorch-msssim zero-pads both sides
(``count_include_pad``), piq replicate-pads the top/left, torchmetrics and MONAI drop the last
row (floor), ours repeats the last row/column (MATLAB's ``'symmetric'`` border): the tests use
sizes divisible by 2^(scales-1), where all agree.
"""

from __future__ import annotations

import pytest
import torch

import visionloss as vl
from tests.helpers import grads
from visionloss.errors import InputError, OptionError
from visionloss.quality._ssim import MS_SSIM_WEIGHTS


def pair(*shape, seed=0, noise=0.15, dtype=torch.float64, scale=1.0):
    gen = torch.Generator().manual_seed(seed)
    y = torch.rand(*shape, generator=gen, dtype=torch.float64)
    y = torch.nn.functional.avg_pool2d(y, 3, 1, 1) if len(shape) == 4 else y  # some structure
    x = (y + noise * torch.randn(*shape, generator=gen, dtype=torch.float64)).clamp(0, 1)
    return (scale * x).to(dtype), (scale * y).to(dtype)


def check_peer(ours, theirs, x, y, rtol=1e-5, atol=1e-6):
    v, (gx, gy) = grads(ours, x, y)
    w, (hx, hy) = grads(theirs, x, y)
    torch.testing.assert_close(v, w.to(v.dtype), rtol=rtol, atol=atol)
    torch.testing.assert_close(gx, hx.to(gx.dtype), rtol=max(rtol, 1e-4), atol=max(atol, 1e-7))
    torch.testing.assert_close(gy, hy.to(gy.dtype), rtol=max(rtol, 1e-4), atol=max(atol, 1e-7))


# --------------------------------------------------------------------------------- SSIM peers
SSIM_SETTINGS = [
    pytest.param({}, 1.0, id="defaults"),
    pytest.param({"win_size": 7, "sigma": 1.0, "k1": 0.02, "k2": 0.05}, 1.0, id="window-K"),
    pytest.param({"data_range": 255.0}, 255.0, id="8-bit"),
]


@pytest.mark.parametrize("opts, scale", SSIM_SETTINGS)
def test_ssim_matches_pytorch_msssim(opts, scale):
    pm = pytest.importorskip("pytorch_msssim")
    x, y = pair(2, 3, 40, 36, scale=scale)
    o = {"data_range": 1.0, "win_size": 11, "sigma": 1.5, "k1": 0.01, "k2": 0.03, **opts}
    check_peer(
        lambda a, b: vl.ssim(a, b, reduction="none", **opts),
        lambda a, b: pm.ssim(
            a,
            b,
            data_range=o["data_range"],
            size_average=False,
            win_size=o["win_size"],
            win_sigma=o["sigma"],
            K=(o["k1"], o["k2"]),
        ),
        x,
        y,
    )


@pytest.mark.parametrize("opts, scale", SSIM_SETTINGS)
def test_ssim_matches_piq(opts, scale):
    piq = pytest.importorskip("piq")
    x, y = pair(2, 3, 40, 36, scale=scale)
    o = {"data_range": 1.0, "win_size": 11, "sigma": 1.5, "k1": 0.01, "k2": 0.03, **opts}
    check_peer(
        lambda a, b: vl.ssim_loss(a, b, reduction="none", **opts),
        lambda a, b: (
            1
            - piq.ssim(
                a,
                b,
                kernel_size=o["win_size"],
                kernel_sigma=o["sigma"],
                data_range=o["data_range"],
                reduction="none",
                k1=o["k1"],
                k2=o["k2"],
                downsample=False,
            )
        ),
        x,
        y,
    )


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_ssim_matches_kornia_map_mean(padding):
    """kornia returns the SSIM map; its mean per image is our SSIM (eps=0: kornia adds eps to
    the denominator by default)."""
    kornia = pytest.importorskip("kornia")
    x, y = pair(2, 3, 24, 20)
    check_peer(
        lambda a, b: vl.ssim(a, b, win_size=7, padding=padding, reduction="none"),
        lambda a, b: (
            kornia.metrics.ssim(a, b, 7, max_val=1.0, eps=0.0, padding=padding).flatten(1).mean(1)
        ),
        x,
        y,
    )


@pytest.mark.parametrize("opts, scale", SSIM_SETTINGS)
def test_ssim_matches_torchmetrics(opts, scale):
    tm = pytest.importorskip("torchmetrics.functional.image")
    x, y = pair(2, 3, 40, 36, scale=scale)
    o = {"data_range": 1.0, "sigma": 1.5, "k1": 0.01, "k2": 0.03, **opts}
    # torchmetrics reflect-pads and crops only the cs map, not the SSIM map: our "same"
    opts = {**opts, "win_size": int(3.5 * o["sigma"] + 0.5) * 2 + 1, "padding": "same"}
    check_peer(
        lambda a, b: vl.ssim(a, b, reduction="none", **opts),
        lambda a, b: tm.structural_similarity_index_measure(
            a,
            b,
            sigma=o["sigma"],
            data_range=o["data_range"],
            k1=o["k1"],
            k2=o["k2"],
            reduction="none",
        ),
        x,
        y,
    )


def test_ssim_3d_matches_monai():
    monai_reg = pytest.importorskip("monai.metrics.regression")
    x, y = pair(2, 2, 14, 12, 13, seed=3)
    check_peer(
        lambda a, b: vl.ssim(a, b, win_size=5, sigma=1.2, reduction="none"),
        lambda a, b: (
            monai_reg.compute_ssim_and_cs(
                a, b, spatial_dims=3, kernel_size=(5, 5, 5), kernel_sigma=(1.2, 1.2, 1.2)
            )[0]
            .flatten(1)
            .mean(1)
        ),
        x.float(),
        y.float(),
        rtol=1e-5,
        atol=1e-6,
    )


# ----------------------------------------------------------------------------- MS-SSIM peers
def test_ms_ssim_matches_pytorch_msssim_and_piq():
    pm = pytest.importorskip("pytorch_msssim")
    piq = pytest.importorskip("piq")
    x, y = pair(1, 2, 176, 176, noise=0.2)  # 176 = 11 * 16: the coarsest scale holds the window
    ours = lambda a, b: vl.ms_ssim(a, b, reduction="none")  # noqa: E731
    check_peer(ours, lambda a, b: pm.ms_ssim(a, b, data_range=1.0, size_average=False), x, y)
    check_peer(ours, lambda a, b: piq.multi_scale_ssim(a, b, reduction="none"), x, y)


def test_ms_ssim_fewer_scales_and_other_window_match_pytorch_msssim():
    """``scales=3`` uses Wang's first three weights rescaled to the five's sum; pytorch-msssim
    takes the weights as given."""
    pm = pytest.importorskip("pytorch_msssim")
    x, y = pair(2, 2, 100, 104, noise=0.2, scale=255.0)  # pytorch-msssim wants > 6 * 16
    w = MS_SSIM_WEIGHTS[:3]
    w = [v * sum(MS_SSIM_WEIGHTS) / sum(w) for v in w]
    opts = {"win_size": 7, "sigma": 1.0, "data_range": 255.0}
    theirs = lambda a, b: pm.ms_ssim(  # noqa: E731
        a, b, data_range=255.0, size_average=False, win_size=7, win_sigma=1.0, weights=w
    )
    check_peer(lambda a, b: vl.ms_ssim(a, b, scales=3, reduction="none", **opts), theirs, x, y)
    check_peer(lambda a, b: vl.ms_ssim(a, b, weights=w, reduction="none", **opts), theirs, x, y)


def torchmetrics_convention_ms_ssim(a, b, betas, policy):
    """MS-SSIM as torchmetrics forms it, from our pieces: valid cs terms at the finer scales,
    the reflect-padded ("same") SSIM at the coarsest, channels pooled before the power."""
    from visionloss.quality._ssim import downsample, gaussian_window
    from visionloss.quality._ssim_stats import ssim_terms

    window = gaussian_window(9, 1.0, a.dtype, a.device)  # int(3.5 * 1.0 + 0.5) * 2 + 1
    c1, c2 = 0.01**2, 0.03**2
    terms = []
    for j in range(len(betas)):
        if j:
            a, b = downsample(a), downsample(b)
        if j < len(betas) - 1:
            terms.append(ssim_terms(a, b, window, c1, c2, "valid")[1].flatten(1).mean(1))
        else:
            lum, cs = ssim_terms(a, b, window, c1, c2, "same")
            terms.append((lum * cs).flatten(1).mean(1))
    v = torch.stack(terms)
    v = v.relu() if policy == "relu" else (v + 1) / 2
    return (v ** torch.tensor(betas, dtype=v.dtype).view(-1, 1)).prod(0)


@pytest.mark.parametrize("policy, normalize", [("relu", "relu"), ("normalize", "simple")])
def test_ms_ssim_torchmetrics_mapping(policy, normalize):
    """torchmetrics' MS-SSIM mixes paddings (valid cs, "same" SSIM at the coarsest scale):
    equal to that mix of our terms; our own ms_ssim (valid everywhere) differs by the border
    positions of the coarsest scale only, a few 1e-2 here."""
    tm = pytest.importorskip("torchmetrics.functional.image")
    x, y = pair(3, 1, 64, 64, noise=0.3)
    betas = (0.2, 0.3, 0.5)
    check_peer(
        lambda a, b: torchmetrics_convention_ms_ssim(a, b, betas, policy),
        lambda a, b: tm.multiscale_structural_similarity_index_measure(
            a, b, sigma=1.0, data_range=1.0, betas=betas, normalize=normalize, reduction="none"
        ),
        x,
        y,
    )
    ours = vl.ms_ssim(
        x, y, win_size=9, sigma=1.0, weights=betas, cs_policy=policy, reduction="none"
    )
    theirs = torchmetrics_convention_ms_ssim(x, y, betas, policy)
    assert 0 < (ours - theirs).abs().max() < 0.05


def test_ms_ssim_3d_matches_monai_one_channel():
    monai_reg = pytest.importorskip("monai.metrics.regression")
    x, y = pair(2, 1, 24, 28, 20, noise=0.3, seed=4)
    w = (0.3, 0.3, 0.4)
    check_peer(
        lambda a, b: vl.ms_ssim(a, b, win_size=3, sigma=1.0, weights=w, reduction="none"),
        lambda a, b: monai_reg.compute_ms_ssim(
            a, b, spatial_dims=3, kernel_size=3, kernel_sigma=1.0, weights=w
        ).flatten(),
        x.float(),
        y.float(),
        rtol=1e-5,
        atol=1e-6,
    )


# ------------------------------------------------------------------------------ by hand
def test_constant_images_by_hand():
    """Flat images have zero variances: cs = C2 / C2 = 1 and SSIM is the luminance term."""
    a, b = 0.3, 0.7
    x = torch.full((1, 1, 16, 16), a, dtype=torch.float64)
    y = torch.full((1, 1, 16, 16), b, dtype=torch.float64)
    c1 = 0.01**2
    expected = (2 * a * b + c1) / (a * a + b * b + c1)
    torch.testing.assert_close(vl.ssim(x, y), torch.tensor(expected, dtype=torch.float64))
    # cs terms are all 1: the coarsest luminance to its (rescaled) weight
    ms = vl.ms_ssim(x, y, win_size=3, scales=3)
    beta = MS_SSIM_WEIGHTS[2] * sum(MS_SSIM_WEIGHTS) / sum(MS_SSIM_WEIGHTS[:3])
    torch.testing.assert_close(ms, torch.tensor(expected**beta, dtype=ms.dtype))


def test_identical_images_give_zero_loss_and_zero_gradient():
    x, _ = pair(2, 3, 32, 32)
    for fn, kw in ((vl.ssim_loss, {}), (vl.ms_ssim_loss, {"win_size": 5, "scales": 3})):
        value, (gx, gy) = grads(fn, x, x.clone(), **kw)
        assert abs(float(value)) < 1e-12
        assert gx.abs().max() < 1e-10 and gy.abs().max() < 1e-10


# ------------------------------------------------------------------- negative cs and sizes
def test_negative_cs_is_finite_and_follows_the_policy():
    """An image against its negative has cs < 0 at every scale: a fractional power of it is
    NaN without a policy. relu gives MS-SSIM 0 (loss 1) with zero gradients, as pytorch-msssim;
    normalize gives a value in (0, 1) with a gradient."""
    pm = pytest.importorskip("pytorch_msssim")
    x, _ = pair(1, 1, 72, 72, noise=0.0)  # pytorch-msssim wants > 4 * 16
    y = 1.0 - x
    value, (gx, _) = grads(vl.ms_ssim, x, y, win_size=5, scales=3)
    ref = pm.ms_ssim(x, y, data_range=1.0, win_size=5, weights=MS_SSIM_WEIGHTS[:3])
    assert float(value) == 0.0 == float(ref)
    assert torch.isfinite(gx).all() and gx.abs().max() == 0
    value, (gx, _) = grads(vl.ms_ssim, x, y, win_size=5, scales=3, cs_policy="normalize")
    assert 0 < float(value) < 0.5 and torch.isfinite(gx).all() and gx.abs().max() > 0


def test_too_small_images_name_the_minimum_size():
    x = torch.rand(1, 1, 100, 200)
    with pytest.raises(InputError, match=r"^ms_ssim_loss: .*>= 161 .*5 scales.*\(1, 1, 100, 200\)"):
        vl.ms_ssim_loss(x, x)
    with pytest.raises(InputError, match=r"^ssim: .*>= 11 .*\(1, 1, 100, 8\)"):
        vl.ssim(x[..., :8], x[..., :8])
    assert torch.isfinite(vl.ms_ssim_loss(x, x.flip(-1), scales=4))  # 100 >= 10 * 8 + 1
    with pytest.raises(OptionError, match=r"^ms_ssim: expected scales <= 2"):
        vl.ms_ssim(x, x, weights=(0.5, 0.5), scales=3)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        pytest.param({"data_range": 0.0}, r"^ssim_loss: expected data_range > 0", id="zero-range"),
        pytest.param({"win_size": 4}, r"^ssim_loss: expected win_size to be an odd", id="even"),
    ],
)
def test_bad_options(kwargs, match):
    x = torch.rand(1, 1, 16, 16)
    with pytest.raises(OptionError, match=match):
        vl.ssim_loss(x, x, **kwargs)


def test_bad_inputs_name_the_function():
    with pytest.raises(InputError, match=r"^ssim_loss: expected input to be 4-D or 5-D"):
        vl.ssim_loss(torch.rand(16, 16), torch.rand(16, 16))
    with pytest.raises(InputError, match=r"^ms_ssim_loss: expected target of shape"):
        vl.ms_ssim_loss(torch.rand(1, 1, 16, 16), torch.rand(1, 2, 16, 16), win_size=3, scales=2)


# --------------------------------------------------------------------------- degenerate
def fast_gradcheck(fn, *inputs):
    leaves = [t.detach().double().requires_grad_(True) for t in inputs]
    assert torch.autograd.gradcheck(fn, leaves, eps=1e-6, atol=1e-5, fast_mode=True)


def test_gradcheck_float64_2d_3d_and_policies():
    x, y = pair(1, 2, 8, 8, noise=0.3)
    fast_gradcheck(
        lambda a, b: vl.ms_ssim_loss(a, b, win_size=3, scales=2, cs_policy="normalize"), x, y
    )
    fast_gradcheck(lambda a, b: vl.ssim_loss(a, b, win_size=5, padding="same"), x, y)
    v, w = pair(1, 1, 6, 5, 6, seed=2)
    fast_gradcheck(lambda a, b: vl.ssim_loss(a, b, win_size=5), v, w)


@pytest.mark.parametrize("dtype, size", [(torch.float16, 1024), (torch.bfloat16, 256)])
def test_half_images_are_finite_and_close_to_fp32(dtype, size):
    """fp16 moments of 8-bit-range images overflow in fp16 (255^2 * 121 > 65504): we compute
    in fp32."""
    x, y = pair(1, 1, size, size, noise=0.1, dtype=torch.float32, scale=255.0)
    xh = x.to(dtype).requires_grad_(True)
    value = vl.ms_ssim_loss(xh, y.to(dtype), data_range=255.0)
    value.backward()
    assert value.dtype == torch.float32 and torch.isfinite(value)
    assert torch.isfinite(xh.grad).all()
    expected = vl.ms_ssim_loss(xh.detach().float(), y.to(dtype).float(), data_range=255.0)
    torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_volume_128_cubed_is_finite():
    x, y = pair(1, 1, 128, 128, 128, noise=0.1, dtype=torch.float32, seed=5)
    x.requires_grad_(True)
    for fn in (vl.ssim_loss, lambda a, b: vl.ms_ssim_loss(a, b, win_size=7, scales=4)):
        value = fn(x, y)
        (g,) = torch.autograd.grad(value, x)
        assert torch.isfinite(value) and torch.isfinite(g).all()
        assert 0 < float(value.detach()) < 1


def test_module_matches_function():
    x, y = pair(2, 1, 32, 32)
    module = vl.MSSSIMLoss(win_size=5, scales=3, reduction="sum")
    torch.testing.assert_close(
        module(x, y), vl.ms_ssim_loss(x, y, win_size=5, scales=3, reduction="sum")
    )
