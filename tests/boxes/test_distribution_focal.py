"""distribution_focal_loss against mmdetection's formula (tests/reference/detection.py) and
ultralytics' DFLoss; bbox_to_distribution / distribution_to_bbox round trips."""

from __future__ import annotations

import pytest
import torch

import visionloss as vl
from tests.reference import detection as ref
from visionloss.errors import InputError, OptionError


def _case(seed=0, n=10, reg_max=7, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, reg_max + 1, generator=g, dtype=dtype)
    t = torch.rand(n, 4, generator=g, dtype=dtype) * (reg_max - 0.01)
    return x, t


def test_matches_mmdet():
    # mmdet: pred (N*4, reg_max + 1), label (N*4,); GFLHead averages with avg_factor = 4 N:
    # our "mean" over (N, 4)
    x, t = _case()
    x.requires_grad_(True)
    ours = vl.distribution_focal_loss(x, t, reduction="none")
    x2 = x.detach().clone().requires_grad_(True)
    theirs = ref.distribution_focal_loss(x2.reshape(-1, 8), t.reshape(-1)).reshape(10, 4)
    torch.testing.assert_close(ours, theirs)
    ours.mean().backward()
    theirs.mean().backward()
    torch.testing.assert_close(x.grad, x2.grad)


def test_matches_ultralytics():
    from ultralytics.utils.loss import DFLoss

    # ultralytics' reg_max counts bins (16 -> bins 0..15: our reg_max 15), pred_dist (N*4,
    # bins), target (N, 4) clamped to reg_max - 1 - 0.01, output (N, 1): the mean of the four
    # sides == our "none" then .mean(-1)
    x, t = _case(seed=1, reg_max=15, dtype=torch.float32)
    x.requires_grad_(True)
    ours = vl.distribution_focal_loss(x, t, reduction="none").mean(-1, keepdim=True)
    x2 = x.detach().clone().requires_grad_(True)
    theirs = DFLoss(reg_max=16)(x2.reshape(-1, 16), t.clone())
    torch.testing.assert_close(ours, theirs)
    ours.sum().backward()
    theirs.sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)


def test_hand_values_and_edges():
    x = torch.tensor([[0.0, 2.0, 0.0, -1.0]], dtype=torch.float64)
    log_p = torch.log_softmax(x, -1)[0]
    expected = -(0.75 * log_p[1] + 0.25 * log_p[2])
    torch.testing.assert_close(vl.distribution_focal_loss(x, torch.tensor([1.25]).double()),
                               expected)  # fmt: skip
    # the last bin exactly (no out-of-range right bin) and the first
    torch.testing.assert_close(
        vl.distribution_focal_loss(x, torch.tensor([3.0]).double()), -log_p[3]
    )
    torch.testing.assert_close(
        vl.distribution_focal_loss(x, torch.tensor([0.0]).double()), -log_p[0]
    )


def test_degenerate_and_errors():
    e = vl.distribution_focal_loss(torch.zeros(0, 4, 8, requires_grad=True), torch.zeros(0, 4))
    assert e == 0 and e.requires_grad
    x, t = _case(dtype=torch.float32)
    half = vl.distribution_focal_loss(x.half(), t.half().clamp(max=6.9))
    assert half.dtype == torch.float32 and torch.isfinite(half)
    w = torch.zeros(10, 1)
    x.requires_grad_(True)
    out = vl.distribution_focal_loss(x, t, weight=w)
    (g,) = torch.autograd.grad(out, x)
    assert out == 0 and (g == 0).all()
    with pytest.raises(InputError, match=r"target distances in \[0, 7\]"):
        vl.distribution_focal_loss(torch.zeros(2, 8), torch.tensor([1.0, 7.5]))
    with pytest.raises(InputError, match="without its bin dimension"):
        vl.distribution_focal_loss(torch.zeros(2, 8), torch.zeros(3))


def test_distribution_helpers_round_trip():
    g = torch.Generator().manual_seed(0)
    pts = torch.rand(5, 2, generator=g, dtype=torch.float64) * 40 + 20
    lo = pts - 1 - torch.rand(5, 2, generator=g, dtype=torch.float64) * 20
    hi = pts + 1 + torch.rand(5, 2, generator=g, dtype=torch.float64) * 20
    boxes = torch.cat([lo, hi], -1)
    dist = vl.bbox_to_distribution(pts, boxes, reg_max=16, stride=2.0)
    torch.testing.assert_close(dist * 2.0, torch.cat([pts - lo, hi - pts], -1))
    two_hot = vl.bbox_to_distribution(pts, boxes, reg_max=16, stride=2.0, two_hot=True)
    assert two_hot.shape == (5, 4, 17)
    torch.testing.assert_close(two_hot.sum(-1), torch.ones(5, 4, dtype=torch.float64))
    # the expectation of the two-hot distribution is the distance: log of it as logits
    back = vl.distribution_to_bbox(pts, two_hot.clamp_min(1e-300).log(), stride=2.0)
    torch.testing.assert_close(back, boxes)
    cx = vl.distribution_to_bbox(pts, two_hot.log(), stride=2.0, box_format="cxcywh")
    torch.testing.assert_close(cx, vl.box_convert(boxes, "xyxy", "cxcywh"))
    far = vl.bbox_to_distribution(pts, boxes * 0 + torch.tensor([0.0, 0.0, 1e3, 1e3]),
                                  reg_max=4)  # fmt: skip
    assert far.max() <= 4 - 0.01 + 1e-12 and far.min() >= 0
    with pytest.raises(OptionError, match="reg_max"):
        vl.bbox_to_distribution(pts, boxes, reg_max=0)


def test_gradcheck():
    x, t = _case(n=3, reg_max=4)
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda v: vl.distribution_focal_loss(v, t), (x,))


@pytest.mark.slow
def test_compiled_form_matches_eager():
    """Under ``torch.compile`` the loss is LSE(x) - sum_k w_k x_k with two-hot weights from a
    comparison with the bin index (no gather); eager takes the log-softmax at two gathered
    bins. Same values and gradients, at the last bin, at integer targets, with a weight and
    for a NaN target (NaN loss)."""
    torch._dynamo.reset()
    g = torch.Generator().manual_seed(7)
    x = torch.randn(9, 4, 8, generator=g, dtype=torch.float64)
    y = torch.rand(9, 4, generator=g, dtype=torch.float64) * 7
    y[0] = torch.tensor([0.0, 7.0, 3.0, 6.5])  # both ends, an integer
    weight = torch.rand(9, 1, generator=g, dtype=torch.float64)
    compiled = torch.compile(vl.distribution_focal_loss, backend="aot_eager", fullgraph=True)
    for kwargs in ({"reduction": "none"}, {"weight": weight, "reduction": "sum"}):
        a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
        out_eager = vl.distribution_focal_loss(a, y, **kwargs)
        out_compiled = compiled(b, y, **kwargs)
        torch.testing.assert_close(out_compiled, out_eager, rtol=1e-12, atol=1e-12)
        ga = torch.autograd.grad(out_eager.sum(), a)[0]
        gb = torch.autograd.grad(out_compiled.sum(), b)[0]
        torch.testing.assert_close(gb, ga, rtol=1e-12, atol=1e-12)
    y_nan = y.clone()
    y_nan[1, 2] = float("nan")
    out = compiled(x, y_nan, reduction="none")
    assert out[1, 2].isnan() and out.isnan().sum() == 1
