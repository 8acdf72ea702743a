"""Probes: one-dimensional views of a loss, computed by the library itself through autograd.

A probe turns a scalar ``x`` (the error, a logit, a probability, a box offset, ...) into the
inputs of a loss, calls the registered function once per point and differentiates the result
with respect to ``x``. The inputs are chosen, not guessed: the loss's family and the names of
its declared positional arguments (``input, target``; ``pred, target``; ``embeddings,
labels``; ...) select one :class:`Layout` of :data:`LAYOUTS`, which says what ``x`` may mean
(the axes) and how it becomes the loss's inputs. Where losses take the same arguments but
hold different things in them, the entry is a dict of layouts by kind, and :data:`KINDS` names
a loss's kind when it is not the family's default ``""``: classification losses all take
``input, target`` and differ in what the target is (:data:`CLASS_TARGETS`); segmentation
losses that see shape (boundary distances, skeletons) are drawn against the shift of a
predicted square, not on one pixel; rotated boxes are ``(cx, cy, w, h, angle)`` rows.

A loss without a meaningful one-dimensional view gets a designed one-line reason instead of a
curve, chosen by an option it takes (:data:`NO_VIEW`: a feature ``network``; DINO's teacher
``center``; SwAV's batch-wide Sinkhorn codes); a loss whose arguments have no layout gets the
reason "no probe fits its arguments (...)", which a test keeps away from every registered
loss. Anything the loss raises propagates, except a typed error (:mod:`visionloss.errors`)
while options of the caller are in play (``options``, ``sweep``): that is the caller's value
being rejected, and :func:`probe` raises :class:`OptionError` naming it (``visionloss plot``
prints it as one line, exit 2).

Adding a family or an argument layout means adding an entry to :data:`LAYOUTS` (and, for a
second layout of the same arguments, the loss's kind to :data:`KINDS`).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from .. import errors
from .._core.declare import declaration
from .._core.options import Choice
from .._core.registry import LossSpec, get_loss


@dataclass(frozen=True)
class Axis:
    """What ``x`` means on a probe, the points it is evaluated at, and its axis label."""

    name: str
    label: str
    start: float
    stop: float
    points: int = 201
    title: str = ""  # the name in plot titles, when not ``name``
    symbol: str = "x"  # the variable in ``d loss / d <symbol>``

    def grid(self) -> list[float]:
        step = (self.stop - self.start) / (self.points - 1)
        return [self.start + i * step for i in range(self.points)]


AXES: dict[str, Axis] = {
    a.name: a
    for a in (
        Axis("error", "error d = input - target", -3.0, 3.0, symbol="d"),
        Axis("logit", "logit z of the true class", -6.0, 6.0, symbol="z"),
        Axis(
            "probability",
            "p_t, predicted probability of the true class",
            0.005,
            0.995,
            symbol="p_t",
        ),
        Axis("offset", "centre offset of a unit box (box widths)", -2.5, 2.5, symbol="offset"),
        Axis("iou", "IoU with the target box (horizontal shift)", 0.02, 1.0, symbol="IoU"),
        Axis(
            "distance",
            "distance anchor-negative (anchor-positive = 1)",
            0.0,
            1.96,
            symbol="D(a, n)",
        ),
        Axis("similarity", "cosine similarity of the positive pair", -0.98, 0.98, symbol="s"),
        Axis(
            "negative",
            "cosine similarity of the negative pairs (positive pairs at 1)",
            -0.98,
            0.98,
            title="negative similarity",
            symbol="s_neg",
        ),
        Axis(
            "slope",
            "slope s of a linear discriminator D(x) = s x",
            -3.0,
            3.0,
            title="discriminator slope s",
            symbol="s",
        ),
        Axis(
            "step",
            "height h of a vertical step edge in an 8 x 8 image",
            -2.0,
            2.0,
            title="step height h",
            symbol="h",
        ),
        Axis(
            "shift",
            "horizontal shift of the predicted 4 x 4 square from the target's (pixels)",
            -6.0,
            6.0,
            title="mask shift",
            symbol="shift",
        ),
        Axis(
            "rotation",
            "rotation of a 1 x 0.5 box from the same target box (radians)",
            -math.pi / 2,
            math.pi / 2,
            symbol="theta",
        ),
        Axis(
            "angle",
            "angle to its class's weight (radians; the other class's at 90 deg)",
            0.0,
            3.1,
            symbol="theta",
        ),
        Axis(
            "bins",
            "distance y_hat predicted by bins 0 and 1 (p of bin 1); target y = 0.3",
            0.005,
            0.995,
            title="predicted distance",
            symbol="y_hat",
        ),
        Axis(
            "noise",
            "standard deviation sigma of a fixed noise added to the input image",
            0.0,
            0.5,
            points=51,  # one call costs a multi-scale SSIM of a 176 x 176 image
            title="noise level",
            symbol="sigma",
        ),
        Axis(
            "view_noise",
            "standard deviation sigma of a noise added to the first view (unit-variance "
            "embeddings)",
            0.0,
            2.0,
            title="view noise",
            symbol="sigma",
        ),
    )
}


# --- inputs built from x ------------------------------------------------------------------

# Positional inputs and keyword arguments of one call of a loss.
Call = tuple[tuple[Any, ...], dict[str, Any]]


def _logit_of(x: Tensor, axis: str) -> Tensor:
    """The logit ``z`` of the true class: ``x`` itself, or ``log(p / (1 - p))``."""
    return torch.log(x) - torch.log1p(-x) if axis == "probability" else x


def _two_class(z: Tensor, true_class: int) -> Tensor:
    """Logits of two classes whose softmax gives ``sigmoid(z)`` to ``true_class``."""
    zero = z.new_zeros(())
    return torch.stack([z, zero] if true_class == 0 else [zero, z])


def _unit_box(x: Tensor, axis: str) -> Tensor:
    """A unit box shifted horizontally by ``x`` (for the IoU axis, by the shift giving IoU
    ``x`` with the box at the origin), as one ``(1, 4)`` xyxy row."""
    d = (1 - x) / (1 + x) if axis == "iou" else x
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


def _two_directions(s: Tensor) -> tuple[Tensor, Tensor]:
    """Two unit vectors of R^4 with cosine similarity ``s``."""
    zero = s.new_zeros(())
    e1 = torch.stack([zero + 1, zero, zero, zero])
    u = torch.stack([s, torch.sqrt(1 - s * s), zero, zero])
    return e1, u


def _views(s: Tensor, axis: str) -> tuple[Tensor, Tensor]:
    """Queries and keys of two samples. On the similarity axis sample 0's positive pair has
    cosine similarity ``s``, sample 1's is 1 and every cross pair is orthogonal; on the negative
    axis each positive pair has similarity 1 and every negative (cross) pair ``s``."""
    if axis == "negative":
        views = torch.stack(_two_directions(s))
        return views, views
    zero = s.new_zeros(())
    one = zero + 1
    q = torch.stack([torch.stack([one, zero, zero, zero]), torch.stack([zero, zero, one, zero])])
    k0 = torch.stack([s, torch.sqrt(1 - s * s), zero, zero])
    return q, torch.stack([k0, torch.stack([zero, zero, one, zero])])


def _forgery_map(s: Tensor, axis: str) -> Call:
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
    return (features.unsqueeze(0), mask), {}


def _step_edge(h: Tensor, axis: str) -> Call:
    """A ``(1, 1, 8, 8)`` image: 0 on the left half, ``h`` on the right half."""
    left = h.new_zeros(8, 4)
    return (torch.cat([left, h.expand(8, 4)], dim=1).view(1, 1, 8, 8),), {}


def _error(x: Tensor, axis: str) -> Call:
    return (x.view(1), x.new_zeros(1)), {}


def _binary(x: Tensor, axis: str) -> Call:
    """One logit and a target of 1."""
    return (_logit_of(x, axis).view(1), x.new_ones(1)), {}


def _class_index(x: Tensor, axis: str) -> Call:
    """``(1, 2)`` logits and the index of the true class 0."""
    return (_two_class(_logit_of(x, axis), 0).view(1, 2), torch.tensor([0])), {}


def _distribution(x: Tensor, axis: str) -> Call:
    """``(1, 2)`` logits and a target distribution with all its mass on class 0."""
    target = torch.tensor([[1.0, 0.0]], dtype=x.dtype)
    return (_two_class(_logit_of(x, axis), 0).view(1, 2), target), {}


def _pixel(x: Tensor, axis: str) -> Call:
    """One foreground pixel ``(1, 1, 1, 1)`` and a binary target of 1."""
    return (_logit_of(x, axis).view(1, 1, 1, 1), x.new_ones(1, 1, 1, 1)), {}


def _boxes(x: Tensor, axis: str) -> Call:
    return (_unit_box(x, axis), torch.tensor([[0.0, 0.0, 1.0, 1.0]], dtype=x.dtype)), {}


def _embeddings(x: Tensor, axis: str) -> Call:
    """Anchor, positive and negative as rows, labels ``(0, 0, 1)``: pairs mined by the loss."""
    return (_triplet_points(x), torch.tensor([0, 0, 1])), {}


def _triplet(x: Tensor, axis: str) -> Call:
    points = _triplet_points(x)
    return (points[0:1], points[1:2], points[2:3]), {}


def _center(x: Tensor, axis: str) -> Call:
    """The negative point against the anchor as its class centre."""
    points = _triplet_points(x)
    return (points[2:3], torch.tensor([0]), points[0:1]), {}


def _pairs(x: Tensor, axis: str) -> Call:
    """(query, key): the matching row of key is the positive."""
    return _views(x, axis), {}


def _labelled_views(x: Tensor, axis: str) -> Call:
    """The two views stacked as rows, each sample's label on both."""
    return (torch.cat(_views(x, axis)),), {"labels": torch.tensor([0, 1, 0, 1])}


def _linear_critic(s: Tensor) -> Callable[[Tensor], Tensor]:
    """``D(x) = s * sum(x)``: its input gradient is ``s`` everywhere."""
    return lambda t: s * t.flatten(1).sum(1)


def _r1(s: Tensor, axis: str) -> Call:
    """``(D(real), real)`` with ``real`` requiring grad."""
    real = torch.full((1, 1), 0.5, dtype=s.dtype, requires_grad=True)
    return (_linear_critic(s)(real), real), {}


def _gradient_penalty(s: Tensor, axis: str) -> Call:
    """``(critic, real, fake)``."""
    return (_linear_critic(s), s.new_ones(1, 1), -s.new_ones(1, 1)), {}


def _fake_logits(x: Tensor, axis: str) -> Call:
    return (x.view(1),), {}


def _real_and_fake_logits(x: Tensor, axis: str) -> Call:
    """The logit ``x`` of a real sample, 0 for a fake one."""
    return (x.view(1), x.new_zeros(1)), {}


def _float(rows: Any, like: Tensor) -> Tensor:
    return torch.tensor(rows, dtype=like.dtype)


def _softmax_pixel(x: Tensor, axis: str) -> Call:
    """One pixel of two classes ``(1, 2, 1, 1)`` whose softmax gives ``p_t`` to the
    foreground class 1, and the target index 1."""
    logits = _two_class(_logit_of(x, axis), 1).view(1, 2, 1, 1)
    return (logits, torch.ones(1, 1, 1, dtype=torch.long)), {}


def _square_logits(shift: Tensor) -> Tensor:
    """Logits ``(1, 1, 12, 20)`` of a 4 x 4 square centred at column ``10 + shift``, row 6:
    ``4 * min(2 - |i - 6|, 2 - |j - 10 - shift|)`` at pixel centres, so the sigmoid is about
    0.5 on the square's edges and its edges move with ``shift``."""
    rows = torch.arange(12, dtype=shift.dtype) + 0.5
    cols = torch.arange(20, dtype=shift.dtype) + 0.5
    inside_rows = 2 - (rows - 6).abs()
    inside_cols = 2 - (cols - 10 - shift).abs()
    return 4 * torch.minimum(inside_rows.view(12, 1), inside_cols.view(1, 20)).view(1, 1, 12, 20)


def _shifted_square(x: Tensor, axis: str) -> Call:
    """Shape losses: a soft predicted square shifted by ``x`` pixels against the target square
    (on the probability and logit axes, one pixel as :func:`_pixel`)."""
    if axis != "shift":
        return _pixel(x, axis)
    target = (_square_logits(x.new_zeros(())) > 0).to(x.dtype)
    return (_square_logits(x), target), {}


def _rotated(x: Tensor, axis: str) -> Call:
    """A ``(1, 5)`` cx, cy, w, h, angle box of 1 x 0.5 rotated by ``x`` (radians) or shifted by
    ``x`` box widths, against the same box unrotated at the origin."""
    zero = x.new_zeros(())
    shift, angle = (zero, x) if axis == "rotation" else (x, zero)
    pred = torch.stack([shift, zero, zero + 1, zero + 0.5, angle]).view(1, 5)
    return (pred, _float([[0.0, 0.0, 1.0, 0.5, 0.0]], x)), {}


def _coordinate_error(x: Tensor, axis: str) -> Call:
    """Box deltas ``(1, 4)``: an error ``x`` on the first coordinate, the others exact."""
    zero = x.new_zeros(())
    return (torch.stack([x, zero, zero, zero]).view(1, 4), x.new_zeros(1, 4)), {}


def _two_bins(x: Tensor, axis: str) -> Call:
    """Logits of bins 0 and 1 giving probability ``x`` to bin 1 (the expected distance),
    against the target distance 0.3."""
    return (_two_class(_logit_of(x, "probability"), 1).view(1, 2), _float([0.3], x)), {}


def _unit_embedding(x: Tensor) -> Tensor:
    """``(1, 3)``: a unit vector at angle ``x`` from ``e1`` in the ``e1, e2`` plane."""
    return torch.stack([torch.cos(x), torch.sin(x), x.new_zeros(())]).view(1, 3)


def _class_weights(x: Tensor, axis: str) -> Call:
    """An embedding of class 0 at angle ``x`` from its class weight ``e1``; class 1's weight
    ``e3`` is orthogonal to it at every ``x``."""
    weight = _float([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], x)
    return (_unit_embedding(x), torch.tensor([0]), weight), {}


def _norm_statistics(x: Tensor, axis: str) -> Call:
    """:func:`_class_weights` and the running mean and std 1 of the embedding norms (the
    embedding's norm is the mean: no quality adaptation)."""
    (embedding, labels, weight), _ = _class_weights(x, axis)
    return (embedding, labels, weight, x.new_ones(1), x.new_ones(1)), {}


def _sub_centres(x: Tensor, axis: str) -> Call:
    """Two sub-centres (proxies) per class, ``(2, 2, 3)``: class 0's at ``e1`` and ``e2``, so
    the embedding at angle ``x`` from ``e1`` is pulled to the nearer one; class 1's at ``e3``."""
    weight = _float([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], [[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]], x)
    return (_unit_embedding(x), torch.tensor([0]), weight), {}


def _triplet_and_boundary(x: Tensor, axis: str) -> Call:
    """:func:`_embeddings` and a shared boundary ``beta = 1.1``: the positive pair (distance 1)
    inside the margin (at the paper's initial 1.2 and margin 0.2 it would sit on the hinge,
    where rounding flips whether its term counts in the mean over non-zero terms)."""
    return (_triplet_points(x), torch.tensor([0, 0, 1]), _float([1.1], x)), {}


def _pair_batch(x: Tensor, axis: str) -> Call:
    """The two views stacked as rows with each sample's label on both (n-pair batches)."""
    return (torch.cat(_views(x, axis)), torch.tensor([0, 1, 0, 1])), {}


def _fixed_normal(*shape: int, like: Tensor, seed: int) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator, dtype=torch.float64).to(like.dtype)


def _image_pair(size: int) -> Callable[[Tensor, str], Call]:
    """``(input, target)`` images ``(1, 1, size, size)``: a smooth pattern in [0.25, 0.75] as
    target, plus ``x`` times a fixed unit Gaussian noise as input."""

    def inputs(x: Tensor, axis: str) -> Call:
        grid = torch.arange(size, dtype=x.dtype)
        target = 0.5 + 0.25 * torch.outer(
            torch.sin(2 * math.pi * grid / 32), torch.cos(2 * math.pi * grid / 40)
        )
        target = target.view(1, 1, size, size)
        noise = _fixed_normal(1, 1, size, size, like=x, seed=0)
        return (target + x * noise, target), {}

    return inputs


def _noisy_views(x: Tensor, axis: str) -> Call:
    """Two views ``(16, 8)`` of 16 unit-variance embeddings: the second exact, the first with
    ``x`` times a fixed unit Gaussian noise added."""
    key = _fixed_normal(16, 8, like=x, seed=0)
    return (key + x * _fixed_normal(16, 8, like=x, seed=1), key), {}


def _prediction_views(x: Tensor, axis: str) -> Call:
    """:func:`_views` with the rows that depend on ``x`` as ``query`` (the prediction), so a
    loss that stops the gradient through ``key`` still has one."""
    query, key = _views(x, axis)
    return (key, query), {}


def _patch_views(x: Tensor, axis: str) -> Call:
    """:func:`_prediction_views` as the ``(1, 2, 4)`` sampled patch features of one image."""
    (query, key), _ = _prediction_views(x, axis)
    return (query.unsqueeze(0), key.unsqueeze(0)), {}


def _two_points(x: Tensor, axis: str) -> Call:
    """Two unit embeddings at distance ``x``."""
    return (_triplet_points(x)[[0, 2]],), {}


def _features(x: Tensor, axis: str) -> Call:
    """One discriminator with one feature: fake ``x``, real 0."""
    return ([x.view(1, 1)], [x.new_zeros(1, 1)]), {}


# --- layouts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """How the losses of one family that take one list of positional arguments are probed:
    the axes they can be drawn against (the first is the default), the inputs built from ``x``
    on an axis, and options of the probe's own, passed where the loss takes them and the caller
    set none (one pixel of a segmentation loss is drawn with a sigmoid, so Dice and BCE see the
    same p; the probe's boxes live in a 4 x 4 image for MPDIoU)."""

    axes: tuple[str, ...]
    inputs: Callable[[Tensor, str], Call]
    options: Mapping[str, Any] = field(default_factory=dict)
    # axis labels that say more than the generic ones of AXES
    labels: Mapping[str, str] = field(default_factory=dict)


_PROBABILITY = ("probability", "logit")
_GAN_LABEL = {"logit": "discriminator logit (on fakes for G; on reals, fakes at 0, for D)"}
_PROXY_LABEL = {"angle": "angle to its class's proxy (radians; the other class's at 90 deg)"}
_SUB_CENTRE_LABEL = {
    "angle": "angle to sub-centre 1 of its class (radians; sub-centre 2 at 90 deg)"
}
_PIXEL = Layout((*_PROBABILITY, "shift"), _shifted_square, options={"activation": "sigmoid"})
_SHAPE = Layout(("shift",), _shifted_square, options={"activation": "sigmoid"})

# (family, required positional arguments) -> layout; where the losses that take the same
# arguments differ in what the arguments hold (a class index or a 0/1 target, rotated boxes),
# a dict of layouts by kind: a loss's kind is in KINDS, the kind "" is the family's default.
LAYOUTS: dict[tuple[str, tuple[str, ...]], Layout | dict[str, Layout]] = {
    ("regression", ("input", "target")): Layout(("error",), _error),
    ("classification", ("input", "target")): {
        "binary": Layout(_PROBABILITY, _binary),
        "index": Layout(_PROBABILITY, _class_index),
        "distribution": Layout(_PROBABILITY, _distribution),
    },
    # one pixel for the region losses; a shifted square for those that see shape (distances
    # to boundaries, skeletons): one pixel has none
    ("segmentation", ("input", "target")): {
        "": _PIXEL,
        "shape": _SHAPE,
        "softmax": Layout(_PROBABILITY, _softmax_pixel, options={"dist_matrix": [[0, 1], [1, 0]]}),
    },
    ("boxes", ("pred", "target")): {
        "": Layout(("offset", "iou"), _boxes, options={"image_size": (4.0, 4.0)}),
        "rotated": Layout(("rotation", "offset"), _rotated),
        "deltas": Layout(
            ("error",), _coordinate_error, labels={"error": "error d on one box coordinate"}
        ),
    },
    ("boxes", ("input", "target")): Layout(("bins",), _two_bins),
    ("metric", ("embeddings", "labels")): {
        "": Layout(("distance",), _embeddings),
        "pairs": Layout(("similarity", "negative"), _pair_batch),
    },
    ("metric", ("anchor", "positive", "negative")): Layout(("distance",), _triplet),
    ("metric", ("embeddings", "labels", "centers")): Layout(("distance",), _center),
    ("metric", ("embeddings", "labels", "beta")): Layout(("distance",), _triplet_and_boundary),
    # margin heads (ArcFace, ...) and proxy losses: the embedding against its class's vector
    ("metric", ("embeddings", "labels", "weight")): {
        "": Layout(("angle",), _class_weights),
        "sub_centres": Layout(("angle",), _sub_centres, labels=_SUB_CENTRE_LABEL),
    },
    ("metric", ("embeddings", "labels", "weight", "norm_mean", "norm_std")): Layout(
        ("angle",), _norm_statistics
    ),
    ("metric", ("embeddings", "labels", "proxies")): {
        "": Layout(("angle",), _class_weights, labels=_PROXY_LABEL),
        "sub_centres": Layout(("angle",), _sub_centres, labels=_SUB_CENTRE_LABEL),
    },
    # image-text and two-view pairs; the patches of one image (PatchNCE, whose key gets no
    # gradient: the rows that move are the query's)
    ("contrastive", ("query", "key")): {
        "": Layout(("similarity", "negative"), _pairs),
        "patches": Layout(("similarity", "negative"), _patch_views),
    },
    ("contrastive", ("features",)): Layout(("similarity", "negative"), _labelled_views),
    # dense losses have no positive pair to vary apart from its negatives
    ("contrastive", ("features", "mask")): Layout(("negative",), _forgery_map),
    # a regulariser of one image (total variation) against the height of a step edge
    ("synthesis", ("input",)): Layout(("step",), _step_edge),
    # image quality against the noise added to a 48 x 48 image (176 x 176 for the five
    # scales of MS-SSIM: 11-pixel windows at 1/16 of the size)
    ("quality", ("input", "target")): {
        "": Layout(("noise",), _image_pair(48)),
        "pyramid": Layout(("noise",), _image_pair(176)),
    },
    # two-view losses of batch statistics against the noise between the views; the
    # prediction losses (BYOL, SimSiam) against the similarity of one pair
    ("self_supervised", ("query", "key")): {
        "": Layout(("view_noise",), _noisy_views),
        "pairs": Layout(("similarity", "negative"), _prediction_views),
    },
    ("self_supervised", ("embeddings",)): Layout(
        ("distance",), _two_points, labels={"distance": "distance between two unit embeddings"}
    ),
    # reconstruction terms (cycle consistency, identity)
    ("adversarial", ("input", "target")): Layout(("error",), _error),
    ("adversarial", ("fake_features", "real_features")): Layout(
        ("error",), _features, labels={"error": "error d = fake - real feature"}
    ),
    # GAN objectives of the discriminator's logits
    ("adversarial", ("fake_logits",)): Layout(("logit",), _fake_logits, labels=_GAN_LABEL),
    ("adversarial", ("real_logits", "fake_logits")): Layout(
        ("logit",), _real_and_fake_logits, labels=_GAN_LABEL
    ),
    # penalties on the gradient of D at the samples
    ("adversarial", ("real_logits", "real")): Layout(("slope",), _r1),
    ("adversarial", ("critic", "real", "fake")): Layout(("slope",), _gradient_penalty),
}

# What the target of each classification loss is: 0/1 of the input's shape (sigmoid losses,
# a quality score in [0, 1] for the detection ones, drawn at 1), a class index (softmax
# losses) or a distribution over the classes.
CLASS_TARGETS: dict[str, str] = {
    "binary_cross_entropy": "binary",
    "focal": "binary",
    "sigmoid_poly": "binary",
    "asymmetric": "binary",
    "ghm_c": "binary",
    "quality_focal": "binary",
    "varifocal": "binary",
    "cross_entropy": "index",
    "softmax_focal": "index",
    "poly": "index",
    "softmax_asymmetric": "index",
    "seesaw": "index",
    "kl_divergence": "distribution",
    "js_divergence": "distribution",
}

# The kind of the losses whose arguments have several layouts (see LAYOUTS), when not the
# family's default "".
KINDS: dict[str, str] = {
    **CLASS_TARGETS,
    # segmentation: distances to the boundary, skeletons, erosions; MCC, whose true
    # negatives one pixel lacks
    "boundary": "shape",
    "mcc": "shape",
    "cldice": "shape",
    "dice_cldice": "shape",
    "hausdorff_dt": "shape",
    "hausdorff_er": "shape",
    # segmentation: softmax over two channels with a distance matrix between the classes
    "generalized_wasserstein_dice": "softmax",
    # boxes: (cx, cy, w, h, angle) boxes; encoded deltas compared coordinate by coordinate
    "probiou": "rotated",
    "kld": "rotated",
    "gwd": "rotated",
    "balanced_l1": "deltas",
    "ghm_r": "deltas",
    # contrastive: sampled patch features (B, N, C)
    "patch_nce": "patches",
    # metric: batches of positive pairs; several sub-centres per class
    "npair": "pairs",
    "subcenter_arcface": "sub_centres",
    "soft_triple": "sub_centres",
    # quality: multi-scale on a pyramid of five scales
    "ms_ssim": "pyramid",
    # self-supervised: a prediction against a target, one pair at a time
    "negative_cosine": "pairs",
}

# Options that mean a loss has no meaningful one-dimensional view, and the reason shown.
NO_VIEW: dict[str, str] = {
    "network": "compares two images through a feature network (its `network` argument, e.g. "
    "VGG-19 features): no one-dimensional view; see `visionloss show {name}`",
    # DINO
    "center": "a student-teacher cross entropy over prototypes whose value rests on training "
    "state (the teacher's running `center`, its temperature schedule): no one-dimensional "
    "view; see `visionloss show {name}`",
    # SwAV
    "sinkhorn_iterations": "predicts codes that a Sinkhorn-Knopp equipartition computes over "
    "the whole batch of prototype scores: no one-dimensional view of one sample; see "
    "`visionloss show {name}`",
}

# Sweeps drawn when a single loss is plotted without --sweep: (family, option) -> values (None:
# every word of the option's declared choices) and options fixed for the sweep.
# RetinaNet Fig. 1: focal loss against p_t for gamma in {0, 0.5, 1, 2, 5}, without alpha.
# The GAN objectives are drawn for every kind the library offers (minimax against
# non-saturating: Goodfellow et al. 2014, Fig. 1 of the NIPS tutorial); total variation for each
# of its per-pixel terms.
DEFAULT_SWEEPS: dict[tuple[str, str], tuple[tuple[Any, ...] | None, dict[str, Any]]] = {
    ("classification", "gamma"): ((0.0, 0.5, 1.0, 2.0, 5.0), {"alpha": None}),
    ("adversarial", "kind"): (None, {}),
    ("synthesis", "kind"): (None, {}),
}


# --- what a loss declares -------------------------------------------------------------------


def _signature(spec: LossSpec) -> tuple[tuple[str, ...], set[str] | None]:
    """The required positional arguments of ``spec``'s function and its keyword options (None
    when it takes any keyword), from its declaration (or, for a function that is not declared,
    its signature)."""
    try:
        decl = declaration(spec.function)
    except TypeError:  # not a declared loss: read the plain signature
        params = tuple(inspect.signature(spec.function).parameters.values())
        options: set[str] | None = set()
        for p in params:
            if p.kind is p.VAR_KEYWORD:
                options = None
            elif options is not None and (p.kind is p.KEYWORD_ONLY or p.default is not p.empty):
                options.add(p.name)
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    else:
        options = set(decl.keywords) | {p.name for p in decl.positional if p.default is not p.empty}
        positional = list(decl.positional)
    return tuple(p.name for p in positional if p.default is p.empty), options


def option_names(spec: LossSpec) -> set[str] | None:
    """The options ``spec``'s function takes by keyword (keyword-only ones, and positional ones
    with a default), or None when it takes any keyword (``**kwargs``)."""
    return _signature(spec)[1]


def takes_option(spec: LossSpec, option: str) -> bool:
    names = option_names(spec)
    return names is None or option in names


def _layout(spec: LossSpec) -> Layout | str:
    """The layout of ``spec``, or the one-line reason why it has none."""
    names, options = _signature(spec)
    for option, reason in NO_VIEW.items():
        if options is not None and option in options:
            return reason.format(name=spec.name)
    entry = LAYOUTS.get((spec.family, names))
    if isinstance(entry, dict):
        entry = entry.get(KINDS.get(spec.name, ""))
    if entry is None:
        return f"no probe fits its arguments ({', '.join(names)}) in the {spec.family} family"
    return entry


def default_axis(name: str) -> str | None:
    """The axis a loss is drawn against by default (None when it has no probe)."""
    layout = _layout(get_loss(name))
    return None if isinstance(layout, str) else layout.axes[0]


def _choices(spec: LossSpec, option: str) -> tuple[Any, ...]:
    """The words the declared option ``option`` of ``spec`` takes (empty if not a choice)."""
    try:
        checks = declaration(spec.function).checks.get(option, ())
    except TypeError:  # not a declared loss
        return ()
    return tuple(c for check in checks if isinstance(check, Choice) for c in check.choices)


def default_sweep(name: str) -> tuple[str, tuple[Any, ...], dict[str, Any]] | None:
    """``(option, values, fixed options)`` swept when ``name`` is plotted alone, or None."""
    spec = get_loss(name)
    for (family, option), (values, fixed) in DEFAULT_SWEEPS.items():
        if spec.family == family and takes_option(spec, option):
            values = values if values is not None else _choices(spec, option)
            if values:
                return option, values, {k: v for k, v in fixed.items() if _accepts(spec, k, v)}
    return None


def _accepts(spec: LossSpec, option: str, value: Any) -> bool:
    """Whether ``spec`` takes ``option`` and its declaration accepts ``value`` (focal's
    ``alpha=None`` is not varifocal's: there alpha weighs the negatives and is a number)."""
    if not takes_option(spec, option):
        return False
    try:
        decl = declaration(spec.function)
    except TypeError:  # not a declared loss: its call checks its options
        return True
    try:
        decl.check(option, value, decl.name)
    except errors.VisionLossError:
        return False
    return True


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


class OptionError(errors.OptionError):
    """The loss rejects an option value the caller gave (a user error: ``visionloss plot``
    prints it as one line, exit 2); the loss's own error is its ``__cause__``."""


class ProbeError(RuntimeError):
    """The probe's inputs give a loss no curve (not a scalar, not finite, constant): a bug in
    the loss or in its layout."""


class _Degenerate(Exception):
    """The curve under the caller's options is not a scalar, not finite or constant."""


def _one_line(err: BaseException) -> str:
    """``"ValueError: huber_loss: expected delta > 0, got -1"``: the built-in kind of a typed
    error (what a caller catches), then its message on one line."""
    text = " ".join(str(err).split()) or type(err).__name__
    if isinstance(err, _Degenerate):
        return text
    kind = next((k for k in (ValueError, TypeError) if isinstance(err, k)), type(err))
    return f"{kind.__name__}: {text[:160]}"


def _curve(
    fn: Callable[..., Tensor], layout: Layout, axis: Axis, options: dict[str, Any]
) -> tuple[list[float], list[float], list[float]]:
    """The loss and its derivative at each point of ``axis``: one call of ``fn`` per point."""
    xs, ys, dys = axis.grid(), [], []
    for x0 in xs:
        x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
        args, kwargs = layout.inputs(x, axis.name)
        loss = fn(*args, **kwargs, **options)
        if not isinstance(loss, Tensor) or loss.numel() != 1:
            shape = tuple(loss.shape) if isinstance(loss, Tensor) else type(loss).__name__
            raise _Degenerate(f"returned {shape}, not a scalar")
        grad = None
        if loss.requires_grad:
            (grad,) = torch.autograd.grad(loss.reshape(()), x, allow_unused=True)
        ys.append(float(loss.detach()))
        dys.append(0.0 if grad is None else float(grad))
    if not all(math.isfinite(v) for v in ys + dys):
        raise _Degenerate("non-finite values on this probe")
    if max(ys) - min(ys) <= 1e-12 * max(1.0, abs(ys[0])):
        raise _Degenerate("constant on this probe")
    return xs, ys, dys


def _describe(options: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in options.items())


def _shown(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else f"{value}"


# options never shown in a legend: they do not change a curve's shape, or are the probe's own
_QUIET = {"reduction", "gather", "ignore_index", "normalizer", "box_format", "image_size"}


def in_force(spec: LossSpec, options: dict[str, Any], first: str | None = None) -> str:
    """The options a curve is drawn with, for its legend: the caller's, and the declared
    numeric defaults (focal's alpha and gamma, a temperature, a margin); ``first`` leads."""
    shown: dict[str, Any] = {}
    try:
        decl = declaration(spec.function)
    except TypeError:
        decl = None
    if decl is not None:
        for p in decl.options:
            default = p.default
            if p.name in _QUIET or isinstance(default, bool):
                continue
            if isinstance(default, (int, float)) or p.name in options:
                shown[p.name] = options.get(p.name, default)
    shown.update({k: v for k, v in options.items() if k not in _QUIET})
    order = sorted(shown, key=lambda k: (k != first, list(shown).index(k)))
    return ", ".join(f"{k}={_shown(shown[k])}" for k in order)


def _check_options(spec: LossSpec, options: dict[str, Any]) -> None:
    """Check the caller's options against their declared option types before any curve, so a
    bad value is reported as the caller's even where a preset sweep skips what does not draw."""
    try:
        decl = declaration(spec.function)
    except TypeError:  # not a declared loss: its call checks them
        return
    for key, value in options.items():
        try:
            decl.check(key, value, decl.name)
        except errors.VisionLossError as err:
            raise OptionError(
                f"{spec.name}: {_describe({key: value})} rejected ({_one_line(err)})"
            ) from err


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

    ``options`` and ``sweep`` are the caller's: a value the loss rejects (a typed error of
    :mod:`visionloss.errors`, or no curve) raises :class:`OptionError` naming it. With
    ``preset=True`` the sweep is the library's own (:func:`default_sweep`) and a value that
    does not draw is skipped with a note. ``fixed`` are options of the library's own passed
    with each value. A loss that cannot be drawn gets a one-line ``reason``; anything else the
    loss raises propagates. ``points`` overrides the number of points."""
    spec = get_loss(name)
    layout = _layout(spec)
    if isinstance(layout, str):
        return ProbeResult(spec.name, reason=layout)
    axis_name = against or layout.axes[0]
    if axis_name not in layout.axes:
        return ProbeResult(
            spec.name,
            reason=f"no {axis_name!r} probe for {spec.name} (it has: {', '.join(layout.axes)})",
        )
    axis = AXES[axis_name]
    if points is not None:
        axis = dataclasses.replace(axis, points=points)
    _check_options(spec, dict(options or {}))
    own = {k: v for k, v in layout.options.items() if takes_option(spec, k)}
    result = ProbeResult(spec.name)
    values: Sequence[Any] = sweep[1] if sweep else [None]
    for value in values:
        opts = dict(options or {})
        if sweep:
            opts[sweep[0]] = value
        force = in_force(spec, {**(fixed or {}), **opts}, sweep[0] if sweep else None)
        label = f"{spec.name} ({force})" if force else spec.name
        try:
            xs, ys, dys = _curve(spec.function, layout, axis, {**own, **(fixed or {}), **opts})
        except (errors.VisionLossError, _Degenerate) as err:
            if not opts:  # the probe's own inputs and options: a bug in the loss or the layout
                if isinstance(err, _Degenerate):
                    raise ProbeError(f"{spec.name} against {axis.name}: {err}") from None
                raise
            if preset:
                result.notes.append(f"{label}: skipped ({_one_line(err)})")
                continue
            raise OptionError(
                f"{spec.name}: {_describe(opts)} rejected ({_one_line(err)})"
            ) from err
        xlabel = layout.labels.get(axis.name, axis.label)
        result.curves.append(Curve(label, axis.name, xlabel, xs, ys, dys))
    if not result.curves:
        result.reason = "no sweep value could be drawn: " + "; ".join(result.notes)
    elif preset and sweep and len(result.curves) > 1 and _all_equal(result.curves):
        # the library's sweep does not act on this view (varifocal's gamma shapes the
        # negatives only, the probe's target is a positive): one curve, and why
        once = probe(name, against=against, options=options, points=points)
        once.notes = [*result.notes, f"{sweep[0]} does not change {spec.name} on this view"]
        return once
    return result


def _all_equal(curves: list[Curve]) -> bool:
    first = curves[0].y
    return all(
        all(abs(a - b) <= 1e-12 * max(1.0, abs(a)) for a, b in zip(first, c.y)) for c in curves
    )
