"""Probes: one-dimensional views of a loss, computed by the library itself through autograd.

A probe turns a scalar ``x`` (the error, a logit, a probability, a box offset, ...) into the
inputs of a loss, calls the registered function and differentiates the result with respect to
``x``. Each family has a short list of *attempts* (input layouts its losses commonly take); the
first attempt that runs and gives a finite, non-constant curve wins. A loss for which no attempt
fits gets a one-line reason instead of a curve, so ``visionloss plot`` never crashes on a loss
whose signature it does not know.

Adding a family or a layout means adding an attempt to :data:`FAMILY_PROBES`; nothing else
changes.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from .._core.registry import LossSpec, get_loss

# An attempt maps (loss function, scalar leaf x, options) to the loss value.
Attempt = Callable[[Callable[..., Tensor], Tensor, dict[str, Any]], Tensor]


@dataclass(frozen=True)
class Axis:
    """What ``x`` means on a probe, the points it is evaluated at, and its axis label."""

    name: str
    label: str
    start: float
    stop: float
    points: int = 201

    def grid(self) -> list[float]:
        step = (self.stop - self.start) / (self.points - 1)
        return [self.start + i * step for i in range(self.points)]


AXES: dict[str, Axis] = {
    a.name: a
    for a in (
        Axis("error", "error d = input - target", -3.0, 3.0),
        Axis("logit", "logit z of the true class", -6.0, 6.0),
        Axis("probability", "p_t, predicted probability of the true class", 0.005, 0.995),
        Axis("offset", "centre offset of a unit box (box widths)", -2.5, 2.5),
        Axis("iou", "IoU with the target box (horizontal shift)", 0.02, 1.0),
        Axis("distance", "distance anchor-negative (anchor-positive = 1)", 0.0, 1.96),
        Axis("similarity", "cosine similarity of the positive pair", -0.98, 0.98),
    )
}


# --- inputs built from x ------------------------------------------------------------------


def _logit_of(x: Tensor, axis: str) -> Tensor:
    """The logit ``z`` of the true class: ``x`` itself, or ``log(p / (1 - p))``."""
    return torch.log(x) - torch.log1p(-x) if axis == "probability" else x


def _two_class(z: Tensor, true_class: int) -> Tensor:
    """Logits of two classes whose softmax gives ``sigmoid(z)`` to ``true_class``."""
    zero = z.new_zeros(())
    return torch.stack([z, zero] if true_class == 0 else [zero, z])


def _box_shift(x: Tensor, axis: str) -> Tensor:
    """Horizontal shift ``d`` of a unit box; for the IoU axis, the shift giving IoU ``x``."""
    return (1 - x) / (1 + x) if axis == "iou" else x


def _unit_box(d: Tensor) -> Tensor:
    zero = d.new_zeros(())
    return torch.stack([d, zero, d + 1, zero + 1]).view(1, 4)


def _triplet_points(x: Tensor) -> Tensor:
    """Three unit vectors: anchor, positive at distance 1, negative at distance ``x``."""
    theta = 2 * torch.asin((x / 2).clamp(max=1 - 1e-12))
    zero = x.new_zeros(())
    anchor = torch.stack([zero + 1, zero, zero])
    positive = torch.stack([zero + 0.5, zero + math.sqrt(0.75), zero])
    negative = torch.stack([torch.cos(theta), zero, torch.sin(theta)])
    return torch.stack([anchor, positive, negative])


def _pair_views(s: Tensor) -> tuple[Tensor, Tensor]:
    """Queries and keys of two samples; sample 0's positive pair has cosine similarity ``s``,
    sample 1's is 1, and every cross pair is orthogonal."""
    zero = s.new_zeros(())
    one = zero + 1
    q = torch.stack([torch.stack([one, zero, zero, zero]), torch.stack([zero, zero, one, zero])])
    k0 = torch.stack([s, torch.sqrt(1 - s * s), zero, zero])
    k = torch.stack([k0, torch.stack([zero, zero, one, zero])])
    return q, k


def _ones(x: Tensor, *shape: int) -> Tensor:
    return torch.ones(shape, dtype=x.dtype)


def _classes(*values: int, shape: Sequence[int]) -> Tensor:
    return torch.tensor(values, dtype=torch.long).view(*shape)


# --- attempts per family --------------------------------------------------------------------


def _regression(axis: str) -> list[Attempt]:
    return [lambda f, x, o: f(x.view(1), x.new_zeros(1), **o)]


def _classification(axis: str) -> list[Attempt]:
    def z(x: Tensor) -> Tensor:
        return _logit_of(x, axis)

    return [
        # binary, logits (bce / sigmoid focal): target 1
        lambda f, x, o: f(z(x).view(1), _ones(x, 1), **o),
        # multi-class logits (N, C) and a class index
        lambda f, x, o: f(_two_class(z(x), 0).view(1, 2), _classes(0, shape=(1,)), **o),
        # multi-class logits and a soft / one-hot target distribution
        lambda f, x, o: f(
            _two_class(z(x), 0).view(1, 2), torch.tensor([[1.0, 0.0]], dtype=x.dtype), **o
        ),
        # dense (N, C, H, W) logits and a (N, H, W) index map
        lambda f, x, o: f(_two_class(z(x), 0).view(1, 2, 1, 1), _classes(0, shape=(1, 1, 1)), **o),
    ]


def _segmentation(axis: str) -> list[Attempt]:
    def z(x: Tensor) -> Tensor:
        return _logit_of(x, axis)

    return [
        # one foreground channel (sigmoid), a binary target of the same shape
        lambda f, x, o: f(z(x).view(1, 1, 1, 1), _ones(x, 1, 1, 1, 1), **o),
        # two classes (softmax), index target of the foreground class
        lambda f, x, o: f(_two_class(z(x), 1).view(1, 2, 1, 1), _classes(1, shape=(1, 1, 1)), **o),
        # two classes, one-hot target
        lambda f, x, o: f(
            _two_class(z(x), 1).view(1, 2, 1, 1),
            torch.tensor([0.0, 1.0], dtype=x.dtype).view(1, 2, 1, 1),
            **o,
        ),
        # a (B, H, W) probability / logit map
        lambda f, x, o: f(z(x).view(1, 1, 1), _ones(x, 1, 1, 1), **o),
    ]


def _boxes(axis: str) -> list[Attempt]:
    def target(x: Tensor) -> Tensor:
        return torch.tensor([[0.0, 0.0, 1.0, 1.0]], dtype=x.dtype)

    return [
        lambda f, x, o: f(_unit_box(_box_shift(x, axis)), target(x), **o),
        lambda f, x, o: f(_unit_box(_box_shift(x, axis)).view(4), target(x).view(4), **o),
    ]


def _metric(axis: str) -> list[Attempt]:
    labels = torch.tensor([0, 0, 1])

    def rows(x: Tensor, *idx: int) -> list[Tensor]:
        points = _triplet_points(x)
        return [points[i : i + 1] for i in idx]

    return [
        # embeddings (N, D) and labels, pairs / triplets mined inside the loss
        lambda f, x, o: f(_triplet_points(x), labels, **o),
        # explicit (anchor, positive, negative) rows
        lambda f, x, o: f(*rows(x, 0, 1, 2), **o),
        # (embeddings, labels, centers): the negative point against the anchor as its centre
        lambda f, x, o: f(*rows(x, 2), torch.tensor([0]), *rows(x, 0), **o),
    ]


def _contrastive(axis: str) -> list[Attempt]:
    return [
        # (query, key): the matching row of key is the positive
        lambda f, x, o: f(*_pair_views(x), **o),
        # (features, labels) with the two views stacked as rows
        lambda f, x, o: f(torch.cat(_pair_views(x)), torch.tensor([0, 1, 0, 1]), **o),
        # (features (N, views, D), labels)
        lambda f, x, o: f(torch.stack(_pair_views(x), dim=1), torch.tensor([0, 1]), **o),
    ]


def _adversarial(axis: str) -> list[Attempt]:
    if axis == "error":  # reconstruction terms (cycle consistency, identity)
        return _regression(axis)
    return [
        # a generator loss of the discriminator's logits on fakes
        lambda f, x, o: f(x.view(1), **o),
        # a discriminator loss (real logits, fake logits) against the real logit
        lambda f, x, o: f(x.view(1), x.new_zeros(1), **o),
    ]


@dataclass(frozen=True)
class FamilyProbe:
    """The axes a family can be drawn against (the first is the default) and its attempts;
    ``reason`` is given instead when the family has no meaningful one-dimensional view."""

    axes: tuple[str, ...] = ()
    attempts: Callable[[str], list[Attempt]] | None = None
    reason: str = ""
    # the default axis of one loss, when it is not the family's first (from its signature)
    choose: Callable[[LossSpec], str] | None = None
    # axis labels that say more than the generic ones of AXES for this family
    labels: dict[str, str] = field(default_factory=dict)

    def default_axis(self, spec: LossSpec) -> str | None:
        if not self.axes:
            return None
        return self.choose(spec) if self.choose else self.axes[0]


def _first_parameter(spec: LossSpec) -> str:
    return next(iter(inspect.signature(spec.function).parameters), "")


FAMILY_PROBES: dict[str, FamilyProbe] = {
    "regression": FamilyProbe(("error",), _regression),
    "classification": FamilyProbe(("probability", "logit"), _classification),
    "segmentation": FamilyProbe(("probability", "logit"), _segmentation),
    "boxes": FamilyProbe(("offset", "iou"), _boxes),
    "metric": FamilyProbe(("distance",), _metric),
    "contrastive": FamilyProbe(("similarity",), _contrastive),
    # GAN objectives take discriminator logits; reconstruction terms take (input, target)
    "adversarial": FamilyProbe(
        ("logit", "error"),
        _adversarial,
        choose=lambda spec: "error" if _first_parameter(spec) == "input" else "logit",
        labels={"logit": "discriminator logit (on fakes for G; on reals, fakes at 0, for D)"},
    ),
    "synthesis": FamilyProbe(
        reason="compares images or feature maps; no one-dimensional view "
        "(see `visionloss show` and the experiments)"
    ),
}

# Values for options a loss needs (no default, or a default of None that it rejects) and a
# probe cannot infer: the probe's boxes live in a 4 x 4 image for MPDIoU, for example. Passed
# only to functions that have the option.
REQUIRED_OPTIONS: dict[str, Any] = {"image_size": (4.0, 4.0)}

# Options tried first where a loss has them (and dropped silently when they do not fit): one
# pixel of a segmentation loss is drawn with a sigmoid, so Dice and BCE see the same p.
PREFERRED_OPTIONS: dict[str, dict[str, Any]] = {"segmentation": {"activation": "sigmoid"}}


# Sweeps drawn when a single loss is plotted without --sweep: (family, option) -> values.
# RetinaNet Fig. 1: focal loss against p_t for gamma in {0, 0.5, 1, 2, 5}, without alpha.
# The GAN objectives are drawn for every kind the library offers (minimax against
# non-saturating: Goodfellow et al. 2014, Fig. 1 of the NIPS tutorial).
def _gan_kinds() -> tuple[Any, ...]:
    from .. import adversarial

    return tuple(getattr(adversarial, "GAN_KINDS", ()))


DEFAULT_SWEEPS: dict[tuple[str, str], tuple[Any, dict[str, Any]]] = {
    ("classification", "gamma"): ((0.0, 0.5, 1.0, 2.0, 5.0), {"alpha": None}),
    ("adversarial", "kind"): (_gan_kinds, {}),
}


# --- evaluation -----------------------------------------------------------------------------


@dataclass
class Curve:
    """One curve: the loss and its derivative ``d loss / d x`` at each ``x``."""

    label: str
    axis: str
    xlabel: str
    x: list[float]
    y: list[float]
    dy: list[float]


@dataclass
class ProbeResult:
    """The curves drawn for one loss, or the one-line reason why there are none."""

    name: str
    curves: list[Curve] = field(default_factory=list)
    reason: str = ""
    notes: list[str] = field(default_factory=list)


class _NoFit(Exception):
    pass


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return f"{type(err).__name__}: {text[:160]}"


def _evaluate(
    fn: Callable[..., Tensor], attempt: Attempt, axis: Axis, options: dict[str, Any]
) -> tuple[list[float], list[float], list[float]]:
    xs, ys, dys = [], [], []
    for x0 in axis.grid():
        x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
        loss = attempt(fn, x, options)
        if not isinstance(loss, Tensor):
            raise _NoFit(f"returned {type(loss).__name__}, not a tensor")
        if loss.numel() != 1:
            raise _NoFit(f"returned shape {tuple(loss.shape)}, not a scalar")
        loss = loss.reshape(())
        grad = None
        if loss.requires_grad:
            (grad,) = torch.autograd.grad(loss, x, allow_unused=True)
        xs.append(x0)
        ys.append(float(loss.detach()))
        dys.append(0.0 if grad is None else float(grad))
    if not all(math.isfinite(v) for v in ys + dys):
        raise _NoFit("non-finite values on this probe")
    if max(ys) - min(ys) <= 1e-12 * max(1.0, abs(ys[0])):
        raise _NoFit("constant on this probe")
    return xs, ys, dys


def _fit(spec: LossSpec, axis: Axis, options: dict[str, Any]) -> tuple[list[float], ...]:
    """The curve of the first attempt that fits, with the family's preferred options first;
    _NoFit with the last error."""
    params = inspect.signature(spec.function).parameters
    preferred = {
        k: v
        for k, v in PREFERRED_OPTIONS.get(spec.family, {}).items()
        if k in params and k not in options
    }
    if preferred:
        try:
            return _fit_attempts(spec, axis, {**options, **preferred})
        except _NoFit:
            pass
    return _fit_attempts(spec, axis, options)


def _fit_attempts(spec: LossSpec, axis: Axis, options: dict[str, Any]) -> tuple[list[float], ...]:
    attempts = FAMILY_PROBES[spec.family].attempts(axis.name)
    for name, param in inspect.signature(spec.function).parameters.items():
        if name in REQUIRED_OPTIONS and param.default in (None, param.empty):
            options = {name: REQUIRED_OPTIONS[name], **options}
    last: BaseException = _NoFit("no attempt")
    for attempt in attempts:
        try:
            return _evaluate(spec.function, attempt, axis, options)
        except Exception as err:  # noqa: BLE001 - a failing layout only means "try the next"
            last = err
    raise _NoFit(last if isinstance(last, _NoFit) else _one_line(last))


def default_axis(name: str) -> str | None:
    """The axis a loss is drawn against by default (None when its family has no probe)."""
    spec = get_loss(name)
    return FAMILY_PROBES.get(spec.family, FamilyProbe()).default_axis(spec)


def default_sweep(name: str) -> tuple[str, tuple[float, ...], dict[str, Any]] | None:
    """``(option, values, fixed options)`` swept when ``name`` is plotted alone, or None."""
    spec = get_loss(name)
    params = inspect.signature(spec.function).parameters
    for (family, option), (values, fixed) in DEFAULT_SWEEPS.items():
        if spec.family == family and option in params:
            values = tuple(values() if callable(values) else values)
            if values:
                return option, values, {k: v for k, v in fixed.items() if k in params}
    return None


def probe(
    name: str,
    *,
    against: str | None = None,
    options: dict[str, Any] | None = None,
    sweep: tuple[str, Sequence[Any]] | None = None,
    fixed: dict[str, Any] | None = None,
    points: int | None = None,
) -> ProbeResult:
    """Curves of the registered loss ``name`` against ``against`` (default: its family's first
    axis); ``sweep=(option, values)`` draws one curve per value. ``fixed`` are options tried
    first and dropped (with a note) when the loss rejects them. Never raises for a loss that
    does not fit: the result then carries a one-line ``reason``. ``points`` overrides the
    number of points of the axis."""
    spec = get_loss(name)
    family = FAMILY_PROBES.get(spec.family)
    if family is None:
        return ProbeResult(spec.name, reason=f"no probe for the {spec.family} family")
    if not family.axes:
        return ProbeResult(spec.name, reason=f"{spec.family} loss: {family.reason}")
    axis_name = against or family.default_axis(spec)
    if axis_name not in family.axes:
        return ProbeResult(
            spec.name,
            reason=f"no {axis_name!r} probe for the {spec.family} "
            f"family (it has: {', '.join(family.axes)})",
        )
    if axis_name not in AXES:
        raise ValueError(f"unknown axis {axis_name!r}; expected one of {sorted(AXES)}")
    axis = AXES[axis_name]
    if points is not None:
        axis = dataclasses.replace(axis, points=points)
    result = ProbeResult(spec.name)
    values: Sequence[Any] = sweep[1] if sweep else [None]
    for value in values:
        opts = dict(options or {})
        label = spec.name
        if sweep:
            opts[sweep[0]] = value
            label = (
                f"{spec.name} ({sweep[0]}={value:g})"
                if isinstance(value, float)
                else f"{spec.name} ({sweep[0]}={value})"
            )
        try:
            try:
                xs, ys, dys = _fit(spec, axis, {**opts, **(fixed or {})})
            except _NoFit:
                if not fixed:
                    raise
                xs, ys, dys = _fit(spec, axis, opts)
                note = f"{spec.name}: does not take {fixed}; drawn with its defaults"
                if note not in result.notes:
                    result.notes.append(note)
        except _NoFit as err:
            if not sweep:
                return ProbeResult(spec.name, reason=f"no probe fits its signature ({err})")
            result.notes.append(f"{label}: skipped ({err})")
            continue
        xlabel = family.labels.get(axis.name, axis.label)
        result.curves.append(Curve(label, axis.name, xlabel, xs, ys, dys))
    if not result.curves:
        result.reason = "no sweep value could be drawn: " + "; ".join(result.notes)
    return result
