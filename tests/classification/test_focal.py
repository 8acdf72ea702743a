"""focal_loss (sigmoid) against torchvision, kornia, MONAI, segmentation_models_pytorch and a
float64 loop of the paper's formula.

Convention mapping (0/1 targets unless said otherwise):
* ``torchvision.ops.sigmoid_focal_loss(x, y, alpha, gamma, reduction)``: identical; its
  ``alpha=-1`` is our ``alpha=None``. For soft targets torchvision uses
  ``p_t = p y + (1 - p)(1 - y)`` in one factor; we weight the two terms by y and 1 - y.
* ``kornia.losses.binary_focal_loss_with_logits``: identical, soft targets included. Its ignored
  entries stay in the mean's denominator (sums agree); its ``weight`` (C,) along dim 1 is our
  elementwise ``weight`` viewed as (C, 1, ...).
* ``monai.losses.FocalLoss(use_softmax=False)``: identical for a scalar alpha and for the
  ``"mean"`` / ``"none"`` reductions; MONAI's sequence ``alpha`` weights positives only
  (negatives get 1, ours ``1 - alpha_c``): it equals ours with ``alpha=None`` and the
  elementwise weight ``where(y == 1, alpha_c, 1)``. MONAI's ``"sum"`` averages the spatial
  dimensions before summing.
* ``segmentation_models_pytorch.losses.FocalLoss``: binary and multilabel modes are our mean
  (ignored entries dropped from the mean, as ours); its multiclass mode is one-vs-rest sigmoid
  focal, i.e. ours on one-hot targets.
* torchvision's RetinaNet head (``RetinaNetClassificationHead.compute_loss``): per image, our
  ``normalizer="positives"`` with its between-threshold anchors as ignored entries.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import visionloss as vl
from tests.helpers import assert_finite_graph, gradcheck, grads
from tests.reference import classification as ref

from ._data import binary, labels, logits, one_hot, soft

kornia_losses = pytest.importorskip("kornia.losses")
monai_losses = pytest.importorskip("monai.losses")
smp_losses = pytest.importorskip("segmentation_models_pytorch.losses")
tv_ops = pytest.importorskip("torchvision.ops")
tv_retinanet = pytest.importorskip("torchvision.models.detection.retinanet")

SHAPE = (2, 3, 4, 5)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(
    "alpha, gamma",
    [
        pytest.param(0.25, 2.0, id="retinanet"),
        pytest.param(None, 1.5, id="no-alpha"),
        pytest.param(0.7, 0.5, id="gamma-0.5"),
        pytest.param(0.25, 0.0, id="gamma-0"),
    ],
)
def test_matches_torchvision(reduction, alpha, gamma):
    x, y = logits(*SHAPE), binary(*SHAPE)
    value, (gx,) = grads(
        lambda a: vl.focal_loss(a, y, alpha=alpha, gamma=gamma, reduction=reduction), x
    )
    tv_alpha = -1 if alpha is None else alpha
    expected, (rx,) = grads(
        lambda a: tv_ops.sigmoid_focal_loss(a, y, alpha=tv_alpha, gamma=gamma, reduction=reduction),
        x,
    )
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(gx, rx)


def test_soft_targets_differ_from_torchvision_but_match_kornia():
    x, y = logits(*SHAPE), soft(*SHAPE)
    ours = vl.focal_loss(x, y, alpha=0.25, gamma=2.0, reduction="none")
    kornia = kornia_losses.binary_focal_loss_with_logits(
        x, y, alpha=0.25, gamma=2.0, reduction="none", ignore_index=None
    )
    torchvision = tv_ops.sigmoid_focal_loss(x, y, alpha=0.25, gamma=2.0)
    torch.testing.assert_close(ours, kornia)
    assert not torch.allclose(ours, torchvision)
    # with gamma = 0 and no alpha both are BCE again
    torch.testing.assert_close(
        vl.focal_loss(x, y, alpha=None, gamma=0.0, reduction="none"),
        tv_ops.sigmoid_focal_loss(x, y, alpha=-1, gamma=0.0),
    )


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_matches_kornia_with_weight_and_ignore(reduction):
    x, y = logits(*SHAPE), binary(*SHAPE)
    y[0, 1, :2] = -1.0  # ignored entries
    w = torch.tensor([0.5, 2.0, 1.0], dtype=torch.float64)
    value, (gx,) = grads(
        lambda a: vl.focal_loss(
            a, y, alpha=0.3, gamma=2.0, ignore_index=-1, weight=w.view(3, 1, 1), reduction="sum"
        ),
        x,
    )
    expected, (rx,) = grads(
        lambda a: kornia_losses.binary_focal_loss_with_logits(
            a, y, alpha=0.3, gamma=2.0, weight=w, ignore_index=-1, reduction="sum"
        ),
        x,
    )
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(gx, rx)
    # kornia's mean keeps ignored entries in the denominator, ours does not
    valid = (y != -1).sum()
    ours_mean = vl.focal_loss(x, y, alpha=0.3, ignore_index=-1, weight=w.view(3, 1, 1))
    torch.testing.assert_close(
        ours_mean * valid / y.numel(),
        kornia_losses.binary_focal_loss_with_logits(
            x, y, alpha=0.3, weight=w, ignore_index=-1, reduction="mean"
        ),
    )


@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("alpha", [None, 0.4], ids=["no-alpha", "alpha"])
def test_matches_monai(reduction, alpha):
    x, y = logits(*SHAPE, dtype=torch.float32), binary(*SHAPE, dtype=torch.float32)  # MONAI: fp32
    monai = monai_losses.FocalLoss(gamma=2.0, alpha=alpha, reduction=reduction)
    value, (gx,) = grads(lambda a: vl.focal_loss(a, y, alpha=alpha, reduction=reduction), x)
    expected, (rx,) = grads(lambda a: monai(a, y), x)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(gx, rx)


def test_monai_sequence_alpha_and_sum_mapping():
    x, y = logits(*SHAPE, dtype=torch.float32), binary(*SHAPE, dtype=torch.float32)
    a = torch.tensor([0.2, 0.5, 0.9])
    monai = monai_losses.FocalLoss(gamma=2.0, alpha=a.tolist(), reduction="none")(x, y)
    positives_only = torch.where(y == 1, a.view(3, 1, 1), torch.ones(()))
    torch.testing.assert_close(
        vl.focal_loss(x, y, alpha=None, weight=positives_only, reduction="none"), monai
    )
    # MONAI's "sum" averages H, W first
    monai_sum = monai_losses.FocalLoss(gamma=2.0, reduction="sum")(x, y)
    torch.testing.assert_close(
        vl.focal_loss(x, y, alpha=None, reduction="none").mean((2, 3)).sum(), monai_sum
    )


@pytest.mark.parametrize("mode", ["binary", "multilabel"])
@pytest.mark.parametrize("alpha", [None, 0.25], ids=["no-alpha", "alpha"])
def test_matches_smp_binary_and_multilabel(mode, alpha):
    x, y = logits(*SHAPE), binary(*SHAPE)
    ignore = None
    if mode == "binary":
        ignore = -1
        y[1, :, 0] = -1.0
    smp = smp_losses.FocalLoss(mode, alpha=alpha, gamma=2.0, ignore_index=ignore)
    value, (gx,) = grads(lambda a: vl.focal_loss(a, y, alpha=alpha, ignore_index=ignore), x)
    expected, (rx,) = grads(lambda a: smp(a, y), x)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(gx, rx)


def test_smp_multiclass_is_one_vs_rest_sigmoid_focal():
    x = logits(*SHAPE)
    y = labels(2, 4, 5, num_classes=3)
    y[0, 0] = 255
    q = one_hot(torch.where(y == 255, 0, y), 3)
    q = torch.where((y == 255).unsqueeze(1), torch.full_like(q, 255.0), q)
    smp = smp_losses.FocalLoss("multiclass", gamma=2.0, ignore_index=255)
    torch.testing.assert_close(vl.focal_loss(x, q, alpha=None, ignore_index=255), smp(x, y))


@pytest.mark.parametrize("alpha", [None, 0.25], ids=["no-alpha", "alpha"])
@pytest.mark.parametrize("gamma", [0.5, 2.0, 3.0])
def test_matches_float64_loop_of_the_paper(alpha, gamma):
    x, y = logits(4, 3), binary(4, 3)
    torch.testing.assert_close(
        vl.focal_loss(x, y, alpha=alpha, gamma=gamma, reduction="none"),
        ref.sigmoid_focal(x, y, alpha, gamma),
    )


@pytest.mark.parametrize("c", [0, 1, 2])
def test_per_class_alpha_along_dim_1(c):
    x, y = logits(*SHAPE), binary(*SHAPE)
    a = torch.tensor([0.1, 0.5, 0.8], dtype=torch.float64)
    out = vl.focal_loss(x, y, alpha=a, reduction="none")
    torch.testing.assert_close(
        out[:, c], vl.focal_loss(x[:, c], y[:, c], alpha=float(a[c]), reduction="none")
    )


@pytest.mark.parametrize("target", [binary, soft], ids=["hard", "soft"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gamma_0_without_alpha_is_exactly_bce(target, reduction):
    x, y = logits(*SHAPE, dtype=torch.float32), target(*SHAPE, dtype=torch.float32)
    a, (ga, gya) = grads(vl.focal_loss, x, y, alpha=None, gamma=0.0, reduction=reduction)
    b, (gb, gyb) = grads(vl.binary_cross_entropy_loss, x, y, reduction=reduction)
    assert torch.equal(a, b) and torch.equal(ga, gb) and torch.equal(gya, gyb)
    c, (gc, _) = grads(F.binary_cross_entropy_with_logits, x, y, reduction=reduction)
    torch.testing.assert_close(a, c)
    torch.testing.assert_close(ga, gc)


def test_hand_values_from_the_paper():
    # p_t = 0.9 with gamma = 2: 100 times lower than cross entropy (Lin et al., Sec. 3.2)
    x = torch.tensor([math.log(9.0)], dtype=torch.float64)
    y = torch.ones(1, dtype=torch.float64)
    ce = vl.binary_cross_entropy_loss(x, y)
    torch.testing.assert_close(vl.focal_loss(x, y, alpha=None, gamma=2.0), ce / 100)
    torch.testing.assert_close(ce, -torch.log(torch.tensor(0.9, dtype=torch.float64)))
    # alpha_t: 0.25 for the positive, 0.75 for the negative; p = 0.5 gives (1/2)^2 log 2
    out = vl.focal_loss(torch.zeros(2), torch.tensor([1.0, 0.0]), reduction="none")
    torch.testing.assert_close(out, torch.tensor([0.25, 0.75]) * 0.25 * math.log(2.0))


def test_saturated_logits_with_gamma_below_one_keep_finite_gradients():
    x = torch.tensor([1e4, -1e4, 30.0, -30.0], requires_grad=True)
    y = torch.tensor([1.0, 0.0, 1.0, 0.0])
    out = vl.focal_loss(x, y, gamma=0.5, reduction="sum")
    assert_finite_graph(out, x)
    tv = tv_ops.sigmoid_focal_loss(x, y, gamma=0.5, reduction="sum")
    (g,) = torch.autograd.grad(tv, x)
    assert torch.isnan(g).all()  # pow(0, 0.5) in torchvision's backward


def test_ignore_index_and_all_ignored():
    x = logits(2, 3, 4).requires_grad_(True)
    y = binary(2, 3, 4)
    y[0] = -1
    out = vl.focal_loss(x, y, ignore_index=-1)
    (g,) = torch.autograd.grad(out, x)
    assert torch.equal(g[0], torch.zeros_like(g[0]))
    torch.testing.assert_close(out, vl.focal_loss(x[1], y[1]))
    assert vl.focal_loss(x, y, ignore_index=-1, reduction="none")[0].abs().sum() == 0
    nothing = vl.focal_loss(x, torch.full_like(y, -1), ignore_index=-1)
    assert nothing.item() == 0.0
    assert_finite_graph(nothing, x)


def test_normalizer_positives_number_and_tensor():
    x, y = logits(3, 4, 5), binary(3, 4, 5)
    y[0, 0, 0] = -1
    total = vl.focal_loss(x, y, ignore_index=-1, reduction="sum")
    positives = (y == 1).sum()
    torch.testing.assert_close(
        vl.focal_loss(x, y, ignore_index=-1, normalizer="positives"), total / positives
    )
    torch.testing.assert_close(vl.focal_loss(x, y, ignore_index=-1, normalizer=7.0), total / 7)
    torch.testing.assert_close(
        vl.focal_loss(x, y, ignore_index=-1, normalizer=torch.tensor(0.0)), total
    )  # no positives: the sum (RetinaNet's max(num_pos, 1))
    no_positive = vl.focal_loss(x, torch.zeros_like(y), normalizer="positives")
    torch.testing.assert_close(no_positive, vl.focal_loss(x, torch.zeros_like(y), reduction="sum"))
    m = vl.FocalLoss(normalizer="positives", ignore_index=-1)
    torch.testing.assert_close(
        m(x, y), vl.focal_loss(x, y, ignore_index=-1, normalizer="positives")
    )


@pytest.mark.parametrize("num_foreground", [0, 1, 5])
def test_normalizer_positives_is_torchvision_retinanet_per_image(num_foreground):
    """The docstring's "as RetinaNet's normalisation by the anchors assigned to a box":
    torchvision's ``RetinaNetClassificationHead.compute_loss`` sums ``sigmoid_focal_loss`` over
    the anchors that are not between thresholds (matched index -2) and divides by
    ``max(1, foreground anchors)``, per image. Ours: the between-threshold anchors' rows as
    ``ignore_index=-1`` and ``normalizer="positives"`` (one-hot rows: one positive per
    foreground anchor). For a batch torchvision averages the per-image values; ours
    normalises the batch's sum by the batch's positives."""
    head = tv_retinanet.RetinaNetClassificationHead(in_channels=8, num_anchors=1, num_classes=4)
    x = logits(12, 4, dtype=torch.float32)
    gt_labels = torch.tensor([2, 0, 3])
    matched = torch.full((12,), -1)  # background
    matched[:num_foreground] = torch.arange(num_foreground) % 3
    matched[-2:] = -2  # between thresholds: ignored
    y = torch.zeros(12, 4)
    foreground = matched >= 0
    y[foreground, gt_labels[matched[foreground]]] = 1.0
    y[matched == -2] = -1.0
    value, (gx,) = grads(lambda a: vl.focal_loss(a, y, ignore_index=-1, normalizer="positives"), x)
    expected, (rx,) = grads(
        lambda a: head.compute_loss([{"labels": gt_labels}], {"cls_logits": a[None]}, [matched]),
        x,
    )
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(gx, rx)


def test_normalizer_positives_without_positives_is_the_sum():
    x = logits(2, 3, 4)
    y = torch.zeros(2, 3, 4, dtype=torch.float64)
    y[0, 0] = -1.0  # ignored entries are not positives either
    total = vl.focal_loss(x, y, ignore_index=-1, reduction="sum")
    assert total > 0
    torch.testing.assert_close(vl.focal_loss(x, y, ignore_index=-1, normalizer="positives"), total)
    nothing = vl.focal_loss(
        x.requires_grad_(True), torch.full_like(y, -1), ignore_index=-1, normalizer="positives"
    )
    assert nothing.item() == 0.0
    (g,) = torch.autograd.grad(nothing, x)
    assert torch.equal(g, torch.zeros_like(g))


def test_infinite_logits_are_outside_the_contract():
    """Logits must be finite: +-inf gives NaN (right side) or inf (wrong side)."""
    x = torch.tensor([math.inf, -math.inf])
    assert torch.isnan(vl.focal_loss(x, torch.tensor([1.0, 0.0]), reduction="none")).all()
    assert torch.isinf(vl.focal_loss(x, torch.tensor([0.0, 1.0]), reduction="none")).all()


def test_gradcheck_with_ignore_alpha_vector_and_weight():
    x = logits(2, 3, 2)
    y = binary(2, 3, 2)
    y[0, 0, 0] = -1
    a = torch.tensor([0.2, 0.5, 0.7], dtype=torch.float64)
    w = soft(2, 3, 2) + 0.5
    gradcheck(
        lambda u, v: vl.focal_loss(
            u, y, alpha=a, gamma=1.5, ignore_index=-1, weight=v, normalizer="positives"
        ),
        x,
        w,
    )


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        pytest.param(
            {"alpha": 1.5}, ValueError, r"expected alpha in \[0, 1\], got 1.5", id="alpha"
        ),
        pytest.param(
            {"alpha": torch.tensor([0.1, 2.0, 0.1])},
            ValueError,
            r"alpha in \[0, 1\]",
            id="alpha-vector-range",
        ),
        pytest.param(
            {"alpha": torch.tensor([0.1, 0.2])},
            ValueError,
            r"alpha of shape \(\) or \(3,\)",
            id="alpha-vector-shape",
        ),
        pytest.param({"gamma": -1.0}, ValueError, "expected gamma >= 0", id="gamma"),
        pytest.param({"normalizer": "anchors"}, ValueError, "'positives'", id="normalizer-word"),
        pytest.param(
            {"normalizer": "positives", "reduction": "sum"},
            ValueError,
            "normalizer replaces the denominator",
            id="normalizer-sum",
        ),
        pytest.param({"normalizer": -2.0}, ValueError, "normalizer >= 0", id="normalizer-negative"),
    ],
)
def test_bad_options(kwargs, error, match):
    x, y = torch.zeros(2, 3, 4), torch.zeros(2, 3, 4)
    with pytest.raises(error, match="focal_loss: .*" + match):
        vl.focal_loss(x, y, **kwargs)
    if "alpha" in kwargs and not isinstance(kwargs["alpha"], torch.Tensor) or "gamma" in kwargs:
        with pytest.raises(error, match="FocalLoss: .*" + match):
            vl.FocalLoss(**kwargs)


@pytest.mark.parametrize(
    "target, kwargs, match",
    [
        pytest.param(torch.zeros(2, 4), {}, r"expected target of shape \(2, 3\)", id="shape"),
        pytest.param(
            torch.tensor([[0.0, 2.0, 1.0], [0.0, 0.0, 0.0]]),
            {},
            r"target values in \[0, 1\]",
            id="range",
        ),
        pytest.param(
            torch.tensor([[0.0, 2.0, 1.0], [0.0, 0.0, 0.0]]),
            {"ignore_index": 3},
            r"target values in \[0, 1\] \(or ignore_index=3\)",
            id="range-with-ignore",
        ),
    ],
)
def test_bad_targets(target, kwargs, match):
    with pytest.raises(ValueError, match="focal_loss: .*" + match):
        vl.focal_loss(torch.zeros(2, 3), target, **kwargs)
