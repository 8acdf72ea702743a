"""What the classification losses must do beyond the registry-wide conformance suite
(CONTRIBUTING.md, "Tests of one loss"; ``tests/conformance/test_registry_conformance.py`` covers
Module equals function, build_loss, gradcheck, reductions, fp16/bf16 and autocast, compile,
pickling, state_dict and the bad reduction, option and input errors from each loss's registry
example). Here, as one table of option-specific configurations (class weights with label smoothing,
probability targets, pos_weight, an alpha tensor, a temperature): Module equals function, float64
gradcheck and fp16/bf16 inputs against fp32 (the suite checks these on the registry example only),
the shape of ``"none"``, the divergences' ``"batchmean"`` and ``"mean"``, logits of +-1e4 in
fp32/fp16/bf16, empty input, all-zero weights, tensor options as buffers and option values kept by
``build_loss``. The per-loss files hold the peer comparisons, hand values and each loss's own
degenerate cases."""

from __future__ import annotations

import pytest
import torch

import visionloss as vl
from tests.conftest import HALF_DTYPES, assert_close_dtype
from tests.helpers import assert_finite_graph, gradcheck

from ._data import distribution, labels, logits, soft

C = 3


def _index(shape, dtype):  # logits (N, C, *) and class indices (N, *)
    return logits(*shape, dtype=dtype), labels(shape[0], *shape[2:], num_classes=shape[1])


def _probs(shape, dtype):
    return logits(*shape, dtype=dtype), distribution(*shape, dtype=dtype)


def _binary(shape, dtype):  # soft targets inside (0, 1), so gradcheck may perturb them
    return logits(*shape, dtype=dtype), 0.1 + 0.8 * soft(*shape, dtype=dtype)


def _pair(shape, dtype):
    return logits(*shape, dtype=dtype), logits(*shape, seed=9, dtype=dtype)


# id: (function, Module, options, input maker, reductions, "none" shape of an (N, C, *) input)
LOSSES = [
    pytest.param(
        vl.cross_entropy_loss,
        vl.CrossEntropyLoss,
        {"weight": torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64), "label_smoothing": 0.1},
        _index,
        "locations",
        id="cross_entropy-index",
    ),
    pytest.param(
        vl.cross_entropy_loss,
        vl.CrossEntropyLoss,
        {"label_smoothing": 0.2},
        _probs,
        "locations",
        id="cross_entropy-probs",
    ),
    pytest.param(
        vl.binary_cross_entropy_loss,
        vl.BinaryCrossEntropyLoss,
        {"pos_weight": torch.tensor([1.0, 3.0, 0.5], dtype=torch.float64)},
        _binary,
        "elements",
        id="binary_cross_entropy",
    ),
    pytest.param(
        vl.focal_loss, vl.FocalLoss, {"alpha": 0.25, "gamma": 2.0}, _binary, "elements", id="focal"
    ),
    pytest.param(
        vl.softmax_focal_loss,
        vl.SoftmaxFocalLoss,
        {"alpha": torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64), "gamma": 1.5},
        _index,
        "locations",
        id="softmax_focal",
    ),
    pytest.param(
        vl.kl_divergence_loss,
        vl.KLDivergenceLoss,
        {"temperature": 2.0},
        _pair,
        "locations",
        id="kl_divergence",
    ),
    pytest.param(
        vl.js_divergence_loss, vl.JSDivergenceLoss, {}, _pair, "locations", id="js_divergence"
    ),
]


DIVERGENCES = (vl.kl_divergence_loss, vl.js_divergence_loss)


def _with_reductions(words):
    """LOSSES x reductions, with "batchmean" for the divergences only."""
    rows = []
    for case in LOSSES:
        fn = case.values[0]
        for word in [*words, *(["batchmean"] if fn in DIVERGENCES else [])]:
            rows.append(pytest.param(*case.values, word, id=f"{case.id}-{word}"))
    return rows


@pytest.mark.parametrize(
    "fn, module, opts, make, none_shape, reduction", _with_reductions(["mean", "sum", "none"])
)
def test_module_equals_function(fn, module, opts, make, none_shape, reduction):
    x, y = make((2, C, 4, 5), torch.float64)
    m = module(reduction=reduction, **opts)
    torch.testing.assert_close(m(x, y), fn(x, y, reduction=reduction, **opts))


@pytest.mark.parametrize("fn, module, opts, make, none_shape", LOSSES)
def test_none_shape_and_default_scalar(fn, module, opts, make, none_shape):
    x, y = make((2, C, 4, 5), torch.float64)
    expected = (2, 4, 5) if none_shape == "locations" else (2, C, 4, 5)
    assert fn(x, y, reduction="none", **opts).shape == expected
    assert fn(x, y, **opts).shape == ()


@pytest.mark.parametrize("fn, module, opts, make, none_shape", LOSSES)
def test_sum_and_mean_agree_with_none(fn, module, opts, make, none_shape):
    x, y = make((3, C, 2), torch.float64)
    none = fn(x, y, reduction="none", **opts)
    torch.testing.assert_close(fn(x, y, reduction="sum", **opts), none.sum())
    if fn in DIVERGENCES:
        torch.testing.assert_close(fn(x, y, reduction="batchmean", **opts), none.sum() / 3)
        torch.testing.assert_close(fn(x, y, reduction="mean", **opts), none.mean())


@pytest.mark.parametrize("fn, module, opts, make, none_shape", LOSSES)
def test_gradcheck_float64(fn, module, opts, make, none_shape):
    x, y = make((2, C, 2), torch.float64)
    gradcheck(fn, x, y, **opts)


@pytest.mark.parametrize("fn, module, opts, make, none_shape", LOSSES)
@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_half_inputs_computed_in_fp32(fn, module, opts, make, none_shape, dtype):
    x, y = make((4, C, 8), torch.float32)
    opts = {k: (v.float() if isinstance(v, torch.Tensor) else v) for k, v in opts.items()}
    xh = x.to(dtype)
    yh = y.to(dtype) if y.is_floating_point() else y
    out = fn(xh, yh, **opts)
    assert out.dtype == torch.float32
    ref = fn(xh.float(), yh.float() if yh.is_floating_point() else yh, **opts)
    assert_close_dtype(out, ref, dtype)


def _saturated(fn, make, dtype):
    """Logits of +-1e4: every location has one class at +1e4 and the others at -1e4; targets
    half agree with the winning class, half not."""
    x, y = make((4, C, 2), torch.float32)
    win = x.argmax(1, keepdim=True)
    sat = torch.full_like(x, -1e4).scatter(1, win, 1e4)
    if not y.is_floating_point():  # class indices: right for even rows, wrong for odd ones
        right = win.squeeze(1)
        y = torch.where(torch.arange(4).view(4, 1) % 2 == 0, right, (right + 1) % C)
    elif fn in DIVERGENCES:
        y = -sat.flip(0)
    return sat.to(dtype).requires_grad_(True), (y.to(dtype) if y.is_floating_point() else y)


@pytest.mark.parametrize(
    "fn, module, opts, make, none_shape, reduction", _with_reductions(["mean", "none"])
)
@pytest.mark.parametrize("dtype", [pytest.param(torch.float32, id="fp32"), *HALF_DTYPES])
def test_saturated_logits_are_finite(fn, module, opts, make, none_shape, reduction, dtype):
    x, y = _saturated(fn, make, dtype)
    opts = {k: (v.float() if isinstance(v, torch.Tensor) else v) for k, v in opts.items()}
    out = fn(x, y, reduction=reduction, **opts)
    assert_finite_graph(out, x)
    assert out.sum() > 0  # some targets are wrong with full confidence


@pytest.mark.parametrize(
    "fn, module, opts, make, none_shape, reduction", _with_reductions(["mean", "sum", "none"])
)
def test_empty_input_is_zero_with_graph(fn, module, opts, make, none_shape, reduction):
    x, y = make((0, C), torch.float64)
    x.requires_grad_(True)
    out = fn(x, y, reduction=reduction, **opts)
    if reduction == "none":
        assert out.numel() == 0
    else:
        assert out.item() == 0.0
        assert_finite_graph(out, x)


# losses with an elementwise / per-location weight: (function, options, input maker, weight
# name, weight shape for an (N, C, L) = (2, 3, 4) input: (N, 1, L) elementwise, (N, L) per
# location; a weight must broadcast *to* the loss, never enlarge it)
ZERO_WEIGHT = [
    pytest.param(vl.cross_entropy_loss, {}, _index, "weight_map", (2, 4), id="cross_entropy"),
    pytest.param(
        vl.binary_cross_entropy_loss, {}, _binary, "weight", (2, 1, 4), id="binary_cross_entropy"
    ),
    pytest.param(vl.focal_loss, {"alpha": 0.25}, _binary, "weight", (2, 1, 4), id="focal"),
    pytest.param(
        vl.softmax_focal_loss, {"gamma": 1.5}, _index, "weight_map", (2, 4), id="softmax_focal"
    ),
]


@pytest.mark.parametrize("fn, opts, make, name, shape", ZERO_WEIGHT)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_all_zero_weight_gives_zero_with_zero_gradient(fn, opts, make, name, shape, reduction):
    x, y = make((2, C, 4), torch.float64)
    x.requires_grad_(True)
    out = fn(x, y, reduction=reduction, **{name: torch.zeros(*shape, dtype=x.dtype)}, **opts)
    assert out.item() == 0.0
    (g,) = torch.autograd.grad(out, x)
    assert torch.equal(g, torch.zeros_like(g))


def test_build_loss_keeps_the_options():
    assert isinstance(vl.build_loss("focal", gamma=2.0), vl.FocalLoss)
    assert vl.build_loss({"name": "focal", "gamma": 1.0}).gamma == 1.0
    assert isinstance(vl.build_loss("pixel-weighted-ce"), vl.CrossEntropyLoss)
    assert isinstance(vl.build_loss("kl", temperature=4.0), vl.KLDivergenceLoss)


def test_tensor_options_are_buffers_that_follow_to():
    m = vl.CrossEntropyLoss(weight=[1.0, 2.0])
    assert m.weight.dtype == torch.float32 and "weight" in dict(m.named_buffers())
    m = m.to(torch.float64)
    assert m.weight.dtype == torch.float64
    assert "alpha" in dict(vl.FocalLoss(alpha=[0.1, 0.9]).named_buffers())
    assert "pos_weight" in dict(vl.BinaryCrossEntropyLoss(pos_weight=[2.0]).named_buffers())
