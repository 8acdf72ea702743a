"""topology_loss: mu times the perceptual loss of masks repeated to 3 channels, the paper's
plain sum (normalize=False) against a float64 loop reference, a hand value, VGG19's Mosinska
layers, precomputed true-mask features, and bad inputs."""

from __future__ import annotations

import pytest
import torch

import visionloss as vl

from ._data import images, pixels, random_vgg, tiny_features


def _masks(b=2, size=8, seed=0):
    pred = images(b, 1, size, size, seed=seed, dtype=torch.float64)
    true = (images(b, 1, size, size, seed=seed + 1, dtype=torch.float64) > 0.5).double()
    return pred, true


def test_hand_value():
    pred, true = torch.full((1, 1, 2, 2), 0.5), torch.ones(1, 1, 2, 2)
    # pixels: mean of 0.25 over 3 repeated channels; pooled: the same; mu = 0.1
    torch.testing.assert_close(
        vl.topology_loss(pred, true, network=pixels), torch.tensor(0.1 * (0.25 + 0.25))
    )


def test_is_mu_times_perceptual_on_repeated_masks():
    net = tiny_features()
    pred, true = _masks()
    out = vl.topology_loss(
        pred, true, network=net, mu=0.3, layer_weights=(1, 2, 3), reduction="none"
    )
    expected = 0.3 * vl.perceptual_loss(
        pred.repeat(1, 3, 1, 1),
        true.repeat(1, 3, 1, 1),
        network=net,
        layer_weights=(1, 2, 3),
        reduction="none",
    )
    torch.testing.assert_close(out, expected)
    three = vl.topology_loss(
        pred.repeat(1, 3, 1, 1),
        true.repeat(1, 3, 1, 1),
        network=net,
        mu=0.3,
        layer_weights=(1, 2, 3),
        reduction="none",
    )
    torch.testing.assert_close(three, out)


def _plain_sum_reference(net, pred, true, layers, weights, mu):
    """Mosinska et al. Eq. (2) per image, by loops in float64: mu * sum over layers n and
    feature maps m of w_n ||l_n^m(y) - l_n^m(y_hat)||^2 (no normalisation)."""
    fp, ft = net(pred.repeat(1, 3, 1, 1)), net(true.repeat(1, 3, 1, 1))
    out = []
    for b in range(pred.shape[0]):
        total = pred.new_zeros(())
        for w, name in zip(weights, layers):
            for m in range(fp[name].shape[1]):
                total = total + w * ((ft[name][b, m] - fp[name][b, m]) ** 2).sum()
        out.append(mu * total)
    return torch.stack(out)


LAYERS = ("relu1_1", "relu1_2", "pool1")  # 4 x 8 x 8, 6 x 8 x 8 and 6 x 4 x 4 values


def test_plain_sum_matches_the_float64_reference_values_and_gradients():
    net = tiny_features()
    pred, true = _masks()
    pred.requires_grad_(True)
    w = (0.5, 2.0, 1.0)
    out = vl.topology_loss(
        pred,
        true,
        network=net,
        layers=LAYERS,
        layer_weights=w,
        mu=0.3,
        normalize=False,
        reduction="none",
    )
    expected = _plain_sum_reference(net, pred, true, LAYERS, w, 0.3)
    torch.testing.assert_close(out, expected)
    (g,) = torch.autograd.grad(out.sum(), pred)
    (g_ref,) = torch.autograd.grad(expected.sum(), pred)
    torch.testing.assert_close(g, g_ref)
    module = vl.TopologyLoss(
        net, layers=LAYERS, layer_weights=w, mu=0.3, normalize=False, reduction="none"
    )
    torch.testing.assert_close(module(pred, true), out)


def test_normalize_divides_each_layer_by_its_own_size():
    """One layer: the plain sum is C*H*W times the normalised value. Several layers of
    different sizes: the ratio of the two forms depends on the images, so no rescaling of mu
    turns one into the other."""
    net = tiny_features()
    pred, true = _masks(b=3)
    sizes = {"relu1_1": 4 * 8 * 8, "relu1_2": 6 * 8 * 8, "pool1": 6 * 4 * 4}
    for name, size in sizes.items():
        plain = vl.topology_loss(pred, true, network=net, layers=name, normalize=False)
        normalised = vl.topology_loss(pred, true, network=net, layers=name)
        torch.testing.assert_close(plain, size * normalised)
    kw = {"network": net, "layers": LAYERS, "reduction": "none"}
    ratio = vl.topology_loss(pred, true, normalize=False, **kw) / vl.topology_loss(pred, true, **kw)
    assert ratio.max() - ratio.min() > 1e-3 * ratio.max()  # not one factor for every image
    assert all((ratio - size).abs().max() > 1.0 for size in sizes.values())


def test_module_defaults_and_precomputed_true_masks():
    net = random_vgg("vgg19", ("relu1_2", "relu2_2", "relu3_4"))
    module = vl.TopologyLoss(net)
    assert module.layers == ("relu1_2", "relu2_2", "relu3_4") and module.mu == 0.1
    assert module.normalize is True
    pred, true = (m.float() for m in _masks(size=16))
    feats = module.target_features(true)  # 1-channel masks are repeated here too
    torch.testing.assert_close(module(pred, feats), module(pred, true))


def test_pixel_plus_topology_trains():
    """Used with a pixel loss, as in the paper: the total has a gradient on the logits."""
    net = tiny_features(torch.float32)
    logits = torch.zeros(2, 1, 8, 8, requires_grad=True)
    true = (images(2, 1, 8, 8) > 0.5).float()
    prob = torch.sigmoid(logits)
    total = vl.binary_cross_entropy_loss(logits, true) + vl.topology_loss(prob, true, network=net)
    (g,) = torch.autograd.grad(total, logits)
    assert torch.isfinite(g).all() and g.abs().sum() > 0


@pytest.mark.parametrize(
    "call, error, match",
    [
        pytest.param(
            lambda: vl.topology_loss(images(1, 2, 4, 4), images(1, 2, 4, 4), network=pixels),
            ValueError,
            r"expected input masks of shape \(B, 1, H, W\) \(or \(B, 3, H, W\)\), got "
            r"\(1, 2, 4, 4\)",
            id="channels",
        ),
        pytest.param(
            lambda: vl.topology_loss(images(1, 4, 4), images(1, 4, 4), network=pixels),
            ValueError,
            "expected input to be 4-D",
            id="3-d",
        ),
        pytest.param(
            lambda: vl.topology_loss(images(1, 1, 4, 4), images(1, 1, 4, 5), network=pixels),
            ValueError,
            "expected target of shape",
            id="shape",
        ),
        pytest.param(
            lambda: vl.topology_loss(
                images(1, 1, 4, 4), images(1, 1, 4, 4), network=pixels, mu=-1.0
            ),
            ValueError,
            "expected mu >= 0",
            id="mu",
        ),
        pytest.param(
            lambda: vl.topology_loss(
                images(1, 1, 4, 4), images(1, 1, 4, 4), network=pixels, normalize="chw"
            ),
            ValueError,
            "expected normalize to be one of True, False, got 'chw'",
            id="normalize",
        ),
    ],
)
def test_bad_inputs(call, error, match):
    with pytest.raises(error, match="topology_loss: " + match):
        call()


def test_bad_module_normalize():
    with pytest.raises(ValueError, match="TopologyLoss: expected normalize to be one of"):
        vl.TopologyLoss(tiny_features(), normalize=None)
