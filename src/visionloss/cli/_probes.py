"""Probes: one-dimensional views of a loss, computed by the library itself through autograd.

A probe turns a scalar ``x`` (the error, a logit, a probability, a box offset, ...) into the
inputs of a loss, calls the registered function and differentiates the result with respect to
``x``. Each family has a short list of *attempts* (input layouts its losses commonly take); the
first attempt that runs and gives a finite, non-constant curve wins. A family may choose the axes
of each loss from its signature (GAN objectives against a logit, R1 and the gradient penalty
against the slope of a linear discriminator), or give a designed one-line reason where a loss has
no meaningful one-dimensional view (the feature-network losses of image synthesis).

Options the user passes (``options``, ``sweep``) are told apart from the probe's own: when the
loss draws with its defaults but not with the user's value, :func:`probe` raises
:class:`OptionError` (the command prints it as one line, exit 2); a loss that does not fit any
attempt even with its defaults gets the reason "no probe fits its signature (...)", which a test
keeps away from every registered loss.

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
    title: str = ""  # the name in plot titles, when not ``name``

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
        Axis(
            "negative",
            "cosine similarity of the negative pairs (positive pairs at 1)",
            -0.98,
            0.98,
            title="negative similarity",
        ),
        Axis(
            "slope",
            "slope s of a linear discriminator D(x) = s x",
            -3.0,
            3.0,
            title="discriminator slope s",
        ),
        Axis(
            "step",
            "height h of a vertical step edge in an 8 x 8 image",
            -2.0,
            2.0,
            title="step height h",
        ),
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


def _two_directions(s: Tensor) -> tuple[Tensor, Tensor]:
    """Two unit vectors of R^4 with cosine similarity ``s``."""
    zero = s.new_zeros(())
    e1 = torch.stack([zero + 1, zero, zero, zero])
    u = torch.stack([s, torch.sqrt(1 - s * s), zero, zero])
    return e1, u


def _negative_views(s: Tensor) -> tuple[Tensor, Tensor]:
    """Queries and keys of two samples: each positive pair has similarity 1, every negative
    (cross) pair ``s``."""
    views = torch.stack(_two_directions(s))
    return views, views


def _forgery_map(s: Tensor) -> tuple[Tensor, Tensor]:
    """A ``(1, 4, 8, 8)`` feature map whose left half (pristine) points along one direction and
    right half (forged, mask 1) along another at cosine similarity ``s``, and the ``(1, 8, 8)``
    mask. Whole 4 x 4 patches are pure, so patch losses see the same two directions."""
    pristine, forged = _two_directions(s)
    half = (4, 8, 4)
    features = torch.cat(
        [pristine.view(4, 1, 1).expand(half), forged.view(4, 1, 1).expand(half)], dim=2
    )
    mask = torch.zeros(1, 8, 8, dtype=s.dtype)
    mask[..., 4:] = 1.0
    return features.unsqueeze(0), mask


def _step_edge(h: Tensor) -> Tensor:
    """A ``(1, 1, 8, 8)`` image: 0 on the left half, ``h`` on the right half."""
    left = h.new_zeros(8, 4)
    return torch.cat([left, h.expand(8, 4)], dim=1).view(1, 1, 8, 8)


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
    views = _negative_views if axis == "negative" else _pair_views
    dense: list[Attempt] = []
    if axis == "negative":
        # (features (B, D, H, W), forgery mask (B, H, W)): pristine against forged pixels
        dense = [lambda f, x, o: f(*_forgery_map(x), **o)]
    return dense + [
        # (query, key): the matching row of key is the positive
        lambda f, x, o: f(*views(x), **o),
        # (features, labels) with the two views stacked as rows
        lambda f, x, o: f(torch.cat(views(x)), torch.tensor([0, 1, 0, 1]), **o),
        # (features (N, views, D), labels)
        lambda f, x, o: f(torch.stack(views(x), dim=1), torch.tensor([0, 1]), **o),
    ]


def _linear_critic(s: Tensor) -> Callable[[Tensor], Tensor]:
    """``D(x) = s * sum(x)``: its input gradient is ``s`` everywhere."""
    return lambda t: s * t.flatten(1).sum(1)


def _r1_attempt(f: Callable[..., Tensor], s: Tensor, o: dict[str, Any]) -> Tensor:
    real = torch.full((1, 1), 0.5, dtype=s.dtype, requires_grad=True)
    return f(_linear_critic(s)(real), real, **o)


def _adversarial(axis: str) -> list[Attempt]:
    if axis == "error":  # reconstruction terms (cycle consistency, identity)
        return _regression(axis)
    if axis == "slope":  # penalties on the discriminator's input gradient
        return [
            # R1: (D(real), real) with real requiring grad
            _r1_attempt,
            # gradient penalty: (critic, real, fake)
            lambda f, x, o: f(_linear_critic(x), x.new_ones(1, 1), -x.new_ones(1, 1), **o),
        ]
    return [
        # a generator loss of the discriminator's logits on fakes
        lambda f, x, o: f(x.view(1), **o),
        # a discriminator loss (real logits, fake logits) against the real logit
        lambda f, x, o: f(x.view(1), x.new_zeros(1), **o),
    ]


def _synthesis(axis: str) -> list[Attempt]:
    # a regulariser of one image (total variation) against the height of a step edge
    return [lambda f, x, o: f(_step_edge(x), **o)]


@dataclass(frozen=True)
class FamilyProbe:
    """The axes a family's losses can be drawn against (the first is the default) and its
    attempts. ``select`` gives the axes of one loss from its signature when they are not the
    family's, or a one-line reason when the loss has no meaningful one-dimensional view."""

    axes: tuple[str, ...]
    attempts: Callable[[str], list[Attempt]]
    select: Callable[[LossSpec], tuple[str, ...] | str] | None = None
    # axis labels that say more than the generic ones of AXES for this family
    labels: dict[str, str] = field(default_factory=dict)

    def axes_of(self, spec: LossSpec) -> tuple[str, ...] | str:
        """The axes ``spec`` can be drawn against (the first is its default), or the reason
        why it cannot be drawn."""
        return self.select(spec) if self.select else self.axes

    def default_axis(self, spec: LossSpec) -> str | None:
        axes = self.axes_of(spec)
        return None if isinstance(axes, str) else axes[0]


def _parameters(spec: LossSpec) -> list[str]:
    return list(inspect.signature(spec.function).parameters)


def _adversarial_axes(spec: LossSpec) -> tuple[str, ...]:
    params = _parameters(spec)
    if params[:1] == ["input"]:  # reconstruction terms (cycle consistency, identity)
        return ("error",)
    if "real" in params:  # penalties on the gradient of D at the samples (R1, WGAN-GP)
        return ("slope",)
    return ("logit",)  # GAN objectives of the discriminator's logits


def _contrastive_axes(spec: LossSpec) -> tuple[str, ...]:
    # dense losses (features, mask) have no positive pair to vary apart from its negatives
    return ("negative",) if "mask" in _parameters(spec) else ("similarity", "negative")


def _synthesis_axes(spec: LossSpec) -> tuple[str, ...] | str:
    if "network" in _parameters(spec):
        return (
            "compares two images through a feature network (its `network` argument, e.g. "
            f"VGG-19 features): no one-dimensional view; see `visionloss show {spec.name}`"
        )
    return ("step",)  # a regulariser of one image (total variation)


FAMILY_PROBES: dict[str, FamilyProbe] = {
    "regression": FamilyProbe(("error",), _regression),
    "classification": FamilyProbe(("probability", "logit"), _classification),
    "segmentation": FamilyProbe(("probability", "logit"), _segmentation),
    "boxes": FamilyProbe(("offset", "iou"), _boxes),
    "metric": FamilyProbe(("distance",), _metric),
    "contrastive": FamilyProbe(("similarity", "negative"), _contrastive, _contrastive_axes),
    "adversarial": FamilyProbe(
        ("logit", "error", "slope"),
        _adversarial,
        _adversarial_axes,
        labels={"logit": "discriminator logit (on fakes for G; on reals, fakes at 0, for D)"},
    ),
    "synthesis": FamilyProbe(("step",), _synthesis, _synthesis_axes),
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


# Total variation: each of its per-pixel terms (anisotropic, isotropic, squared).
def _tv_kinds() -> tuple[Any, ...]:
    from ..synthesis import total_variation

    return tuple(getattr(total_variation, "TV_KINDS", ()))


DEFAULT_SWEEPS: dict[tuple[str, str], tuple[Any, dict[str, Any]]] = {
    ("classification", "gamma"): ((0.0, 0.5, 1.0, 2.0, 5.0), {"alpha": None}),
    ("adversarial", "kind"): (_gan_kinds, {}),
    ("synthesis", "kind"): (_tv_kinds, {}),
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


class OptionError(ValueError):
    """The loss draws with its defaults but not with an option value the caller gave (a user
    error: ``visionloss plot`` prints it as one line, exit 2)."""


class _NoFit(Exception):
    pass


def _one_line(err: BaseException) -> str:
    if isinstance(err, _NoFit):
        return str(err)
    text = " ".join(str(err).split()) or type(err).__name__
    return f"{type(err).__name__}: {text[:160]}"


def option_names(spec: LossSpec) -> set[str] | None:
    """The options ``spec``'s function takes by keyword (those with a default, and keyword-only
    ones), or None when it takes any keyword (``**kwargs``)."""
    names = set()
    for name, param in inspect.signature(spec.function).parameters.items():
        if param.kind is param.VAR_KEYWORD:
            return None
        if param.kind is param.KEYWORD_ONLY or (
            param.kind is param.POSITIONAL_OR_KEYWORD and param.default is not param.empty
        ):
            names.add(name)
    return names


def takes_option(spec: LossSpec, option: str) -> bool:
    names = option_names(spec)
    return names is None or option in names


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


# A layout: the index of the attempt and the options the probe adds (required, preferred).
Layout = tuple[int, dict[str, Any]]


def _extras(spec: LossSpec, options: dict[str, Any]) -> list[dict[str, Any]]:
    """The options the probe adds, in the order tried: the family's preferred options first
    (dropped when they do not fit), the required ones always; the caller's ``options`` win."""
    params = inspect.signature(spec.function).parameters
    required = {
        k: v
        for k, v in REQUIRED_OPTIONS.items()
        if k in params and k not in options and params[k].default in (None, params[k].empty)
    }
    preferred = {
        k: v
        for k, v in PREFERRED_OPTIONS.get(spec.family, {}).items()
        if k in params and k not in options
    }
    return [{**required, **preferred}, required] if preferred else [required]


def _fit(
    spec: LossSpec, axis: Axis, options: dict[str, Any]
) -> tuple[Layout, tuple[list[float], list[float], list[float]]]:
    """The layout and curve of the first attempt that fits; _NoFit with the last error."""
    attempts = FAMILY_PROBES[spec.family].attempts(axis.name)
    last: BaseException = _NoFit("no attempt")
    for extra in _extras(spec, options):
        for index, attempt in enumerate(attempts):
            try:
                return (index, extra), _evaluate(spec.function, attempt, axis, {**extra, **options})
            except Exception as err:  # noqa: BLE001 - a failing layout only means "try the next"
                last = err
    raise _NoFit(_one_line(last))


def _error_with(spec: LossSpec, axis: Axis, layout: Layout, options: dict[str, Any]) -> str:
    """The one-line error of ``layout`` (which draws the loss with its defaults) under
    ``options``: the reason the caller's options are rejected."""
    index, extra = layout
    attempt = FAMILY_PROBES[spec.family].attempts(axis.name)[index]
    try:
        _evaluate(spec.function, attempt, axis, {**extra, **options})
    except Exception as err:  # noqa: BLE001 - reported, not handled
        return _one_line(err)
    return "it draws only with other probe inputs"  # pragma: no cover - _fit tried this layout


def _describe(options: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in options.items())


def default_axis(name: str) -> str | None:
    """The axis a loss is drawn against by default (None when it has no probe)."""
    spec = get_loss(name)
    family = FAMILY_PROBES.get(spec.family)
    return family.default_axis(spec) if family else None


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
    preset: bool = False,
    points: int | None = None,
) -> ProbeResult:
    """Curves of the registered loss ``name`` against ``against`` (default: its first axis);
    ``sweep=(option, values)`` draws one curve per value.

    ``options`` and ``sweep`` are the caller's: a value the loss rejects where its defaults
    draw raises :class:`OptionError` naming it. With ``preset=True`` the sweep is the library's
    own (:func:`default_sweep`) and a value that does not draw is skipped with a note. ``fixed``
    are options tried first and dropped (with a note) when the loss rejects them. A loss that
    cannot be drawn gets a one-line ``reason``. ``points`` overrides the number of points."""
    spec = get_loss(name)
    family = FAMILY_PROBES.get(spec.family)
    if family is None:
        return ProbeResult(spec.name, reason=f"no probe for the {spec.family} family")
    axes = family.axes_of(spec)
    if isinstance(axes, str):
        return ProbeResult(spec.name, reason=axes)
    axis_name = against or axes[0]
    if axis_name not in axes:
        return ProbeResult(
            spec.name,
            reason=f"no {axis_name!r} probe for {spec.name} (it has: {', '.join(axes)})",
        )
    if axis_name not in AXES:
        raise ValueError(f"unknown axis {axis_name!r}; expected one of {sorted(AXES)}")
    axis = AXES[axis_name]
    if points is not None:
        axis = dataclasses.replace(axis, points=points)
    user = dict(options or {})
    fixed = dict(fixed or {})
    defaults: list[Layout | str] = []  # cache: the layout drawing with defaults, or its error

    def default_layout() -> Layout | str:
        if not defaults:
            try:
                try:
                    defaults.append(_fit(spec, axis, fixed)[0])
                except _NoFit:
                    if not fixed:
                        raise
                    defaults.append(_fit(spec, axis, {})[0])
            except _NoFit as err:
                defaults.append(str(err))
        return defaults[0]

    result = ProbeResult(spec.name)
    values: Sequence[Any] = sweep[1] if sweep else [None]
    for value in values:
        opts = dict(user)
        label = spec.name
        if sweep:
            opts[sweep[0]] = value
            shown = f"{value:g}" if isinstance(value, float) else f"{value}"
            label = f"{spec.name} ({sweep[0]}={shown})"
        try:
            try:
                _, (xs, ys, dys) = _fit(spec, axis, {**opts, **fixed})
            except _NoFit:
                if not fixed:
                    raise
                _, (xs, ys, dys) = _fit(spec, axis, opts)
                note = f"{spec.name}: does not take {fixed}; drawn with its defaults"
                if note not in result.notes:
                    result.notes.append(note)
        except _NoFit as err:
            layout = default_layout()
            if isinstance(layout, str):  # it does not draw even with its defaults
                return ProbeResult(spec.name, reason=f"no probe fits its signature ({layout})")
            if user and not _fits(spec, axis, user, fixed):
                why = _error_with(spec, axis, layout, {**user, **fixed})
                raise OptionError(f"{spec.name}: {_describe(user)} rejected ({why})") from None
            if not preset:
                why = _error_with(spec, axis, layout, {**opts, **fixed})
                raise OptionError(
                    f"{spec.name}: {_describe({sweep[0]: value} if sweep else opts)} "
                    f"rejected ({why})"
                ) from None
            result.notes.append(f"{label}: skipped ({err})")
            continue
        xlabel = family.labels.get(axis.name, axis.label)
        result.curves.append(Curve(label, axis.name, xlabel, xs, ys, dys))
    if not result.curves:
        result.reason = "no sweep value could be drawn: " + "; ".join(result.notes)
    return result


def _fits(spec: LossSpec, axis: Axis, options: dict[str, Any], fixed: dict[str, Any]) -> bool:
    """Whether the loss draws with ``options`` (``fixed`` tried first, then dropped)."""
    for extra in [fixed, {}] if fixed else [{}]:
        try:
            _fit(spec, axis, {**options, **extra})
            return True
        except _NoFit:
            pass
    return False
