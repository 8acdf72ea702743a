"""arcface_loss and cosface_loss against pytorch-metric-learning and the papers' equations.

Convention mapping:

* PML ``ArcFaceLoss(num_classes, embedding_size, margin=deg, scale=s)``: margin in degrees,
  ``W`` of shape ``(D, C)``, ``MeanReducer`` (mean over the batch). Ours:
  ``arcface_loss(x, y, W.T, margin=math.radians(deg), scale=s)``. Its fallback where
  ``theta > pi - m`` is ``cos(theta) - m sin(m)``: insightface's ``th``/``mm`` form, ours.
* PML ``CosFaceLoss(num_classes, embedding_size, margin=m, scale=s)``: ``weight=W.T``.
* PML takes ``acos`` of the clamped cosine (its slope is unbounded as ``cos -> 1``); ours
  never forms the angle (``sin = sqrt(max(1 - cos^2, 0))`` with a zero slope at 1).
"""

from __future__ import annotations

import math

import pytest
import torch
from pytorch_metric_learning import losses

import visionloss as vl
from tests.helpers import assert_finite_graph, gradcheck, grads
from tests.reference import metric_breadth as ref
from visionloss.errors import InputError

from ._data import embeddings, labels


def _pml(loss, x, y, w):
    """PML's value and gradients (x, W.T) with its W set to ``w.T``."""
    loss.W.data = w.detach().T.clone()
    xl = x.detach().clone().requires_grad_()
    value = loss(xl, y)
    gx, gw = torch.autograd.grad(value, [xl, loss.W])
    return value.detach(), gx, gw.T


def _data(n=12, c=4, d=5, seed=0):
    return embeddings(n, d, seed=seed), labels(n, c, seed=seed + 1), embeddings(c, d, seed=seed + 2)


ARC = [
    pytest.param(28.6, 64.0, id="defaults"),
    pytest.param(10.0, 8.0, id="small-margin"),
    pytest.param(60.0, 4.0, id="large-margin-fallback"),
]


@pytest.mark.parametrize("deg, scale", ARC)
def test_arcface_matches_pml(deg, scale):
    x, y, w = _data()
    pml = losses.ArcFaceLoss(4, 5, margin=deg, scale=scale).double()
    value, gx, gw = _pml(pml, x, y, w)
    ours, (ox, ow) = grads(
        lambda a, b: vl.arcface_loss(a, y, b, margin=math.radians(deg), scale=scale), x, w
    )
    torch.testing.assert_close(ours, value)
    torch.testing.assert_close(ox, gx)
    torch.testing.assert_close(ow, gw)


@pytest.mark.parametrize("easy", [False, True], ids=["th-mm", "easy-margin"])
def test_arcface_matches_paper_reference_with_fallbacks(easy):
    x, y, w = _data(seed=3)
    x[:4] = -w[y[:4]] + 0.2 * x[:4]  # theta near pi: the fallback branch
    value, (gx, gw) = grads(
        lambda a, b: vl.arcface_loss(a, y, b, margin=0.9, scale=3.0, easy_margin=easy), x, w
    )
    expected, (rx, rw) = grads(lambda a, b: ref.arcface(a, y, b, 0.9, 3.0, easy), x, w)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(gx, rx)
    torch.testing.assert_close(gw, rw)


@pytest.mark.parametrize("margin, scale", [(0.35, 64.0), (0.1, 5.0)])
def test_cosface_matches_pml_and_paper(margin, scale):
    x, y, w = _data(seed=5)
    pml = losses.CosFaceLoss(4, 5, margin=margin, scale=scale).double()
    value, gx, gw = _pml(pml, x, y, w)
    ours, (ox, ow) = grads(lambda a, b: vl.cosface_loss(a, y, b, margin=margin, scale=scale), x, w)
    torch.testing.assert_close(ours, value)
    torch.testing.assert_close(ox, gx)
    torch.testing.assert_close(ow, gw)
    expected = ref.cosface(x, y, w, margin, scale)
    torch.testing.assert_close(ours, expected)


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_sphereface_matches_pml(m):
    """PML ``SphereFaceLoss(margin=m, scale=1)``: the multiple-angle expansion and
    ``psi = (-1)^k cos(m theta) - 2k``, logits times ``||x||``; ``weight=W.T``."""
    x, y, w = _data(seed=13)
    x[:3] = -w[y[:3]] + 0.3 * x[:3]  # large angles: k > 0
    value, gx, gw = _pml(losses.SphereFaceLoss(4, 5, margin=m, scale=1.0).double(), x, y, w)
    ours, (ox, ow) = grads(lambda a, b: vl.sphereface_loss(a, y, b, margin=m), x, w)
    torch.testing.assert_close(ours, value)
    torch.testing.assert_close(ox, gx)
    torch.testing.assert_close(ow, gw)


def test_sphereface_annealing_blends_in_the_plain_logit():
    """Liu et al. Sec. 3.4: f_y = (lambda ||x|| cos + ||x|| psi) / (1 + lambda); m = 2."""
    x, y, w = _data(n=4, seed=14)
    lam = 3.0
    xn = x.norm(dim=1)
    c = (x / xn[:, None]) @ (w / w.norm(dim=1, keepdim=True)).T
    ct = c[torch.arange(4), y]
    theta = torch.acos(ct)
    k = torch.floor(theta * 2 / math.pi)
    psi = (-1) ** k * torch.cos(2 * theta) - 2 * k
    logits = xn[:, None] * c
    logits[torch.arange(4), y] = xn * (lam * ct + psi) / (1 + lam)
    expected = torch.nn.functional.cross_entropy(logits, y)
    torch.testing.assert_close(vl.sphereface_loss(x, y, w, margin=2, anneal=lam), expected)


def test_sphereface_margin_must_be_whole():
    x, y, w = _data()
    with pytest.raises(ValueError, match="sphereface_loss: expected margin to be a whole"):
        vl.sphereface_loss(x, y, w, margin=2.5)


def test_zero_margin_is_scaled_softmax_on_cosines():
    """Worked by hand: x on w_0, w_1 orthogonal, s = 1: -log(e / (e + 1)) = 0.3133."""
    x, y, w = torch.tensor([[1.0, 0.0]]), torch.tensor([0]), torch.eye(2)
    expected = torch.tensor(-math.log(math.e / (math.e + 1.0)))
    for fn in (vl.arcface_loss, vl.cosface_loss):
        torch.testing.assert_close(fn(x, y, w, margin=0.0, scale=1.0), expected)


def _degenerate():
    w = embeddings(3, 4, seed=7)
    y = torch.tensor([0, 1, 2, 0])
    return {
        "on-weight": (w[y].clone(), y, w),  # cos = 1 exactly (up to rounding)
        "opposite": (-w[y].clone(), y, w),  # cos = -1
        "axis-on-weight": (torch.eye(4)[:3], torch.tensor([0, 1, 2]), torch.eye(4)[:3]),
        "axis-opposite": (-torch.eye(4)[:3], torch.tensor([0, 1, 2]), torch.eye(4)[:3]),
        "zero": (torch.zeros(4, 4, dtype=torch.float64), y, w),
        "one-class": (embeddings(4, 4, seed=8), torch.zeros(4, dtype=torch.long), w[:1]),
    }


CASES = list(_degenerate())
HEADS = [vl.arcface_loss, vl.cosface_loss, vl.sphereface_loss]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("fn", HEADS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
def test_degenerate_inputs_finite_values_and_gradients(fn, case, dtype):
    x, y, w = _degenerate()[case]
    xl, wl = x.to(dtype).requires_grad_(), w.to(dtype).requires_grad_()
    for easy in (False, True):
        opts = {"easy_margin": easy} if fn is vl.arcface_loss else {}
        if fn is vl.sphereface_loss:
            opts = {"anneal": 5.0 if easy else 0.0}
        assert_finite_graph(fn(xl, y, wl, **opts), xl, wl)


def test_arcface_at_cos_one_matches_pml():
    """Exactly on the class weight PML's clamp stops the gradient of its acos (the clamp's
    derivative is 0 at the bound); ours has the sine's derivative 0 there: the same finite
    values and gradients (the cosine's own gradient vanishes at x parallel to w)."""
    w = torch.eye(3, dtype=torch.float64)
    x, y = torch.eye(3, dtype=torch.float64), torch.tensor([0, 1, 2])
    value, gx, gw = _pml(losses.ArcFaceLoss(3, 3, scale=1.0).double(), x, y, w)
    m = math.radians(28.6)  # PML default margin, in degrees
    ours, (ox, ow) = grads(lambda a, b: vl.arcface_loss(a, y, b, margin=m, scale=1.0), x, w)
    torch.testing.assert_close(ours, value)
    torch.testing.assert_close(ox, gx)
    torch.testing.assert_close(ow, gw)


def test_half_precision_is_close_to_float32():
    x, y, w = _data(seed=9)
    for fn in HEADS:
        full = fn(x.float(), y, w.float(), scale=4.0)
        half = fn(x.half(), y, w.half(), scale=4.0)
        assert half.dtype == torch.float32
        torch.testing.assert_close(half, full, rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("fn", HEADS, ids=lambda f: f.__name__)
def test_gradcheck_including_the_fallback(fn):
    x, y, w = _data(n=6, c=3, d=3, seed=11)
    x[:2] = -w[y[:2]] + 0.3 * x[:2]
    margin = 3 if fn is vl.sphereface_loss else 0.8
    gradcheck(lambda a, b: fn(a, y, b, margin=margin, scale=2.0), x, w)


@pytest.mark.parametrize(
    "module", [vl.ArcFaceLoss, vl.CosFaceLoss, vl.SphereFaceLoss], ids=lambda m: m.__name__
)
def test_module_owns_a_trainable_weight_and_round_trips(module):
    torch.manual_seed(0)
    head = module(4, 5, scale=8.0)
    assert tuple(head.weight.shape) == (4, 5) and head.weight.requires_grad
    x, y, _ = _data()
    value = head(x.float(), y)
    torch.testing.assert_close(value, head.function(x.float(), y, head.weight, scale=8.0))
    value.backward()
    assert head.weight.grad is not None and head.weight.grad.abs().sum() > 0
    other = module(4, 5, scale=8.0)
    other.load_state_dict(head.state_dict())
    torch.testing.assert_close(other.weight, head.weight)


def test_bad_inputs_name_the_function_and_shapes():
    x, y, w = _data()
    with pytest.raises(
        InputError, match=r"arcface_loss: expected weight of shape \(num_classes, 5\)"
    ):
        vl.arcface_loss(x, y, w[:, :3])
    with pytest.raises(InputError, match="cosface_loss"):
        vl.cosface_loss(x, y, w[:2])  # labels >= 2
    with pytest.raises(ValueError, match="ArcFaceLoss: expected num_classes"):
        vl.ArcFaceLoss(0, 5)
