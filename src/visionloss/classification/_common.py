"""Shared maths, option types, docs and example inputs of the classification family (private).

Everything here works on logits of shape ``(N, C, *)`` with the class dimension at 1, the
layout of ``torch.nn.functional.cross_entropy`` and of image models (``(N, C, H, W)``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from numbers import Real
from typing import Annotated, Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .._core.checks import (
    check_broadcastable,
    check_labels,
    check_same_shape,
    check_tensor,
    require,
    shape_str,
    value_checks_enabled,
    values_checkable,
)
from .._core.declare import DocParts
from .._core.dtypes import compute_dtype, upcast
from .._core.examples import Example, generator, integers, normal, uniform
from .._core.module import LossModule
from .._core.options import (
    PER_CALL,
    REDUCTIONS,
    Check,
    Choice,
    Fraction,
    IgnoreIndex,
    NonNegative,
    Number,
    Positive,
    Reduction,
    TensorOption,
)
from .._core.reduction import reduce_loss
from ..errors import InputError, InputTypeError, OptionError, OptionTypeError


# ----------------------------------------------------------------------------- value checks
def require_values(
    ok: Tensor,
    message: str,
    error: type[Exception] = InputError,
    found: Callable[[], str] | None = None,
) -> None:
    """:func:`~visionloss._core.checks.require` with, on an eager CPU tensor, what was found
    appended to the message (``found()``, e.g. the range of the values): an immediate typed
    error on the CPU, a device-side assertion on other devices and under ``torch.compile``,
    nothing while value checks are off or on the meta device."""
    if ok.is_meta:
        return
    if found is not None and values_checkable(ok):
        if value_checks_enabled() and ok.numel() and not bool(ok.all()):
            raise error(f"{message}, got {found()}")
        return
    require(ok, f"{message}; a value outside that range was found", error)


def _listed(value: Tensor) -> Callable[[], str]:
    return lambda: str(value.detach().tolist())


def check_option_values(value: Tensor, name: str, fn: str, *, fraction: bool = False) -> None:
    """The values of a tensor option: finite and ``>= 0`` (class weights, ``pos_weight``), or
    in [0, 1] with ``fraction`` (``alpha``). NaN fails both."""
    v = value.detach()
    if fraction:
        require_values(
            (v >= 0) & (v <= 1), f"{fn}: expected {name} in [0, 1]", OptionError, _listed(v)
        )
    else:
        require_values(
            torch.isfinite(v) & (v >= 0),
            f"{fn}: expected {name} >= 0 and finite",
            OptionError,
            _listed(v),
        )


def check_weight_values(weight: Tensor, name: str, fn: str) -> None:
    """An elementwise weight is ``>= 0`` (a negative weight turns a loss into a gain); NaN
    passes through and makes the loss NaN, as a NaN input does."""
    w = weight.detach()
    require_values(
        ~(w < 0),
        f"{fn}: expected {name} >= 0",
        InputError,
        lambda: f"a minimum of {float(w.min())}",
    )


# ----------------------------------------------------------------------------- option types
_FRACTION = Number(0, 1)
_NON_NEGATIVE = Number(0)


class _PerClass(Check):
    """None, a number, or per-class values along dim 1: a tensor of shape ``()`` or ``(C,)``, or
    a sequence of numbers (made a float32 tensor, hence a buffer of the Module). Every value is
    finite and ``>= 0``, and in [0, 1] with ``fraction`` (a tensor's values through
    :func:`require_values`)."""

    def __init__(self, *, fraction: bool = False) -> None:
        self.fraction = fraction

    def __call__(self, value: Any, name: str, fn: str) -> Any:
        if value is None:
            return value
        if isinstance(value, Real) and not isinstance(value, bool):
            return (_FRACTION if self.fraction else _NON_NEGATIVE)(value, name, fn)
        if not isinstance(value, Tensor):
            value = TensorOption(optional=False)(value, name, fn)
        if self.fraction:
            if value.dim() > 1:
                raise OptionError(
                    f"{fn}: expected {name} to be a number or a (C,) tensor, got shape "
                    f"{shape_str(value)}"
                )
            if not value.is_floating_point():
                raise OptionTypeError(
                    f"{fn}: expected {name} to be a floating-point tensor, got {value.dtype}"
                )
        check_option_values(value, name, fn, fraction=self.fraction)
        return value


class _ClassWeightCheck(TensorOption):
    """Class weights: a tensor, or a sequence of numbers (made a float32 tensor); every value
    finite and ``>= 0`` (a tensor's values through :func:`require_values`)."""

    def __init__(self) -> None:
        super().__init__(optional=True, nonnegative=True)

    def __call__(self, value: Any, name: str, fn: str) -> Any:
        value = super().__call__(value, name, fn)
        if isinstance(value, Tensor):
            check_option_values(value, name, fn)
        return value


class _NormalizerCheck(Check):
    """None, ``"positives"``, a finite number ``>= 0`` or a tensor with finite values."""

    def __call__(self, value: Any, name: str, fn: str) -> Any:
        if isinstance(value, Tensor):
            v = value.detach()
            require_values(
                torch.isfinite(v), f"{fn}: expected {name} to be finite", OptionError, _listed(v)
            )
            return value
        if value is None or value == "positives":
            return value
        expected = f"{fn}: expected {name} to be None, 'positives', a number or a tensor, got"
        if isinstance(value, str):
            raise OptionError(f"{expected} {value!r}")
        if isinstance(value, bool) or not isinstance(value, Real):
            raise OptionTypeError(f"{expected} {type(value).__name__}")
        return _NON_NEGATIVE(value, name, fn)


class _DirectionCheck(Choice):
    """``"forward"`` or ``"reverse"``; the message spells out which KL each word means."""

    def __call__(self, value: Any, name: str, fn: str) -> Any:
        if isinstance(value, str) and value in self.choices:
            return value
        raise OptionError(
            f"{fn}: expected {name} to be 'forward' (KL(target || input)) or 'reverse' "
            f"(KL(input || target)), got {value!r}"
        )


Alpha = Annotated[float | Tensor | None, _PerClass(fraction=True)]
PosWeight = Annotated[float | Tensor | None, _PerClass()]
ClassWeights = Annotated[Tensor | Sequence[float] | None, _ClassWeightCheck()]
Normalizer = Annotated[str | float | Tensor | None, _NormalizerCheck()]
IgnoreValue = Annotated[float | None, Number(optional=True)]
Direction = Annotated[str, _DirectionCheck("forward", "reverse")]
DivergenceReduction = Annotated[str, Choice("batchmean", *REDUCTIONS)]
ElementWeight = Annotated[Tensor | None, PER_CALL]
WeightMap = Annotated[Tensor | None, PER_CALL]


# ----------------------------------------------------------------------------- option groups
# Signature-only functions (``loss_function(..., options=...)``): options several losses share,
# declared once and listed in the real signature of each.
def focal_options(*, gamma: NonNegative = 2.0) -> None:
    """The focusing parameter of the focal losses."""


def smoothing_options(*, label_smoothing: Fraction = 0.0) -> None:
    """The label smoothing of the cross entropies."""


def index_options(
    *,
    ignore_index: IgnoreIndex = None,
    weight_map: WeightMap = None,
    reduction: Reduction = "mean",
) -> None:
    """The options of the softmax losses (:func:`softmax_loss`)."""


def binary_options(*, weight: ElementWeight = None, reduction: Reduction = "mean") -> None:
    """The options of the sigmoid losses (:func:`binary_loss`)."""


def divergence_options(
    *, temperature: Positive = 1.0, reduction: DivergenceReduction = "batchmean"
) -> None:
    """The options of the divergences (:func:`divergence_loss`)."""


def check_normalizer_reduction(normalizer: object, reduction: str, fn: str) -> None:
    """``normalizer`` replaces the denominator of the mean, so it needs ``reduction="mean"``."""
    if normalizer is not None and reduction != "mean":
        raise OptionError(
            f"{fn}: normalizer replaces the denominator of reduction='mean', got "
            f"reduction={reduction!r}"
        )


class FocalModule(LossModule):
    """Module base of :func:`focal_loss`: checks at construction that a ``normalizer`` comes
    with ``reduction="mean"`` (each option alone is checked by the derived ``__init__``)."""

    def __init__(self, **options: Any) -> None:
        check_normalizer_reduction(
            options.get("normalizer"), options.get("reduction", "mean"), type(self).__name__
        )
        super().__init__(**options)


class DivergenceModule(LossModule):
    """Module base of the divergences: :class:`LossModule` checks ``reduction`` against
    ``"mean" | "sum" | "none"``, so the divergences' word (``"batchmean"`` too, already checked
    by the derived ``__init__``) is kept out of it."""

    def __init__(self, *, reduction: str, **options: Any) -> None:
        super().__init__(**options)
        self.reduction = reduction
        self._option_names = (*self._option_names, "reduction")


# ----------------------------------------------------------------------------- shared docs
CLASSIFICATION_DOCS = DocParts(
    args={
        "input": "logits of shape ``(N, C, *)``, floating point.",
        "target": """class indices of shape ``(N, *)`` (an integer dtype, values in ``[0, C)``
            or ``ignore_index``) or probabilities of shape ``(N, C, *)`` (floating point,
            values in [0, 1]).""",
        "weight": """optional elementwise weight ``>= 0`` that broadcasts to ``input``'s
            shape (NumPy rules, as torch: a per-class weight for ``(N, C, H, W)`` is
            ``(C, 1, 1)``); a per-call argument (the Module takes it in ``forward``).""",
        "ignore_index": """a label whose locations are left out of the loss and of the mean
            (class index targets only: given with probability targets it is an error;
            ``None``, the default, ignores nothing).""",
        "label_smoothing": """``eps`` in [0, 1]: a target distribution ``q`` over ``K``
            outcomes becomes ``(1 - eps) q + eps / K`` (``K = C`` classes; binary targets
            have ``K = 2``: 1 becomes ``1 - eps/2`` and 0 becomes ``eps/2``).""",
        "weight_map": """optional per-location weight ``>= 0`` that broadcasts to ``(N, *)``
            (without enlarging it); it multiplies the numerator only (a per-call argument:
            the Module takes it in ``forward``).""",
        "gamma": "focusing parameter ``>= 0`` (default 2).",
        "reduction": """``"mean"``, ``"sum"`` or ``"none"``.""",
        "temperature": """``T > 0``; both sides are divided by it and the result multiplied
            by ``T^2`` (which keeps the gradient scale independent of the temperature).""",
    },
    paragraphs={
        "ignored": """an empty input, or one whose targets all equal ``ignore_index``, gives
            0 for ``"mean"`` and ``"sum"``, attached to the graph with zero gradients
            (``"none"`` holds 0 at ignored entries)""",
        "saturated": """Saturated logits (e.g. ``+-1e4``) give finite values and gradients;
            logits must be finite (``+-inf`` gives NaN or inf).""",
    },
)

DIVERGENCE_DOCS = CLASSIFICATION_DOCS | DocParts(
    args={
        "input": """logits (or log-probabilities) ``(N, C, *)`` of the model distribution
            ``q``.""",
        "target": """logits (or log-probabilities) of the same shape, the reference
            distribution ``p``.""",
        "reduction": """``"batchmean"`` (default: sum divided by ``N``), ``"mean"`` (average
            over the ``N * prod(*)`` distributions; equal to ``"batchmean"`` for ``(N, C)``),
            ``"sum"`` or ``"none"``. Unlike torch, ``"mean"`` does not divide by ``C``, and
            ``"none"`` returns one value per distribution.""",
    },
    paragraphs={
        "empty": """Degenerate cases: an empty input (``N = 0`` or an empty ``*``) gives 0
            for every reduction but ``"none"`` (an empty tensor), attached to the graph.
            Probability 0 (a ``-inf`` entry) is allowed on either side.""",
        "support": """Each distribution needs at least one finite entry and none equal to
            ``+inf``; otherwise the result is undefined.""",
        "shape": """``input``, ``target``: ``(N, C, *)``; output: scalar, or ``(N, *)`` for
            ``"none"``.""",
    },
)


# ----------------------------------------------------------------------------- examples
def index_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """Logits ``(2, 3, 4, 4)`` and class indices ``(2, 4, 4)``."""
    gen = generator(seed)
    return Example((normal(2, 3, 4, 4, dtype=dtype, gen=gen), integers(2, 4, 4, high=3, gen=gen)))


def binary_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """Logits ``(2, 3, 4, 4)`` and probabilities of the same shape inside ``(0.1, 0.9)``."""
    gen = generator(seed)
    logits = normal(2, 3, 4, 4, dtype=dtype, gen=gen)
    return Example((logits, uniform(2, 3, 4, 4, dtype=dtype, gen=gen, lo=0.1, hi=0.9)))


def pair_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """Two tensors of logits ``(2, 3, 4, 4)`` (model and reference distributions)."""
    gen = generator(seed)
    return Example(
        (normal(2, 3, 4, 4, dtype=dtype, gen=gen), normal(2, 3, 4, 4, dtype=dtype, gen=gen))
    )


# ----------------------------------------------------------------------------- tensor checks
def check_logits(input: Tensor, fn: str) -> Tensor:
    """``input`` is a floating tensor of shape ``(N, C, *)``."""
    check_tensor(input, "input", fn, floating=True, min_ndim=2)
    return input


def location_shape(input: Tensor) -> tuple[int, ...]:
    """``(N, *)``: the shape of ``input`` (``(N, C, *)``) without its class dimension."""
    return (input.shape[0], *input.shape[2:])


def is_index_target(input: Tensor, target: object, fn: str) -> bool:
    """True for integer class indices of shape ``(N, *)``, False for floating probabilities of
    the shape of ``input``; raise InputTypeError / InputError otherwise."""
    target = check_tensor(target, "target", fn)
    if target.dtype == torch.bool or target.is_complex():
        raise InputTypeError(
            f"{fn}: expected target of integer class indices or floating probabilities, "
            f"got {target.dtype}"
        )
    locations = location_shape(input)
    if not target.is_floating_point():
        if tuple(target.shape) != locations:
            raise InputError(
                f"{fn}: expected target of shape {shape_str(locations)} (class indices) matching "
                f"input {shape_str(input)}, got {shape_str(target)}"
            )
        return True
    if target.shape != input.shape:
        raise InputError(
            f"{fn}: expected target of shape {shape_str(input)} (probabilities) or "
            f"{shape_str(locations)} (integer class indices) matching input {shape_str(input)}, "
            f"got {shape_str(target)}"
        )
    return False


def check_binary_target(
    input: Tensor, target: Tensor, fn: str, ignore_index: float | None = None
) -> None:
    """``target`` has the shape of ``input``, a real dtype, and values in [0, 1] (or equal to
    ``ignore_index``), checked by :func:`require_values`; NaN passes (the loss is then NaN)."""
    check_tensor(target, "target", fn)
    if target.is_complex():
        raise InputTypeError(f"{fn}: expected a real target, got {target.dtype}")
    check_same_shape(input, target, fn)
    if target.dtype == torch.bool:
        return
    values = target.detach()
    if ignore_index is None and _unit_range_checked(values, f"{fn}: expected target values"):
        return
    ok = ~((values < 0) | (values > 1))
    if ignore_index is not None:
        ok = ok | (values == ignore_index)

    def found() -> str:
        kept = values if ignore_index is None else values[values != ignore_index]
        return _range(kept)

    ignore = "" if ignore_index is None else f" (or ignore_index={ignore_index})"
    require_values(ok, f"{fn}: expected target values in [0, 1]{ignore}", InputError, found)


def _unit_range_checked(values: Tensor, expected: str, condition: str = "") -> bool:
    """On an eager CPU tensor without NaN: check that its values lie in [0, 1] from one
    ``aminmax`` pass (raising ``InputError`` with ``expected ... in [0, 1]`` otherwise) and
    return True; False where the caller's elementwise check must run instead (other devices
    and ``torch.compile``: device-side assertions; a NaN among the values, which the callers
    treat in their own ways). The comparisons and ``all`` of that check took 4 ms over 2.5M
    targets, ``aminmax`` 0.3."""
    if values.is_meta or not values_checkable(values) or values.is_complex():
        return False
    if not value_checks_enabled() or values.numel() == 0 or _unit_by_bits(values):
        return True
    low, high = (float(v) for v in torch.aminmax(values))  # two numbers, no more tensor ops
    if math.isnan(low) or math.isnan(high):
        return False
    if low < 0 or high > 1:
        raise InputError(f"{expected} in [0, 1]{condition}, got {_range(values)}")
    return True


# the bits of 1.0 in each floating dtype, and the signed integer dtype of its size
_ONE_BITS = {
    torch.float16: (torch.int16, 0x3C00),
    torch.bfloat16: (torch.int16, 0x3F80),
    torch.float32: (torch.int32, 0x3F800000),
    torch.float64: (torch.int64, 0x3FF0000000000000),
}


def _unit_by_bits(values: Tensor) -> bool:
    """True when every value of a floating tensor is in ``[+0, 1]``, read from one integer
    ``aminmax`` of its bits: the floats with the sign bit clear are ordered as their bit
    patterns, from ``+0`` (all zeros) through 1 (``0x3F800000`` in float32) to inf and NaN, so
    the values lie in ``[+0, 1]`` exactly when those integers lie in ``[0, bits(1)]``. False
    otherwise (``-0``, a negative value, above 1, NaN: the float check decides). 2.5M float32
    targets, one CPU thread: 145 us against 333 for the float ``aminmax`` (which also tracks
    NaN); bfloat16 74 against 192."""
    if values.dtype not in _ONE_BITS:
        return False
    itype, one = _ONE_BITS[values.dtype]
    low, high = torch.aminmax(values.view(itype))
    return int(low) >= 0 and int(high) <= one


def _range(values: Tensor, nan: bool = True) -> str:
    """``values in [lo, hi]`` of the non-NaN values, with ``NaN`` named unless ``nan``."""
    numbers = values[~torch.isnan(values)] if values.is_floating_point() else values
    found = [] if nan or numbers.numel() == values.numel() else ["NaN"]
    if numbers.numel():
        found.insert(0, f"values in [{float(numbers.min())}, {float(numbers.max())}]")
    return " and ".join(found)


def check_probabilities(
    x: Tensor, name: str, fn: str, *, nan: bool = True, condition: str = ""
) -> None:
    """Values of ``x`` in [0, 1] (by :func:`require_values`); NaN passes (the loss is then NaN)
    unless ``nan=False``. ``condition`` ends the message (``" with from_logits=False"``)."""
    if x.dtype == torch.bool:
        return
    v = x.detach()
    if _unit_range_checked(v, f"{fn}: expected {name}", condition):
        return
    ok = ~((v < 0) | (v > 1)) if nan else (v >= 0) & (v <= 1)

    require_values(
        ok, f"{fn}: expected {name} in [0, 1]{condition}", InputError, lambda: _range(v, nan)
    )


def index_target(
    input: Tensor, target: Tensor, ignore_index: int | None, fn: str
) -> tuple[Tensor, Tensor | None]:
    """Validate class indices (range on the CPU) and return ``(safe, valid)``: ``safe`` has the
    ignored labels replaced by 0 so it can be gathered, ``valid`` is the boolean mask of the
    labels that count (None when nothing can be ignored)."""
    check_labels(target, input.shape[1], fn, ignore_index=ignore_index)
    if ignore_index is None:
        return target, None
    valid = target != ignore_index
    return torch.where(valid, target, target.new_zeros(())), valid


def class_vector(
    value: float | Tensor | None, input: Tensor, name: str, fn: str, dtype: torch.dtype
) -> float | Tensor | None:
    """A per-class option (``pos_weight``, ``alpha``) applied along dim 1 of ``(N, C, *)``.

    None stays None, a number stays a float, a 0-dim or one-element tensor broadcasts as a
    scalar, and a ``(C,)`` tensor is viewed as ``(1, C, 1, ..., 1)``, so it never lands on the
    last (width) dimension by accident.
    """
    if value is None:
        return None
    if not isinstance(value, Tensor):
        return float(value)
    if not value.is_floating_point():
        raise OptionTypeError(
            f"{fn}: expected {name} to be a floating-point tensor, got {value.dtype}"
        )
    value = value.to(device=input.device, dtype=dtype)
    if value.dim() == 0 or (value.dim() == 1 and value.numel() == 1 and input.dim() < 2):
        return value.reshape(())
    channels = input.shape[1] if input.dim() >= 2 else None
    if value.dim() != 1 or channels is None or value.numel() != channels:
        want = f"() or ({channels},)" if channels is not None else "()"
        raise OptionError(
            f"{fn}: expected {name} of shape {want}, one value per class along dim 1 of input "
            f"{shape_str(input)}, got {shape_str(value)}"
        )
    return value.reshape(1, channels, *([1] * (input.dim() - 2)))


def class_weight(
    weight: Tensor | Sequence[float] | None,
    num_classes: int,
    fn: str,
    dtype: torch.dtype,
    device: torch.device,
) -> Tensor | None:
    """A ``(C,)`` floating class-weight vector (or None; a sequence was made a tensor by the
    option check)."""
    if weight is None:
        return None
    weight = check_tensor(weight, "weight", fn, floating=True)
    if tuple(weight.shape) != (num_classes,):
        raise InputError(
            f"{fn}: expected weight of shape ({num_classes},), one value per class, "
            f"got {shape_str(weight)}"
        )
    return weight.to(device=device, dtype=dtype)


def location_weight(
    weight_map: Tensor | None,
    shape: tuple[int, ...],
    fn: str,
    dtype: torch.dtype,
    name: str = "weight_map",
) -> Tensor | None:
    """An elementwise weight ``>= 0`` that broadcasts *to* ``shape`` (never enlarging it: a
    ``(N, 1, W)`` map for an ``(N, W)`` loss is an error, not an ``(N, N, W)`` loss), or
    None."""
    if weight_map is None:
        return None
    check_tensor(weight_map, name, fn, floating=True)
    check_broadcastable(weight_map, shape, name, fn)
    check_weight_values(weight_map, name, fn)
    return weight_map.to(dtype)


def as_class_view(v: Tensor, ndim: int) -> Tensor:
    """``(C,)`` -> ``(1, C, 1, ..., 1)`` for an ``ndim``-dimensional ``(N, C, *)`` tensor."""
    return v.reshape(1, -1, *([1] * (ndim - 2)))


# ----------------------------------------------------------------------------- shared maths
def binary_terms(input: Tensor, from_logits: bool) -> tuple[Tensor, Tensor]:
    """``(-log p, -log(1 - p))`` elementwise, for logits (``logsigmoid``, exact for any finite
    logit) or for probabilities (torch's ``binary_cross_entropy``: logs clamped at -100, and
    its finite gradient at p = 0 or 1)."""
    if from_logits:
        return -F.logsigmoid(input), -F.logsigmoid(-input)
    ones = torch.ones_like(input)
    return (
        F.binary_cross_entropy(input, ones, reduction="none"),
        F.binary_cross_entropy(input, torch.zeros_like(input), reduction="none"),
    )


def combine_binary(
    target: Tensor,
    pos: Tensor,
    neg: Tensor,
    pos_scale: float | Tensor | None = None,
    neg_scale: float | Tensor | None = None,
) -> Tensor:
    """``pos_scale * y * pos + neg_scale * (1 - y) * neg`` (a missing scale is not multiplied,
    so BCE and focal with gamma = 0 and no alpha run the very same operations)."""
    p = target * pos
    n = (1 - target) * neg
    if pos_scale is not None:
        p = pos_scale * p
    if neg_scale is not None:
        n = neg_scale * n
    return p + n


def reduce_divergence(values: Tensor, reduction: str, infinite: Tensor | None = None) -> Tensor:
    """Reduce per-distribution values of shape ``(N, *)`` with :func:`reduce_loss`:
    ``"batchmean"`` is the sum over ``denominator=N``, ``"mean"`` averages over the
    ``N * prod(*)`` distributions.

    ``infinite`` marks the distributions whose divergence is ``+inf`` (``values`` holds their
    finite terms, see :func:`kl_terms`): the infinity is added after the reduction as a
    constant, so it reaches the result (the mean's division would clamp it to the largest
    finite value) and the gradient is that of the finite terms.
    """
    batchmean = reduction == "batchmean"
    out = reduce_loss(
        values,
        "mean" if batchmean else reduction,
        fn="reduce_divergence",
        denominator=values.shape[0] if batchmean else None,
    )
    if infinite is None:
        return out
    flag = infinite if reduction == "none" else infinite.any()
    return out + torch.where(flag, math.inf, 0.0).to(out.dtype)


def distribution_log_probs(
    input: Tensor, target: Tensor, temperature: float, fn: str
) -> tuple[Tensor, Tensor]:
    """Check two ``(N, C, *)`` tensors of logits (or log-probabilities) and return their
    ``log_softmax`` over dim 1 after dividing by ``temperature``, in the compute dtype.

    ``log_softmax`` leaves log-probabilities unchanged (they already normalise), so either form
    may be passed; entries of ``-inf`` (probability 0) are allowed.
    """
    check_logits(input, fn)
    check_tensor(target, "target", fn, floating=True)
    if target.shape != input.shape:
        raise InputError(
            f"{fn}: expected target of shape {shape_str(input)} matching input, "
            f"got {shape_str(target)}"
        )
    dtype = torch.float64 if torch.float64 in (input.dtype, target.dtype) else torch.float32
    x, y = input.to(dtype), target.to(dtype)
    if temperature != 1:
        x, y = x / temperature, y / temperature
    return F.log_softmax(x, dim=1), F.log_softmax(y, dim=1)


def kl_terms(log_p: Tensor, log_q: Tensor) -> tuple[Tensor, Tensor]:
    """``sum_c p_c (log p_c - log q_c)`` over dim 1: KL(P || Q) per distribution, as
    ``(finite, infinite)``.

    Terms with ``p_c = 0`` are 0 (the limit of ``p log p``), with finite gradients (both logs
    are replaced before the product, so no ``0 * inf`` reaches the backward pass); a NaN
    ``p_c`` is kept, so a NaN input gives a NaN divergence. A term with
    ``p_c > 0 = q_c`` makes the divergence ``+inf``: ``infinite`` marks those distributions and
    ``finite`` holds the sum of their other terms, whose gradient is the gradient of the
    divergence (the infinity is a constant), see :func:`reduce_divergence`.
    """
    p = log_p.exp()
    present = p != 0  # True for NaN too, so a NaN distribution stays NaN
    infinite = present & torch.isneginf(log_q)
    support = present & ~infinite
    zero = log_p.new_zeros(())
    diff = torch.where(support, log_p, zero) - torch.where(support, log_q, zero)
    return torch.where(support, p * diff, zero).sum(1), infinite.any(1)


# ----------------------------------------------------------------------------- shared bodies
# The options reach these already checked by the public function (their option types).
def softmax_loss(
    input: Tensor,
    target: Tensor,
    terms: Callable[..., tuple[Tensor, Tensor | None]],
    *,
    fn: str,
    ignore_index: int | None,
    weight_map: Tensor | None,
    reduction: str,
    index_reduced: Callable[..., Tensor] | None = None,
    **params: Any,
) -> Tensor:
    """The body of a loss on ``log_softmax(input)`` over dim 1 (:func:`index_options`).

    Checks ``input`` ``(N, C, *)`` and ``target`` (class indices or probabilities), takes the
    ``log_softmax`` in the compute dtype and calls ``terms(log_p, target, index, fn=fn,
    **params) -> (loss, target_weight)``, with ``target`` the class indices (ignored ones
    replaced by 0) when ``index``, else the probabilities in the compute dtype. The mean
    divides by the summed ``target_weight`` of the valid locations (by their number when it
    is None); ``weight_map`` multiplies the numerator only.

    ``index_reduced(x, target, ignore_index, reduction, fn=fn, **params)``, when given,
    replaces all of that for class indices without a weight map under ``"mean"`` / ``"sum"``:
    it receives the logits in their own dtype and the checked labels and returns the reduced
    loss in the compute dtype (a fused kernel of the same values, with the same mean).
    """
    check_logits(input, fn)
    index = is_index_target(input, target, fn)
    if not index:
        if ignore_index is not None:
            raise OptionError(
                f"{fn}: ignore_index={ignore_index} applies to class index targets only, got "
                f"probability targets of shape {shape_str(target)}"
            )
        check_probabilities(target, "target probabilities", fn)
    dtype = compute_dtype(input, target)
    wmap = location_weight(weight_map, location_shape(input), fn, dtype)
    if index and index_reduced is not None and wmap is None and reduction != "none":
        if not values_checkable(target):  # GPU, compile: the device-side assertion
            check_labels(target, input.shape[1], fn, ignore_index=ignore_index)
            return index_reduced(input, target, ignore_index, reduction, fn=fn, **params)
        try:  # eager CPU: torch's kernel rejects a label out of range itself, so the labels
            # are scanned for our message only when it does (no pass on the happy path)
            return index_reduced(input, target, ignore_index, reduction, fn=fn, **params)
        except (IndexError, RuntimeError):
            try:
                check_labels(target, input.shape[1], fn, ignore_index=ignore_index)
            except InputError as bad:
                raise bad from None  # our message alone, not torch's under it
            raise
    x = upcast(input, dtype)
    valid = None
    if index:
        target, valid = index_target(input, target, ignore_index, fn)
    else:
        target = upcast(target, dtype)
    loss, target_weight = terms(F.log_softmax(x, dim=1), target, index, fn=fn, **params)
    denominator = None
    if target_weight is not None:
        if valid is not None:
            target_weight = torch.where(valid, target_weight, target_weight.new_zeros(()))
        denominator = target_weight.sum()
    return reduce_loss(loss, reduction, fn=fn, mask=valid, weight=wmap, denominator=denominator)


def binary_loss(
    input: Tensor,
    target: Tensor,
    terms: Callable[..., Tensor],
    *,
    fn: str,
    weight: Tensor | None,
    reduction: str,
    ignore_index: float | None = None,
    normalizer: str | float | Tensor | None = None,
    **params: Any,
) -> Tensor:
    """The body of an elementwise loss on logits and targets in [0, 1]
    (:func:`binary_options`).

    Checks ``input`` and ``target`` (entries equal to ``ignore_index`` leave the loss and the
    mean) and calls ``terms(x, y, fn=fn, **params)`` in the compute dtype; ``weight``
    multiplies each element, ``normalizer`` replaces the mean's denominator
    (``"positives"``: the sum of the valid targets).
    """
    check_normalizer_reduction(normalizer, reduction, fn)
    check_tensor(input, "input", fn, floating=True)
    check_binary_target(input, target, fn, ignore_index=ignore_index)
    dtype = compute_dtype(input, target)
    # terms marked ``raw_inputs`` take the input and a floating target in their own dtypes
    raw = getattr(terms, "raw_inputs", False)
    y = target if raw and target.is_floating_point() else target.to(dtype)
    valid = None
    if ignore_index is not None:
        valid = target != ignore_index
        y = torch.where(valid, y, y.new_zeros(()))
    w = location_weight(weight, tuple(input.shape), fn, dtype, name="weight")
    # terms marked ``sums`` may return the sum of the elementwise loss with ``total=True`` (the
    # reduction sums it either way; the mean's count is the input's): a mean or sum without
    # weights or ignored entries then writes no loss of the input's size
    total = reduction != "none" and w is None and valid is None and getattr(terms, "sums", False)
    x = input if raw else upcast(input, dtype)
    loss = terms(x, y, fn=fn, total=True, **params) if total else terms(x, y, fn=fn, **params)
    if isinstance(normalizer, str):
        normalizer = y.detach().sum(dtype=dtype)
    count = float(input.numel()) if total else None
    return reduce_loss(
        loss, reduction, fn=fn, mask=valid, weight=w, denominator=count, normalizer=normalizer
    )


def divergence_loss(
    input: Tensor,
    target: Tensor,
    terms: Callable[..., tuple[Tensor, Tensor | None]],
    *,
    fn: str,
    temperature: float,
    reduction: str,
    **params: Any,
) -> Tensor:
    """The body of a divergence (:func:`divergence_options`): ``terms(log_q, log_p,
    **params) -> (values, infinite)`` on the ``log_softmax`` of ``input / T`` and
    ``target / T``, multiplied by ``T^2`` and reduced (:func:`reduce_divergence`)."""
    log_q, log_p = distribution_log_probs(input, target, temperature, fn)
    values, infinite = terms(log_q, log_p, **params)
    if temperature != 1:
        values = values * float(temperature) ** 2
    return reduce_divergence(values, reduction, infinite)
