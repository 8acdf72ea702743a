"""Shape / dtype / label checks."""

from __future__ import annotations

import pytest
import torch

from visionloss._core import checks


@pytest.mark.parametrize(
    "call, error, match",
    [
        pytest.param(
            lambda: checks.check_tensor([1], "input", "f"),
            TypeError,
            "f: expected input to be a torch.Tensor, got list",
            id="not-tensor",
        ),
        pytest.param(
            lambda: checks.check_tensor(
                torch.zeros(2, dtype=torch.long), "input", "f", floating=True
            ),
            TypeError,
            "floating-point",
            id="int",
        ),
        pytest.param(
            lambda: checks.check_tensor(torch.zeros(2), "target", "f", floating=False),
            TypeError,
            "integer tensor",
            id="float",
        ),
        pytest.param(
            lambda: checks.check_tensor(torch.zeros(2, 3), "input", "f", ndim=(3, 4)),
            ValueError,
            r"3-D or 4-D, got shape \(2, 3\)",
            id="ndim",
        ),
        pytest.param(
            lambda: checks.check_tensor(torch.zeros(2), "input", "f", min_ndim=2),
            ValueError,
            r"at least 2 dims, got shape \(2,\)",
            id="min-ndim",
        ),
        pytest.param(
            lambda: checks.check_same_shape(torch.zeros(4, 3), torch.zeros(4), "dice"),
            ValueError,
            r"dice: expected target of shape \(4, 3\) matching input, got \(4,\)",
            id="same-shape",
        ),
        pytest.param(
            lambda: checks.check_labels(torch.tensor([0, 3]), 3, "ce"),
            ValueError,
            r"ce: expected target class indices in \[0, 2\], got values in \[0, 3\]",
            id="label-range",
        ),
        pytest.param(
            lambda: checks.check_labels(torch.tensor([0.0]), 3, "ce"),
            TypeError,
            "integer class indices",
            id="label-dtype",
        ),
        pytest.param(
            lambda: checks.check_positive(0.0, "gamma", "focal"),
            ValueError,
            "focal: expected gamma > 0, got 0.0",
            id="positive",
        ),
        pytest.param(
            lambda: checks.check_choice("x", ("a", "b"), "mode", "f"),
            ValueError,
            "f: expected mode to be one of 'a', 'b', got 'x'",
            id="choice",
        ),
        pytest.param(
            lambda: checks.check_broadcastable(torch.zeros(3), (2, 4), "weight", "f"),
            ValueError,
            r"weight broadcastable to \(2, 4\), got \(3,\)",
            id="broadcast",
        ),
    ],
)
def test_errors_name_function_and_shapes(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_ignore_index_allowed_outside_range():
    checks.check_labels(torch.tensor([0, 2, -100]), 3, "ce", ignore_index=-100)
    checks.check_labels(torch.full((3,), 255), 3, "ce", ignore_index=255)


def test_values_checkable_only_on_cpu():
    assert checks.values_checkable(torch.zeros(1))
    assert checks.shape_str((1, 2)) == "(1, 2)" and checks.shape_str(torch.zeros(3)) == "(3,)"
