"""feature_matching_loss against pix2pixHD's formulation (pix2pixHD_model.py, the
``loss_G_GAN_Feat`` loop: ``feat_weights = 4.0 / (n_layers_D + 1)``, ``D_weights = 1.0 /
num_D``, ``for j in range(len(pred_fake[i]) - 1)`` (the final prediction is skipped),
``criterionFeat = L1Loss()`` on ``pred_real[i][j].detach()``, times ``lambda_feat = 10``),
written here as that loop in float64."""

from __future__ import annotations

import pytest
import torch

import visionloss as vl
from tests.helpers import grads
from visionloss.errors import InputError, InputTypeError


def discriminator_outputs(seed, num_d=2, n_layers=3, batch=2):
    """pix2pixHD-like lists: n_layers + 2 outputs per discriminator (the last: the prediction)."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for k in range(num_d):
        size = 16 // 2**k
        feats = [
            torch.randn(
                batch,
                4 * (i + 1),
                max(size // 2**i, 1),
                max(size // 2**i, 1),
                generator=gen,
                dtype=torch.float64,
            )
            for i in range(n_layers + 1)
        ]
        feats.append(torch.randn(batch, 1, 2, 2, generator=gen, dtype=torch.float64))
        out.append(feats)
    return out


def pix2pixhd(pred_fake, pred_real, n_layers=3, lambda_feat=10.0):
    loss = 0
    feat_weights = 4.0 / (n_layers + 1)
    d_weights = 1.0 / len(pred_fake)
    for i in range(len(pred_fake)):
        for j in range(len(pred_fake[i]) - 1):
            l1 = torch.nn.functional.l1_loss(pred_fake[i][j], pred_real[i][j].detach())
            loss = loss + d_weights * feat_weights * l1 * lambda_feat
    return loss


def test_matches_pix2pixhd():
    fake, real = discriminator_outputs(0), discriminator_outputs(1)
    leaves = [t.clone().requires_grad_(True) for d in fake for t in d]
    nested = [leaves[k * 5 : (k + 1) * 5] for k in range(2)]
    value = vl.feature_matching_loss(nested, real, skip_last=True)
    expected = pix2pixhd(nested, real)
    torch.testing.assert_close(value, expected)
    used = [t for d in nested for t in d[:-1]]  # the final predictions are skipped
    g = torch.autograd.grad(value, used)
    h = torch.autograd.grad(pix2pixhd(nested, real), used)
    for a, b in zip(g, h):
        torch.testing.assert_close(a, b)


def test_real_features_are_constants_and_forms():
    fake, real = discriminator_outputs(2, num_d=1), discriminator_outputs(3, num_d=1)
    r = [t.clone().requires_grad_(True) for t in real[0]]
    f = [t.clone().requires_grad_(True) for t in fake[0]]
    value = vl.feature_matching_loss(f, r, lambda_=1.0, layer_weight=1.0)
    g = torch.autograd.grad(value, [r[0], f[0]], allow_unused=True)
    assert g[0] is None and g[1].abs().max() > 0
    one, (gx,) = grads(
        lambda a: vl.feature_matching_loss(a, real[0][0], reduction="none"), fake[0][0]
    )
    assert one.shape == (2,)
    torch.testing.assert_close(one, 40.0 * (fake[0][0] - real[0][0]).abs().flatten(1).mean(1))


def test_degenerate_and_bad_inputs():
    x = torch.randn(3, 4)
    value, (g,) = grads(lambda a: vl.feature_matching_loss(a, x.clone()), x)
    assert float(value) == 0.0 and torch.isfinite(g).all()
    with pytest.raises(
        InputError, match=r"^feature_matching_loss: expected fake_features and real"
    ):
        vl.feature_matching_loss([x, x], [x])
    with pytest.raises(
        InputError, match=r"^feature_matching_loss: expected real features of shape"
    ):
        vl.feature_matching_loss([x], [x[:2]])
    with pytest.raises(InputTypeError, match=r"^feature_matching_loss: expected fake_features"):
        vl.feature_matching_loss("x", [x])
