"""No silent wrong numbers in the classification family: bad option values, target values and
weights raise a typed error naming the function (or the Module) and the argument, in eager CPU
code and under ``torch.compile`` (a device-side assertion); a NaN input gives a NaN loss.
"""

from __future__ import annotations

import math
import re

import pytest
import torch

import visionloss as vl
from visionloss.errors import InputError, OptionError, OptionTypeError

from ._data import distribution, labels, logits, soft

NAN, INF = math.nan, math.inf
X = logits(2, 3, 4)  # (N, C, W)
Y = labels(2, 4, num_classes=3)  # class indices (N, W)
Q = distribution(2, 3, 4)  # probabilities over dim 1
B = soft(2, 3, 4)  # binary targets in [0, 1]


def _cross_entropy(**kw):
    return vl.cross_entropy_loss(X, kw.pop("target", Y), **kw)


def _softmax_focal(**kw):
    return vl.softmax_focal_loss(X, kw.pop("target", Y), **kw)


def _bce(**kw):
    return vl.binary_cross_entropy_loss(kw.pop("input", X), kw.pop("target", B), **kw)


def _focal(**kw):
    return vl.focal_loss(X, kw.pop("target", B), **kw)


CALLS = {
    "cross_entropy_loss": _cross_entropy,
    "softmax_focal_loss": _softmax_focal,
    "binary_cross_entropy_loss": _bce,
    "focal_loss": _focal,
}
MODULES = {
    "cross_entropy_loss": vl.CrossEntropyLoss,
    "softmax_focal_loss": vl.SoftmaxFocalLoss,
    "binary_cross_entropy_loss": vl.BinaryCrossEntropyLoss,
    "focal_loss": vl.FocalLoss,
}


# ------------------------------------------------------------------------------- options
@pytest.mark.parametrize(
    "fn, options, error, match",
    [
        # pos_weight: finite, >= 0, as a number, a sequence or a tensor
        *[
            pytest.param(
                "binary_cross_entropy_loss",
                {"pos_weight": value},
                OptionError,
                r"expected pos_weight >= 0",
                id=f"bce-pos_weight-{label}",
            )
            for label, value in [
                ("nan", NAN),
                ("inf", INF),
                ("negative", -1.0),
                ("list-negative", [1.0, -1.0, 1.0]),
                ("list-nan", [1.0, NAN, 1.0]),
                ("tensor-negative", torch.tensor([1.0, -1.0, 1.0])),
                ("tensor-nan", torch.tensor([1.0, NAN, 1.0])),
                ("tensor-inf", torch.tensor([1.0, INF, 1.0])),
                ("tensor-0d-negative", torch.tensor(-2.0)),
            ]
        ],
        # class weights of cross entropy: finite, >= 0
        *[
            pytest.param(
                "cross_entropy_loss",
                {"weight": value},
                OptionError,
                r"expected weight >= 0 and finite",
                id=f"ce-weight-{label}",
            )
            for label, value in [
                ("list-negative", [1.0, -1.0, 1.0]),
                ("tensor-negative", torch.tensor([1.0, -1.0, 1.0])),
                ("tensor-nan", torch.tensor([1.0, NAN, 1.0])),
                ("tensor-inf", torch.tensor([1.0, INF, 1.0])),
            ]
        ],
        # alpha tensors: in [0, 1] (NaN is not)
        *[
            pytest.param(
                fn,
                {"alpha": value},
                OptionError,
                r"expected alpha in \[0, 1\]",
                id=f"{fn.split('_loss')[0]}-alpha-{label}",
            )
            for fn in ("focal_loss", "softmax_focal_loss")
            for label, value in [
                ("tensor-negative", torch.tensor([0.1, -0.2, 0.3])),
                ("tensor-nan", torch.tensor([0.1, NAN, 0.3])),
                ("list-negative", [0.1, -0.2, 0.3]),
                ("list-nan", [0.1, NAN, 0.3]),
            ]
        ],
        # focal's normalizer: a finite number >= 0, a tensor of finite values
        *[
            pytest.param(
                "focal_loss",
                {"normalizer": value},
                OptionError,
                match,
                id=f"focal-normalizer-{label}",
            )
            for label, value, match in [
                ("inf", INF, "expected normalizer >= 0, got inf"),
                ("nan", NAN, "expected normalizer >= 0, got nan"),
                ("tensor-inf", torch.tensor(INF), "expected normalizer to be finite, got inf"),
                ("tensor-nan", torch.tensor(NAN), "expected normalizer to be finite, got nan"),
            ]
        ],
        pytest.param(
            "binary_cross_entropy_loss",
            {"from_logits": "yes"},
            OptionTypeError,
            "expected from_logits to be True or False, got 'yes'",
            id="bce-from_logits-yes",
        ),
        pytest.param(
            "binary_cross_entropy_loss",
            {"from_logits": 1},
            OptionTypeError,
            "expected from_logits to be True or False, got 1",
            id="bce-from_logits-int",
        ),
        pytest.param(
            "cross_entropy_loss",
            {"ignore_index": 1.5},
            OptionTypeError,
            "expected ignore_index to be an int, got 1.5",
            id="ce-ignore_index-float",
        ),
        pytest.param(
            "softmax_focal_loss",
            {"ignore_index": 1.5},
            OptionTypeError,
            "expected ignore_index to be an int, got 1.5",
            id="softmax_focal-ignore_index-float",
        ),
        pytest.param(
            "focal_loss",
            {"ignore_index": INF},
            OptionError,
            "expected ignore_index to be finite",
            id="focal-ignore_index-inf",
        ),
    ],
)
def test_bad_option_values_raise_in_the_function_and_the_module(fn, options, error, match):
    with pytest.raises(error, match=f"^{fn}: {match}"):
        CALLS[fn](**options)
    module = MODULES[fn]
    with pytest.raises(error, match=f"^{module.__name__}: {match}"):
        module(**options)


def test_the_values_found_are_in_the_eager_message():
    with pytest.raises(OptionError, match=r"pos_weight >= 0 and finite, got \[1.0, -1.0, 1.0\]"):
        _bce(pos_weight=torch.tensor([1.0, -1.0, 1.0]))
    with pytest.raises(OptionError, match=r"weight >= 0 and finite, got \[1.0, nan, 1.0\]"):
        _cross_entropy(weight=torch.tensor([1.0, NAN, 1.0], dtype=torch.float64))


def test_a_tensor_option_is_checked_again_at_each_call():
    """A Module's tensor option is a buffer: changed in place after construction, it is
    checked again by the next call."""
    m = vl.CrossEntropyLoss(weight=torch.ones(3, dtype=torch.float64))
    m.weight.fill_(-1.0)
    with pytest.raises(OptionError, match="cross_entropy_loss: expected weight >= 0"):
        m(X, Y)


@pytest.mark.parametrize(
    "fn, options",
    [
        pytest.param("binary_cross_entropy_loss", {"pos_weight": 0.0}, id="pos_weight-0"),
        pytest.param("binary_cross_entropy_loss", {"pos_weight": [0.0, 1.0, 2.0]}, id="pw-list"),
        pytest.param("cross_entropy_loss", {"weight": torch.tensor([0.0, 1.0, 2.0])}, id="w-0"),
        pytest.param("focal_loss", {"alpha": torch.tensor([0.0, 0.5, 1.0])}, id="alpha-bounds"),
        pytest.param("focal_loss", {"normalizer": 0.0}, id="normalizer-0"),
        pytest.param("focal_loss", {"normalizer": torch.tensor(-1.0)}, id="normalizer-tensor-neg"),
    ],
)
def test_values_on_the_boundary_are_accepted(fn, options):
    assert torch.isfinite(CALLS[fn](**options))


# ------------------------------------------------------------------------------- targets
@pytest.mark.parametrize(
    "fn, kwargs, error, match",
    [
        *[
            pytest.param(
                fn,
                {"target": target},
                InputError,
                r"expected target probabilities in \[0, 1\], got values in",
                id=f"{fn.split('_loss')[0]}-probabilities-{label}",
            )
            for fn in ("cross_entropy_loss", "softmax_focal_loss")
            for label, target in [("negative", Q - 0.5), ("above-1", Q + 1.0)]
        ],
        *[
            pytest.param(
                fn,
                {"target": Q, "ignore_index": 0},
                OptionError,
                r"ignore_index=0 applies to class index targets only, got probability targets "
                r"of shape \(2, 3, 4\)",
                id=f"{fn.split('_loss')[0]}-probabilities-with-ignore_index",
            )
            for fn in ("cross_entropy_loss", "softmax_focal_loss")
        ],
        *[
            pytest.param(
                fn,
                {"target": target},
                InputError,
                r"expected target values in \[0, 1\], got values in",
                id=f"{fn.split('_loss')[0]}-target-{label}",
            )
            for fn in ("binary_cross_entropy_loss", "focal_loss")
            for label, target in [("negative", B - 1.0), ("above-1", B + 1.0)]
        ],
        pytest.param(
            "binary_cross_entropy_loss",
            {"input": torch.sigmoid(X).index_fill(0, torch.tensor([0]), NAN), "from_logits": False},
            InputError,
            r"expected input probabilities in \[0, 1\] with from_logits=False, got .*NaN",
            id="bce-probabilities-nan",
        ),
        pytest.param(
            "binary_cross_entropy_loss",
            {"input": torch.sigmoid(X) - 0.5, "from_logits": False},
            InputError,
            r"expected input probabilities in \[0, 1\] with from_logits=False, got values in",
            id="bce-probabilities-negative",
        ),
    ],
)
def test_bad_target_values_raise(fn, kwargs, error, match):
    with pytest.raises(error, match=f"^{fn}: {match}"):
        CALLS[fn](**kwargs)


def test_module_with_ignore_index_refuses_probability_targets():
    m = vl.CrossEntropyLoss(ignore_index=255)
    torch.testing.assert_close(m(X, Y), vl.cross_entropy_loss(X, Y))
    with pytest.raises(OptionError, match="^cross_entropy_loss: ignore_index=255 applies"):
        m(X, Q)


@pytest.mark.parametrize(
    "fn, target",
    [
        pytest.param("cross_entropy_loss", Q, id="ce"),
        pytest.param("softmax_focal_loss", Q, id="softmax_focal"),
        pytest.param("binary_cross_entropy_loss", B, id="bce"),
        pytest.param("focal_loss", B, id="focal"),
    ],
)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_a_nan_target_gives_a_nan_loss(fn, target, reduction):
    bad = target.clone()
    bad[0, 1, 2] = NAN
    assert torch.isnan(CALLS[fn](target=bad, reduction=reduction))


# ------------------------------------------------------------------------------- weights
@pytest.mark.parametrize(
    "fn, name, shape",
    [
        pytest.param("cross_entropy_loss", "weight_map", (2, 4), id="ce-weight_map"),
        pytest.param("softmax_focal_loss", "weight_map", (2, 4), id="softmax_focal-weight_map"),
        pytest.param("binary_cross_entropy_loss", "weight", (3, 1), id="bce-weight"),
        pytest.param("focal_loss", "weight", (3, 1), id="focal-weight"),
    ],
)
def test_negative_weights_raise_and_nan_weights_give_nan(fn, name, shape):
    w = torch.ones(shape, dtype=torch.float64)
    w[1, 0] = -0.5
    with pytest.raises(InputError, match=f"^{fn}: expected {name} >= 0, got a minimum of -0.5"):
        CALLS[fn](**{name: w})
    w[1, 0] = NAN
    assert torch.isnan(CALLS[fn](**{name: w}))
    w[1, 0] = 0.0  # zero is a weight
    assert torch.isfinite(CALLS[fn](**{name: w}))


@pytest.mark.parametrize(
    "fn, name, bad, loss_shape",
    [
        pytest.param("cross_entropy_loss", "weight_map", (2, 1, 4), "(2, 4)", id="ce-N1W"),
        pytest.param("cross_entropy_loss", "weight_map", (2, 2, 4), "(2, 4)", id="ce-leading2"),
        pytest.param("softmax_focal_loss", "weight_map", (2, 1, 4), "(2, 4)", id="sf-N1W"),
        pytest.param("binary_cross_entropy_loss", "weight", (2, 1, 1, 1), "(2, 3, 4)", id="bce"),
        pytest.param("focal_loss", "weight", (2, 2, 3, 4), "(2, 3, 4)", id="focal-leading2"),
    ],
)
def test_a_weight_must_broadcast_to_the_loss_shape_without_enlarging_it(fn, name, bad, loss_shape):
    """A ``(2, 1, 4)`` map for a ``(2, 4)`` per-location loss would broadcast *with* it to
    ``(2, 2, 4)``: an error naming the argument, never a silently enlarged loss."""
    with pytest.raises(
        InputError,
        match=rf"^{fn}: expected {name} broadcastable to {re.escape(loss_shape)}, "
        rf"got {re.escape(str(bad))}",
    ):
        CALLS[fn](**{name: torch.ones(bad, dtype=torch.float64)})


# ----------------------------------------------------------------------------- divergences
def _with_nan(x):
    y = x.clone()
    y[0, 1, 2] = NAN
    return y


@pytest.mark.parametrize(
    "fn, options",
    [
        pytest.param(vl.kl_divergence_loss, {}, id="kl-forward"),
        pytest.param(vl.kl_divergence_loss, {"direction": "reverse"}, id="kl-reverse"),
        pytest.param(vl.kl_divergence_loss, {"temperature": 2.0}, id="kl-T2"),
        pytest.param(vl.js_divergence_loss, {}, id="js"),
        pytest.param(vl.js_divergence_loss, {"temperature": 2.0}, id="js-T2"),
    ],
)
@pytest.mark.parametrize("side", ["input", "target"])
@pytest.mark.parametrize("reduction", ["batchmean", "mean", "sum", "none"])
def test_a_nan_logit_gives_a_nan_divergence(fn, options, side, reduction):
    t = logits(2, 3, 4, seed=9)
    x, t = (_with_nan(X), t) if side == "input" else (X, _with_nan(t))
    out = fn(x, t, reduction=reduction, **options)
    if reduction == "none":  # the distribution holding the NaN, and only it
        expected = torch.zeros(2, 4, dtype=torch.bool)
        expected[0, 2] = True
        assert torch.equal(torch.isnan(out), expected)
    else:
        assert torch.isnan(out)


def test_a_nan_probability_in_a_log_probability_target_gives_nan():
    """A NaN log-probability next to a zero probability (-inf) of the same distribution."""
    t = torch.tensor([[0.0, -INF, NAN]])
    assert torch.isnan(vl.kl_divergence_loss(torch.zeros(1, 3), t))
    assert torch.isnan(vl.kl_divergence_loss(torch.zeros(1, 3), t, direction="reverse"))


# ------------------------------------------------------------------- compile, switch-off
BAD_VALUE_CALLS = [
    pytest.param(
        lambda f: f(X, Y, weight=torch.tensor([1.0, -1.0, 1.0], dtype=torch.float64)),
        vl.cross_entropy_loss,
        id="ce-class-weight",
    ),
    pytest.param(lambda f: f(X, Q - 0.5), vl.cross_entropy_loss, id="ce-probabilities"),
    pytest.param(
        lambda f: f(X, Y, weight_map=-torch.ones(2, 4, dtype=torch.float64)),
        vl.softmax_focal_loss,
        id="softmax_focal-weight_map",
    ),
    pytest.param(
        lambda f: f(X, B, pos_weight=torch.tensor([1.0, -1.0, 1.0], dtype=torch.float64)),
        vl.binary_cross_entropy_loss,
        id="bce-pos_weight",
    ),
    pytest.param(
        lambda f: f(X, B, weight=-torch.ones(3, 1, dtype=torch.float64)),
        vl.focal_loss,
        id="focal-weight",
    ),
    pytest.param(lambda f: f(X, B + 1.0), vl.focal_loss, id="focal-target"),
]


@pytest.mark.parametrize("call, fn", BAD_VALUE_CALLS)
def test_value_checks_hold_under_torch_compile(call, fn):
    """Under compile the checks are device-side assertions (``torch._assert_async``) carrying
    the message: the call fails instead of returning a number."""
    torch._dynamo.reset()
    try:
        with pytest.raises(Exception, match=fn.__name__):
            call(torch.compile(fn, backend="eager", fullgraph=True))
    finally:
        torch._dynamo.reset()


@pytest.mark.parametrize("call, fn", BAD_VALUE_CALLS)
def test_value_checks_can_be_switched_off(call, fn):
    previous = vl.set_value_checks(False)
    try:
        assert torch.isfinite(call(fn))
    finally:
        vl.set_value_checks(previous)


GOOD_VALUE_CALLS = [
    pytest.param(
        lambda f: f(X, Y, weight=torch.tensor([0.5, 2.0, 1.0], dtype=torch.float64)),
        vl.cross_entropy_loss,
        id="ce-class-weight",
    ),
    pytest.param(
        lambda f: f(X, Q, weight_map=soft(2, 4, seed=5), label_smoothing=0.1),
        vl.cross_entropy_loss,
        id="ce-probabilities-weight_map",
    ),
    pytest.param(
        lambda f: f(X, Y, alpha=torch.tensor([0.2, 0.5, 0.9], dtype=torch.float64)),
        vl.softmax_focal_loss,
        id="softmax_focal-alpha",
    ),
    pytest.param(
        lambda f: f(X, B, pos_weight=torch.tensor([1.0, 3.0, 0.0], dtype=torch.float64)),
        vl.binary_cross_entropy_loss,
        id="bce-pos_weight",
    ),
    pytest.param(
        lambda f: f(
            X, B, weight=soft(3, 1, seed=6), normalizer=torch.tensor(4.0, dtype=torch.float64)
        ),
        vl.focal_loss,
        id="focal-weight-normalizer",
    ),
]


@pytest.mark.parametrize("call, fn", GOOD_VALUE_CALLS)
def test_value_checks_compile_in_one_graph_and_pass_good_values(call, fn):
    torch._dynamo.reset()
    try:
        compiled = call(torch.compile(fn, backend="eager", fullgraph=True))
    finally:
        torch._dynamo.reset()
    torch.testing.assert_close(compiled, call(fn))


# ---------------------------------------------------------------- the bit-level range test
BITS_CASES = [
    pytest.param([0.0, 1.0, 0.5, 1e-40], True, id="in-range-with-subnormal"),
    pytest.param([0.0, 1.0, -0.0], False, id="negative-zero-left-to-the-float-check"),
    pytest.param([0.0, -1e-30], False, id="tiny-negative"),
    pytest.param([0.5, 1.0000001], False, id="just-above-one"),
    pytest.param([0.5, INF], False, id="inf"),
    pytest.param([0.5, NAN], False, id="nan"),
    pytest.param([0.5, -NAN], False, id="negative-nan"),
]


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
@pytest.mark.parametrize("values, inside", BITS_CASES)
def test_the_bit_level_unit_range_test_equals_the_float_comparison(values, inside, dtype):
    """``_unit_by_bits`` says True exactly for values in ``[+0, 1]`` (its False leaves the
    decision to the float ``aminmax`` check): against the float comparison, on a contiguous
    tensor and on a strided view of it."""
    from visionloss.classification._common import _unit_by_bits

    t = torch.tensor(values, dtype=torch.float64).to(dtype)
    plain = bool(((t >= 0) & (t <= 1) & ~torch.signbit(t)).all())
    if dtype in (torch.float32, torch.float64):  # (half types round 1.0000001 to 1)
        assert plain == inside
    assert _unit_by_bits(t) == plain
    strided = torch.stack([t, torch.full_like(t, 0.25)], 1)[:, 0]
    assert not strided.is_contiguous() and _unit_by_bits(strided) == plain
    assert not _unit_by_bits(torch.ones(3, dtype=torch.int64))  # integers: the float check


def test_negative_zero_targets_pass_through_the_float_check():
    y = B.clone()
    y[0, 0, 0] = -0.0
    loss = vl.binary_cross_entropy_loss(X, y)
    assert torch.isfinite(loss)
