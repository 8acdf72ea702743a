"""The declaration machinery (``_core/declare.py``, ``_core/options.py``) on a toy loss: the
docstring is composed from shared text, options are checked once with typed errors, and the
derived Module has real signatures, defaults equal to the function's, buffers for tensors."""

from __future__ import annotations

import inspect
import pickle
from typing import Annotated

import pytest
import torch
from torch import Tensor

from visionloss import errors
from visionloss._core.declare import DocParts, declaration, loss_function, loss_module
from visionloss._core.options import PER_CALL, Choice, ClassWeights, Number, Reduction
from visionloss._core.reduction import reduce_loss

SHARED = DocParts(
    args={
        "input": "the prediction.",
        "target": "the target.",
        "reduction": """``"mean"``, ``"sum"`` or ``"none"``.""",
    },
    paragraphs={"degenerate": "Degenerate cases: shared text written once."},
)

Scale = Annotated[float, Number(0, lo_open=True)]
Weight = Annotated[Tensor | None, PER_CALL]


@loss_function(SHARED)
def toy_loss(
    input: Tensor,
    target: Tensor,
    *,
    scale: Scale = 2.0,
    mode: Annotated[str, Choice("abs", "square")] = "abs",
    class_weight: ClassWeights = None,
    weight: Weight = None,
    reduction: Reduction = "mean",
) -> Tensor:
    """A toy loss.

    {{degenerate}}

    Args:
        scale: multiplies the difference.
        mode: ``"abs"`` or ``"square"``.
        class_weight: a weight per column.
        weight: per-element weights.

    Returns:
        the loss.
    """
    d = scale * (input - target)
    loss = d.abs() if mode == "abs" else d * d
    if class_weight is not None:
        loss = loss * class_weight.to(loss.dtype)
    return reduce_loss(loss, reduction, weight=weight)


ToyLoss = loss_module(toy_loss, "ToyLoss", module=__name__)


def test_docstring_is_composed_in_signature_order():
    doc = toy_loss.__doc__
    assert "Degenerate cases: shared text written once." in doc and "{{" not in doc
    args = doc.split("Args:")[1].split("Returns:")[0]
    order = [
        ln.split(":")[0].strip()
        for ln in args.splitlines()
        if ln.startswith("    ") and not ln.startswith("        ")
    ]
    assert order == ["input", "target", "scale", "mode", "class_weight", "weight", "reduction"]


def test_an_undocumented_argument_fails_at_declaration():
    with pytest.raises(TypeError, match="argument 'extra' is not documented"):

        @loss_function(SHARED)
        def bad(input: Tensor, *, extra: float = 1.0) -> Tensor:
            """Bad."""
            return input


def test_module_signatures_and_defaults():
    init = inspect.signature(ToyLoss)
    assert list(init.parameters) == ["scale", "mode", "class_weight", "reduction"]
    assert (
        init.parameters["scale"].default == inspect.signature(toy_loss).parameters["scale"].default
    )
    assert list(inspect.signature(ToyLoss.forward).parameters) == [
        "self",
        "input",
        "target",
        "weight",
    ]
    assert "scale: multiplies the difference." in ToyLoss.__doc__
    assert "weight: per-element weights." in ToyLoss.forward.__doc__
    assert set(declaration(toy_loss).keywords) == {
        "scale",
        "mode",
        "class_weight",
        "weight",
        "reduction",
    }


def test_module_equals_function_with_per_call_arguments():
    x, y, w = torch.randn(3, 4), torch.randn(3, 4), torch.rand(3, 4)
    m = ToyLoss(scale=3.0, mode="square")
    assert torch.equal(m(x, y, weight=w), toy_loss(x, y, scale=3.0, mode="square", weight=w))


def test_sequence_options_become_buffers():
    m = ToyLoss(class_weight=[1.0, 2.0, 0.5, 1.0])
    assert "class_weight" in dict(m.named_buffers())
    assert m.double().class_weight.dtype == torch.float64
    restored = pickle.loads(pickle.dumps(m))
    x, y = torch.randn(2, 4), torch.randn(2, 4)
    assert torch.equal(restored(x, y), m(x, y))


@pytest.mark.parametrize(
    "call, error, match",
    [
        pytest.param(
            lambda: ToyLoss(scael=1.0),
            errors.UnknownOptionError,
            r"ToyLoss: .*'scael'; did you mean 'scale'",
            id="unknown-init",
        ),
        pytest.param(
            lambda: ToyLoss(scale=float("nan")),
            errors.OptionError,
            "ToyLoss: expected scale > 0",
            id="nan",
        ),
        pytest.param(
            lambda: ToyLoss(scale="2"), errors.OptionTypeError, "ToyLoss: expected scale", id="type"
        ),
        pytest.param(
            lambda: ToyLoss(mode="sqare"), errors.OptionError, "did you mean 'square'", id="choice"
        ),
        pytest.param(
            lambda: ToyLoss(reduction="batchmean"),
            errors.OptionError,
            "ToyLoss: expected reduction",
            id="reduction",
        ),
        pytest.param(
            lambda: ToyLoss(weight=torch.ones(1)),
            errors.UnknownOptionError,
            "per-call argument",
            id="per-call-at-init",
        ),
        pytest.param(
            lambda: ToyLoss()(torch.ones(1), torch.ones(1), scale=1.0),
            errors.UnknownOptionError,
            "is an option",
            id="option-at-forward",
        ),
        pytest.param(
            lambda: toy_loss(torch.ones(1), torch.ones(1), scale=-1.0),
            errors.OptionError,
            "toy_loss: expected scale",
            id="function",
        ),
        pytest.param(
            lambda: toy_loss(torch.ones(1), torch.ones(1), redution="sum"),
            errors.UnknownOptionError,
            "did you mean 'reduction'",
            id="unknown-function",
        ),
        pytest.param(
            lambda: ToyLoss(class_weight=[1.0, -1.0]),
            errors.OptionError,
            "ToyLoss: expected class_weight >= 0",
            id="negative-weight",
        ),
    ],
)
def test_bad_options_raise_typed_errors_naming_the_caller(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_typed_errors_are_builtin_errors():
    assert issubclass(errors.OptionError, ValueError)
    assert issubclass(errors.UnknownOptionError, TypeError)
    assert issubclass(errors.InputTypeError, TypeError)
    assert errors.did_you_mean("smoth", ["smooth", "squared"]) == "; did you mean 'smooth'?"


def test_checked_function_compiles_without_graph_breaks():
    x, y = torch.randn(3, 4), torch.randn(3, 4)
    compiled = torch.compile(toy_loss, fullgraph=True, backend="eager")
    assert torch.allclose(compiled(x, y, scale=3.0), toy_loss(x, y, scale=3.0))


def _shared_options(*, scale: Scale = 2.0, reduction: Reduction = "mean") -> None:
    """An option group: options several losses share, declared once."""


@loss_function(
    SHARED | DocParts(args={"scale": "shared scale.", "shift": "own shift."}),
    options=_shared_options,
)
def grouped_loss(input: Tensor, target: Tensor, *, shift: float = 0.0, **options) -> Tensor:
    """A loss whose options come partly from a group.

    Returns:
        the loss.
    """
    return reduce_loss(options["scale"] * (input - target + shift).abs(), options["reduction"])


def test_option_groups_expand_into_the_real_signature():
    sig = inspect.signature(grouped_loss)
    assert list(sig.parameters) == ["input", "target", "shift", "scale", "reduction"]
    assert sig.parameters["scale"].default == 2.0
    Grouped = loss_module(grouped_loss, "Grouped", module=__name__)
    assert list(inspect.signature(Grouped).parameters) == ["shift", "scale", "reduction"]
    x, y = torch.randn(3), torch.randn(3)
    assert torch.equal(grouped_loss(x, y), 2.0 * (x - y).abs().mean())  # group defaults filled
    assert torch.equal(
        Grouped(scale=3.0, reduction="sum")(x, y), grouped_loss(x, y, scale=3.0, reduction="sum")
    )
    with pytest.raises(errors.OptionError, match="grouped_loss: expected scale > 0"):
        grouped_loss(x, y, scale=0.0)
    assert "scale: shared scale." in grouped_loss.__doc__


def test_an_option_declared_twice_fails_at_declaration():
    with pytest.raises(TypeError, match="declared twice"):

        @loss_function(SHARED | DocParts(args={"scale": "s"}), options=_shared_options)
        def bad(input: Tensor, *, scale: float = 1.0, **options) -> Tensor:
            """Bad."""
            return input
