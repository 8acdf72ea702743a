"""gram_matrix, style_loss, texture_loss and content_style_loss: loop references, the named
Gram conventions and their ratios, the default layer weights (1/L, Gatys et al.'s 1/5), hand
values, broadcasting of one style image, precomputed style features, half-precision Grams, and
bad inputs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import visionloss as vl
from tests.reference import synthesis as ref

from ._data import images, pixels, tiny_features


def test_gram_hand_value():
    f = torch.tensor([[[[1.0, 2.0]], [[0.0, 3.0]]]])  # C = 2 maps of H*W = 2
    torch.testing.assert_close(
        vl.gram_matrix(f, normalize=None), torch.tensor([[[5.0, 6.0], [6.0, 9.0]]])
    )
    torch.testing.assert_close(vl.gram_matrix(f), torch.tensor([[[5.0, 6.0], [6.0, 9.0]]]) / 4)


def test_gram_matches_the_loop_reference_per_image():
    f = images(3, 4, 3, 5, dtype=torch.float64, low=-1.0)
    torch.testing.assert_close(vl.gram_matrix(f, normalize=None), ref.gram(f))
    torch.testing.assert_close(vl.gram_matrix(f), ref.gram(f) / (4 * 15))


def test_gram_is_one_matrix_per_image_not_the_tutorials_folded_batch():
    f = images(2, 3, 4, 4, dtype=torch.float64)
    folded = f.reshape(6, 16) @ f.reshape(6, 16).T / f.numel()  # PyTorch tutorial's gram
    ours = vl.gram_matrix(f, normalize=None)
    torch.testing.assert_close(folded[:3, :3] * f.numel(), ours[0])  # its diagonal blocks
    assert folded[:3, 3:].abs().sum() > 0  # ...plus cross-image products we never compute


def test_gram_of_half_features_does_not_overflow():
    f = torch.full((1, 2, 64, 64), 300.0, dtype=torch.float16)  # raw sums 3.7e8 > fp16 max
    g = vl.gram_matrix(f, normalize=None)
    assert g.dtype == torch.float32 and torch.isfinite(g).all()
    torch.testing.assert_close(g, torch.full((1, 2, 2), 300.0**2 * 4096))
    with torch.autocast("cpu", dtype=torch.float16):
        assert torch.isfinite(vl.gram_matrix(f, normalize=None)).all()


def test_gram_bad_inputs():
    with pytest.raises(ValueError, match="gram_matrix: expected features with at least 3 dims"):
        vl.gram_matrix(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="gram_matrix: expected normalize to be one of"):
        vl.gram_matrix(torch.zeros(1, 3, 4), normalize="hw")


def test_gatys_convention_matches_the_papers_formula_values_and_gradients():
    net = tiny_features()
    x = images(2, 3, 6, 6, dtype=torch.float64).requires_grad_(True)
    s = images(1, 3, 6, 6, seed=5, dtype=torch.float64)
    w = (0.2, 0.7)
    layers = ("relu1_1", "pool1")
    out = vl.style_loss(x, s, network=net, layers=layers, layer_weights=w, reduction="none")
    fx, fs = net(x), net(s)
    expected = sum(wl * ref.gatys_style_layer(fx[n], fs[n]) for wl, n in zip(w, layers))
    torch.testing.assert_close(out, expected)
    (g,) = torch.autograd.grad(out.sum(), x)
    (g_ref,) = torch.autograd.grad(expected.sum(), x)
    torch.testing.assert_close(g, g_ref)


def test_convention_ratios():
    """johnson = 4 gatys; mean (F.mse_loss of normalised per-image Grams) = 4 gatys / C^2;
    F.mse_loss of raw Grams = 4 (H W)^2 gatys."""
    x, s = images(2, 3, 4, 4, dtype=torch.float64), images(2, 3, 4, 4, seed=1, dtype=torch.float64)
    c, hw = 3, 16
    gatys = vl.style_loss(x, s, network=pixels, layers="pixels", reduction="none")
    johnson = vl.style_loss(
        x, s, network=pixels, layers="pixels", convention="johnson", reduction="none"
    )
    mean = vl.style_loss(x, s, network=pixels, layers="pixels", convention="mean", reduction="none")
    torch.testing.assert_close(johnson, 4 * gatys)
    torch.testing.assert_close(mean, 4 * gatys / c**2)
    for b in range(2):
        tutorial = F.mse_loss(vl.gram_matrix(x[b : b + 1]), vl.gram_matrix(s[b : b + 1]))
        torch.testing.assert_close(mean[b], tutorial)
        raw = F.mse_loss(
            vl.gram_matrix(x[b : b + 1], normalize=None),
            vl.gram_matrix(s[b : b + 1], normalize=None),
        )
        torch.testing.assert_close(raw, 4 * hw**2 * gatys[b])


def test_one_style_image_of_any_size_broadcasts_over_the_batch():
    net = tiny_features()
    x = images(3, 3, 8, 8, dtype=torch.float64)
    style = images(1, 3, 12, 10, seed=2, dtype=torch.float64)  # another size: Grams are C x C
    out = vl.style_loss(x, style, network=net, reduction="none")
    each = torch.stack([vl.style_loss(x[i : i + 1], style, network=net) for i in range(3)])
    torch.testing.assert_close(out, each)
    feats = vl.StyleLoss(net).target_features(style)
    torch.testing.assert_close(vl.style_loss(x, feats, network=net, reduction="none"), out)


def test_texture_is_the_gatys_style_loss():
    net = tiny_features()
    x, t = images(2, 3, 8, 8, dtype=torch.float64), images(1, 3, 8, 8, seed=4, dtype=torch.float64)
    torch.testing.assert_close(
        vl.texture_loss(x, t, network=net, layer_weights=(1, 2, 3)),
        vl.style_loss(x, t, network=net, layer_weights=(1, 2, 3)),
    )


def test_texture_module_defaults_are_gatys_2015():
    """The Module's own network (test_family_properties.py checks every Module's): VGG19
    with average pooling, Gatys et al. 2015's layers, equal weights 1/5."""
    with pytest.warns(UserWarning, match="not perceptual"):
        module = vl.TextureLoss(weights=None)
    net = module.network
    assert (net.arch, net.pooling) == ("vgg19", "avg")
    assert net.layers == ("relu1_1", "pool1", "pool2", "pool3", "pool4")
    assert all(not isinstance(m, torch.nn.MaxPool2d) for m in net.features)
    x, t = images(1, 3, 16, 16), images(1, 3, 16, 16, seed=1)
    assert module(x, t) > 0 and module(t, t) == 0
    explicit = vl.texture_loss(x, t, network=net, layer_weights=(0.2,) * 5)
    torch.testing.assert_close(module(x, t), explicit)


def test_default_style_weights_are_one_over_the_number_of_layers():
    """Gatys et al. 2016 weigh their five style layers w_l = 1/5: style_loss, texture_loss and
    the style term of content_style_loss average over layers by default."""
    net = tiny_features()
    x = images(2, 3, 8, 8, dtype=torch.float64)
    s = images(1, 3, 8, 8, seed=2, dtype=torch.float64)
    layers = ("relu1_1", "relu1_2", "pool1")
    each = [vl.style_loss(x, s, network=net, layers=n, reduction="none") for n in layers]
    mean = sum(each) / 3
    torch.testing.assert_close(
        vl.style_loss(x, s, network=net, layers=layers, reduction="none"), mean
    )
    torch.testing.assert_close(
        vl.texture_loss(x, s, network=net, layers=layers, reduction="none"), mean
    )
    summed = vl.style_loss(x, s, network=net, layers=layers, layer_weights=(1, 1, 1))
    torch.testing.assert_close(summed, 3 * mean.mean())
    combined = vl.content_style_loss(
        x, x, s, network=net, content_layers="relu1_2", style_layers=layers, reduction="none"
    )  # content term 0: beta (1e3) times the mean of the style layers
    torch.testing.assert_close(combined, 1e3 * mean)
    with pytest.warns(UserWarning, match="not perceptual"):
        module = vl.StyleLoss(weights=None)  # VGG19 relu1_1 ... relu5_1
    xs, ss = images(1, 3, 16, 16), images(1, 3, 16, 16, seed=3)
    feats_x, feats_s = module.network(xs), module.network(ss)
    per_layer = [
        vl.style_loss(feats_x[n], feats_s[n], network=lambda f, n=n: {n: f}) for n in feats_x
    ]
    torch.testing.assert_close(module(xs, ss), sum(per_layer) / 5)


def test_content_style_is_alpha_content_plus_beta_style():
    net = tiny_features()
    x = images(2, 3, 8, 8, dtype=torch.float64)
    c = images(2, 3, 8, 8, seed=1, dtype=torch.float64)
    s = images(1, 3, 8, 8, seed=2, dtype=torch.float64)
    out = vl.content_style_loss(
        x,
        c,
        s,
        network=net,
        content_layers="relu1_2",
        style_layers=("relu1_1", "pool1"),
        style_weights=(0.5, 0.5),
        alpha=2.0,
        beta=30.0,
        convention="johnson",
        reduction="none",
    )
    expected = 2.0 * vl.content_loss(
        x, c, network=net, layers="relu1_2", reduction="none"
    ) + 30.0 * vl.style_loss(
        x,
        s,
        network=net,
        layers=("relu1_1", "pool1"),
        layer_weights=(0.5, 0.5),
        convention="johnson",
        reduction="none",
    )
    torch.testing.assert_close(out, expected)


def test_content_style_runs_the_network_once_per_image():
    calls = []

    def counting(x):
        calls.append(x.shape)
        return tiny_features(torch.float32)(x)

    x, c, s = images(2, 3, 8, 8), images(2, 3, 8, 8, seed=1), images(1, 3, 8, 8, seed=2)
    vl.content_style_loss(
        x, c, s, network=counting, content_layers="relu1_2", style_layers="relu1_1"
    )
    assert len(calls) == 3


def test_content_style_module_builds_one_vgg_for_both_sets_of_layers():
    torch.manual_seed(0)
    with pytest.warns(UserWarning, match="not perceptual"):
        module = vl.ContentStyleLoss(weights=None)  # Gatys et al.'s VGG19 layers
    assert module.network.arch == "vgg19"
    assert module.network.layers == (
        "relu4_2",
        "relu1_1",
        "relu2_1",
        "relu3_1",
        "relu4_1",
        "relu5_1",
    )
    x, c, s = images(1, 3, 16, 16), images(1, 3, 16, 16, seed=1), images(1, 3, 16, 16, seed=2)
    out = module(x, module.target_features(c), module.target_features(s))
    torch.testing.assert_close(out, module(x, c, s))


@pytest.mark.parametrize(
    "call, match",
    [
        pytest.param(
            lambda: vl.style_loss(images(2, 3, 4, 4), images(3, 3, 4, 4), network=pixels),
            r"style_loss: expected target of shape \(1 or 2, 3, \.\.\.\) for input "
            r"\(2, 3, 4, 4\), got \(3, 3, 4, 4\)",
            id="style-batch",
        ),
        pytest.param(
            lambda: vl.style_loss(
                images(1, 3, 4, 4), {"pixels": images(1, 4, 4, 4)}, network=pixels, layers="pixels"
            ),
            r"style_loss: expected target features 'pixels' of shape \(1 or 1, 3, "
            r"\.\.\.\)",
            id="style-features-channels",
        ),
        pytest.param(
            lambda: vl.style_loss(
                images(1, 3, 4, 4), images(1, 3, 4, 4), network=pixels, convention="keras"
            ),
            "style_loss: expected convention to be one of 'gatys', 'johnson', 'mean'",
            id="convention",
        ),
        pytest.param(
            lambda: vl.content_style_loss(
                images(1, 3, 4, 4), images(1, 3, 4, 4), images(1, 3, 4, 4), network=pixels
            ),
            "content_style_loss: unknown layer 'relu4_2' in the network output; "
            "available: 'pixels', 'pooled'",
            id="content-style-default-layers",
        ),
        pytest.param(
            lambda: vl.content_style_loss(
                images(1, 3, 4, 4),
                images(1, 3, 4, 4),
                images(1, 3, 4, 4),
                network=pixels,
                content_layers="pixels",
                style_layers=[],
            ),
            "content_style_loss: expected style_layers to be a layer name or a non-empty sequence",
            id="no-style-layers",
        ),
    ],
)
def test_bad_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call()
