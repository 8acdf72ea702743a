"""perceptual_loss and content_loss: the float64 formula, MONAI's PerceptualLoss, hand values,
precomputed targets, the Modules' own networks, and bad inputs."""

from __future__ import annotations

import warnings

import pytest
import torch

import visionloss as vl
from tests.reference import synthesis as ref

from ._data import images, pixels, random_vgg, tiny_features


def test_hand_value_on_the_pixels():
    x, y = torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2)
    # pixels: mean of 1s = 1; pooled: mean of 1s = 1; weights 1 and 0.5
    out = vl.perceptual_loss(x, y, network=pixels, layer_weights=(1.0, 0.5))
    torch.testing.assert_close(out, torch.tensor(1.5))
    # content: 0.5 * sum: pixels 0.5 * 12, pooled 0.5 * 3
    torch.testing.assert_close(vl.content_loss(x, y, network=pixels), torch.tensor(7.5))


def test_matches_the_float64_formula_values_and_gradients(vgg_float64):
    x = images(2, 3, 8, 8, dtype=torch.float64).requires_grad_(True)
    y = images(2, 3, 8, 8, seed=3, dtype=torch.float64)
    w = {"relu1_1": 0.3, "relu1_2": 2.0}
    out = vl.perceptual_loss(x, y, network=vgg_float64, layer_weights=w, reduction="none")
    fx, fy = vgg_float64(x), vgg_float64(y)
    expected = sum(w[n] * ref.feature_mse(fx[n], fy[n]) for n in w)
    torch.testing.assert_close(out, expected)
    (g,) = torch.autograd.grad(out.sum(), x)
    (g_ref,) = torch.autograd.grad(expected.sum(), x)
    torch.testing.assert_close(g, g_ref)


def test_content_is_half_chw_times_perceptual():
    net = tiny_features()
    x, y = images(2, 3, 8, 8, dtype=torch.float64), images(2, 3, 8, 8, seed=1, dtype=torch.float64)
    chw = 6 * 8 * 8
    torch.testing.assert_close(
        vl.content_loss(x, y, network=net, layers="relu1_2"),
        0.5 * chw * vl.perceptual_loss(x, y, network=net, layers="relu1_2"),
    )


@pytest.mark.slow
def test_monai_perceptual_loss_mapping(tmp_path):
    """MONAI's PerceptualLoss with network_type="resnet50" and a local ``pretrained_path`` is the
    only MONAI configuration that cannot download (its "vgg" and "alex" types go through the
    `lpips` package, which fetches weights, and the radimagenet/medicalnet ones through torch
    hub). Its convention: ImageNet z-score, torchvision ResNet50 ``layer4.2.relu_2`` features,
    each position's channel vector scaled to unit norm (eps 1e-10 under the root), squared
    differences summed over channels and averaged over positions and images. So with a network
    returning those unit-normalised features, MONAI = C * perceptual_loss (our per-layer mean
    divides by C*H*W)."""
    monai_perceptual = pytest.importorskip("monai.losses.perceptual")
    torchvision = pytest.importorskip("torchvision")
    from torchvision.models.feature_extraction import create_feature_extractor

    torch.manual_seed(0)
    resnet = torchvision.models.resnet50(weights=None).eval()
    path = tmp_path / "resnet50.pth"
    torch.save(resnet.state_dict(), path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer = monai_perceptual.PerceptualLoss(
            spatial_dims=2, network_type="resnet50", pretrained=True, pretrained_path=str(path)
        )
    layer = "layer4.2.relu_2"
    body = create_feature_extractor(resnet, [layer]).requires_grad_(False)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def unit_features(img):
        f = body((img - mean) / std)[layer]
        return {"layer4": f / torch.sqrt(f.square().sum(1, keepdim=True) + 1e-10)}

    x = images(2, 3, 32, 32).requires_grad_(True)
    y = images(2, 3, 32, 32, seed=1)
    ours = 2048 * vl.perceptual_loss(x, y, network=unit_features)
    theirs = peer(x.clone(), y.clone())  # MONAI normalises its inputs in place: give it copies
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-6)
    (g_ours,) = torch.autograd.grad(ours, x)
    (g_theirs,) = torch.autograd.grad(theirs, x)
    torch.testing.assert_close(g_ours, g_theirs, rtol=1e-3, atol=1e-7)


def test_precomputed_target_features_equal_the_image_target_and_get_no_gradient():
    net = tiny_features(torch.float32)
    x = images(2, 3, 8, 8).requires_grad_(True)
    y = images(2, 3, 8, 8, seed=1).requires_grad_(True)
    module = vl.PerceptualLoss(net, layers=("relu1_1", "pool1"))
    feats = module.target_features(y)
    assert all(not f.requires_grad for f in feats.values())
    torch.testing.assert_close(module(x, feats), module(x, y))
    module(x, y).backward()
    assert y.grad is None and x.grad is not None


def test_default_layers_are_every_returned_layer():
    x, y = images(1, 3, 4, 4), images(1, 3, 4, 4, seed=1)
    both = vl.perceptual_loss(x, y, network=pixels)
    split = sum(vl.perceptual_loss(x, y, network=pixels, layers=n) for n in ("pixels", "pooled"))
    torch.testing.assert_close(both, split)


def test_module_builds_its_vgg_from_a_state_dict_file(tmp_path):
    net = random_vgg("vgg16", ("relu2_2",))
    path = tmp_path / "vgg16.pth"
    torch.save(net.state_dict(), path)
    module = vl.PerceptualLoss(weights=path)  # Johnson et al.'s relu2_2 by default
    assert isinstance(module.network, vl.VGGFeatures) and module.network.layers == ("relu2_2",)
    x, y = images(1, 3, 16, 16), images(1, 3, 16, 16, seed=1)
    torch.testing.assert_close(module(x, y), vl.perceptual_loss(x, y, network=net))
    assert "network" not in module.extra_repr() and "layers=('relu2_2',)" in module.extra_repr()


def test_module_default_weights_come_from_the_cache_only(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="vgg16-397923af.pth"):
        vl.PerceptualLoss()
    with pytest.raises(FileNotFoundError, match="vgg19-dcbb9e9d.pth"):
        vl.ContentLoss()
    with pytest.warns(UserWarning, match="not perceptual"):
        vl.PerceptualLoss(weights=None)


def test_half_features_under_autocast_on_vgg():
    net = random_vgg("vgg16", ("relu1_2", "relu2_2"))
    x, y = images(2, 3, 16, 16), images(2, 3, 16, 16, seed=1)
    ref_value = vl.perceptual_loss(x, y, network=net)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = vl.perceptual_loss(x, y, network=net)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, ref_value, rtol=0.05, atol=0.0)


def test_gradcheck_through_vgg(vgg_float64):
    x = images(1, 3, 4, 4, dtype=torch.float64).requires_grad_(True)
    y = images(1, 3, 4, 4, seed=1, dtype=torch.float64)
    assert torch.autograd.gradcheck(
        lambda t: vl.perceptual_loss(t, y, network=vgg_float64), (x,), fast_mode=True
    )


@pytest.mark.parametrize("fn", [vl.perceptual_loss, vl.content_loss], ids=["perceptual", "content"])
@pytest.mark.parametrize(
    "call, error, match",
    [
        pytest.param(
            lambda fn: fn(images(1, 3, 4, 4), images(1, 3, 4, 5), network=pixels),
            ValueError,
            r"expected target of shape \(1, 3, 4, 4\) matching input, got "
            r"\(1, 3, 4, 5\)",
            id="shape",
        ),
        pytest.param(
            lambda fn: fn(images(1, 3, 4, 4), images(1, 3, 4, 4), network=pixels, layers="relu9"),
            ValueError,
            "unknown layer 'relu9' in the network output; available: 'pixels', 'pooled'",
            id="unknown-layer",
        ),
        pytest.param(
            lambda fn: fn(
                images(1, 3, 4, 4), images(1, 3, 4, 4), network=pixels, layer_weights=(1.0,)
            ),
            ValueError,
            r"expected 2 layer_weights \(one per layer \['pixels', 'pooled'\]\), got 1",
            id="weights-count",
        ),
        pytest.param(
            lambda fn: fn(
                images(1, 3, 4, 4),
                images(1, 3, 4, 4),
                network=pixels,
                layer_weights={"pixels": 1.0},
            ),
            ValueError,
            "layer_weights for exactly the layers",
            id="weights-keys",
        ),
        pytest.param(
            lambda fn: fn(images(1, 3, 4, 4), images(1, 3, 4, 4), network=None),
            TypeError,
            "expected network to be a module returning a dict",
            id="no-net",
        ),
        pytest.param(
            lambda fn: fn(images(1, 3, 4, 4), images(1, 3, 4, 4), network=lambda x: x),
            TypeError,
            "expected network to return a dict of named features, got Tensor",
            id="not-a-dict",
        ),
        pytest.param(
            lambda fn: fn(
                images(1, 3, 4, 4), {"pixels": images(1, 3, 2, 2)}, network=pixels, layers="pixels"
            ),
            ValueError,
            r"expected target features 'pixels' of shape \(1, 3, 4, 4\)",
            id="target-features-shape",
        ),
        pytest.param(
            lambda fn: fn(
                images(1, 3, 4, 4), {"other": images(1, 3, 4, 4)}, network=pixels, layers="pixels"
            ),
            ValueError,
            "unknown layer 'pixels' in the target features",
            id="target-features-key",
        ),
        pytest.param(
            lambda fn: fn(
                torch.zeros(1, 3, 4, 4, dtype=torch.long), images(1, 3, 4, 4), network=pixels
            ),
            TypeError,
            "floating-point",
            id="integer",
        ),
    ],
)
def test_bad_inputs(fn, call, error, match):
    with pytest.raises(error, match=f"{fn.__name__}: .*{match}"):
        call(fn)


def test_bad_module_options():
    with pytest.raises(TypeError, match="PerceptualLoss: expected network to be an nn.Module"):
        vl.PerceptualLoss(network=pixels)
    with pytest.raises(ValueError, match="PerceptualLoss: expected 1 layer_weights"):
        vl.PerceptualLoss(tiny_features(), layers=("relu1_1",), layer_weights=(1.0, 2.0))
