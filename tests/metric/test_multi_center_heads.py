"""subcenter_arcface_loss (+ subcenter_outliers) and soft_triple_loss against
pytorch-metric-learning.

Convention mapping: PML keeps the class-major ``(D, C K)`` matrix (column ``c K + k``) of
sub-centres (``SubCenterArcFaceLoss.W``) or centres (``SoftTripleLoss.fc``); ours is the
``(C, K, D)`` tensor ``W.T.reshape(C, K, D)``. PML's ArcFace margin is in degrees. The
SoftTriple paper's centre-merging regulariser (``tau``) is in neither.
"""

from __future__ import annotations

import math

import pytest
import torch
from pytorch_metric_learning import losses

import visionloss as vl
from tests.helpers import assert_finite_graph, gradcheck, grads

from ._data import clustered, embeddings

C, K, D = 4, 3, 5


def _pml(loss, param, x, y, w):
    """PML's value and gradients, its (D, C K) matrix set from our (C, K, D) ``w``."""
    getattr(loss, param).data = w.detach().reshape(-1, w.shape[2]).T.clone()
    xl = x.detach().clone().requires_grad_()
    value = loss(xl, y)
    gx, gw = torch.autograd.grad(value, [xl, getattr(loss, param)])
    return value.detach(), gx, gw.T.reshape(w.shape)


def _data(seed=0):
    x, y = clustered(12, C, D, spread=0.8, seed=seed)
    return x, y, embeddings(C * K, D, seed=seed + 5).view(C, K, D)


@pytest.mark.parametrize("deg, scale", [(28.6, 64.0), (50.0, 4.0)])
def test_subcenter_arcface_matches_pml(deg, scale):
    x, y, w = _data()
    pml = losses.SubCenterArcFaceLoss(
        num_classes=C, embedding_size=D, margin=deg, scale=scale, sub_centers=K
    ).double()
    value, gx, gw = _pml(pml, "W", x, y, w)
    ours, (ox, ow) = grads(
        lambda a, b: vl.subcenter_arcface_loss(a, y, b, margin=math.radians(deg), scale=scale),
        x,
        w,
    )
    torch.testing.assert_close(ours, value)
    torch.testing.assert_close(ox, gx)
    torch.testing.assert_close(ow, gw)


def test_one_subcenter_is_arcface():
    x, y, w = _data(seed=2)
    torch.testing.assert_close(
        vl.subcenter_arcface_loss(x, y, w[:, :1]), vl.arcface_loss(x, y, w[:, 0])
    )


def test_outliers_match_pml():
    x, y, w = _data(seed=3)
    x[0] = -w[y[0]].mean(0)  # far from every sub-centre of its class
    pml = losses.SubCenterArcFaceLoss(num_classes=C, embedding_size=D, sub_centers=K).double()
    pml.W.data = w.reshape(-1, D).T.clone()
    expected, dominant = pml.get_outliers(x, y, threshold=60)
    outliers, ours = vl.subcenter_outliers(x, y, w, threshold=60.0)
    assert 0 in outliers.tolist()
    assert sorted(expected.tolist()) == outliers.tolist()
    present = torch.unique(y)
    torch.testing.assert_close(ours[present], dominant.T[present])


@pytest.mark.parametrize("opts", [{}, {"scale": 5.0, "gamma": 0.5, "margin": 0.2}])
def test_soft_triple_matches_pml(opts):
    x, y, w = _data(seed=4)
    o = {"scale": 20.0, "gamma": 0.1, "margin": 0.01, **opts}
    pml = losses.SoftTripleLoss(
        C, D, centers_per_class=K, la=o["scale"], gamma=o["gamma"], margin=o["margin"]
    ).double()
    value, gx, gw = _pml(pml, "fc", x, y, w)
    ours, (ox, ow) = grads(lambda a, b: vl.soft_triple_loss(a, y, b, **o), x, w)
    torch.testing.assert_close(ours, value)
    torch.testing.assert_close(ox, gx)
    torch.testing.assert_close(ow, gw)


def _degenerate():
    w = embeddings(C * K, D, seed=9).view(C, K, D)
    y = torch.tensor([0, 1, 2, 3])
    return {
        "on-center": (w[y, 0].clone(), y, w),
        "opposite": (-w[y, 0].clone(), y, w),
        "zero": (torch.zeros(4, D, dtype=torch.float64), y, w),
        "one-class": (embeddings(4, D, seed=8), torch.zeros(4, dtype=torch.long), w[:1]),
    }


@pytest.mark.parametrize("case", list(_degenerate()))
@pytest.mark.parametrize(
    "fn", [vl.subcenter_arcface_loss, vl.soft_triple_loss], ids=lambda f: f.__name__
)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
def test_degenerate_inputs_finite(fn, case, dtype):
    x, y, w = _degenerate()[case]
    xl, wl = x.to(dtype).requires_grad_(), w.to(dtype).requires_grad_()
    assert_finite_graph(fn(xl, y, wl), xl, wl)


def test_gradcheck():
    x, y, w = _data(seed=6)
    x, y, w = x[:4, :3].clone(), y[:4] % 2, w[:2, :2, :3].clone()  # small: an exact check
    gradcheck(lambda a, b: vl.soft_triple_loss(a, y, b, scale=3.0, gamma=0.5), x, w)
    gradcheck(lambda a, b: vl.subcenter_arcface_loss(a, y, b, scale=2.0), x, w)


def test_modules_hold_c_k_d_parameters():
    head = vl.SubCenterArcFaceLoss(4, 5, sub_centers=2)
    assert tuple(head.weight.shape) == (4, 2, 5) and "sub_centers=2" in repr(head)
    soft = vl.SoftTripleLoss(4, 5, centers_per_class=3)
    assert tuple(soft.proxies.shape) == (4, 3, 5)
    x, y = embeddings(6, 5, dtype=torch.float32), torch.tensor([0, 1, 2, 3, 0, 1])
    soft(x, y).backward()
    assert soft.proxies.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="SoftTripleLoss: expected centers_per_class"):
        vl.SoftTripleLoss(4, 5, centers_per_class=0)
