"""VGGFeatures: the same activations as running torchvision's VGG layers by hand, weights from a
state dict file or the torch hub cache (never downloaded), normalisation, and its errors."""

from __future__ import annotations

import warnings

import pytest
import torch

import visionloss as vl

from ._data import images, random_vgg

torchvision = pytest.importorskip("torchvision")
models = torchvision.models

# torchvision indices of the named layers used below (vgg16: cfg D, vgg19: cfg E)
INDEX = {
    "vgg16": {"conv1_1": 0, "relu1_2": 3, "pool1": 4, "relu2_2": 8, "relu3_3": 15},
    "vgg19": {"relu1_1": 1, "relu2_1": 6, "relu3_4": 17, "pool3": 18},
}


def _torchvision_model(builder):
    """torchvision's own VGG, built on the meta device (its 120M-parameter classifier is never
    allocated), its ``features`` then materialised with random weights. No download."""
    with torch.device("meta"):
        model = builder(weights=None)
    model.features.to_empty(device="cpu")
    for m in model.features.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            torch.nn.init.uniform_(m.bias, -0.1, 0.1)
    return model


@pytest.fixture(scope="module")
def torchvision_vgg():
    """torchvision's VGG16 and VGG19 with random features."""
    torch.manual_seed(1)
    return {"vgg16": _torchvision_model(models.vgg16), "vgg19": _torchvision_model(models.vgg19)}


def _manual(features: torch.nn.Sequential, x: torch.Tensor, index: dict[str, int]):
    """Run torchvision's layers one by one on the normalised input and record by index."""
    x = (x - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor(
        [0.229, 0.224, 0.225]
    ).view(1, 3, 1, 1)
    want = {i: n for n, i in index.items()}
    out = {}
    for i, layer in enumerate(features[: max(index.values()) + 1]):
        x = layer(x.clone())  # clone: torchvision's ReLUs are in place
        if i in want:
            out[want[i]] = x
    return out


def _features_state_dict(model, depth):
    """The ``features.*`` entries of a torchvision VGG state dict up to module ``depth``."""
    return {
        k: v
        for k, v in model.state_dict().items()
        if k.startswith("features.") and int(k.split(".")[1]) < depth
    }


@pytest.mark.parametrize("arch", ["vgg16", "vgg19"])
def test_matches_torchvision_layers_run_by_hand(arch, torchvision_vgg, tmp_path):
    model = torchvision_vgg[arch]
    layers = list(INDEX[arch])
    path = tmp_path / f"{arch}.pth"
    torch.save(_features_state_dict(model, max(INDEX[arch].values()) + 1), path)
    net = vl.VGGFeatures(arch, layers, weights=path)
    x = images(2, 3, 32, 32)
    got = net(x)
    assert list(got) == layers
    with torch.no_grad():
        expected = _manual(model.features, x, INDEX[arch])
    for name in layers:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-5, atol=1e-5)


def test_truncated_after_the_deepest_layer_and_frozen(vgg16_small):
    assert len(vgg16_small.features) == 9  # conv, relu, conv, relu, pool, conv, relu, conv, relu
    assert not any(p.requires_grad for p in vgg16_small.parameters())
    vgg16_small.train()
    assert not vgg16_small.training and not any(m.training for m in vgg16_small.modules())


def test_layer_names():
    names = vl.vgg_layer_names("vgg19")
    assert names[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert "relu3_4" in names and "relu3_4" not in vl.vgg_layer_names("vgg16")
    assert names[-1] == "pool5" and len(vl.vgg_layer_names("vgg16")) == 31


def test_conv_layer_is_the_pre_activation():
    net = random_vgg("vgg16", ("conv1_1", "relu1_1"))
    out = net(images(1, 3, 8, 8))
    assert (out["conv1_1"] < 0).any()  # not overwritten by the (formerly in-place) ReLU
    torch.testing.assert_close(out["relu1_1"], out["conv1_1"].clamp_min(0))


def test_loads_a_full_model_state_dict_and_a_bare_features_one(torchvision_vgg, tmp_path):
    model = torchvision_vgg["vgg16"]
    x = images(1, 3, 16, 16)
    full, bare = tmp_path / "full.pth", tmp_path / "bare.pth"
    state = _features_state_dict(model, 31)
    state["classifier.6.bias"] = torch.zeros(1000)  # stands for the (ignored) classifier
    torch.save({"state_dict": state}, full)
    torch.save(model.features[:4].state_dict(), bare)
    a = vl.VGGFeatures("vgg16", "relu1_2", weights=full)(x)["relu1_2"]
    b = vl.VGGFeatures("vgg16", "relu1_2", weights=str(bare))(x)["relu1_2"]
    torch.testing.assert_close(a, b)


def test_state_dict_round_trip(vgg16_small, tmp_path):
    path = tmp_path / "mine.pth"
    torch.save(vgg16_small.state_dict(), path)
    again = vl.VGGFeatures("vgg16", ("relu1_2", "relu2_2"), weights=path)
    x = images(1, 3, 16, 16)
    torch.testing.assert_close(again(x)["relu2_2"], vgg16_small(x)["relu2_2"])


@pytest.mark.parametrize(
    "weights, filename",
    [
        pytest.param("DEFAULT", "vgg16-397923af.pth", id="default-name"),
        pytest.param(models.VGG16_Weights.IMAGENET1K_V1, "vgg16-397923af.pth", id="enum"),
        pytest.param(
            models.VGG16_Weights.IMAGENET1K_FEATURES,
            "vgg16_features-amdegroot-88682ab5.pth",
            id="features-enum",
        ),
    ],
)
def test_enum_weights_come_from_the_torch_hub_cache(
    weights, filename, tmp_path, monkeypatch, torchvision_vgg
):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    expected = tmp_path / "hub" / "checkpoints" / filename
    with pytest.raises(FileNotFoundError) as err:
        vl.VGGFeatures("vgg16", "relu1_2", weights=weights)
    message = str(err.value)
    assert f"Place the file '{filename}'" in message and f"at {expected}" in message
    assert "never downloads" in message and "https://download.pytorch.org/models/" in message
    # put a file there (random weights stand in for the real ones): it is read from the cache
    expected.parent.mkdir(parents=True)
    torch.save(_features_state_dict(torchvision_vgg["vgg16"], 4), expected)
    net = vl.VGGFeatures("vgg16", "relu1_2", weights=weights)
    assert net.weights == ("IMAGENET1K_V1" if weights == "DEFAULT" else weights.name)
    assert (
        vl.torch_hub_checkpoint_path(models.VGG16_Weights.IMAGENET1K_V1).parent == expected.parent
    )


def test_enum_normalisation_follows_the_weights(torchvision_vgg, tmp_path, monkeypatch):
    """IMAGENET1K_FEATURES (Caffe-converted) weights expect mean (0.48235, 0.45882, 0.40784)
    and std 1/255 on [0, 1] images: their preset, not ImageNet's."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    w = models.VGG16_Weights.IMAGENET1K_FEATURES
    path = vl.torch_hub_checkpoint_path(w)
    path.parent.mkdir(parents=True)
    torch.save(_features_state_dict(torchvision_vgg["vgg16"], 4), path)
    net = vl.VGGFeatures("vgg16", "conv1_1", weights=w)
    x = images(1, 3, 8, 8)
    mean = torch.tensor([0.48235, 0.45882, 0.40784]).view(1, 3, 1, 1)
    conv = torchvision_vgg["vgg16"].features[0]
    with torch.no_grad():
        expected = conv((x - mean) * 255.0)
    torch.testing.assert_close(net(x)["conv1_1"], expected, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize(
    "input_range, transform",
    [
        pytest.param((-1.0, 1.0), lambda x: 2 * x - 1, id="minus1-1"),
        pytest.param((0.0, 255.0), lambda x: 255 * x, id="0-255"),
    ],
)
def test_input_range_maps_to_the_same_features(input_range, transform):
    x = images(2, 3, 16, 16)
    a = random_vgg("vgg16", "relu2_1")(x)["relu2_1"]
    b = random_vgg("vgg16", "relu2_1", input_range=input_range)(transform(x))["relu2_1"]
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_pooling_avg_replaces_max():
    net = random_vgg("vgg19", "pool1", pooling="avg")
    assert isinstance(net.features[4], torch.nn.AvgPool2d)
    x = images(1, 3, 8, 8)
    pre = random_vgg("vgg19", "relu1_2")(x)["relu1_2"]
    torch.testing.assert_close(net(x)["pool1"], torch.nn.functional.avg_pool2d(pre, 2))


def test_random_weights_warn():
    with pytest.warns(UserWarning, match="not perceptual"):
        vl.VGGFeatures("vgg16", "relu1_2", weights=None)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
def test_half_inputs_and_cpu_autocast(vgg16_small, dtype):
    x = images(1, 3, 16, 16)
    ref = vgg16_small(x)["relu2_2"]
    out = vgg16_small(x.to(dtype))["relu2_2"]  # outside autocast: computed in the net's fp32
    assert out.dtype == torch.float32
    with torch.autocast("cpu", dtype=dtype):
        amp = vgg16_small(x)["relu2_2"]
    assert amp.dtype == dtype and torch.isfinite(amp).all()
    torch.testing.assert_close(amp.float(), ref, rtol=0.1, atol=0.1 * ref.abs().max().item())
    torch.testing.assert_close(out, vgg16_small(x.to(dtype).float())["relu2_2"])


@pytest.mark.parametrize(
    "make, kwargs, error, match",
    [
        pytest.param(
            lambda: None,
            {"arch": "vgg13"},
            ValueError,
            "expected arch 'vgg16' or 'vgg19', got 'vgg13'",
            id="arch",
        ),
        pytest.param(
            lambda: None,
            {"layers": ("relu9_9",)},
            ValueError,
            r"unknown layer 'relu9_9' for vgg16; valid names: conv1_1, relu1_1, ",
            id="layer-name-lists-valid",
        ),
        pytest.param(
            lambda: None,
            {"layers": ("relu3_4",)},
            ValueError,
            "unknown layer 'relu3_4' for vgg16",
            id="vgg19-only-layer",
        ),
        pytest.param(
            lambda: None,
            {"weights": models.VGG19_Weights.IMAGENET1K_V1},
            ValueError,
            "do not belong to arch='vgg16'",
            id="enum-of-other-arch",
        ),
        pytest.param(
            lambda: None,
            {"arch": "vgg19", "weights": "IMAGENET1K_FEATURES"},
            ValueError,
            r"VGGFeatures: weights 'IMAGENET1K_FEATURES' is not a weight name of arch='vgg19'; "
            r"valid weight names for vgg19: 'IMAGENET1K_V1', 'DEFAULT'",
            id="name-of-vgg16-only-weights",
        ),
        pytest.param(
            lambda: None,
            {"arch": "vgg19", "weights": "VGG16_Weights.IMAGENET1K_V1"},
            ValueError,
            r"VGGFeatures: weights 'VGG16_Weights.IMAGENET1K_V1' is not a weight name of "
            r"arch='vgg19'; valid weight names for vgg19: 'IMAGENET1K_V1', 'DEFAULT'",
            id="enum-name-of-other-arch",
        ),
        pytest.param(
            lambda: None,
            {"weights": "VGG19_Weights.DEFAULT"},
            ValueError,
            r"not a weight name of arch='vgg16'; valid weight names for vgg16: 'IMAGENET1K_V1', "
            r"'IMAGENET1K_FEATURES', 'DEFAULT'",
            id="vgg19-enum-name-for-vgg16",
        ),
        pytest.param(
            lambda: None,
            {"weights": "imagenet"},
            ValueError,
            "weights 'imagenet' is not a weight name of arch='vgg16'",
            id="misspelt-name",
        ),
        pytest.param(
            lambda: None,
            {"weights": "/nonexistent/vgg.pth"},
            FileNotFoundError,
            "no state dict file at /nonexistent/vgg.pth",
            id="missing-path",
        ),
        pytest.param(
            lambda: None, {"weights": 3}, TypeError, "expected weights", id="weights-type"
        ),
        pytest.param(
            lambda: None, {"input_range": (1, 0)}, ValueError, "low < high", id="input-range"
        ),
        pytest.param(lambda: None, {"pooling": "sum"}, ValueError, "pooling", id="pooling"),
    ],
)
def test_bad_construction(make, kwargs, error, match):
    opts = {"arch": "vgg16", "layers": ("relu1_2",), "weights": None, **kwargs}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(error, match=match):
            vl.VGGFeatures(opts.pop("arch"), opts.pop("layers"), **opts)


@pytest.mark.parametrize(
    "module, kwargs",
    [
        pytest.param(vl.PerceptualLoss, {"arch": "vgg19"}, id="perceptual"),
        pytest.param(vl.StyleLoss, {}, id="style"),
        pytest.param(vl.TopologyLoss, {}, id="topology"),
    ],
)
def test_modules_reject_a_weight_name_of_another_arch(module, kwargs):
    with pytest.raises(ValueError, match=r"'IMAGENET1K_FEATURES' is not a weight name of "):
        module(weights="IMAGENET1K_FEATURES", **kwargs)


def test_a_file_named_like_a_weight_name_is_still_a_path(tmp_path, monkeypatch, vgg16_small):
    monkeypatch.chdir(tmp_path)
    torch.save(vgg16_small.state_dict(), tmp_path / "IMAGENET1K_FEATURES")
    net = vl.VGGFeatures("vgg19", "relu1_2", weights="IMAGENET1K_FEATURES")
    assert net.weights == "IMAGENET1K_FEATURES"  # read from the file (blocks 1 agree)
    x = images(1, 3, 8, 8)
    torch.testing.assert_close(net(x)["relu1_2"], vgg16_small(x)["relu1_2"])


def test_state_dict_that_does_not_fit(tmp_path):
    path = tmp_path / "other.pth"
    torch.save(
        {
            "features.0.weight": torch.zeros(8, 3, 3, 3),
            "features.0.bias": torch.zeros(8),
            "features.2.weight": torch.zeros(64, 64, 3, 3),
            "features.2.bias": torch.zeros(64),
        },
        path,
    )
    with pytest.raises(ValueError, match="does not fit this VGG"):
        vl.VGGFeatures("vgg16", "relu1_2", weights=path)
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, path)
    with pytest.raises(ValueError, match="lacks"):
        vl.VGGFeatures("vgg16", "relu1_2", weights=path)


@pytest.mark.parametrize(
    "x, match",
    [
        pytest.param(
            lambda: images(1, 1, 16, 16),
            r"expected input of shape \(B, 3, H, W\) "
            r"\(RGB images\), got \(1, 1, 16, 16\)",
            id="one-channel",
        ),
        pytest.param(
            lambda: images(1, 3, 1, 16),
            r"too small for layer 'relu2_2', which follows "
            r"1 2x2 poolings: expected H and W >= 2",
            id="too-small",
        ),
        pytest.param(lambda: images(3, 16, 16), r"4-D", id="3-d"),
        pytest.param(
            lambda: images(1, 3, 16, 16, high=255.0),
            r"input values span \[.*\], "
            r"plainly outside the declared input_range \(0, 1\)",
            id="0-255-as-0-1",
        ),
        pytest.param(
            lambda: images(1, 3, 16, 16, low=-1.0), "plainly outside", id="minus1-1-as-0-1"
        ),
        pytest.param(
            lambda: torch.zeros(1, 3, 16, 16, dtype=torch.long), "floating-point", id="integer"
        ),
    ],
)
def test_bad_inputs(vgg16_small, x, match):
    with pytest.raises((ValueError, TypeError), match="VGGFeatures: .*" + match):
        vgg16_small(x())


def test_deep_layer_needs_a_larger_image():
    net = random_vgg("vgg19", "relu5_1")
    with pytest.raises(ValueError, match=r"follows 4 2x2 poolings: expected H and W >= 16"):
        net(images(1, 3, 8, 8))
    assert net(images(1, 3, 16, 16))["relu5_1"].shape == (1, 512, 1, 1)


def test_slightly_out_of_range_values_are_accepted(vgg16_small):
    x = images(1, 3, 16, 16, low=-0.2, high=1.2)  # e.g. an unclamped generator output
    assert torch.isfinite(vgg16_small(x)["relu2_2"]).all()
