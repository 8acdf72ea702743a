"""Shared maths of the segmentation overlap losses (Dice, Jaccard, Tversky, ...).

The torch path is written as a pipeline of plain functions, so that a fused kernel can be
checked against each step:

1. :func:`prepare_inputs` checks the tensors (the options were checked by the public
   function, see the option types below), flattens the spatial dims to ``N``, applies the
   activation in the compute dtype (fp32 for fp16/bf16 inputs, fp64 for fp64) and returns the
   target either as class indices ``(B, N)`` (ignored pixels set to ``-1``) or as a dense
   ``(B, C, N)`` tensor (ignored pixels zeroed), the valid-pixel mask, the selected classes and
   their weights.
2. :func:`overlap_stats` reduces them to per-(image, class) sums, or per-class sums over the
   whole batch: ``I = sum p g``, ``P = sum p`` (``sum p^2`` when ``squared``), ``G = sum g``
   (``sum g^2``), the plain ``sum p`` (the soft false-positive count of an empty pair, also
   when ``squared``) and the number of valid pixels ``n``.
3. A score (:func:`dice_score`, :func:`tversky_score`) maps the sums to ``(B', K)`` values.
4. :func:`pair_losses` turns scores into losses and applies the empty-mask policy.
5. :func:`reduce_pairs` takes the class-weighted mean, the sum, or returns the pairs.

Steps 3 to 5 live in :mod:`._tail`, whose :func:`~._tail.reduced_pair_losses` runs them as one
autograd Function in eager mode (a hand-derived backward on the ``(B', K)`` sums).

Memory and determinism. With class-index targets no one-hot tensor of the input's size is
built: ``I`` and ``G`` of class ``c`` are masked sums over the pixels labelled ``c`` (one pass
over the target per selected class, temporaries of the target's size), ``P`` is a plain sum of
the activation output. Every sum is a torch reduction (pairwise on the CPU, a tree on the GPU),
so the result is bitwise repeatable and accurate on large volumes. A ``scatter_add`` into
``(B, C)`` bins was rejected: it keeps one running fp32 sum per bin, which rounds each
probability near 1 to the bin's ulp once the bin passes ~10^4 and biases ``I`` upwards on a
128^3 volume, and on CUDA it accumulates with atomics (not repeatable).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Annotated, Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .._core.checks import check_labels, check_tensor, require, shape_str
from .._core.declare import DocParts
from .._core.dtypes import compute_dtype
from .._core.examples import Example, generator, integers, normal
from .._core.migration import guide_page
from .._core.options import (
    Bool,
    Check,
    Choice,
    ClassWeights,
    IgnoreIndex,
    NonNegative,
    Number,
    Reduction,
)
from ..errors import InputError, InputTypeError, OptionError, OptionTypeError
from ._fused import (
    FEW_CLASSES,
    FewClassOverlap,
    IndexedOverlap,
    SoftmaxSums,
    compiled_sums,
    target_counts,
)
from ._tail import Stats as Stats
from ._tail import dice_score as dice_score
from ._tail import pair_losses as pair_losses
from ._tail import reduce_pairs as reduce_pairs
from ._tail import reduced_pair_losses
from ._tail import tversky_score as tversky_score

ACTIVATIONS = ("softmax", "sigmoid", "none")
EMPTY_POLICIES = ("penalize", "include", "exclude")


# ---------------------------------------------------------------- option types


_NON_NEGATIVE = Number(0)


class _SmoothCheck(Check):
    """A number ``>= 0``, or a pair ``(numerator, denominator)`` of them."""

    def __call__(self, value: Any, name: str, fn: str) -> Any:
        if isinstance(value, (tuple, list)):
            if len(value) != 2:
                raise OptionError(
                    f"{fn}: expected {name} to be a number or a pair (numerator, denominator), "
                    f"got {value!r}"
                )
            for v in value:
                _NON_NEGATIVE(v, name, fn)
        elif isinstance(value, bool) or not isinstance(value, Real):
            raise OptionTypeError(
                f"{fn}: expected {name} to be a number or a pair, got {type(value).__name__}"
            )
        else:
            _NON_NEGATIVE(value, name, fn)
        return value


class _ClassesCheck(Check):
    """A sequence of class ids (a single int, a list, a tuple, a 1-D tensor), as a tuple."""

    def __call__(self, value: Any, name: str, fn: str) -> Any:
        if value is None:
            return value
        if isinstance(value, Tensor):
            value = value.tolist()
        if isinstance(value, Integral) and not isinstance(value, bool):
            return (int(value),)
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise OptionTypeError(f"{fn}: expected {name} to be a sequence of ints, got {value!r}")
        items = tuple(value)
        if not all(isinstance(c, Integral) and not isinstance(c, bool) for c in items):
            raise OptionTypeError(f"{fn}: expected {name} to be a sequence of ints, got {value!r}")
        return tuple(int(c) for c in items)


Activation = Annotated[str, Choice(*ACTIVATIONS)]
EmptyPolicy = Annotated[str, Choice(*EMPTY_POLICIES)]
Smooth = Annotated[float | tuple[float, float], _SmoothCheck()]
Classes = Annotated[Sequence[int] | None, _ClassesCheck()]


# ---------------------------------------------------------------- option groups
# Signature-only functions (``loss_function(..., options=...)``): each option is declared once
# here and listed in the real signature of every loss that takes the group.


def activation_options(*, activation: Activation = "softmax") -> None:
    """The activation of an overlap loss's input."""


def policy_options(*, empty: EmptyPolicy = "penalize", reduction: Reduction = "mean") -> None:
    """The empty-mask policy and the reduction of an overlap loss."""


def sum_options(*, smooth: Smooth = 0.0, squared: Bool = False, per_image: Bool = True) -> None:
    """How the overlap sums are taken: smoothing, V-Net squares, per image or per batch."""


def class_options(
    *,
    weight: ClassWeights = None,
    include_background: Bool = True,
    classes: Classes = None,
    ignore_index: IgnoreIndex = None,
) -> None:
    """Which classes and pixels are scored, and how the classes weigh."""


def tversky_options(*, alpha: NonNegative = 0.3, beta: NonNegative = 0.7) -> None:
    """The Tversky weights of the false positives and the false negatives."""


OVERLAP_OPTIONS = (activation_options, sum_options, class_options, policy_options)
TVERSKY_OPTIONS = (tversky_options, *OVERLAP_OPTIONS)
# the options :func:`measure` takes: the activation, the sums' and the class selection's
MEASURED = tuple(
    name
    for group in (activation_options, sum_options, class_options)
    for name in inspect.signature(group).parameters
)


OVERLAP_DOCS = DocParts(
    args={
        "input": """logits ``(B, C, *spatial)`` with 1 to 3 spatial dims (probabilities in
            ``[0, 1]`` with ``activation="none"``; a value outside raises).""",
        "target": """class indices ``(B, *spatial)`` (integer or bool; never expanded to a
            one-hot tensor of the input's size), or a one-hot / soft / multi-label tensor
            ``(B, C, *spatial)`` with values in ``[0, 1]`` (or ``ignore_index``; a value
            outside raises). For a 1-channel (binary) input, indices are 0 / 1.""",
        "activation": """``"softmax"`` over the channels (multiclass, default), ``"sigmoid"``
            per channel (binary / multi-label), or ``"none"`` (``input`` holds
            probabilities).""",
        "smooth": """added to the numerator and the denominator; a pair ``(s_nr, s_dr)`` sets
            them apart (MONAI's ``smooth_nr, smooth_dr``). Default 0: a perfect prediction
            gives 0 and a disjoint one gives 1.""",
        "squared": r"""V-Net denominator :math:`\sum p^2 + \sum g^2`.""",
        "per_image": """one score per (image, class) (default), or per class over the whole
            batch (``False``: MONAI's ``batch=True``, smp's only mode).""",
        "weight": """``(C,)`` finite class weights ``>= 0`` (a tensor or a sequence of
            numbers), indexed by class id (background included, also when it is not
            selected). The mean divides by the summed weights of the counted pairs.""",
        "include_background": """``False`` leaves class 0 out of the score.""",
        "classes": """explicit class ids to score (instead of
            ``include_background=False``).""",
        "ignore_index": """pixels whose target equals it leave every sum (dense targets:
            pixels where any channel equals it).""",
        "empty": r"""policy for a pair whose target is empty over its valid pixels:
            ``"penalize"`` (default): its loss is the soft false-positive rate
            :math:`\sum_i p_i / n` over its ``n`` valid pixels, so false positives on an
            image without the class get a gradient; ``"include"``: the formula as is (a 0/0
            counts as a perfect score; with ``smooth=0`` any false positive gives loss 1 and
            zero gradient, with ``smooth > 0`` a small one); ``"exclude"``: the pair leaves
            the mean. A pair without any valid pixel leaves the mean in every mode.""",
        "reduction": """``"mean"`` (default), ``"sum"`` or ``"none"``.""",
        "alpha": """weight of the false positives, ``>= 0``.""",
        "beta": """weight of the false negatives, ``>= 0``.""",
    },
    paragraphs={
        "pairs": """Shape:
                ``"none"``: ``(B, K)`` with ``per_image``, else ``(K,)``, for the ``K``
                selected classes: the weighted pair losses, 0 for pairs left out of the mean.

            Returns:
                the loss; float32 for fp16/bf16 inputs.""",
        "degenerate": """Degenerate cases: an empty input (no images or no pixels), a batch
            whose pixels all equal ``ignore_index`` and all-zero class weights give 0 for
            ``"mean"`` and ``"sum"``, attached to the graph with zero gradients (``"none"``
            then holds zeros, or nothing for no images). An empty target mask follows
            ``empty``. Saturated logits (e.g. ``+-1e4``, or fp16 values near its maximum)
            give finite values and gradients; a confident correct prediction gives 0.""",
    },
)


@dataclass
class Prepared:
    """Checked, flattened and activated inputs of one call."""

    prob: Tensor  # (B, C, N) activation output in the compute dtype
    logits: Tensor | None  # (B, C, N) input in the compute dtype (sigmoid only)
    log_prob: Tensor | None  # (B, C, N) log_softmax (softmax with log_probs=True only)
    index: Tensor | None  # (B, N) int64 class indices, ignored pixels = -1
    dense: Tensor | None  # (B, C, N) compute dtype, ignored pixels zeroed
    valid: Tensor | None  # (B, N) bool, None when no pixel can be ignored
    classes: list[int]  # the K selected class ids
    class_weight: Tensor  # (K,) weight of each selected class
    pixel_weight: Tensor  # (C,) weight of every class, 0 for classes not selected
    activation: str
    # (B, C, N) the input itself, for softmax above FEW_CLASSES under torch.compile (whose
    # sums then take SoftmaxSums)
    softmax_input: Tensor | None = None

    @property
    def dtype(self) -> torch.dtype:
        return self.prob.dtype

    def count(self) -> Tensor:
        """Number of valid pixels of each image, ``(B,)`` in the compute dtype."""
        b, _, n = self.prob.shape
        if self.valid is None:
            return self.prob.new_full((b,), float(n))
        return self.valid.sum(-1).to(self.dtype)


# ---------------------------------------------------------------- options


def smooth_pair(smooth: Smooth) -> tuple[float, float]:
    """``smooth`` (checked by its option type) as ``(numerator, denominator)``: a number is
    added to both."""
    if isinstance(smooth, (tuple, list)):
        return float(smooth[0]), float(smooth[1])
    return float(smooth), float(smooth)


def resolve_classes(
    num_classes: int, include_background: bool, classes: Sequence[int] | None, fn: str
) -> list[int]:
    """The selected class ids: ``classes``, else every class, without 0 when
    ``include_background`` is False."""
    if classes is not None:
        if not include_background:
            raise OptionError(
                f"{fn}: pass either classes or include_background=False, not both "
                "(list the classes you want instead)"
            )
        chosen = list(classes)
        if not chosen:
            raise OptionError(f"{fn}: expected at least one class in classes, got []")
        bad = [c for c in chosen if not 0 <= c < num_classes]
        if bad:
            raise OptionError(
                f"{fn}: expected classes in [0, {num_classes - 1}] for input with "
                f"{num_classes} channels, got {bad}"
            )
        if len(set(chosen)) != len(chosen):
            raise OptionError(f"{fn}: expected distinct classes, got {chosen}")
        return chosen
    chosen = list(range(num_classes)) if include_background else list(range(1, num_classes))
    if not chosen:
        raise OptionError(
            f"{fn}: include_background=False leaves no class for an input with 1 channel "
            "(a 1-channel sigmoid input has only the foreground channel: keep it)"
        )
    return chosen


def resolve_weight(
    weight: Tensor | Sequence[float] | None,
    num_classes: int,
    fn: str,
    *,
    dtype: torch.dtype,
    device: torch.device,
) -> Tensor:
    """``(C,)`` class weights in the compute dtype (ones when None; a sequence was made a
    tensor by its option type)."""
    if weight is None:
        return torch.ones(num_classes, dtype=dtype, device=device)
    if not isinstance(weight, Tensor):
        weight = torch.as_tensor(weight, dtype=dtype)
    check_tensor(weight, "weight", fn, floating=True)
    if weight.dim() != 1 or weight.numel() != num_classes:
        raise OptionError(
            f"{fn}: expected weight of shape ({num_classes},), one value per input channel "
            f"(class id order, background included), got {shape_str(weight)}"
        )
    require(
        torch.isfinite(weight) & (weight >= 0),
        f"{fn}: expected weight >= 0 and finite; a negative or non-finite class weight was found",
        OptionError,
    )
    return weight.to(device=device, dtype=dtype)


def in_unit_interval(x: Tensor) -> Tensor:
    """``0 <= x <= 1`` elementwise, True for NaN (a NaN input gives a NaN loss, not an
    error)."""
    return ~((x < 0) | (x > 1))


def check_probabilities(input: Tensor, fn: str) -> None:
    """``activation="none"``: the input holds probabilities, every value in ``[0, 1]``
    (see :func:`require`: at once on the CPU, a device-side assertion elsewhere)."""
    require(
        in_unit_interval(input),
        f"{fn}: expected input of probabilities in [0, 1] with activation='none'; a value "
        "outside [0, 1] was found (pass logits with activation='softmax' or 'sigmoid')",
    )


def check_dense_target(target: Tensor, ignore_index: int | None, fn: str) -> None:
    """A one-hot / soft / multi-label target: every value in ``[0, 1]``, or ``ignore_index``."""
    ok = in_unit_interval(target)
    also = ""
    if ignore_index is not None:
        ok = ok | (target == ignore_index)
        also = f" (or ignore_index={ignore_index})"
    require(
        ok,
        f"{fn}: expected a one-hot / soft target with values in [0, 1]{also}; a value outside "
        "was found (class indices have no channel dim)",
    )


# ---------------------------------------------------------------- 1. inputs


def check_inputs(
    input: Tensor, target: Tensor, *, fn: str, activation: str, ignore_index: int | None
) -> tuple[int, int, int, Tensor, bool]:
    """The input checks of :func:`prepare_inputs`: ``(B, C, N, target, is_index)`` (a bool
    index target made int64)."""
    check_tensor(input, "input", fn, floating=True)
    check_tensor(target, "target", fn)
    if not 3 <= input.dim() <= 5:
        raise InputError(
            f"{fn}: expected input of shape (B, C, *spatial) with 1 to 3 spatial dims, "
            f"got {shape_str(input)}"
        )
    b, c = input.shape[:2]
    spatial = tuple(input.shape[2:])
    n = math.prod(spatial)
    if activation == "softmax" and c < 2:
        raise InputError(
            f"{fn}: activation='softmax' needs at least 2 channels, got input "
            f"{shape_str(input)}; use activation='sigmoid' for a 1-channel binary mask"
        )

    if tuple(target.shape) == (b, *spatial):
        is_index = True
        if target.dtype == torch.bool:
            target = target.long()
        if target.is_floating_point() or target.is_complex():
            raise InputTypeError(
                f"{fn}: expected target of shape {shape_str((b, *spatial))} to hold integer "
                f"class indices, got {target.dtype} (a float mask needs the channel dim: "
                f"{shape_str(input)})"
            )
        check_labels(target, max(c, 2), fn, ignore_index=ignore_index)
    elif target.shape == input.shape:
        is_index = False
        check_dense_target(target, ignore_index, fn)
    else:
        hint = ""
        if c > 1 and tuple(target.shape) == (b, 1, *spatial):  # MONAI's index-target layout
            hint = (
                f"; class indices with a channel dim (MONAI's to_onehot_y layout) are passed "
                f"as target[:, 0] (shape {shape_str((b, *spatial))}), see {guide_page('monai')}"
            )
        raise InputError(
            f"{fn}: expected target of shape {shape_str((b, *spatial))} (class indices) or "
            f"{shape_str(input)} (one-hot / soft) matching input {shape_str(input)}, "
            f"got {shape_str(target)}{hint}"
        )

    if activation == "none":
        check_probabilities(input, fn)
    return b, c, n, target, is_index


def prepare_inputs(
    input: Tensor,
    target: Tensor,
    *,
    fn: str,
    activation: str,
    weight: Tensor | Sequence[float] | None,
    include_background: bool,
    classes: Sequence[int] | None,
    ignore_index: int | None,
    log_probs: bool = False,
) -> Prepared:
    """Check ``input (B, C, *spatial)`` and ``target``, flatten, activate (see module doc).
    The options were checked by the public function (their option types)."""
    b, c, n, target, is_index = check_inputs(
        input, target, fn=fn, activation=activation, ignore_index=ignore_index
    )
    dtype = compute_dtype(input, target)
    x = input.reshape(b, c, n)
    logits = log_prob = softmax_input = None
    if activation == "softmax":
        if log_probs:
            log_prob = F.log_softmax(x, dim=1, dtype=dtype)
            prob = log_prob.exp()
        elif _compiling() and c > FEW_CLASSES:
            # exp(x - LSE): inductor writes softmax's exp(x - max), read by its sum and its
            # division, to a buffer of the input's size (float32); here that term has one
            # reader, and p is recomputed inside the reductions that read it (one more exp
            # an element: at a few classes the exps and logs cost more than the buffer,
            # compiled 3-D Dice at C = 2 took 1.8x softmax's time; at C = 150 0.83x)
            xf = x.to(dtype)
            prob = torch.exp(xf - torch.logsumexp(xf, 1, keepdim=True))
            softmax_input = x
        else:
            prob = F.softmax(x, dim=1, dtype=dtype)
    elif activation == "sigmoid":
        logits = x.to(dtype)
        prob = torch.sigmoid(logits)
    else:
        prob = x.to(dtype)

    index, dense, valid = _split_target(target, is_index, b, c, n, ignore_index, dtype)
    chosen, class_weight, pixel_weight = _selection(
        c, weight, include_background, classes, fn, dtype=dtype, device=input.device
    )
    return Prepared(
        prob=prob,
        logits=logits,
        log_prob=log_prob,
        index=index,
        dense=dense,
        valid=valid,
        classes=chosen,
        class_weight=class_weight,
        pixel_weight=pixel_weight,
        activation=activation,
        softmax_input=softmax_input,
    )


def _split_target(
    target: Tensor,
    is_index: bool,
    b: int,
    c: int,
    n: int,
    ignore_index: int | None,
    dtype: torch.dtype,
) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
    """``(index, dense, valid)`` of a checked target (see :class:`Prepared`)."""
    index = dense = valid = None
    if is_index:
        index = target.reshape(b, n)
        if ignore_index is not None:
            valid = index != ignore_index
            index = index.masked_fill(~valid, -1)
        if c == 1:  # binary: the 1-channel dense mask has the target's size
            dense = (index == 1).to(dtype).unsqueeze(1)
            index = None
    else:
        t = target.reshape(b, c, n)
        if ignore_index is not None:
            valid = ~(t == ignore_index).any(1)
        dense = t.to(dtype)
        if valid is not None:
            dense = dense * valid.unsqueeze(1)
    return index, dense, valid


def _selection(
    c: int,
    weight: Tensor | Sequence[float] | None,
    include_background: bool,
    classes: Sequence[int] | None,
    fn: str,
    *,
    dtype: torch.dtype,
    device: torch.device,
) -> tuple[list[int], Tensor, Tensor]:
    """``(classes, class_weight (K,), pixel_weight (C,))`` of the options."""
    chosen = resolve_classes(c, include_background, classes, fn)
    full = resolve_weight(weight, c, fn, dtype=dtype, device=device)
    if chosen == list(range(c)):
        return chosen, full, full
    selected = torch.zeros(c, dtype=torch.bool, device=device)
    selected[chosen] = True
    cls = torch.tensor(chosen, device=device)
    return chosen, full.index_select(0, cls), full * selected


def selected_channels(x: Tensor, classes: list[int]) -> Tensor:
    """``x[:, classes]`` (dim 1), without a copy when every class is selected in order."""
    if classes == list(range(x.shape[1])):
        return x
    return x.index_select(1, torch.tensor(classes, device=x.device))


# ---------------------------------------------------------------- 2. statistics


def overlap_stats(prep: Prepared, *, squared: bool, per_image: bool) -> Stats:
    """Per-(image, class) sums ``I, P, G`` over the valid pixels (see module doc).

    ``squared`` uses ``sum p^2`` and ``sum g^2`` for ``P`` and ``G`` (V-Net); ``prob_sum`` stays
    the plain ``sum p`` (one more pass over the input, only when ``squared``).
    """
    p = prep.prob
    vf = None if prep.valid is None else prep.valid.to(p.dtype)

    def valid_sum(x: Tensor) -> Tensor:
        total = x.sum(-1) if vf is None else torch.einsum("bcn,bn->bc", x, vf)
        return selected_channels(total, prep.classes)

    if prep.index is not None and _compiling():
        # one broadcast comparison, fused by inductor into the reductions (no recompilation
        # per class count, no per-class graph), the sum of p in the same loops
        if prep.softmax_input is not None and not squared:
            sums = SoftmaxSums.apply(prep.softmax_input, prep.index, p.dtype)
        else:
            sums = compiled_sums(p, prep.index)
        intersection, target_sum, prob_sum = (selected_channels(t, prep.classes) for t in sums)
    elif prep.index is not None:
        prob_sum = valid_sum(p)
        inter, tsum = [], []
        for c in prep.classes:
            hit = prep.index == c  # (B, N); ignored pixels hold -1
            inter.append(torch.where(hit, p[:, c], 0.0).sum(-1))
            tsum.append(hit.sum(-1))
        intersection = torch.stack(inter, 1)
        target_sum = torch.stack(tsum, 1).to(p.dtype)
    else:
        assert prep.dense is not None  # a dense target when there are no class indices
        prob_sum = valid_sum(p)
        g = selected_channels(prep.dense, prep.classes)
        intersection = (selected_channels(p, prep.classes) * g).sum(-1)
        target_sum = (g * g if squared else g).sum(-1)
    pred_sum = valid_sum(p * p) if squared else prob_sum
    count = prep.count().unsqueeze(1)
    if not per_image:
        intersection, pred_sum, target_sum, count = (
            t.sum(0, keepdim=True) for t in (intersection, pred_sum, target_sum, count)
        )
        prob_sum = prob_sum.sum(0, keepdim=True) if squared else pred_sum
    return Stats(intersection, pred_sum, target_sum, count, prob_sum)


def measure(
    input: Tensor,
    target: Tensor,
    *,
    fn: str,
    smooth: Smooth,
    squared: bool,
    per_image: bool,
    log_probs: bool = False,
    **selection: Any,
) -> tuple[Prepared, Stats, tuple[float, float]]:
    """Steps 1 and 2: the prepared inputs, the sums and ``(s_nr, s_dr)``, from the options of
    :func:`sum_options`; ``selection`` (the ``activation`` and :func:`class_options`) goes to
    :func:`prepare_inputs`."""
    prep = prepare_inputs(input, target, fn=fn, log_probs=log_probs, **selection)
    st = overlap_stats(prep, squared=squared, per_image=per_image)
    return prep, st, smooth_pair(smooth)


def _compiling() -> bool:
    return bool(torch.compiler.is_compiling())


@dataclass
class Fused:
    """The selection of a :func:`fused_measure` call (the part of :class:`Prepared` its
    callers read)."""

    index: Tensor  # (B, N) int64 class indices, ignored pixels = -1
    valid: Tensor | None  # (B, N) bool, None when no pixel can be ignored
    classes: list[int]
    class_weight: Tensor  # (K,)
    pixel_weight: Tensor  # (C,)
    log_p_target: Tensor | None  # (B, N) log p of each pixel's target class (log_probs=True)


def fused_applies(input: Tensor, target: Tensor, activation: str) -> bool:
    """True when :func:`fused_measure` takes the call: class-index targets of a >= 2-channel
    input, eager mode (under ``torch.compile`` the plain ops fuse better)."""
    return (
        isinstance(input, Tensor)
        and isinstance(target, Tensor)
        and 3 <= input.dim() <= 5
        and target.dim() == input.dim() - 1
        and input.shape[1] >= 2
        and activation in ACTIVATIONS
        and not _compiling()
    )


def fused_measure(
    input: Tensor,
    target: Tensor,
    *,
    fn: str,
    smooth: Smooth,
    squared: bool,
    per_image: bool,
    log_probs: bool = False,
    **selection: Any,
) -> tuple[Fused, Stats, tuple[float, float]]:
    """:func:`measure` for class-index targets (:func:`fused_applies`), through
    :class:`~._fused.IndexedOverlap`: the same checks, sums and guarantees, one tensor of
    the input's size forward and one backward. ``log_probs`` (softmax) also returns the
    target class's log-probability of every pixel instead of the full ``log_softmax``."""
    activation = selection["activation"]
    ignore_index = selection["ignore_index"]
    b, c, n, target, _ = check_inputs(
        input, target, fn=fn, activation=activation, ignore_index=ignore_index
    )
    dtype = compute_dtype(input, target)
    index, _, valid = _split_target(target, True, b, c, n, ignore_index, dtype)
    assert index is not None  # c >= 2 (fused_applies)
    chosen, class_weight, pixel_weight = _selection(
        c,
        selection["weight"],
        selection["include_background"],
        selection["classes"],
        fn,
        dtype=dtype,
        device=input.device,
    )
    x = input.reshape(b, c, n)
    if activation == "softmax" and c <= FEW_CLASSES:
        inter, psum, q, logpt, counts = FewClassOverlap.apply(
            x, index, valid, dtype, squared, log_probs
        )
    else:
        inter, psum, q, logpt = IndexedOverlap.apply(
            x, index, valid, activation, dtype, squared, log_probs
        )
        counts = target_counts(index, valid, c, dtype)
    if valid is None:
        count = psum.new_full((b, 1), float(n))
    else:
        count = valid.sum(-1, keepdim=True).to(dtype)
    intersection = selected_channels(inter, chosen)
    prob_sum = selected_channels(psum, chosen)
    pred_sum = selected_channels(q, chosen) if squared else prob_sum
    target_sum = selected_channels(counts, chosen)
    if not per_image:
        intersection, pred_sum, target_sum, count = (
            t.sum(0, keepdim=True) for t in (intersection, pred_sum, target_sum, count)
        )
        prob_sum = prob_sum.sum(0, keepdim=True) if squared else pred_sum
    fused = Fused(index, valid, chosen, class_weight, pixel_weight, logpt if log_probs else None)
    st = Stats(intersection, pred_sum, target_sum, count, prob_sum)
    return fused, st, smooth_pair(smooth)


def overlap_loss(
    input: Tensor,
    target: Tensor,
    *,
    fn: str,
    score: Callable[..., Tensor],
    empty: str,
    reduction: str,
    gamma: float = 1.0,
    **options: Any,
) -> Tensor:
    """The whole pipeline for a loss ``(1 - score(stats, s_nr, s_dr, **params)) ** gamma``
    (the options were checked by the public function). ``options`` holds the options of
    :func:`measure` (:data:`MEASURED`) and the score's own parameters (Tversky's ``alpha``
    and ``beta``)."""
    per_image = options["per_image"]
    measured = {k: options.pop(k) for k in MEASURED}
    if fused_applies(input, target, measured["activation"]):
        prep: Prepared | Fused
        prep, st, smooth = fused_measure(input, target, fn=fn, **measured)
    else:
        prep, st, smooth = measure(input, target, fn=fn, **measured)
    out = reduced_pair_losses(
        st,
        smooth,
        prep.class_weight,
        score=score,
        empty=empty,
        reduction=reduction,
        fn=fn,
        gamma=gamma,
        **options,
    )
    return out if per_image or reduction != "none" else out.squeeze(0)


def overlap_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """Logits ``(2, 3, 6, 6)`` and class indices ``(2, 6, 6)`` covering every class."""
    gen = generator(seed)
    target = integers(2, 6, 6, high=3, gen=gen)
    target[:, 0, :3] = torch.arange(3)
    return Example((normal(2, 3, 6, 6, dtype=dtype, gen=gen), target))
