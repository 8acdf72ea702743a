"""lpips_loss / LPIPS against the lpips package with the same, locally constructed weights (a
random backbone for AlexNet, VGG16 and SqueezeNet 1.1, random and shipped linear layers),
values and gradients; the weight sources (never a download); degenerate and bad inputs.

Mapping: lpips.LPIPS(net=n, pnet_rand=True) builds the torchvision backbone with random
weights in slices ``slice{k}.{i}`` (``i`` = the index in ``.features``, lpips'
pretrained_networks.py), and loads the linear layers ``lin{k}.model.1.weight`` from its
weights/v0.1/<net>.pth; ``forward(x, y, normalize=True)`` maps [0, 1] to [-1, 1] like our
default ``normalize=True``. Its output is (B, 1, 1, 1); ours (B,) for ``"none"``.
"""

from __future__ import annotations

import warnings

import pytest
import torch

import visionloss as vl
from tests.helpers import grads
from visionloss.errors import InputError, OptionTypeError
from visionloss.synthesis.lpips import example_network

lpips = pytest.importorskip("lpips")


def reference(net: str, random_lin: bool, tmp_path):
    """The lpips package's model (random backbone) and our network with the same weights."""
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = lpips.LPIPS(net=net, pnet_rand=True, pretrained=True, verbose=False)
    if random_lin:
        with torch.no_grad():
            for lin in ref.lins:
                lin.model[-1].weight.uniform_(0, 1)
    ref = ref.double().eval()
    backbone = {k.split(".", 1)[1]: v for k, v in ref.net.state_dict().items()}
    torch.save(backbone, tmp_path / "backbone.pth")  # as the .features state dict
    lin = {f"lin{k}.model.1.weight": m.model[-1].weight for k, m in enumerate(ref.lins)}
    torch.save(lin, tmp_path / "lin.pth")
    source = tmp_path / "lin.pth" if random_lin else "package"
    ours = vl.lpips_network(net, backbone_weights=tmp_path / "backbone.pth", lin_weights=source)
    return ref, ours.double()


@pytest.mark.parametrize("net", ["alex", pytest.param("vgg", marks=pytest.mark.slow), "squeeze"])
@pytest.mark.parametrize("random_lin", [False, True], ids=["package-lin", "random-lin"])
def test_equals_the_lpips_package(net, random_lin, tmp_path):
    ref, ours = reference(net, random_lin, tmp_path)
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(2, 3, 32, 36, generator=gen, dtype=torch.float64)
    y = torch.rand(2, 3, 32, 36, generator=gen, dtype=torch.float64)
    value, (gx, gy) = grads(lambda a, b: vl.lpips_loss(a, b, network=ours, reduction="none"), x, y)
    expected, (hx, hy) = grads(lambda a, b: ref(a, b, normalize=True).flatten(), x, y)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(gx, hx)
    torch.testing.assert_close(gy, hy)
    # inputs already in [-1, 1]: the package's default
    torch.testing.assert_close(
        vl.lpips_loss(2 * x - 1, 2 * y - 1, network=ours, normalize=False, reduction="none"),
        expected,
    )


def test_module_builds_its_network_from_local_files(tmp_path):
    ref, ours = reference("alex", False, tmp_path)
    module = vl.LPIPS(net="alex", backbone_weights=tmp_path / "backbone.pth").double()
    x, y = (
        torch.rand(1, 3, 32, 32, dtype=torch.float64),
        torch.rand(1, 3, 32, 32, dtype=torch.float64),
    )
    torch.testing.assert_close(module(x, y), vl.lpips_loss(x, y, network=ours))
    assert not any(p.requires_grad for p in module.parameters())
    module.train()
    assert not module.network.training  # the frozen network stays in eval (no dropout)


def test_missing_weights_name_the_file_and_never_download(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty cache
    with pytest.raises(FileNotFoundError, match=r"never downloads.*alexnet-owt-7be5be79\.pth"):
        vl.lpips_network("alex")
    with pytest.raises(FileNotFoundError, match=r"no linear-layer file"):
        vl.lpips_network("alex", backbone_weights=None, lin_weights=tmp_path / "none.pth")


def test_degenerate_identical_and_dead_features():
    net = example_network()
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    value, (g,) = grads(lambda a: vl.lpips_loss(a, x.clone(), network=net), x)
    assert float(value) == 0.0 and g.abs().max() == 0
    # a constant black image: ReLU features may be all zero at a location
    z = torch.zeros(1, 3, 8, 8, dtype=torch.float64)
    value, (g,) = grads(lambda a: vl.lpips_loss(a, torch.ones_like(z), network=net), z)
    assert torch.isfinite(value) and torch.isfinite(g).all()


def test_half_inputs_and_gradcheck():
    net = example_network()
    x, y = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    value = vl.lpips_loss(x.half(), y.half(), network=net)
    assert value.dtype == torch.float32
    torch.testing.assert_close(
        value, vl.lpips_loss(x.half().float(), y.half().float(), network=net)
    )
    xd = x[:1].double().requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda a: vl.lpips_loss(a, y[:1].double(), network=net), (xd,), fast_mode=True
    )


def test_bad_inputs():
    net = example_network()
    with pytest.raises(InputError, match=r"^lpips_loss: expected input with 3 channels"):
        vl.lpips_loss(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8), network=net)
    with pytest.raises(InputError, match=r"^lpips_loss: expected target of shape"):
        vl.lpips_loss(torch.rand(1, 3, 8, 8), torch.rand(2, 3, 8, 8), network=net)
    with pytest.raises(
        OptionTypeError, match=r"^lpips_loss: expected network to be an LPIPSNetwork"
    ):
        vl.lpips_loss(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8), network=lambda x: x)
