"""Checks of the synthesis family: content_style_loss names ``content`` and ``style`` in its
errors and checks every tensor before its network runs; the feature losses take images
``(B, C, H, W)`` only; VGGFeatures' range check goes through ``require``; and under autocast
the user's network runs in the autocast dtype while the loss is returned in fp32, close to
the fp32 loss within the tolerance table."""

from __future__ import annotations

import pytest
import torch

import visionloss as vl
from tests.conftest import assert_close_dtype
from visionloss.errors import InputError, InputTypeError

from ._data import TinyFeatures, images, pixels, random_vgg


class CountingNetwork(torch.nn.Module):
    """``pixels`` as a module that counts its calls."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return pixels(x)


def _content_style(x, content, style, network=pixels):
    return vl.content_style_loss(
        x, content, style, network=network, content_layers="pixels", style_layers="pooled"
    )


# --------------------------------------------------------------------- content_style_loss
@pytest.mark.parametrize(
    "args, error, match",
    [
        pytest.param(
            (images(2, 3, 4, 4), images(2, 3, 4, 4).tolist(), images(1, 3, 4, 4)),
            InputTypeError,
            r"content_style_loss: expected content to be a torch\.Tensor, got list",
            id="content-list",
        ),
        pytest.param(
            (images(2, 3, 4, 4), images(2, 3, 4, 4).long(), images(1, 3, 4, 4)),
            InputTypeError,
            "content_style_loss: expected content to be a floating-point tensor",
            id="content-int",
        ),
        pytest.param(
            (images(2, 3, 4, 4), images(2, 3, 4, 4), images(1, 3, 4, 4).tolist()),
            InputTypeError,
            r"content_style_loss: expected style to be a torch\.Tensor, got list",
            id="style-list",
        ),
        pytest.param(
            (images(2, 3, 4, 4), images(2, 3, 4, 4), images(1, 3, 4, 4).long()),
            InputTypeError,
            "content_style_loss: expected style to be a floating-point tensor",
            id="style-int",
        ),
        pytest.param(
            (images(2, 3, 4, 4), images(2, 3, 4, 5), images(1, 3, 4, 4)),
            InputError,
            r"content_style_loss: expected content of shape \(2, 3, 4, 4\) matching input, "
            r"got \(2, 3, 4, 5\)",
            id="content-shape",
        ),
        pytest.param(
            (images(2, 3, 4, 4), images(2, 3, 4, 4), images(3, 3, 4, 4)),
            InputError,
            r"content_style_loss: expected style of shape \(1 or 2, 3, \.\.\.\)",
            id="style-batch",
        ),
        pytest.param(
            (images(1, 2, 3, 4, 4), images(2, 3, 4, 4), images(1, 3, 4, 4)),
            InputError,
            r"content_style_loss: expected input to be 4-D, got shape \(1, 2, 3, 4, 4\)",
            id="input-5d",
        ),
        pytest.param(
            (images(3, 4, 4), images(3, 4, 4), images(3, 4, 4)),
            InputError,
            r"content_style_loss: expected input to be 4-D, got shape \(3, 4, 4\)",
            id="input-3d",
        ),
        pytest.param(
            (images(2, 3, 4, 4), images(1, 2, 3, 4, 4), images(1, 3, 4, 4)),
            InputError,
            r"content_style_loss: expected content to be 4-D",
            id="content-5d",
        ),
        pytest.param(
            (images(2, 3, 4, 4), images(2, 3, 4, 4), {"other": images(1, 3, 2, 2)}),
            InputError,
            "content_style_loss: unknown layer 'pooled' in the style features",
            id="style-features-key",
        ),
    ],
)
def test_content_style_names_the_argument_before_the_network_runs(args, error, match):
    network = CountingNetwork()
    with pytest.raises(error, match=match):
        _content_style(*args, network=network)
    if "features" not in match:  # a tensor's own check: the network never ran
        assert network.calls == 0


def test_content_style_content_features_are_named():
    x = images(1, 3, 4, 4)
    with pytest.raises(InputError, match=r"expected content features 'pixels' of shape"):
        _content_style(x, {"pixels": images(1, 3, 2, 2)}, images(1, 3, 4, 4))


@pytest.mark.parametrize(
    "fn", [vl.perceptual_loss, vl.content_loss, vl.style_loss, vl.texture_loss]
)
@pytest.mark.parametrize(
    "shape", [pytest.param((3, 4, 4), id="3-d"), pytest.param((1, 2, 3, 4, 4), id="5-d")]
)
def test_feature_losses_take_4d_images_only(fn, shape):
    """An unbatched (C, H, W) image would run through a conv network as a batch of its C
    channels' features and be averaged over channels as if they were images."""
    with pytest.raises(InputError, match=rf"{fn.__name__}: expected input to be 4-D"):
        fn(images(*shape), images(*shape), network=pixels)


# --------------------------------------------------------------------------- VGGFeatures
def test_vgg_range_check_message_and_switch():
    net = random_vgg("vgg16", ("relu1_1",))
    x = images(1, 3, 16, 16, high=255.0)
    with pytest.raises(InputError, match=r"VGGFeatures: input values span \[.*\], plainly outside"):
        net(x)
    previous = vl.set_value_checks(False)
    try:
        assert torch.isfinite(net(x)["relu1_1"]).all()
    finally:
        vl.set_value_checks(previous)


def test_vgg_range_check_lets_nan_through_to_the_loss():
    net = random_vgg("vgg16", ("relu1_1",))
    x = images(1, 3, 16, 16)
    x[0, 0, 0, 0] = float("nan")
    assert not torch.isfinite(vl.perceptual_loss(x, images(1, 3, 16, 16), network=net))


def test_vgg_range_check_holds_under_compile():
    net = random_vgg("vgg16", ("relu1_1",))
    torch._dynamo.reset()
    try:
        compiled = torch.compile(net, backend="eager")
        assert torch.isfinite(compiled(images(1, 3, 16, 16))["relu1_1"]).all()
        with pytest.raises(RuntimeError, match="VGGFeatures: input values plainly outside"):
            compiled(images(1, 3, 16, 16, high=255.0))
    finally:
        torch._dynamo.reset()


# ------------------------------------------------------------------------------- autocast
class RecordingFeatures(TinyFeatures):
    """TinyFeatures (fp32 weights) that records the dtype of the features it returns."""

    def forward(self, x):
        out = super().forward(x)
        self.dtypes = {v.dtype for v in out.values()}
        return out


FEATURE_LOSSES = [
    pytest.param(lambda x, y, net: vl.perceptual_loss(x, y, network=net), id="perceptual"),
    pytest.param(lambda x, y, net: vl.content_loss(x, y, network=net), id="content"),
    pytest.param(lambda x, y, net: vl.style_loss(x, y[:1], network=net), id="style"),
    pytest.param(lambda x, y, net: vl.texture_loss(x, y[:1], network=net), id="texture"),
    pytest.param(
        lambda x, y, net: vl.content_style_loss(
            x, y, y[:1], network=net, content_layers="relu1_2", style_layers=("relu1_1", "pool1")
        ),
        id="content_style",
    ),
    pytest.param(
        lambda x, y, net: vl.topology_loss(x[:, :1], (y[:, :1] > 0.5).float(), network=net),
        id="topology",
    ),
]


@pytest.mark.parametrize("loss", FEATURE_LOSSES)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
def test_feature_losses_keep_the_users_autocast_and_return_fp32(loss, dtype):
    net = RecordingFeatures()
    x, y = images(2, 3, 8, 8), images(2, 3, 8, 8, seed=1, high=0.5)
    expected = loss(x, y, net)
    assert net.dtypes == {torch.float32}
    leaf = x.clone().requires_grad_(True)
    with torch.autocast("cpu", dtype=dtype):
        value = loss(leaf, y, net)
    assert net.dtypes == {dtype}  # the network ran in the autocast dtype
    assert value.dtype == torch.float32
    assert_close_dtype(value.detach(), expected, dtype)
    (g,) = torch.autograd.grad(value, leaf)
    assert torch.isfinite(g).all()
