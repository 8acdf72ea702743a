"""The reduction helper: words, masks, denominators, empty means."""

from __future__ import annotations

import pytest
import torch

from visionloss._core.numerics import div as safe_divide  # the one guarded division
from visionloss._core.reduction import check_reduction, reduce_loss


@pytest.mark.parametrize(
    "reduction, expected",
    [pytest.param("mean", 2.0, id="mean"), pytest.param("sum", 6.0, id="sum")],
)
def test_mean_and_sum(reduction, expected):
    assert reduce_loss(torch.tensor([1.0, 2.0, 3.0]), reduction, fn="f").item() == expected


def test_none_returns_loss_with_masked_entries_zeroed():
    loss = torch.tensor([1.0, float("nan"), 3.0])
    out = reduce_loss(loss, "none", fn="f", mask=torch.tensor([True, False, True]))
    assert torch.equal(out, torch.tensor([1.0, 0.0, 3.0]))


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        # mask: the mean divides by the number of valid elements, NaN in masked slots can't leak
        pytest.param({"mask": torch.tensor([True, False, True])}, 2.0, id="mask"),
        pytest.param({"weight": torch.tensor([1.0, 0.0, 1.0])}, 4.0 / 3.0, id="weight"),
        pytest.param({"denominator": torch.tensor(8.0)}, 0.75, id="denominator"),
        pytest.param({"normalizer": 2.0}, 3.0, id="normalizer"),
        # a fractional normaliser divides (a sum of weights, as Focal-EIoU's) ...
        pytest.param({"normalizer": 0.5}, 12.0, id="normalizer-fraction"),
        pytest.param({"normalizer": torch.tensor(0.25)}, 24.0, id="normalizer-fraction-tensor"),
        # ... and zero (no positives) leaves the sum, as RetinaNet's max(1, num_pos) for counts
        pytest.param({"normalizer": torch.tensor(0.0)}, 6.0, id="normalizer-zero"),
        pytest.param({"normalizer": 0}, 6.0, id="normalizer-zero-int"),
    ],
)
def test_mean_options(kwargs, expected):
    loss = torch.tensor([1.0, 2.0, 3.0])
    if "mask" in kwargs:
        loss = torch.tensor([1.0, float("nan"), 3.0])
    out = reduce_loss(loss, "mean", fn="f", **kwargs)
    torch.testing.assert_close(out, torch.tensor(expected))


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"mask": torch.zeros(3, dtype=torch.bool)}, id="all-masked"),
        pytest.param({"denominator": torch.tensor(0.0)}, id="zero-denominator"),
    ],
)
def test_mean_over_nothing_is_zero_with_graph(kwargs):
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    out = reduce_loss(x * 2, "mean", fn="f", weight=torch.zeros(3), **kwargs)
    assert out.item() == 0.0 and out.requires_grad
    (g,) = torch.autograd.grad(out, x)
    assert torch.equal(g, torch.zeros(3))


def test_empty_tensor_mean_is_zero_with_graph():
    x = torch.zeros(0, requires_grad=True)
    out = reduce_loss(x, "mean", fn="f")
    assert out.item() == 0.0 and out.requires_grad


@pytest.mark.parametrize("word", ["avg", "batchmean", None, "MEAN"])
def test_bad_word_names_function(word):
    with pytest.raises(ValueError, match=r"my_loss: expected reduction .* got"):
        check_reduction(word, "my_loss")


def test_safe_divide_float_zero():
    assert safe_divide(torch.tensor(0.0), 0.0).item() == 0.0
