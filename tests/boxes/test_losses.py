"""Every box loss against its float64 paper reference, with gradcheck on each geometric branch,
the degenerate matrix, reductions, dtypes and bad inputs (tables in ``cases.py``)."""

from __future__ import annotations

import math

import pytest
import torch

import visionloss as vl
from tests.boxes.cases import (
    BRANCHES,
    DEGENERATE,
    DISTINCT,
    FROZEN,
    IMAGE,
    LOSSES,
    params,
    random_boxes,
)
from tests.conftest import HALF_DTYPES, assert_close_dtype
from tests.helpers import assert_finite_graph, gradcheck, grads
from tests.reference import boxes as ref

ALL = params(LOSSES)
_V_2_1 = 4 / math.pi**2 * (math.pi / 4 - math.atan(2)) ** 2  # v of a 2:1 box against a square
FUNCS = [pytest.param(fn, opts, id=name) for name, fn, _, opts in DISTINCT.values()]
MODULES = [
    pytest.param(fn, module, opts, id=name)
    for name, fn, module, opts in DISTINCT.values()
    if module is not None
]


@pytest.mark.parametrize("fn, module, opts, reference", ALL)
def test_matches_paper_reference_values_and_gradients(fn, module, opts, reference):
    pred, target = random_boxes(16)
    pred, target = pred.reshape(4, 4, 4), target.reshape(4, 4, 4)
    value, (gp, gt) = grads(fn, pred, target, reduction="none", **opts)
    expected, (rp, rt) = grads(lambda a, b: ref.per_box(reference, a, b), pred, target)
    assert value.shape == (4, 4)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(gp, rp)
    torch.testing.assert_close(gt, rt)


def _central_differences(f, p: torch.Tensor, t: torch.Tensor, eps: float = 1e-6):
    """d f / d (p, t) of a scalar function of two 4-vectors, by central differences."""
    x = torch.cat([p, t]).detach()
    out = torch.empty(8, dtype=x.dtype)
    for k in range(8):
        dx = torch.zeros_like(x)
        dx[k] = eps
        hi, lo = x + dx, x - dx
        out[k] = (f(hi[:4], hi[4:]) - f(lo[:4], lo[4:])) / (2 * eps)
    return out[:4], out[4:]


@pytest.mark.parametrize(
    "name, fn, opts", [pytest.param(r[0], r[1], r[3], id=r[0]) for r in LOSSES]
)
@pytest.mark.parametrize("pred, target", BRANCHES)
def test_gradcheck_on_each_branch(name, fn, opts, pred, target):
    p = torch.tensor([pred], dtype=torch.float64)
    t = torch.tensor([target], dtype=torch.float64)
    if name not in FROZEN:
        gradcheck(lambda a, b: fn(a, b, reduction="none", **opts), p, t)
        return
    _, (gp, gt) = grads(fn, p, t, reduction="sum", **opts)
    frozen = FROZEN[name](p[0], t[0])
    np_, nt = _central_differences(lambda a, b: frozen(a, b).detach(), p[0], t[0])
    torch.testing.assert_close(gp[0], np_, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(gt[0], nt, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("fn, module, opts, reference", ALL)
@pytest.mark.parametrize("pred, target", BRANCHES)
def test_branch_values_match_reference(fn, module, opts, reference, pred, target):
    p, t = torch.tensor([pred], dtype=torch.float64), torch.tensor([target], dtype=torch.float64)
    torch.testing.assert_close(fn(p, t, reduction="none", **opts), ref.per_box(reference, p, t))


@pytest.mark.parametrize("fn, module, opts, reference", ALL)
@pytest.mark.parametrize("pred, target", DEGENERATE)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["fp32", "fp64"])
def test_degenerate_boxes_finite_with_finite_gradient(
    fn, module, opts, reference, pred, target, dtype
):
    p = torch.tensor([pred], dtype=dtype, requires_grad=True)
    t = torch.tensor([target], dtype=dtype, requires_grad=True)
    assert_finite_graph(fn(p, t, reduction="none", **opts), p, t)


@pytest.mark.parametrize("fn, module, opts, reference", ALL)
@pytest.mark.parametrize("box_format", ["xyxy", "xywh", "cxcywh"])
def test_identical_valid_boxes_give_zero(fn, module, opts, reference, box_format):
    boxes = vl.box_convert(random_boxes(6)[0], "xyxy", box_format).requires_grad_(True)
    out = fn(boxes, boxes.detach(), box_format=box_format, reduction="none", **opts)
    torch.testing.assert_close(out, torch.zeros(6, dtype=torch.float64))
    assert_finite_graph(out, boxes)


@pytest.mark.parametrize("fn, module, opts, reference", ALL)
@pytest.mark.parametrize("box_format", ["xywh", "cxcywh"])
def test_box_formats_agree(fn, module, opts, reference, box_format):
    pred, target = random_boxes(8)
    expected = fn(pred, target, reduction="none", **opts)
    if fn in (vl.box_l1_loss, vl.box_smooth_l1_loss):  # coordinates differ by design
        opts = {**opts, "loss_format": "xyxy"}
    out = fn(
        vl.box_convert(pred, "xyxy", box_format),
        vl.box_convert(target, "xyxy", box_format),
        box_format=box_format,
        reduction="none",
        **opts,
    )
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("fn, opts", FUNCS)
def test_reductions_weight_and_normalizer(fn, opts):
    pred, target = random_boxes(6)
    none = fn(pred, target, reduction="none", **opts)
    w = torch.rand(6, dtype=torch.float64)
    torch.testing.assert_close(fn(pred, target, **opts), none.mean())
    torch.testing.assert_close(fn(pred, target, reduction="sum", **opts), none.sum())
    if fn is not vl.wiou_loss:  # its batch mean is weighted too (tests/boxes/test_wiou.py)
        torch.testing.assert_close(fn(pred, target, weight=w, **opts), (w * none).mean())
    torch.testing.assert_close(fn(pred, target, normalizer=4.0, **opts), none.sum() / 4)
    # a fractional normalizer divides (Focal-EIoU's sum of IoU^gamma weights can be < 1) ...
    torch.testing.assert_close(
        fn(pred, target, normalizer=torch.tensor(0.5), **opts), none.sum() / 0.5
    )
    # ... and one <= 0 (no positive anchor) leaves the sum, as RetinaNet's max(num_pos, 1)
    torch.testing.assert_close(fn(pred, target, normalizer=torch.tensor(0.0), **opts), none.sum())
    torch.testing.assert_close(fn(pred, target, normalizer=0, **opts), none.sum())


@pytest.mark.parametrize("fn, opts", FUNCS)
def test_none_keeps_leading_shape_and_empty_is_zero(fn, opts):
    pred, target = random_boxes(24)
    assert fn(
        pred.reshape(2, 3, 4, 4), target.reshape(2, 3, 4, 4), reduction="none", **opts
    ).shape == (2, 3, 4)
    empty = torch.zeros(0, 4, requires_grad=True)
    out = fn(empty, torch.zeros(0, 4), **opts)
    assert out.item() == 0.0
    assert_finite_graph(out, empty)


@pytest.mark.parametrize("fn, module, opts", MODULES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_module_equals_function_and_registry_builds_it(fn, module, opts, reduction):
    pred, target = random_boxes(5)
    w = torch.rand(5, dtype=torch.float64)
    m = module(reduction=reduction, **opts)
    torch.testing.assert_close(
        m(pred, target, weight=w), fn(pred, target, reduction=reduction, weight=w, **opts)
    )
    spec = vl.get_loss(fn.__name__.removesuffix("_loss"))
    assert spec.family == "boxes" and spec.module is module
    assert isinstance(vl.build_loss(spec.name, **opts), module)


@pytest.mark.parametrize("fn, opts", FUNCS)
@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_half_inputs_computed_in_fp32(fn, opts, dtype):
    pred, target = random_boxes(32, dtype=torch.float32, scale=1000.0)  # 1000-px boxes
    p, t = pred.to(dtype), target.to(dtype)
    out = fn(p, t, reduction="none", **opts)
    assert out.dtype == torch.float32
    assert_close_dtype(out, fn(p.float(), t.float(), reduction="none", **opts), dtype)
    leaf = p.clone().requires_grad_(True)
    assert_finite_graph(fn(leaf, t, **opts), leaf)


@pytest.mark.parametrize("fn, opts", FUNCS)
@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        pytest.param(
            lambda: (torch.zeros(2, 5), torch.zeros(2, 5)),
            {},
            ValueError,
            r"expected pred of shape \(\.\.\., 4\), got \(2, 5\)",
            id="last-dim",
        ),
        pytest.param(
            lambda: (torch.zeros(2, 4), torch.zeros(3, 4)),
            {},
            ValueError,
            r"expected target of shape \(2, 4\) matching pred, got \(3, 4\)",
            id="mismatched",
        ),
        pytest.param(
            lambda: (torch.zeros(2, 4), torch.zeros(2, 4)),
            {"box_format": "xyhw"},
            ValueError,
            "expected box_format to be one of 'xyxy', 'xywh', 'cxcywh', got 'xyhw'",
            id="format",
        ),
        pytest.param(
            lambda: (torch.zeros(2, 4, dtype=torch.long), torch.zeros(2, 4)),
            {},
            TypeError,
            "floating-point",
            id="int-pred",
        ),
        pytest.param(lambda: ([0.0] * 4, torch.zeros(4)), {}, TypeError, "torch.Tensor", id="list"),
        pytest.param(
            lambda: (torch.zeros(2, 4), torch.zeros(2, 4)),
            {"reduction": "avg"},
            ValueError,
            "expected reduction",
            id="reduction",
        ),
        pytest.param(
            lambda: (torch.zeros(2, 4), torch.zeros(2, 4)),
            {"weight": torch.ones(3)},
            ValueError,
            r"weight broadcastable to \(2,\)",
            id="weight",
        ),
    ],
)
def test_bad_inputs(fn, opts, args, kwargs, error, match):
    with pytest.raises(error, match=fn.__name__ + ": .*" + match):
        fn(*args(), **{**opts, **kwargs})


@pytest.mark.parametrize(
    "fn, kwargs, match",
    [
        pytest.param(vl.iou_loss, {"mode": "exp"}, "expected mode to be one of", id="iou-mode"),
        pytest.param(vl.iou_loss, {"eps": 0.0}, "expected eps > 0", id="iou-eps"),
        pytest.param(
            vl.ciou_loss, {"alpha_threshold": -1.0}, "alpha_threshold >= 0", id="ciou-threshold"
        ),
        pytest.param(vl.focal_eiou_loss, {"gamma": 0.0}, "gamma > 0", id="focal-gamma"),
        pytest.param(vl.cdiou_loss, {"lam": -1.0}, "lam >= 0", id="cdiou-lam"),
        pytest.param(vl.siou_loss, {"theta": 0.0}, "theta > 0", id="siou-theta"),
        pytest.param(vl.wiou_loss, {"version": "v4"}, "expected version", id="wiou-version"),
        pytest.param(vl.wiou_loss, {"alpha": 0.0}, "alpha > 0", id="wiou-alpha"),
        pytest.param(vl.alpha_iou_loss, {"variant": "eiou"}, "expected variant", id="alpha-var"),
        pytest.param(vl.alpha_iou_loss, {"alpha": 0.0}, "alpha > 0", id="alpha-alpha"),
        pytest.param(vl.mpdiou_loss, {}, r"expected image_size=\(H, W\)", id="mpdiou-missing"),
        pytest.param(
            vl.mpdiou_loss,
            {"image_size": (10,)},
            r"expected image_size \(H, W\)",
            id="mpdiou-shape",
        ),
        pytest.param(
            vl.mpdiou_loss, {"image_size": (10, 0)}, "positive image_size", id="mpdiou-zero"
        ),
        pytest.param(vl.inner_iou_loss, {"ratio": 0.0}, "ratio > 0", id="inner-ratio"),
        pytest.param(
            vl.inner_iou_loss, {"variant": "wiou"}, "expected variant", id="inner-variant"
        ),
        pytest.param(
            vl.box_l1_loss, {"loss_format": "yxyx"}, "expected loss_format", id="l1-format"
        ),
        pytest.param(vl.box_smooth_l1_loss, {"beta": -1.0}, "beta >= 0", id="smooth-beta"),
    ],
)
def test_bad_options(fn, kwargs, match):
    pred, target = random_boxes(2)
    with pytest.raises(ValueError, match=fn.__name__ + ": .*" + match):
        fn(pred, target, **kwargs)


@pytest.mark.parametrize(
    "module, kwargs, match",
    [
        pytest.param(
            vl.GIoULoss, {"box_format": "xy"}, "GIoULoss: expected box_format", id="format"
        ),
        pytest.param(
            vl.DIoULoss, {"reduction": "batchmean"}, "DIoULoss: expected reduction", id="reduction"
        ),
        pytest.param(vl.IoULoss, {"mode": "cube"}, "IoULoss: expected mode", id="mode"),
        pytest.param(vl.WIoULoss, {"momentum": 0.0}, "WIoULoss: expected momentum", id="momentum"),
    ],
)
def test_bad_module_options(module, kwargs, match):
    with pytest.raises(ValueError, match=match):
        module(**kwargs)


@pytest.mark.parametrize(
    "fn, opts, pred, target, expected",
    [
        # IoU 1/3 (intersection 2, union 6)
        pytest.param(vl.iou_loss, {}, [0, 0, 2, 2], [1, 0, 3, 2], 2 / 3, id="iou"),
        pytest.param(
            vl.iou_loss,
            {"mode": "log"},
            [0, 0, 2, 2],
            [1, 0, 3, 2],
            -torch.log(torch.tensor(1 / 3)).item(),
            id="iou-log",
        ),
        # 1 - 1/2 + 1/20 + v alpha, v = 4/pi^2 (pi/4 - atan 2)^2
        pytest.param(
            vl.ciou_loss,
            {},
            [0, 0, 2, 1],
            [0, 0, 1, 1],
            0.55 + _V_2_1**2 / (0.5 + _V_2_1),
            id="ciou",
        ),
        # with alpha_threshold 0.5 and IoU exactly 0.5 alpha stays; at IoU 1/3 it drops to DIoU
        pytest.param(
            vl.ciou_loss,
            {"alpha_threshold": 0.5},
            [0, 0, 3, 1],
            [0, 0, 1, 1],
            1 - 1 / 3 + 1 / 10,
            id="ciou-threshold-drops-v",
        ),
        # 1 - 1/2 + 1/20 + 1/4 (width 2 vs 1 over C_w = 2)
        pytest.param(vl.eiou_loss, {}, [0, 0, 2, 1], [0, 0, 1, 1], 0.8, id="eiou"),
        # SIoU along x: Lambda = 0, gamma = 2, rho_x = (1/2)^2; no shape cost
        pytest.param(
            vl.siou_loss,
            {},
            [0, 0, 1, 1],
            [1, 0, 2, 1],
            1 + (1 - torch.exp(torch.tensor(-0.5)).item()) / 2,
            id="siou-aligned",
        ),
        # SIoU at 45 degrees: Lambda = 1, gamma = 1, rho_x = rho_y = (1/2)^2
        pytest.param(
            vl.siou_loss,
            {},
            [0, 0, 1, 1],
            [1, 1, 2, 2],
            1 + (1 - torch.exp(torch.tensor(-0.25)).item()),
            id="siou-diagonal",
        ),
        # four vertices 1 apart, enclosing diagonal sqrt(5)
        pytest.param(vl.cdiou_loss, {}, [0, 0, 1, 1], [1, 0, 2, 1], 1 + 1 / 5**0.5, id="cdiou"),
        # d1^2 = d2^2 = 1 over 4^2 + 3^2
        pytest.param(
            vl.mpdiou_loss,
            {"image_size": (4, 3)},
            [0, 0, 2, 2],
            [1, 0, 3, 2],
            2 / 3 + 2 / 25,
            id="mpdiou",
        ),
        pytest.param(
            vl.alpha_iou_loss, {"alpha": 2.0}, [0, 0, 2, 2], [1, 0, 3, 2], 8 / 9, id="alpha-iou"
        ),
        # inner boxes of ratio 0.5 just touch
        pytest.param(
            vl.inner_iou_loss, {"ratio": 0.5}, [0, 0, 2, 2], [1, 0, 3, 2], 1.0, id="inner-iou"
        ),
        pytest.param(
            vl.inner_iou_loss,
            {"ratio": 1.0, "variant": "giou"},
            [0, 0, 1, 1],
            [1, 1, 2, 2],
            1.5,
            id="inner-ratio1-is-base",
        ),
        # exp(1 / 13) * 2/3
        pytest.param(
            vl.wiou_loss,
            {"version": "v1"},
            [0, 0, 2, 2],
            [1, 0, 3, 2],
            2 / 3 * torch.exp(torch.tensor(1 / 13)).item(),
            id="wiou-v1",
        ),
        # beta = 1 at the mean: r = 1 / (3 * 1.9^-2)
        pytest.param(
            vl.wiou_loss,
            {"version": "v3", "iou_mean": 2 / 3},
            [0, 0, 2, 2],
            [1, 0, 3, 2],
            2 / 3 * torch.exp(torch.tensor(1 / 13)).item() * 1.9**2 / 3,
            id="wiou-v3",
        ),
        pytest.param(
            vl.box_l1_loss,
            {"loss_format": "cxcywh"},
            [0, 0, 2, 2],
            [1, 0, 3, 3],
            1.0 + 0.5 + 1.0,
            id="box-l1-cxcywh",
        ),
    ],
)
def test_hand_values(fn, opts, pred, target, expected):
    out = fn(
        torch.tensor([pred], dtype=torch.float64),
        torch.tensor([target], dtype=torch.float64),
        **opts,
    )
    torch.testing.assert_close(out, torch.tensor(expected, dtype=torch.float64))


def test_siou_distance_cost_has_the_papers_sign():
    """Moving the prediction away along x increases the loss (mmdetection's default
    neg_gamma=False decreases it)."""
    target = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    losses = [
        vl.siou_loss(target + torch.tensor([s, 0.0, s, 0.0]), target) for s in (1.5, 3.0, 6.0)
    ]
    assert losses[0] < losses[1] < losses[2]


def test_ciou_alpha_gets_no_gradient():
    """alpha is held constant: the aspect part of the gradient is alpha * dv only."""
    p = torch.tensor([[0.0, 0.0, 2.0, 1.0]], dtype=torch.float64, requires_grad=True)
    t = torch.tensor([[0.0, 0.0, 1.0, 1.5]], dtype=torch.float64)
    (g,) = torch.autograd.grad(vl.ciou_loss(p, t) - vl.diou_loss(p, t), p)
    v = ref.aspect_v(p[0], t[0])
    i = ref.iou(p[0], t[0])
    alpha = (v / (1 - i + v)).detach()
    (expected,) = torch.autograd.grad(alpha * v, p)
    torch.testing.assert_close(g, expected)


def test_mpdiou_per_image_sizes_broadcast():
    pred, target = random_boxes(4)
    sizes = torch.tensor([[20.0, 30.0], [20.0, 30.0], [10.0, 10.0], [10.0, 10.0]])
    out = vl.mpdiou_loss(pred, target, image_size=sizes, reduction="none")
    torch.testing.assert_close(
        out[:2], vl.mpdiou_loss(pred[:2], target[:2], image_size=IMAGE, reduction="none")
    )
    torch.testing.assert_close(
        out[2:], vl.mpdiou_loss(pred[2:], target[2:], image_size=(10, 10), reduction="none")
    )


def test_mpdiou_module_takes_image_size_at_init_or_call():
    pred, target = random_boxes(3)
    expected = vl.mpdiou_loss(pred, target, image_size=IMAGE)
    torch.testing.assert_close(vl.MPDIoULoss(image_size=list(IMAGE))(pred, target), expected)
    torch.testing.assert_close(vl.MPDIoULoss()(pred, target, image_size=IMAGE), expected)


def test_focal_eiou_weight_is_detached_by_default():
    p, t = random_boxes(3)
    p.requires_grad_(True)
    (g,) = torch.autograd.grad(vl.focal_eiou_loss(p, t, reduction="sum"), p)
    i = vl.box_iou(p, t, paired=True).detach()
    (expected,) = torch.autograd.grad((i.sqrt() * vl.eiou_loss(p, t, reduction="none")).sum(), p)
    torch.testing.assert_close(g, expected)


def test_log_iou_of_disjoint_boxes_is_clamped():
    out = vl.iou_loss(
        torch.tensor([[0.0, 0.0, 1.0, 1.0]]),
        torch.tensor([[2.0, 2.0, 3.0, 3.0]]),
        mode="log",
        eps=1e-4,
    )
    torch.testing.assert_close(out, -torch.log(torch.tensor(1e-4)))


# ---------------------------------------------------------------- documented degenerate cases


@pytest.mark.parametrize("fn, opts", FUNCS)
@pytest.mark.parametrize("reduction", ["sum", "none"])
def test_no_boxes_sum_is_zero_and_none_is_empty(fn, opts, reduction):
    empty = torch.zeros(0, 4, requires_grad=True)
    out = fn(empty, torch.zeros(0, 4), reduction=reduction, **opts)
    if reduction == "none":
        assert out.shape == (0,)
    else:
        assert out.item() == 0.0
        assert_finite_graph(out, empty)


@pytest.mark.parametrize("fn, opts", FUNCS)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_all_zero_weight_gives_zero_with_zero_gradient(fn, opts, reduction):
    pred, target = random_boxes(5)
    w = torch.zeros(5, dtype=torch.float64)
    value, (gp, gt) = grads(fn, pred, target, weight=w, reduction=reduction, **opts)
    assert value.item() == 0.0
    assert torch.equal(gp, torch.zeros_like(gp)) and torch.equal(gt, torch.zeros_like(gt))


def _identical_empty_value(name: str) -> float:
    """Loss of two identical zero-area boxes: 1 - IoU = 1 with every penalty 0."""
    if name in ("box_l1", "box_smooth_l1", "focal_eiou", "focal_eiou-grad"):
        return 0.0  # coordinates agree / IoU^gamma = 0
    if name == "iou-log":
        return -math.log(1e-6)  # -ln eps
    if name == "wiou-v2":
        return (1 / 0.4) ** 0.5  # beta^gamma with beta = 1 / iou_mean
    if name == "wiou-v3":
        beta = 1 / 0.6
        return beta / (3.0 * 1.9 ** (beta - 3.0))
    return 1.0


@pytest.mark.parametrize(
    "name, fn, opts", [pytest.param(r[0], r[1], r[3], id=r[0]) for r in LOSSES]
)
@pytest.mark.parametrize(
    "box",
    [
        pytest.param([0.0, 0.0, 0.0, 0.0], id="zero"),
        pytest.param([2.0, 3.0, 2.0, 3.0], id="point"),
        pytest.param([0.0, 1.0, 2.0, 1.0], id="zero-height"),
        pytest.param([2.0, 2.0, 1.0, 1.0], id="inverted"),
    ],
)
def test_identical_zero_area_boxes_give_one_not_zero(name, fn, opts, box):
    b = torch.tensor([box], dtype=torch.float64)
    value, (gp, gt) = grads(fn, b, b, reduction="none", **opts)
    torch.testing.assert_close(value, torch.tensor([_identical_empty_value(name)], dtype=b.dtype))
    assert torch.equal(gp, torch.zeros_like(gp)) and torch.equal(gt, torch.zeros_like(gt))


@pytest.mark.parametrize(
    "fn, pred, expected",
    [
        pytest.param(vl.iou_loss, [1.0, 1.0, 1.0, 1.0], 1.0, id="iou"),
        pytest.param(vl.giou_loss, [1.0, 1.0, 1.0, 1.0], 1.0, id="giou"),
        pytest.param(vl.giou_loss, [0.5, 1.5, 0.5, 1.5], 1.0, id="giou-off-centre"),
        pytest.param(vl.diou_loss, [1.0, 1.0, 1.0, 1.0], 1.0, id="diou"),
        pytest.param(vl.ciou_loss, [1.0, 1.0, 1.0, 1.0], 1.0, id="ciou"),
        pytest.param(vl.eiou_loss, [1.0, 1.0, 1.0, 1.0], 3.0, id="eiou"),
        pytest.param(vl.siou_loss, [1.0, 1.0, 1.0, 1.0], 1 + (1 - math.exp(-1)) ** 4, id="siou"),
    ],
)
def test_point_box_inside_the_target_is_a_stationary_point(fn, pred, expected):
    """A point box gets no gradient through its zero width and height (and, at the target's
    centre, none from the centre distance): the loss is high but flat."""
    p = torch.tensor([pred], dtype=torch.float64)
    t = torch.tensor([[0.0, 0.0, 2.0, 2.0]], dtype=torch.float64)
    value, (gp,) = grads(lambda a: fn(a, t), p)
    torch.testing.assert_close(value, torch.tensor(expected, dtype=torch.float64))
    assert torch.equal(gp, torch.zeros_like(gp))


@pytest.mark.parametrize(
    "fn, opts",
    [
        pytest.param(vl.diou_loss, {}, id="diou"),
        pytest.param(vl.ciou_loss, {}, id="ciou"),
        pytest.param(vl.cdiou_loss, {}, id="cdiou"),
        pytest.param(vl.mpdiou_loss, {"image_size": IMAGE}, id="mpdiou"),
    ],
)
def test_distance_terms_move_a_point_box_towards_the_target(fn, opts):
    p = torch.tensor([[4.0, 5.0, 4.0, 5.0]], dtype=torch.float64)  # right of and below the target
    t = torch.tensor([[0.0, 0.0, 2.0, 2.0]], dtype=torch.float64)
    _, (gp,) = grads(lambda a: fn(a, t, **opts), p)
    step = p - 0.1 * gp
    before = vl.box_convert(p, "xyxy", "cxcywh")[0, :2] - 1.0
    after = vl.box_convert(step, "xyxy", "cxcywh")[0, :2] - 1.0
    assert after.norm() < before.norm()  # a gradient step brings the centre closer


def test_giou_of_empty_boxes_reaches_two_and_stays_in_zero_two():
    lines = vl.giou_loss(torch.tensor([[0.0, 0.0, 2.0, 0.0]]), torch.tensor([[0.0, 1.0, 2.0, 1.0]]))
    assert lines.item() == 2.0  # disjoint zero-area boxes with a non-empty enclosing box
    g = torch.Generator().manual_seed(3)
    b = torch.rand(400, 8, generator=g, dtype=torch.float64) * 10  # unordered corners
    b[:100, 2] = b[:100, 0]  # zero widths
    b[100:200, 7] = b[100:200, 5]  # zero heights
    out = vl.giou_loss(b[:, :4], b[:, 4:], reduction="none")
    assert ((out >= 0) & (out <= 2)).all()


def test_focal_eiou_paper_normalisation_is_the_iou_weighted_mean():
    # Zhang et al. normalise by the sum of the IoU^gamma weights; with poorly overlapping boxes
    # that sum is below 1 and must divide (a max(normalizer, 1) clamp would shrink the loss)
    p = torch.tensor([[0.0, 0.0, 4.0, 4.0], [1.0, 1.0, 3.0, 5.0]], dtype=torch.float64)
    t = torch.tensor([[3.0, 3.0, 7.0, 7.0], [2.0, 0.0, 6.0, 3.0]], dtype=torch.float64)
    w = vl.box_iou(p, t, paired=True).pow(0.5)
    assert w.sum() < 1
    out = vl.focal_eiou_loss(p, t, gamma=0.5, normalizer=w.sum())
    expected = (w * vl.eiou_loss(p, t, reduction="none")).sum() / w.sum()
    torch.testing.assert_close(out, expected)


def test_focal_eiou_of_iou_zero_pairs_is_zero_with_zero_gradient():
    p = torch.tensor([[0.0, 0.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0], [2.0, 2.0, 1.0, 1.0]])
    t = torch.tensor([[3.0, 3.0, 4.0, 5.0], [0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 2.0, 2.0]])
    for detach in (True, False):
        value, (gp, gt) = grads(vl.focal_eiou_loss, p, t, detach_weight=detach, reduction="none")
        assert torch.equal(value, torch.zeros(3))
        assert torch.equal(gp, torch.zeros_like(gp)) and torch.equal(gt, torch.zeros_like(gt))


@pytest.mark.parametrize(
    "fn, opts, bound",
    [
        pytest.param(vl.diou_loss, {}, 2.0, id="diou"),
        pytest.param(vl.wiou_loss, {"version": "v1"}, math.e, id="wiou-v1"),
        pytest.param(vl.ciou_loss, {}, 3.0, id="ciou"),
        pytest.param(vl.eiou_loss, {}, 4.0, id="eiou"),
        pytest.param(vl.alpha_iou_loss, {"variant": "ciou"}, 3.0, id="alpha-ciou"),
    ],
)
def test_inverted_corners_far_apart_stay_bounded(fn, opts, bound):
    # The enclosing box spans all four corners on each axis (an inverted prediction's corners
    # included), so it contains both centres: rho^2 / c^2 <= 1 and each loss keeps the bound it
    # has on valid boxes. With max(x2) - min(x1) of the corners as given (torchvision's
    # enclosure), DIoU was 2071 here and WIoU's exp(rho^2 / c^2) overflowed to inf.
    p = torch.tensor([[20.0, 20.0, 10.0, 10.0]], requires_grad=True)
    t = torch.tensor([[100.0, 100.0, 21.0, 21.0]])
    out = fn(p, t, **opts)
    assert_finite_graph(out, p)
    assert out.item() <= bound  # the bounds on valid boxes


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ciou_aspect_gradient_is_exact_where_the_authors_code_drops_a_factor(seed):
    """The CIoU docstring: the authors' simulation code (``dCIOU.m``, transcribed in
    ``tests/reference/boxes.py``) moves the width and height by ``alpha 8/pi^2 (atan(w_gt /
    h_gt) - atan(w / h)) (h, -w)``, the exact ``-alpha dv/d(w, h)`` times ``w^2 + h^2``; ours
    is the exact one."""
    pred, target = random_boxes(6, seed=seed)
    for p, t in zip(pred, target):
        xywh = torch.cat([(p[:2] + p[2:]) / 2, p[2:] - p[:2]])
        gt = torch.cat([(t[:2] + t[2:]) / 2, t[2:] - t[:2]])
        authors = [
            c - d
            for c, d in zip(
                ref.matlab_direction("ciou", xywh, gt), ref.matlab_direction("diou", xywh, gt)
            )
        ]
        leaf = xywh.clone().requires_grad_(True)
        corners = torch.cat([leaf[:2] - leaf[2:] / 2, leaf[:2] + leaf[2:] / 2])
        v = ref.aspect_v(corners, t)
        (dv,) = torch.autograd.grad(v, leaf)
        alpha = v.detach() / (1 - ref.iou(p, t) + v.detach() + 1e-7)  # dCIOU.m's alpha
        w, h = xywh[2], xywh[3]
        exact = -alpha * dv[2:]
        torch.testing.assert_close(
            torch.tensor(authors[2:], dtype=torch.float64), exact * (w**2 + h**2)
        )
        torch.testing.assert_close(
            torch.tensor(authors[:2], dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
        )
        # ours: the aspect part of the gradient is alpha dv, no (w^2 + h^2) factor
        leaf_ours = corners.detach().unsqueeze(0).requires_grad_(True)
        t_row = t.unsqueeze(0)
        (g,) = torch.autograd.grad(
            vl.ciou_loss(leaf_ours, t_row) - vl.diou_loss(leaf_ours, t_row), leaf_ours
        )
        ours_alpha = (v / (1 - ref.iou(p, t) + v)).detach()
        (expected,) = torch.autograd.grad(ours_alpha * ref.aspect_v(leaf_ours[0], t), leaf_ours)
        torch.testing.assert_close(g, expected)


def test_cdiou_distance_is_four_times_the_authors_released_code():
    """The CDIoU docstring: the paper's distance, sum_k |v_k - v_k^gt| / (4 c), is 4 times the
    authors' released ``box_dious`` (which averages the four distances, then divides by 4
    again); their ATSS loss adds 0.001 of theirs to a GIoU loss."""
    pred, target = random_boxes(12)
    ours = vl.cdiou_loss(pred, target, lam=1.0, reduction="none") - vl.iou_loss(
        pred, target, reduction="none"
    )
    theirs = torch.stack([ref.cdiou_authors_distance(p, t) for p, t in zip(pred, target)])
    torch.testing.assert_close(ours, 4 * theirs)


@pytest.mark.parametrize("given", ["cxcywh", "xyxy"])
def test_box_l1_with_num_boxes_is_detrs_box_term(given):
    """The box L1 docstring: DETR's ``loss_bbox`` (facebookresearch/detr, models/detr.py at
    29901c5, lines 153-156) is ``F.l1_loss(src, target, reduction="none").sum() / num_boxes``
    on cxcywh boxes (``num_boxes`` clamped to >= 1, line 232)."""
    pred, target = random_boxes(7)
    pred_c = torch.cat([(pred[:, :2] + pred[:, 2:]) / 2, pred[:, 2:] - pred[:, :2]], -1)
    target_c = torch.cat([(target[:, :2] + target[:, 2:]) / 2, target[:, 2:] - target[:, :2]], -1)
    num_boxes = 5.0
    if given == "cxcywh":
        ours = vl.box_l1_loss(pred_c, target_c, box_format="cxcywh", normalizer=num_boxes)
    else:
        ours = vl.box_l1_loss(pred, target, loss_format="cxcywh", normalizer=num_boxes)
    detr = torch.nn.functional.l1_loss(pred_c, target_c, reduction="none").sum() / num_boxes
    torch.testing.assert_close(ours, detr)


def _mmdet_siou_distance_cost(pred, target, neg_gamma):
    """The distance cost of mmdetection's ``siou_loss`` (mmdet/models/losses/iou_loss.py,
    3.x, "modified from meituan/YOLOv6"; not a dependency, so its formula is written out here,
    eps = 0): ``gamma = angle_cost - 2 if neg_gamma else 2 - angle_cost`` and ``2 -
    exp(gamma rho_x) - exp(gamma rho_y)``."""
    s_cw = (target[:, 0] + target[:, 2] - pred[:, 0] - pred[:, 2]) * 0.5
    s_ch = (target[:, 1] + target[:, 3] - pred[:, 1] - pred[:, 3]) * 0.5
    sigma = (s_cw**2 + s_ch**2).sqrt()
    sin_1, sin_2 = s_cw.abs() / sigma, s_ch.abs() / sigma
    sin_alpha = torch.where(sin_1 > 2**0.5 / 2, sin_2, sin_1)
    angle_cost = torch.cos(torch.asin(sin_alpha) * 2 - math.pi / 2)
    cw = torch.max(pred[:, 2], target[:, 2]) - torch.min(pred[:, 0], target[:, 0])
    ch = torch.max(pred[:, 3], target[:, 3]) - torch.min(pred[:, 1], target[:, 1])
    gamma = angle_cost - 2 if neg_gamma else 2 - angle_cost
    return 2 - torch.exp(gamma * (s_cw / cw) ** 2) - torch.exp(gamma * (s_ch / ch) ** 2)


def test_siou_mmdetection_default_distance_cost_is_negative_and_decreasing():
    """The SIoU docstring: mmdetection's default ``neg_gamma=False`` gives a distance cost
    that is negative and decreases with the distance; ``neg_gamma=True`` is the paper's sign,
    which ours follows (``test_siou_distance_cost_has_the_papers_sign``)."""
    target = torch.tensor([[0.0, 0.0, 1.0, 1.0]] * 3, dtype=torch.float64)
    shift = torch.tensor([[s, 0.3 * s, s, 0.3 * s] for s in (1.5, 3.0, 6.0)], dtype=torch.float64)
    pred = target + shift
    default = _mmdet_siou_distance_cost(pred, target, neg_gamma=False)
    assert (default < 0).all() and default[0] > default[1] > default[2]
    papers = _mmdet_siou_distance_cost(pred, target, neg_gamma=True)
    assert (papers > 0).all() and papers[0] < papers[1] < papers[2]
