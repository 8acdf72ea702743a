"""What every registered loss must do (DESIGN.md sections 3 and 4), read from its registry row.

Each row of ``visionloss.list_losses()`` carries the loss function, its Module and an examples
maker (``spec.examples(dtype=, seed=) -> Example(args, kwargs, options, module)``: one small
valid call; ``module``, a ``ModuleCall``, only for a Module holding state of its own);
the function's declaration (``visionloss._core.declare.declaration``) names its positional
inputs, its options (with their option types) and its per-call arguments. From these alone,
with no test code written for one loss, every loss is checked for:

* its examples: declared arguments only, the requested dtype, small, reproducible from a seed;
* Module equals function (value and gradients), and every reduction word it declares
  (``"none"`` unreduced and summing to ``"sum"``, the others 0-dim; finite; fp32);
* ``build_loss`` / ``get_loss`` by registry name, alias, function name and class name;
* the Module's signatures (``__init__``: the declared options with the function's defaults;
  ``forward``: the inputs and the per-call arguments) and docstrings (every option);
* float64 ``gradcheck`` on the floating inputs the loss differentiates;
* CPU bf16 autocast (finite, fp32), fp16/bf16 inputs (finite, fp32, close to fp32 within the
  table of ``tests/conftest.py``);
* ``torch.compile`` (``fullgraph=False``) equals eager, value and gradients;
* pickling, deep copies and ``state_dict`` round trips of the Module;
* errors naming the function or the Module: a bad reduction word, an unknown keyword, an option
  given to ``forward`` (or a per-call argument to ``__init__``), a bad value of every option
  whose type is a library option type, a list or an integer tensor as the first floating input;
* on a CUDA device (``gpu`` marker), CUDA equals CPU.

Each loss's own file keeps what is particular to it: reference and hand values, the shape of
``"none"``, the mean's denominator, degenerate cases (empty input, saturated logits, zero
vectors), input-specific errors and family-specific options.

A property that does not hold today for a loss is listed in :data:`KNOWN_FAILURES` (a strict
xfail naming the loss, the reason and the exception): fixing it turns the entry into a failure,
so the entry goes with the fix.
"""

from __future__ import annotations

import copy
import inspect
import math
import pickle
import re
import urllib.request
from collections.abc import Callable, Iterable
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch.autograd.gradcheck import GradcheckError

import visionloss as vl
from tests.conftest import HALF_DTYPES, TOLERANCES, assert_close_dtype
from visionloss._core.declare import Declaration, declaration
from visionloss._core.examples import Example
from visionloss._core.options import Choice, Flag, IndexOption, Number, TensorOption
from visionloss._core.registry import LossSpec

ROWS: dict[str, LossSpec] = {spec.name: spec for spec in vl.list_losses()}
_CASE_IDS: dict[str, set[str]] = {}
_FEATURE_LOSSES = ("content", "content_style", "perceptual", "style", "texture", "topology")

# An example is "a few hundred elements at most": the suite runs every loss many times.
MAX_EXAMPLE_ELEMENTS = 2048

# float64 gradcheck in fast mode (a random projection of the Jacobian): the exact check of every
# column takes seconds for the feature losses; the per-loss files keep exact gradchecks.
GRADCHECK_FAST_MODE = True

# (test, case id) -> (reason, exception the failure raises). Strict xfails: a fix makes the
# case pass and the suite fail until the entry is removed. Losses not yet converted to the
# declared form (no ``examples=``, no ``@loss_function``) are NOT listed: they fail.
_CENTER = (
    "CenterLoss(num_classes, dim, *, alpha, learn_centers, reduction) holds the centres, an "
    "input of center_loss: its __init__ takes more than the declared options, forward fewer "
    "inputs (a stateful Module written by hand; Example.module builds and calls it)"
)
_FEATURE_MODULE = (
    "the Module builds its default VGG: network=None (positional-or-keyword) and the options "
    "arch, weights, input_range, pooling, which the function does not take"
)
# the margin-softmax heads and proxy losses: their Module owns the class weights / proxies /
# beta (a Parameter that the function takes as an input), so __init__ takes num_classes,
# embedding_size (sub_centers, centers_per_class, momentum, beta_init, learn_beta) beyond the
# declared options and forward takes fewer inputs; their examples build and call the Module
_HEAD = "the Module owns the class weights / proxies the function takes as an input"

KNOWN_FAILURES: dict[tuple[str, str], tuple[str, type[BaseException]]] = {
    **{
        ("signature", name): (_HEAD, AssertionError)
        for name in (
            "arcface",
            "cosface",
            "sphereface",
            "subcenter_arcface",
            "adaface",
            "proxy_anchor",
            "proxy_nca",
            "soft_triple",
            "margin",
        )
    },
    # circle's alpha_p, alpha_n are held constant by default (detach_weights=True, as PML and
    # the authors): the gradient is not the value's derivative
    ("gradcheck", "circle"): ("detached pair weights (by design)", GradcheckError),
    # the spectrum weight is detached by design (Jiang et al.'s released code): the gradient is
    # not the derivative of the value, which gradcheck compares against
    ("gradcheck", "focal_frequency"): ("detached spectrum weight (by design)", GradcheckError),
    # SwAV's codes come from the scores under no_grad (its stop-gradient), likewise
    ("gradcheck", "swav"): ("Sinkhorn codes computed without gradient (by design)", GradcheckError),
    # signatures and docs
    ("signature", "center"): (_CENTER, AssertionError),
    ("signature", "lpips"): (
        "LPIPS builds its network (net, backbone_weights, lin_weights) where the function "
        "takes the built network",
        AssertionError,
    ),
    ("signature", "wiou"): (
        "WIoULoss takes momentum (of its running mean) instead of the function's iou_mean",
        AssertionError,
    ),
    ("signature", "mpdiou"): (
        "MPDIoULoss.forward also takes image_size per call, and weight/normalizer "
        "positional-or-keyword (declared keyword-only)",
        AssertionError,
    ),
    **{("signature", name): (_FEATURE_MODULE, AssertionError) for name in _FEATURE_LOSSES},
    ("stored_options", "wiou"): (
        "WIoULoss.iou_mean is its running-mean buffer, not the option (default None)",
        AssertionError,
    ),
    ("docs", "center"): ("the hand-written CenterLoss.__init__ has no docstring", AssertionError),
    ("docs", "wiou"): (
        "iou_mean is WIoULoss's running-mean buffer: the class docstring does not describe it",
        AssertionError,
    ),
    ("docs", "mpdiou"): (
        "the hand-written MPDIoULoss.forward docstring has no Args section",
        AssertionError,
    ),
    # gradients
    ("gradcheck", "focal_eiou"): (
        "IoU^gamma is held constant by default (detach_weight=True, as in the common "
        "implementations): the gradient is not the value's derivative",
        GradcheckError,
    ),
    ("gradcheck", "wiou"): (
        "the outlier degree beta and the attention's enclosing-box denominator are held "
        "constant (Wise-IoU): the gradient is not the value's derivative",
        GradcheckError,
    ),
    ("gradcheck", "gradient_penalty"): (
        "real and fake are detached by design: the penalty is differentiated through the "
        "critic's parameters only",
        AssertionError,
    ),
    ("gradcheck", "r1"): (
        "the example's real_logits = D(real) are computed once: perturbing real does not "
        "recompute them (the penalty is a function of the critic)",
        RuntimeError,
    ),
    # CUDA (gpu marker): the examples are made on the CPU and moved
    **{
        ("cuda", f"r1-{dtype}"): (
            "the example's real_logits = D(real) are computed on the CPU: moved to CUDA they no "
            "longer depend on the moved real (examples made on the device would fix it)",
            ValueError,
        )
        for dtype in ("fp32", "fp16", "bf16")
    },
}


def _case(test: str, case_id: str, *values: Any) -> Any:
    """One table row of ``test``: ``pytest.param(*values, id=case_id)``, a strict xfail when
    :data:`KNOWN_FAILURES` lists it."""
    _CASE_IDS.setdefault(test, set()).add(case_id)
    known = KNOWN_FAILURES.get((test, case_id))
    marks: tuple[pytest.MarkDecorator, ...] = ()
    if known is not None:
        reason, raises = known
        marks = (pytest.mark.xfail(strict=True, reason=f"{case_id}: {reason}", raises=raises),)
    return pytest.param(*values, id=case_id, marks=marks)


def losses(test: str) -> list[Any]:
    """One row per registered loss, id = registry name."""
    return [_case(test, name, spec) for name, spec in ROWS.items()]


def _declared(spec: LossSpec) -> Declaration | None:
    try:
        return declaration(spec.function)
    except TypeError:
        return None


# ------------------------------------------------------------------------------ helpers
def _no_download(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError(f"a download was attempted: {args[:1]}")


@pytest.fixture(autouse=True)
def _forbid_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Examples pass their own small networks: building a Module must fetch nothing."""
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", _no_download)
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_download)
    monkeypatch.setattr(urllib.request, "urlopen", _no_download)
    try:
        import torchvision.models._api as api
    except ImportError:
        return
    monkeypatch.setattr(api, "load_state_dict_from_url", _no_download)


def decl_of(spec: LossSpec) -> Declaration:
    decl = _declared(spec)
    if decl is None:
        pytest.fail(
            f"{spec.name}: {spec.function.__name__} is not declared with @loss_function",
            pytrace=False,
        )
    return decl


def make(spec: LossSpec, dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """The loss's example call (a fresh one on every call: tensors, networks, generators)."""
    if spec.examples is None:
        pytest.fail(f"{spec.name}: registered without examples=", pytrace=False)
    example = spec.examples(dtype=dtype, seed=seed)
    assert isinstance(example, Example), f"{spec.name}: examples returned {type(example)}"
    return example


class Inputs:
    """An example whose floating leaf tensors (positional and per-call) require grad, and
    which can be rebuilt with other tensors in their place (``gradcheck``, ``compile``).
    Generators among the inputs restart from their state on every rebuild."""

    def __init__(self, example: Example) -> None:
        self.example = example
        self.slots: list[int | str] = []
        self.leaves: list[Tensor] = []
        self.from_args: list[bool] = []
        args = list(example.args)
        kwargs = dict(example.kwargs)
        slots: list[tuple[int | str, Any]] = [*enumerate(args), *kwargs.items()]
        for slot, value in slots:
            if isinstance(value, Tensor) and value.is_floating_point() and value.grad_fn is None:
                leaf = value if value.requires_grad else value.detach().requires_grad_(True)
                self.slots.append(slot)
                self.leaves.append(leaf)
                self.from_args.append(isinstance(slot, int))

    def build(self, tensors: Iterable[Tensor] | None = None) -> Example:
        tensors = self.leaves if tensors is None else list(tensors)
        args = [_restart(a) for a in self.example.args]
        kwargs = {k: _restart(v) for k, v in self.example.kwargs.items()}
        for slot, tensor in zip(self.slots, tensors):
            if isinstance(slot, int):
                args[slot] = tensor
            else:
                kwargs[slot] = tensor
        return self.example._replace(args=tuple(args), kwargs=kwargs)


def _restart(value: Any) -> Any:
    if isinstance(value, torch.Generator):
        fresh = torch.Generator(device=value.device)
        fresh.set_state(value.get_state())
        return fresh
    return value


def inputs(spec: LossSpec, dtype: torch.dtype = torch.float32, seed: int = 0) -> Inputs:
    return Inputs(make(spec, dtype, seed))


def call_function(spec: LossSpec, example: Example, **options: Any) -> Tensor:
    return spec.function(*example.args, **{**example.options, **options}, **example.kwargs)


def build_module(spec: LossSpec, example: Example, **options: Any) -> nn.Module:
    """``Module(**options)``; a Module holding state of its own (``example.module`` set) is
    built as its ``ModuleCall`` says, in eval mode (its state is then only read)."""
    call = example.module
    if call is None:
        return spec.module(**{**example.options, **options})
    module = spec.module(*call.init_args, **{**example.options, **call.init_kwargs, **options})
    return module.eval()


def _supplied(example: Example, module: nn.Module) -> dict[str, Any]:
    """The function arguments that the Module's state supplies (``ModuleCall.to_function``)."""
    call = example.module
    return {} if call is None or call.to_function is None else call.to_function(module)


def _positional_names(spec: LossSpec) -> list[str]:
    return [p.name for p in decl_of(spec).positional if p.kind is not p.VAR_POSITIONAL]


def forward(spec: LossSpec, module: nn.Module, example: Example, **extra: Any) -> Tensor:
    """The Module called on the example, less the arguments its state supplies."""
    args, kwargs = example.args, example.kwargs
    supplied = _supplied(example, module)
    if supplied:
        names = _positional_names(spec)
        args = tuple(a for i, a in enumerate(args) if i >= len(names) or names[i] not in supplied)
        kwargs = {k: v for k, v in kwargs.items() if k not in supplied}
    return module(*args, **kwargs, **extra)


def call_module(spec: LossSpec, example: Example, **options: Any) -> Tensor:
    return forward(spec, build_module(spec, example, **options), example)


def call_function_like(
    spec: LossSpec, example: Example, module: nn.Module, **options: Any
) -> Tensor:
    """The function on the example, with the arguments the Module's state supplies replaced
    by the Module's (the function that the Module, in eval mode, must equal)."""
    supplied = dict(_supplied(example, module))
    names = _positional_names(spec)
    args = tuple(
        supplied.pop(names[i]) if i < len(names) and names[i] in supplied else a
        for i, a in enumerate(example.args)
    )
    kwargs = {k: supplied.pop(k, v) for k, v in example.kwargs.items()}
    return call_function(spec, example._replace(args=args, kwargs=kwargs), **supplied, **options)


def grads(value: Tensor, leaves: list[Tensor]) -> list[Tensor | None]:
    """d value.sum() / d leaf for each leaf (None where the value does not depend on it)."""
    if not leaves or not value.requires_grad:
        return [None] * len(leaves)
    return list(torch.autograd.grad(value.sum(), leaves, allow_unused=True))


def assert_same_grads(
    actual: list[Tensor | None], expected: list[Tensor | None], **tol: Any
) -> None:
    assert [g is None for g in actual] == [g is None for g in expected]
    for a, e in zip(actual, expected):
        if a is not None and e is not None:
            torch.testing.assert_close(a, e, **tol)


def assert_finite(value: Tensor, gradients: list[Tensor | None]) -> None:
    assert torch.isfinite(value).all(), value
    for g in gradients:
        assert g is None or torch.isfinite(g).all(), g


def _same(a: Any, b: Any) -> bool:
    """Equal example parts: tensors (dtype and values), Modules (state), generators (state)."""
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return (
            isinstance(a, Tensor)
            and isinstance(b, Tensor)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and bool(torch.equal(a, b))
        )
    if isinstance(a, nn.Module):
        return type(a) is type(b) and _same(a.state_dict(), b.state_dict())
    if isinstance(a, torch.Generator):
        return isinstance(b, torch.Generator) and torch.equal(a.get_state(), b.get_state())
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return (
            isinstance(b, (list, tuple))
            and len(a) == len(b)
            and all(_same(x, y) for x, y in zip(a, b))
        )
    return bool(a == b)


def _tensors(example: Example) -> list[Tensor]:
    return [v for v in (*example.args, *example.kwargs.values()) if isinstance(v, Tensor)]


def _entry(name: str) -> re.Pattern[str]:
    """An ``Args:`` entry of ``name`` in a Google docstring."""
    return re.compile(rf"^\s+\**{re.escape(name)}(\s*\([^)]*\))?:", re.MULTILINE)


# ---------------------------------------------------------------------------- examples
@pytest.mark.parametrize("spec", losses("examples"))
def test_examples_fit_the_declaration(spec):
    """One small call of declared arguments, in the requested dtype, the same for a seed."""
    decl = decl_of(spec)
    example = make(spec, torch.float64)
    positional = [p for p in decl.positional if p.kind is not p.VAR_POSITIONAL]
    required = [p for p in positional if p.default is p.empty]
    assert len(required) <= len(example.args) <= len(positional), (
        f"{spec.name}: {len(example.args)} positional inputs, declared "
        f"{[p.name for p in positional]}"
    )
    assert set(example.kwargs) <= {p.name for p in decl.per_call}, example.kwargs.keys()
    assert set(example.options) <= {p.name for p in decl.options}, example.options.keys()
    floating = example.floating()
    assert floating, f"{spec.name}: no floating-point input"
    assert {t.dtype for t in floating} == {torch.float64}
    assert sum(t.numel() for t in _tensors(example)) <= MAX_EXAMPLE_ELEMENTS
    assert _same(tuple(make(spec, torch.float64)), tuple(example)), "not reproducible"
    other = make(spec, torch.float64, seed=1)
    assert not _same(other.floating(), floating), "the seed changes nothing"


# ------------------------------------------------------------------- Module and function
def _reduction_words(spec: LossSpec) -> tuple[str, ...]:
    """The words of the loss's declared ``reduction`` option type (its ``Choice``)."""
    decl = _declared(spec)
    checks = () if decl is None else decl.checks.get("reduction", ())
    words = [c for check in checks if isinstance(check, Choice) for c in check.choices]
    return tuple(w for w in words if isinstance(w, str)) or ("undeclared",)


def reductions(test: str) -> list[Any]:
    """One row per (loss, declared reduction word), id ``name-word``."""
    return [
        _case(test, f"{name}-{word}", spec, word)
        for name, spec in ROWS.items()
        for word in _reduction_words(spec)
    ]


def _require(word: str, spec: LossSpec) -> None:
    if word == "undeclared":
        pytest.fail(f"{spec.name}: no reduction option declared with a Choice", pytrace=False)


@pytest.mark.parametrize("spec, word", reductions("module_equals_function"))
def test_module_equals_function(spec, word):
    """``Module(**options)(*args, **kwargs)`` equals ``function(*args, **options, **kwargs)``
    exactly, value and gradients, for every reduction word. A Module holding state of its own
    is compared in eval mode with the function given that state (``Example.module``)."""
    _require(word, spec)
    module_inputs, function_inputs = inputs(spec), inputs(spec)
    example = module_inputs.build()
    module = build_module(spec, example, reduction=word)
    value = forward(spec, module, example)
    expected = call_function_like(spec, function_inputs.build(), module, reduction=word)
    torch.testing.assert_close(value, expected, rtol=0, atol=0)
    assert_same_grads(
        grads(value, module_inputs.leaves), grads(expected, function_inputs.leaves), rtol=0, atol=0
    )


@pytest.mark.parametrize("spec, word", reductions("reductions"))
def test_reductions(spec, word):
    """Every declared reduction word gives a finite fp32 value (fp32 inputs); ``"none"`` is
    not reduced to a scalar and sums to ``"sum"``; every other word gives a 0-dim value."""
    _require(word, spec)
    value = call_function(spec, make(spec), reduction=word)
    assert torch.isfinite(value).all(), value
    assert value.dtype == torch.float32
    if word == "none":
        assert value.dim() >= 1, f"{spec.name}: reduction='none' gave a 0-dim value"
        total = call_function(spec, make(spec), reduction="sum")
        torch.testing.assert_close(value.sum(), total, **TOLERANCES[torch.float32])
    else:
        assert value.dim() == 0, f"{spec.name}: reduction={word!r} gave shape {value.shape}"


def _names(spec: LossSpec) -> list[str]:
    return list(
        dict.fromkeys([spec.name, *spec.aliases, spec.function.__name__, spec.module.__name__])
    )


BUILD = [
    _case("build_loss", f"{name}-{key}", spec, key)
    for name, spec in ROWS.items()
    for key in _names(spec)
]


@pytest.mark.parametrize("spec, key", BUILD)
def test_build_loss_by_every_name(spec, key):
    """``get_loss`` and ``build_loss`` accept the registry name, an alias, the function's name
    and the class name, in a call or a config mapping."""
    example = make(spec)
    assert example.module is None or not example.module.init_args, "build_loss takes keywords"
    options = {**example.options, **(example.module.init_kwargs if example.module else {})}
    assert vl.get_loss(key) is spec
    assert type(vl.build_loss(key, **options)) is spec.module
    assert type(vl.build_loss({"name": key, **options})) is spec.module


# --------------------------------------------------------------- signatures and docs
def _signature_of(params: Iterable[inspect.Parameter]) -> list[tuple[str, Any, Any]]:
    return [(p.name, p.kind, p.default) for p in params]


@pytest.mark.parametrize("spec", losses("signature"))
def test_module_signatures(spec):
    """``__init__`` takes exactly the declared options (keyword-only, the function's
    defaults); ``forward`` takes the positional inputs and the per-call arguments."""
    decl = decl_of(spec)
    init = inspect.signature(spec.module).parameters.values()
    assert _signature_of(init) == _signature_of(decl.options)
    forward = list(inspect.signature(spec.module.forward).parameters.values())
    assert forward[0].name == "self"
    assert _signature_of(forward[1:]) == _signature_of((*decl.positional, *decl.per_call))


def _equal_option(actual: Any, expected: Any) -> bool:
    if isinstance(actual, Tensor) or isinstance(expected, Tensor):
        if actual is None or expected is None:
            return False
        return _same(torch.as_tensor(actual), torch.as_tensor(expected).to(actual.dtype))
    if isinstance(expected, list):
        expected = tuple(expected)
    return actual is expected or bool(actual == expected)


@pytest.mark.parametrize("spec", losses("stored_options"))
def test_module_keeps_its_options(spec):
    """A Module keeps every option as an attribute (the example's, else the default, as its
    option type converts it) and names them in its repr."""
    decl = decl_of(spec)
    example = make(spec)
    options = example.options
    module = build_module(spec, example)
    for p in decl.options:
        expected = decl.check(p.name, options.get(p.name, p.default), spec.module.__name__)
        assert _equal_option(getattr(module, p.name), expected), (p.name, expected)
    text = repr(module)
    assert text.startswith(f"{spec.module.__name__}(")
    assert "reduction=" in text


@pytest.mark.parametrize("spec", losses("docs"))
def test_module_docs_describe_every_argument(spec):
    """The class and ``__init__`` docstrings describe every option, ``forward``'s every input
    and per-call argument."""
    decl = decl_of(spec)
    docs = {
        "class": spec.module.__doc__ or "",
        "__init__": spec.module.__init__.__doc__ or "",
    }
    for where, doc in docs.items():
        missing = [p.name for p in decl.options if not _entry(p.name).search(doc)]
        assert not missing, f"{spec.module.__name__} {where} docstring lacks {missing}"
    forward = spec.module.forward.__doc__ or ""
    missing = [
        p.name for p in (*decl.positional, *decl.per_call) if not _entry(p.name).search(forward)
    ]
    assert not missing, f"{spec.module.__name__}.forward docstring lacks {missing}"


# ------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("spec", losses("gradcheck"))
def test_gradcheck_float64(spec):
    """float64 inputs compute in float64; gradcheck over every floating input the loss
    differentiates (targets a loss treats as constants, e.g. feature-loss targets computed
    under no_grad, are held fixed), which includes the first floating positional input."""
    case = inputs(spec, torch.float64)
    value = call_function(spec, case.build())
    assert value.dtype == torch.float64
    connected = [i for i, g in enumerate(grads(value, case.leaves)) if g is not None]
    assert connected, f"{spec.name}: no floating input gets a gradient"
    if case.from_args[0]:
        assert 0 in connected, f"{spec.name}: the first floating input gets no gradient"

    def loss(*xs: Tensor) -> Tensor:
        tensors = list(case.leaves)
        for i, x in zip(connected, xs):
            tensors[i] = x
        return call_function(spec, case.build(tensors))

    assert torch.autograd.gradcheck(
        loss,
        [case.leaves[i] for i in connected],
        eps=1e-6,
        atol=1e-5,
        fast_mode=GRADCHECK_FAST_MODE,
    )


# -------------------------------------------------------------------------- precision
def autocast_rows(test: str) -> list[Any]:
    """One row per (loss, CPU autocast dtype), id ``name-autocast-bf16``."""
    return [
        _case(test, f"{name}-autocast-{dtype.id}", spec, *dtype.values)
        for name, spec in ROWS.items()
        for dtype in HALF_DTYPES
    ]


@pytest.mark.parametrize("spec, dtype", autocast_rows("autocast"))
def test_autocast_finite_and_close(spec, dtype):
    """Under CPU autocast, fp32 inputs give a finite loss with finite gradients, close to the
    loss without autocast within the table's tolerance of the autocast dtype (only a network
    among the options, e.g. a feature network, runs in that dtype)."""
    case = inputs(spec)
    with torch.autocast("cpu", dtype=dtype):
        value = call_function(spec, case.build())
    assert_finite(value, grads(value, case.leaves))
    assert_close_dtype(value.detach(), call_function(spec, make(spec)).detach(), dtype)


@pytest.mark.parametrize("spec, dtype", autocast_rows("autocast_fp32"))
def test_autocast_returns_fp32(spec, dtype):
    """Under CPU autocast the loss is still accumulated and returned in fp32."""
    with torch.autocast("cpu", dtype=dtype):
        value = call_function(spec, make(spec))
    assert value.dtype == torch.float32, f"{spec.name}: {value.dtype} under {dtype} autocast"


HALF = [
    _case("half_inputs", f"{name}-{dtype.id}", spec, *dtype.values)
    for name, spec in ROWS.items()
    for dtype in HALF_DTYPES
]


@pytest.mark.parametrize("spec, dtype", HALF)
def test_half_inputs(spec, dtype):
    """fp16/bf16 inputs accumulate in fp32 and return fp32, finite (gradients too) and close
    to the loss of the fp32 originals within the table of tests/conftest.py."""
    case = inputs(spec, dtype)
    value = call_function(spec, case.build())
    assert value.dtype == torch.float32, f"{spec.name}: {value.dtype} from {dtype} inputs"
    assert_finite(value, grads(value, case.leaves))
    assert_close_dtype(value.detach(), call_function(spec, make(spec)).detach(), dtype)


# --------------------------------------------------------------------------- compile
@pytest.mark.parametrize("spec", losses("compile"))
def test_compile_matches_eager(spec):
    """``torch.compile(function, fullgraph=False)`` (the eager backend: dynamo's capture
    without code generation) equals eager, value and gradients, and captures a graph."""
    torch._dynamo.reset()  # the declared functions share one wrapper: no cache-limit fallback
    graphs: list[torch.fx.GraphModule] = []

    def backend(gm: torch.fx.GraphModule, example_inputs: list[Tensor]) -> Callable[..., Any]:
        graphs.append(gm)
        return gm.forward

    compiled = torch.compile(spec.function, backend=backend, fullgraph=False)
    eager, traced = inputs(spec), inputs(spec)
    expected = call_function(spec, eager.build())
    ex = traced.build()
    value = compiled(*ex.args, **ex.options, **ex.kwargs)
    assert graphs, f"{spec.name}: torch.compile captured no graph"
    torch.testing.assert_close(value, expected, **TOLERANCES[torch.float32])
    assert_same_grads(
        grads(value, traced.leaves), grads(expected, eager.leaves), **TOLERANCES[torch.float32]
    )
    torch._dynamo.reset()


# ------------------------------------------------------------------- Module state
def _value(module: nn.Module, spec: LossSpec) -> Tensor:
    return forward(spec, module, make(spec)).detach()


def _perturbed(module: nn.Module) -> nn.Module:
    """A deep copy whose floating state (parameters, buffers) is moved off its initial values,
    so that a round trip that drops state cannot pass."""
    module = copy.deepcopy(module)
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for tensor in module.state_dict().values():
            if tensor.is_floating_point():
                noise = torch.rand(tensor.shape, generator=gen, dtype=torch.float64)
                tensor.mul_((0.9 + 0.2 * noise).to(tensor.dtype))
    return module.eval()  # documented state (running means, centres) is only read in eval


@pytest.mark.parametrize("spec", losses("pickle"))
def test_pickle_and_deepcopy(spec):
    """A pickled (and a deep-copied) Module is the same class and gives the same loss."""
    module = _perturbed(build_module(spec, make(spec)))
    expected = _value(module, spec)
    for copied in (pickle.loads(pickle.dumps(module)), copy.deepcopy(module)):
        assert type(copied) is spec.module
        assert not copied.training
        torch.testing.assert_close(_value(copied, spec), expected, rtol=0, atol=0)


@pytest.mark.parametrize("spec", losses("state_dict"))
def test_state_dict_round_trip(spec):
    """``state_dict`` of a Module loads into a fresh one built with the same options (a new
    example: new tensors and networks), which then gives the same loss."""
    module = _perturbed(build_module(spec, make(spec)))
    fresh = build_module(spec, make(spec))
    fresh.load_state_dict(module.state_dict())
    fresh.eval()
    torch.testing.assert_close(_value(fresh, spec), _value(module, spec), rtol=0, atol=0)


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize("spec", losses("bad_reduction"))
def test_bad_reduction_names_the_function_and_the_module(spec):
    example = make(spec)
    fn, cls = spec.function.__name__, spec.module.__name__
    with pytest.raises(ValueError, match=rf"^{fn}: .*reduction.*'avg'"):
        call_function(spec, example, reduction="avg")
    with pytest.raises(ValueError, match=rf"^{cls}\b.*reduction.*'avg'"):
        build_module(spec, example, reduction="avg")


@pytest.mark.parametrize("spec", losses("unknown_option"))
def test_unknown_option_names_the_function_and_the_module(spec):
    example = make(spec)
    fn, cls = spec.function.__name__, spec.module.__name__
    with pytest.raises(TypeError, match=rf"^{fn}: .*'not_an_option'"):
        call_function(spec, example, not_an_option=1)
    with pytest.raises(TypeError, match=rf"^{cls}\b.*'not_an_option'"):
        build_module(spec, example, not_an_option=1)


@pytest.mark.parametrize("spec", losses("argument_places"))
def test_options_and_per_call_arguments_go_to_their_place(spec):
    """An option passed to ``forward``, or a per-call argument passed to ``__init__``, raises
    a TypeError naming the Module (the Module would otherwise ignore or shadow it)."""
    decl = decl_of(spec)
    example = make(spec)
    cls = spec.module.__name__
    module = build_module(spec, example)
    option = next((p for p in decl.options if p.name == "reduction"), decl.options[0])
    given = option.default if option.default is not option.empty else example.options[option.name]
    with pytest.raises(TypeError, match=rf"^{cls}\b.*'{option.name}'"):
        forward(spec, module, example, **{option.name: given})
    for per_call in decl.per_call:
        with pytest.raises(TypeError, match=rf"^{cls}\b.*'{per_call.name}'"):
            build_module(spec, example, **{per_call.name: None})


def _bad_values(decl: Declaration, name: str) -> list[tuple[str, Any, type[Exception]]]:
    """(label, value, error) for values every option of this type rejects."""
    out: list[tuple[str, Any, type[Exception]]] = []
    for check in decl.checks.get(name, ()):
        if isinstance(check, Choice):
            out.append(("word", "not-a-choice", ValueError))
        elif isinstance(check, Number):
            out.append(("str", "one", TypeError))
            # NaN is not an int: a type error for integer options, a value error otherwise
            out.append(("nan", math.nan, TypeError if check.integer else ValueError))
            if check.lo is not None:
                out.append(("below", check.lo - 1, ValueError))
                if check.lo_open:
                    out.append(("at-bound", check.lo, ValueError))
            if check.hi is not None:
                out.append(("above", check.hi + 1, ValueError))
                if check.hi_open:
                    out.append(("at-bound-hi", check.hi, ValueError))
        elif isinstance(check, Flag):
            out.append(("str", "yes", TypeError))
        elif isinstance(check, IndexOption):
            out.append(("float", 1.5, TypeError))
        elif isinstance(check, TensorOption):
            out.append(("str", "weights", TypeError))
    return out


def _bad_options() -> list[Any]:
    rows = []
    for name, spec in ROWS.items():
        decl = _declared(spec)
        if decl is None:
            rows.append(_case("bad_option", f"{name}-undeclared", spec, None, None, None))
            continue
        for option in decl.options:
            for label, value, error in _bad_values(decl, option.name):
                case_id = f"{name}-{option.name}-{label}"
                rows.append(_case("bad_option", case_id, spec, option.name, value, error))
    return rows


@pytest.mark.parametrize("spec, option, value, error", _bad_options())
def test_bad_option_value_names_the_function_and_the_module(spec, option, value, error):
    """A value outside an option's declared type raises in the function and in the Module,
    naming them and the option."""
    if option is None:
        decl_of(spec)
    example = make(spec)
    fn, cls = spec.function.__name__, spec.module.__name__
    with pytest.raises(error, match=rf"^{fn}: .*\b{option}\b"):
        call_function(spec, example, **{option: value})
    with pytest.raises(error, match=rf"^{cls}\b.*\b{option}\b"):
        build_module(spec, example, **{option: value})


@pytest.mark.parametrize("spec", losses("bad_input"))
def test_bad_input_types_name_the_function(spec):
    """The first floating positional input given as a list, or as an integer tensor, raises a
    TypeError naming the function."""
    example = make(spec)
    fn = spec.function.__name__
    floating = [i for i, a in enumerate(example.args) if isinstance(a, Tensor)]
    floating = [i for i in floating if example.args[i].is_floating_point()]
    assert floating, f"{spec.name}: no floating positional input"
    index = floating[0]

    def call_with(bad: Any) -> Tensor:
        args = list(example.args)
        args[index] = bad
        return call_function(spec, example._replace(args=tuple(args)))

    with pytest.raises(TypeError, match=rf"^{fn}: expected .*torch\.Tensor"):
        call_with(example.args[index].tolist())
    with pytest.raises(TypeError, match=rf"^{fn}: expected .*floating"):
        call_with(example.args[index].long())


def test_known_failures_name_real_cases():
    """Every KNOWN_FAILURES entry names a test table and a case of it (no stale entries)."""
    stale = [key for key in KNOWN_FAILURES if key[1] not in _CASE_IDS.get(key[0], set())]
    assert not stale, stale


# ----------------------------------------------------------------------------- CUDA
def _to(value: Any, device: str) -> Any:
    if isinstance(value, Tensor):
        return value.to(device)
    if isinstance(value, nn.Module):
        return copy.deepcopy(value).to(device)
    if isinstance(value, torch.Generator):
        fresh = torch.Generator(device=device)
        fresh.manual_seed(value.initial_seed())
        return fresh
    return value


def _on(example: Example, device: str) -> Example:
    return example._replace(
        args=tuple(_to(a, device) for a in example.args),
        kwargs={k: _to(v, device) for k, v in example.kwargs.items()},
        options={k: _to(v, device) for k, v in example.options.items()},
    )


CUDA = [
    _case("cuda", f"{name}-{dtype.id}", spec, *dtype.values)
    for name, spec in ROWS.items()
    for dtype in [pytest.param(torch.float32, id="fp32"), *HALF_DTYPES]
]


@pytest.mark.gpu
@pytest.mark.parametrize("spec, dtype", CUDA)
def test_cuda_matches_cpu(spec, dtype):
    """The loss on CUDA equals the loss on the CPU (value and gradients, same inputs)."""
    cpu = inputs(spec, dtype)
    cuda = Inputs(_on(make(spec, dtype), "cuda"))
    expected = call_function(spec, cpu.build())
    value = call_function(spec, cuda.build())
    assert value.device.type == "cuda"
    assert value.dtype == expected.dtype == (torch.float32 if dtype != torch.float64 else dtype)
    torch.testing.assert_close(value.cpu(), expected, rtol=1e-4, atol=1e-5)
    actual = [None if g is None else g.cpu().float() for g in grads(value, cuda.leaves)]
    reference = [None if g is None else g.float() for g in grads(expected, cpu.leaves)]
    assert_same_grads(actual, reference, rtol=1e-3, atol=1e-4)
