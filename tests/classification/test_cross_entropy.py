"""cross_entropy_loss against torch.nn.functional.cross_entropy and a float64 loop.

Convention mapping:
* class-index targets: identical to ``F.cross_entropy`` (weight, ignore_index, label_smoothing,
  every reduction); our ``ignore_index=None`` means "ignore nothing", torch's default -100 is a
  label that never occurs in these tests.
* probability targets without ``weight``: identical to torch.
* probability targets with ``weight``: torch's mean divides by the number of locations, ours by
  ``sum_i sum_c w_c q_ic`` (the targets' total class weight), so that one-hot targets give the
  index-target value. Sums are identical.
* all targets ignored: torch returns NaN for the mean, we return 0 with a graph.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import visionloss as vl
from tests.helpers import assert_finite_graph, gradcheck, grads
from tests.reference import classification as ref
from visionloss.errors import InputError

from ._data import distribution, labels, logits, one_hot

W = torch.tensor([0.5, 2.0, 1.0, 3.0], dtype=torch.float64)

INDEX_CASES = [
    pytest.param({}, id="plain"),
    pytest.param({"weight": W}, id="weight"),
    pytest.param({"ignore_index": 2}, id="ignore"),
    pytest.param({"label_smoothing": 0.15}, id="smoothing"),
    pytest.param({"weight": W, "ignore_index": 1, "label_smoothing": 0.3}, id="all"),
]
SHAPES = [pytest.param((6, 4), id="NC"), pytest.param((2, 4, 3, 5), id="NCHW")]


def _torch_ce(x, y, *, reduction, weight=None, ignore_index=None, label_smoothing=0.0):
    return F.cross_entropy(
        x,
        y,
        weight=weight,
        reduction=reduction,
        label_smoothing=label_smoothing,
        ignore_index=-100 if ignore_index is None else ignore_index,
    )


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("opts", INDEX_CASES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_index_targets_match_torch(shape, opts, reduction):
    x = logits(*shape)
    y = labels(shape[0], *shape[2:], num_classes=shape[1])
    value, (gx,) = grads(vl.cross_entropy_loss, x, y, reduction=reduction, **opts)
    expected, (rx,) = grads(_torch_ce, x, y, reduction=reduction, **opts)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(gx, rx)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_probability_targets_without_weight_match_torch(shape, smoothing, reduction):
    x, q = logits(*shape), distribution(*shape)
    value, (gx, gq) = grads(
        vl.cross_entropy_loss, x, q, reduction=reduction, label_smoothing=smoothing
    )
    expected, (rx, rq) = grads(
        F.cross_entropy, x, q, reduction=reduction, label_smoothing=smoothing
    )
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(gx, rx)
    torch.testing.assert_close(gq, rq)


@pytest.mark.parametrize("shape", SHAPES)
def test_probability_targets_with_weight_map_to_torch(shape):
    x, q = logits(*shape), distribution(*shape)
    w = W[: shape[1]]
    torch_sum = F.cross_entropy(x, q, weight=w, reduction="sum")
    torch.testing.assert_close(vl.cross_entropy_loss(x, q, weight=w, reduction="sum"), torch_sum)
    # torch's mean: sum / number of locations; ours: sum / total class weight of the targets
    total_weight = (q * w.view(1, -1, *[1] * (len(shape) - 2))).sum()
    torch.testing.assert_close(vl.cross_entropy_loss(x, q, weight=w), torch_sum / total_weight)
    torch.testing.assert_close(F.cross_entropy(x, q, weight=w), torch_sum / q[:, 0].numel())


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("opts", INDEX_CASES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_index_and_one_hot_targets_are_the_same_loss(shape, opts, reduction):
    x = logits(*shape)
    y = labels(shape[0], *shape[2:], num_classes=shape[1])
    opts = dict(opts)
    ignore = opts.pop("ignore_index", None)
    wmap = torch.rand(y.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    if ignore is not None:  # probability targets have no ignore_index: zero those locations
        wmap = wmap * (y != ignore)
    a, (ga,) = grads(vl.cross_entropy_loss, x, y, reduction=reduction, weight_map=wmap, **opts)
    b, (gb, _) = grads(
        vl.cross_entropy_loss, x, one_hot(y, shape[1]), reduction=reduction, weight_map=wmap, **opts
    )
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(ga, gb)
    if ignore is None:  # and torch differs exactly where documented
        torch_onehot = F.cross_entropy(x, one_hot(y, shape[1]), weight=opts.get("weight"))
        torch_index = F.cross_entropy(x, y, weight=opts.get("weight"))
        assert ("weight" in opts) == (not torch.allclose(torch_onehot, torch_index))


@pytest.mark.parametrize(
    "opts, soft",
    [
        pytest.param({"weight": W[:3], "label_smoothing": 0.1}, True, id="soft-weight-smooth"),
        pytest.param({"weight": W[:3], "ignore_index": 0}, False, id="index-weight-ignore"),
        pytest.param({"label_smoothing": 0.4}, False, id="index-smooth"),
    ],
)
@pytest.mark.parametrize("with_map", [False, True])
def test_matches_float64_loop_reference(opts, soft, with_map):
    x = logits(5, 3)
    y = labels(5, num_classes=3)
    q = distribution(5, 3) if soft else one_hot(y, 3)
    target = q if soft else y
    wmap = torch.linspace(0.5, 2.0, 5, dtype=torch.float64) if with_map else None
    ignore = opts.get("ignore_index")
    valid = None if ignore is None else (y != ignore).tolist()
    rows, den = ref.cross_entropy(
        x, q, opts.get("weight"), opts.get("label_smoothing", 0.0), wmap, valid
    )
    out = vl.cross_entropy_loss(x, target, weight_map=wmap, reduction="none", **opts)
    torch.testing.assert_close(out, rows)
    torch.testing.assert_close(
        vl.cross_entropy_loss(x, target, weight_map=wmap, **opts), rows.sum() / den
    )


def test_hand_values():
    x = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    y = torch.tensor([0, 2])
    l0 = torch.log(torch.tensor(1 + 2 * torch.e**-2))  # -log(e^2 / (e^2 + 2))
    l1 = torch.log(torch.tensor(3.0))
    torch.testing.assert_close(vl.cross_entropy_loss(x, y, reduction="none"), torch.stack([l0, l1]))
    w = torch.tensor([1.0, 1.0, 3.0])
    torch.testing.assert_close(vl.cross_entropy_loss(x, y, weight=w), (l0 + 3 * l1) / 4)
    # a weight map multiplies the numerator only: (2 l0 + 0 l1) / 2 locations
    torch.testing.assert_close(vl.cross_entropy_loss(x, y, weight_map=torch.tensor([2.0, 0.0])), l0)
    # label smoothing 1.0: the uniform target, whatever the labels
    torch.testing.assert_close(
        vl.cross_entropy_loss(x, y, label_smoothing=1.0), -torch.log_softmax(x, 1).mean(1).mean()
    )


@pytest.mark.parametrize(
    "opts",
    [
        pytest.param({}, id="plain"),
        pytest.param({"weight": torch.ones(3)}, id="weight"),
        pytest.param({"label_smoothing": 0.1}, id="smoothing"),
    ],
)
def test_all_targets_ignored_is_zero_with_graph_where_torch_is_nan(opts):
    x = logits(2, 3, 4, dtype=torch.float32).requires_grad_(True)
    y = torch.full((2, 4), 255)
    out = vl.cross_entropy_loss(x, y, ignore_index=255, **opts)
    assert out.item() == 0.0
    assert_finite_graph(out, x)
    assert torch.isnan(F.cross_entropy(x, y, ignore_index=255, **opts))
    none = vl.cross_entropy_loss(x, y, ignore_index=255, reduction="none", **opts)
    assert torch.equal(none, torch.zeros(2, 4))


def test_ignored_pixels_leave_the_mean_and_get_no_gradient():
    x = logits(2, 3, 4).requires_grad_(True)
    y = labels(2, 4, num_classes=3)
    y[0, :2] = -1
    out = vl.cross_entropy_loss(x, y, ignore_index=-1)
    (g,) = torch.autograd.grad(out, x)
    assert torch.equal(g[0, :, :2], torch.zeros(3, 2, dtype=torch.float64))
    keep = y != -1
    torch.testing.assert_close(out, vl.cross_entropy_loss(x.movedim(1, -1)[keep], y[keep]))


def test_gradcheck_with_weight_map_and_soft_targets():
    x, q = logits(2, 3, 2), distribution(2, 3, 2)
    wmap = torch.rand(2, 2, dtype=torch.float64) + 0.5
    gradcheck(
        lambda a, b, m: vl.cross_entropy_loss(
            a, b, weight_map=m, weight=W[:3], label_smoothing=0.1
        ),
        x,
        q,
        wmap,
    )
    gradcheck(
        lambda a, b, m: vl.cross_entropy_loss(a, b, weight_map=m),
        x,
        labels(2, 2, num_classes=3),
        wmap,
    )


def test_module_takes_a_per_call_weight_map():
    x, y = logits(2, 3, 4), labels(2, 4, num_classes=3)
    wmap = torch.rand(2, 4, dtype=torch.float64)
    m = vl.CrossEntropyLoss(weight=W[:3], label_smoothing=0.1)
    torch.testing.assert_close(
        m(x, y, weight_map=wmap),
        vl.cross_entropy_loss(x, y, weight=W[:3], label_smoothing=0.1, weight_map=wmap),
    )


@pytest.mark.parametrize(
    "call, error, match",
    [
        pytest.param(
            lambda: vl.cross_entropy_loss(torch.zeros(2, 3, 4), torch.zeros(2, 5).long()),
            ValueError,
            r"expected target of shape \(2, 4\) \(class indices\) matching "
            r"input \(2, 3, 4\), got \(2, 5\)",
            id="index-shape",
        ),
        pytest.param(
            lambda: vl.cross_entropy_loss(torch.zeros(2, 3, 4), torch.zeros(2, 4)),
            ValueError,
            r"expected target of shape \(2, 3, 4\) \(probabilities\)",
            id="probability-shape",
        ),
        pytest.param(
            lambda: vl.cross_entropy_loss(torch.zeros(3), torch.zeros(3).long()),
            ValueError,
            "at least 2 dims",
            id="1d-input",
        ),
        pytest.param(
            lambda: vl.cross_entropy_loss(torch.zeros(2, 3), torch.zeros(2).bool()),
            TypeError,
            "integer class indices or floating probabilities",
            id="bool",
        ),
        pytest.param(
            lambda: vl.cross_entropy_loss(torch.zeros(2, 3), torch.tensor([0, 3])),
            ValueError,
            r"class indices in \[0, 2\], got values in \[0, 3\]",
            id="label-range",
        ),
        pytest.param(
            lambda: vl.cross_entropy_loss(torch.zeros(2, 3), torch.tensor([-1, 1])),
            ValueError,
            r"got values in \[-1, 1\]",
            id="negative-label",
        ),
        pytest.param(
            lambda: vl.cross_entropy_loss(
                torch.zeros(2, 3), torch.tensor([0, 1]), weight=torch.ones(4)
            ),
            ValueError,
            r"expected weight of shape \(3,\)",
            id="weight-shape",
        ),
        pytest.param(
            lambda: vl.cross_entropy_loss(
                torch.zeros(2, 3), torch.tensor([0, 1]), weight_map=torch.ones(3)
            ),
            ValueError,
            r"weight_map broadcastable to \(2,\)",
            id="weight-map-shape",
        ),
        pytest.param(
            lambda: vl.cross_entropy_loss(
                torch.zeros(2, 3), torch.tensor([0, 1]), label_smoothing=1.5
            ),
            ValueError,
            r"label_smoothing in \[0, 1\]",
            id="smoothing-range",
        ),
        pytest.param(
            lambda: vl.CrossEntropyLoss(label_smoothing=-0.1),
            ValueError,
            "CrossEntropyLoss: expected label_smoothing",
            id="module-smoothing",
        ),
    ],
)
def test_bad_inputs(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_ignore_index_is_allowed_outside_the_label_range():
    x = torch.zeros(3, 2)
    out = vl.cross_entropy_loss(x, torch.tensor([0, 255, 1]), ignore_index=255)
    torch.testing.assert_close(out, torch.log(torch.tensor(2.0)))


@pytest.mark.parametrize(
    "opts",
    [{}, {"ignore_index": 255}, {"label_smoothing": 0.1, "weight": torch.ones(4)}],
    ids=["plain", "ignore", "smoothing-weight"],
)
@pytest.mark.parametrize("bad", [4, -2])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_label_out_of_range_is_our_error_on_every_path(opts, bad, reduction):
    """The mean and sum let torch's kernel reject a bad label and only then scan the labels
    for the message; "none" scans them first. Either way: our InputError, with the range and
    the values found, and no torch error chained under it."""
    x = logits(2, 4, 3, 5)
    y = labels(2, 3, 5, num_classes=4)
    y[1, 2, 3] = bad
    with pytest.raises(InputError, match=r"cross_entropy_loss: expected target class") as err:
        vl.cross_entropy_loss(x, y, reduction=reduction, **opts)
    assert "[0, 3]" in str(err.value) and str(bad) in str(err.value)
    assert err.value.__suppress_context__ or err.value.__context__ is None
