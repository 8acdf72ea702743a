"""What the synthesis losses must do beyond the registry-wide conformance suite (CONTRIBUTING.md,
"Tests of one loss"; ``tests/conformance/test_registry_conformance.py`` covers Module equals
function, build_loss, gradcheck, reductions, fp16/bf16 and autocast, compile, pickling, state_dict
and the bad reduction, option and input errors from each loss's registry example). Here, as one
table of configurations (the TV kinds and per_image, topology without normalisation, the Johnson
style convention, the content-style beta): Module equals function and build_loss, float64 gradcheck
and fp16/bf16 inputs against fp32 (the suite checks these on the registry example only), the shape
of ``"none"``, sum and mean against ``"none"``, empty batch, identical images; and each Module's
own default network is the documented one. The per-loss files hold the references, peers, hand
values and each loss's own cases.

The feature losses run on a small stand-in feature network with VGG's layer names (any module
returning named features may replace VGGFeatures; none of these properties depends on the
network); test_vgg.py and the per-loss files use the VGG itself."""

from __future__ import annotations

import pytest
import torch

import visionloss as vl
from tests.conftest import HALF_DTYPES, assert_close_dtype
from tests.helpers import assert_finite_graph, gradcheck

from ._data import images, tiny_features


def _two(shape, dtype, seed=0):
    return images(*shape, seed=seed, dtype=dtype), images(*shape, seed=seed + 1, dtype=dtype)


def _masks(shape, dtype, seed=0):
    b, _, h, w = shape
    pred = images(b, 1, h, w, seed=seed, dtype=dtype)
    true = (images(b, 1, h, w, seed=seed + 1, dtype=dtype) > 0.5).to(dtype)
    return pred, true


def _three(shape, dtype, seed=0):
    return (
        images(*shape, seed=seed, dtype=dtype),
        images(*shape, seed=seed + 1, dtype=dtype),
        images(1, *shape[1:], seed=seed + 2, dtype=dtype),
    )


def _one(shape, dtype, seed=0):
    return (images(*shape, seed=seed, dtype=dtype),)


# id: (function, Module, options, input maker, registry name, whether it takes a network)
LOSSES = [
    pytest.param(
        vl.perceptual_loss,
        vl.PerceptualLoss,
        {"layers": ("relu1_1", "relu1_2"), "layer_weights": (1.0, 0.5)},
        _two,
        "perceptual",
        True,
        id="perceptual",
    ),
    pytest.param(
        vl.content_loss,
        vl.ContentLoss,
        {"layers": ("relu1_2",)},
        _two,
        "content",
        True,
        id="content",
    ),
    pytest.param(
        vl.style_loss,
        vl.StyleLoss,
        {"layers": ("relu1_1", "pool1"), "convention": "johnson"},
        _two,
        "style",
        True,
        id="style",
    ),
    pytest.param(
        vl.texture_loss,
        vl.TextureLoss,
        {"layers": ("relu1_2", "pool1")},
        _two,
        "texture",
        True,
        id="texture",
    ),
    pytest.param(
        vl.content_style_loss,
        vl.ContentStyleLoss,
        {"content_layers": ("relu1_2",), "style_layers": ("relu1_1", "pool1"), "beta": 10.0},
        _three,
        "content_style",
        True,
        id="content_style",
    ),
    pytest.param(
        vl.topology_loss,
        vl.TopologyLoss,
        {"layers": ("relu1_1", "relu1_2"), "mu": 0.5},
        _masks,
        "topology",
        True,
        id="topology",
    ),
    pytest.param(
        vl.topology_loss,
        vl.TopologyLoss,
        {"layers": ("relu1_2", "pool1"), "mu": 1e-3, "normalize": False},
        _masks,
        "topology",
        True,
        id="topology-plain-sum",
    ),
    pytest.param(
        vl.total_variation_loss,
        vl.TotalVariationLoss,
        {"kind": "isotropic"},
        _one,
        "total_variation",
        False,
        id="total_variation-isotropic",
    ),
    pytest.param(
        vl.total_variation_loss,
        vl.TotalVariationLoss,
        {"kind": "anisotropic"},
        _one,
        "tv",
        False,
        id="total_variation-anisotropic",
    ),
    pytest.param(
        vl.total_variation_loss,
        vl.TotalVariationLoss,
        {"kind": "squared"},
        _one,
        "total_variation",
        False,
        id="total_variation-squared",
    ),
    pytest.param(
        vl.total_variation_loss,
        vl.TotalVariationLoss,
        {"kind": "isotropic", "per_image": True},
        _one,
        "tv",
        False,
        id="total_variation-isotropic-per_image",
    ),
]


def _call(fn, args, opts, dtype=torch.float64, net=True, **kw):
    extra = {"network": tiny_features(dtype)} if net else {}
    return fn(*args, **extra, **opts, **kw)


@pytest.mark.parametrize("fn, module, opts, make, name, net", LOSSES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_module_equals_function(fn, module, opts, make, name, net, reduction):
    args = make((2, 3, 8, 8), torch.float64)
    extra = {"network": tiny_features()} if net else {}
    m = module(**extra, **opts, reduction=reduction)
    torch.testing.assert_close(m(*args), _call(fn, args, opts, net=net, reduction=reduction))
    built = vl.build_loss(name, **extra, **opts, reduction=reduction)
    assert type(built) is module
    torch.testing.assert_close(built(*args), m(*args))


@pytest.mark.parametrize("fn, module, opts, make, name, net", LOSSES)
def test_none_shape_and_reductions_agree(fn, module, opts, make, name, net):
    args = make((3, 3, 8, 8), torch.float64)
    none = _call(fn, args, opts, net=net, reduction="none")
    expected = (3,) if net or opts.get("per_image") else args[0].shape
    assert none.shape == expected
    torch.testing.assert_close(_call(fn, args, opts, net=net, reduction="sum"), none.sum())
    torch.testing.assert_close(_call(fn, args, opts, net=net), none.mean())
    assert (none >= 0).all()


@pytest.mark.parametrize("fn, module, opts, make, name, net", LOSSES)
def test_gradcheck(fn, module, opts, make, name, net):
    args = make((1, 3, 4, 4), torch.float64)
    extra = {"network": tiny_features()} if net else {}
    # only the first argument is differentiated: targets are constants (computed under no_grad)
    gradcheck(lambda x: fn(x, *args[1:], **extra, **opts), args[0])


@pytest.mark.parametrize("fn, module, opts, make, name, net", LOSSES)
@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_half_inputs_computed_in_fp32(fn, module, opts, make, name, net, dtype):
    args = make((2, 3, 8, 8), torch.float32)
    half = tuple(a.to(dtype) for a in args)
    out = _call(fn, half, opts, dtype=torch.float32, net=net)
    assert out.dtype == torch.float32
    ref = _call(fn, tuple(a.float() for a in half), opts, dtype=torch.float32, net=net)
    assert_close_dtype(out, ref, dtype)


@pytest.mark.parametrize("fn, module, opts, make, name, net", LOSSES)
def test_empty_batch_is_zero_with_graph(fn, module, opts, make, name, net):
    args = make((0, 3, 8, 8), torch.float32)
    x = args[0].clone().requires_grad_(True)
    out = _call(fn, (x, *args[1:]), opts, dtype=torch.float32, net=net)
    assert out.item() == 0.0
    assert_finite_graph(out, x)


@pytest.mark.parametrize("fn, module, opts, make, name, net", LOSSES)
def test_identical_images_give_zero_and_a_finite_gradient(fn, module, opts, make, name, net):
    args = make((2, 3, 8, 8), torch.float32)
    if net:
        args = tuple(args[0] for _ in args)
    else:
        args = (torch.full_like(args[0], 0.3),)  # a constant image has no variation
    x = args[0].clone().requires_grad_(True)
    out = _call(fn, (x, *args[1:]), opts, dtype=torch.float32, net=net)
    assert out.item() == pytest.approx(0.0, abs=1e-6)
    (g,) = torch.autograd.grad(out, x)
    assert torch.isfinite(g).all() and g.abs().max() < 1e-4


# The Modules' own networks (network=None), as their docstrings state them: (Module, VGG arch,
# VGG layers in order, pooling, other options of the Module and their defaults). Built with
# weights=None (random weights, nothing read or downloaded): the architecture does not depend
# on the weights.
GATYS_STYLE = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
MODULE_DEFAULTS = [
    pytest.param(
        vl.PerceptualLoss, "vgg16", ("relu2_2",), "max", {}, id="perceptual-johnson-vgg16"
    ),
    pytest.param(vl.ContentLoss, "vgg19", ("relu4_2",), "max", {}, id="content-gatys-conv4_2"),
    pytest.param(
        vl.StyleLoss,
        "vgg19",
        GATYS_STYLE,
        "max",
        {"convention": "gatys", "layer_weights": None},
        id="style-gatys",
    ),
    pytest.param(
        vl.TextureLoss,
        "vgg19",
        ("relu1_1", "pool1", "pool2", "pool3", "pool4"),
        "avg",
        {"layer_weights": None},
        id="texture-gatys-2015-avg-pooling",
    ),
    pytest.param(
        vl.TopologyLoss,
        "vgg19",
        ("relu1_2", "relu2_2", "relu3_4"),
        "max",
        {"mu": 0.1, "normalize": True},
        id="topology-mosinska",
    ),
    pytest.param(
        vl.ContentStyleLoss,
        "vgg19",
        ("relu4_2", *GATYS_STYLE),
        "max",
        {"alpha": 1.0, "beta": 1e3, "convention": "gatys"},
        id="content_style-gatys",
    ),
]


@pytest.mark.parametrize("module, arch, layers, pooling, options", MODULE_DEFAULTS)
def test_module_default_networks_are_the_documented_ones(module, arch, layers, pooling, options):
    with pytest.warns(UserWarning, match="not perceptual"):
        loss = module(weights=None)
    net = loss.network
    assert isinstance(net, vl.VGGFeatures)
    assert (net.arch, net.layers, net.pooling) == (arch, layers, pooling)
    assert net.input_range == (0.0, 1.0) and net.weights is None
    # the modules themselves, not only the attributes: torchvision's configuration of the arch
    # (VGG19 has a 4th conv in blocks 3-5), truncated after the deepest layer, the pooling
    names = vl.vgg_layer_names(arch)
    depth = max(names.index(n) for n in layers) + 1
    assert len(net.features) == depth
    pool = torch.nn.AvgPool2d if pooling == "avg" else torch.nn.MaxPool2d
    kinds = {"conv": torch.nn.Conv2d, "relu": torch.nn.ReLU, "pool": pool}
    for name, layer in zip(names, net.features):
        assert type(layer) is kinds[name[:4]], (name, layer)
    convs = [m for m in net.features if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == sum(n.startswith("conv") for n in names[:depth])
    for key, value in options.items():
        assert getattr(loss, key) == value, key
    if "layers" in loss.options():
        assert loss.layers == layers
