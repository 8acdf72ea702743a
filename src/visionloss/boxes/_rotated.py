"""Oriented boxes ``(cx, cy, w, h, angle)`` as 2-D Gaussians (private): checks, option types,
docs, the Gaussian distances (Bhattacharyya, Kullback-Leibler, Wasserstein) and the
nonlinear transforms of the Gaussian box losses.

A box is the Gaussian :math:`\\mathcal N(\\mu, \\Sigma)` with :math:`\\mu = (c_x, c_y)` and
:math:`\\Sigma = s\\, R_\\theta \\operatorname{diag}(w^2, h^2) R_\\theta^\\top`: ``s = 1/4`` in
mmrotate's GWD and KLD, ``s = 1/12`` (the variance of a uniform distribution on the box) in
ProbIoU. Every quantity the losses need is written in closed form from the box parameters
(the determinants :math:`s^2 w^2 h^2`, the traces of products through
:math:`\\cos^2\\Delta\\theta` and :math:`\\sin^2\\Delta\\theta`, quadratic forms in each box's
own frame), so no 2x2 matrix is formed, inverted or square-rooted, no determinant suffers
cancellation, and every term is a function of :math:`2\\theta` and of the Gaussian: invariant to
the angle's period :math:`\\pi` and to ``(w, h, theta) -> (h, w, theta + pi/2)``.

Each pair is computed in its own frame: lengths are divided by the pair's largest length
(sides and centre offset, detached) and a side below ``1e-7`` of it counts as ``1e-7`` of it
(a zero-size box is a tiny box, finite with finite gradients).
"""

from __future__ import annotations

import math
from typing import Annotated, Any, NamedTuple

import torch
from torch import Tensor

from .._core import numerics
from .._core.checks import check_tensor, shape_str
from .._core.declare import DocParts
from .._core.dtypes import compute_dtype, upcast
from .._core.examples import Example, generator, uniform
from .._core.options import PER_CALL, Choice, NonNegative, Reduction
from .._core.reduction import reduce_loss
from ..errors import InputError
from ._geometry import check_boxes, check_pair

ANGLE_UNITS = ("radians", "degrees")
AngleUnit = Annotated[str, Choice(*ANGLE_UNITS)]
Transform = Annotated[str, Choice("log1p", "sqrt", "none")]
Weight = Annotated[Tensor | None, PER_CALL]
Normalizer = Annotated[Tensor | float | None, PER_CALL]
Tau = NonNegative
MIN_SIDE = 1e-7


def rotated_options(
    *,
    angle_unit: AngleUnit = "radians",
    weight: Weight = None,
    reduction: Reduction = "mean",
    normalizer: Normalizer = None,
) -> None:
    """The options every oriented-box loss takes."""


def transform_options(*, fun: Transform = "log1p", tau: Tau = 1.0) -> None:
    """The nonlinear transform of the Gaussian distance losses (KLD, GWD)."""


ROTATED_DOCS = DocParts(
    args={
        "pred": """``(..., 5)`` predicted oriented boxes ``(cx, cy, w, h, angle)``, floating
            point.""",
        "target": """``(..., 5)`` target oriented boxes, same shape.""",
        "angle_unit": """unit of the angle: ``"radians"`` (default) or ``"degrees"``. The
            angle's convention (le90, le135, oc: see :func:`regularize_rotated_boxes`) does not
            matter: the loss depends on the boxes' Gaussians only.""",
        "weight": """optional per-box weight broadcastable to ``(...)``.""",
        "reduction": """``"mean"`` (over boxes), ``"sum"`` or ``"none"``.""",
        "normalizer": """with ``"mean"``, divide the sum by it (by 1 where it is <= 0) instead
            of the number of boxes (e.g. the number of positive anchors).""",
        "fun": """nonlinear function :math:`f` of the distance: ``"log1p"`` (default),
            ``"sqrt"`` or ``"none"``.""",
        "tau": """:math:`\\tau \\ge 0`: with ``tau >= 1`` the loss is
            :math:`1 - 1 / (\\tau + f(d))` (default 1), below 1 it is :math:`f(d)` itself
            (mmrotate's ``postprocess``).""",
        "alpha": """weight of the centre term against the shape term (default 1, mmrotate's
            ``alpha``).""",
    },
    paragraphs={
        "invariance": """The loss is a function of the two Gaussians: invariant to the angle's
    period (:math:`\\theta + k\\pi`) and to swapping ``w`` and ``h`` with a quarter turn, so it
    has no boundary discontinuity; a square box's angle does not matter.""",
        "degenerate": """Degenerate cases: no boxes give 0 for ``"mean"`` and ``"sum"``,
    attached to the graph; zero-size boxes (``w = 0`` or ``h = 0``) and angles at
    :math:`\\pm\\pi/2` give finite values and gradients (a side below ``1e-7`` of the pair's
    largest length counts as ``1e-7`` of it, with a zero gradient). Identical boxes give 0.""",
        "shape": """Shape:
                ``pred``, ``target``: ``(..., 5)``; output: scalar, or ``(...)`` for
                ``"none"``.

            Returns:
                the loss; float32 for fp16/bf16 inputs.""",
    },
)


_FIELDS = " (cx, cy, w, h, angle)"


def check_rotated(boxes: object, name: str, fn: str) -> Tensor:
    """A floating tensor whose last dimension is 5."""
    return check_boxes(boxes, name, fn, 5, _FIELDS)


def check_rotated_pair(pred: object, target: object, fn: str) -> tuple[Tensor, Tensor]:
    """Check a ``pred, target`` pair of rotated boxes of the same shape ``(..., 5)``."""
    return check_pair(pred, target, fn, 5, _FIELDS)


def radians(angle: Tensor, angle_unit: str) -> Tensor:
    return angle * (math.pi / 180.0) if angle_unit == "degrees" else angle


class PairFrame(NamedTuple):
    """One pair of boxes in its own frame: centre offset ``(dx, dy) = pred - target``, sides
    (floored) and the angle difference's ``cos^2``, ``sin^2``, each angle's cos and sin, and
    the frame's length ``k`` (detached)."""

    dx: Tensor
    dy: Tensor
    wp: Tensor
    hp: Tensor
    wt: Tensor
    ht: Tensor
    cp: Tensor
    sp: Tensor
    ct: Tensor
    st: Tensor
    cos2: Tensor
    sin2: Tensor
    k: Tensor


def pair_frame(pred: Tensor, target: Tensor, angle_unit: str) -> PairFrame:
    xp, yp, wp, hp, tp = pred.unbind(-1)
    xt, yt, wt, ht, tt = target.unbind(-1)
    tp, tt = radians(tp, angle_unit), radians(tt, angle_unit)
    dx, dy = xp - xt, yp - yt
    lengths = torch.stack([wp.abs(), hp.abs(), wt.abs(), ht.abs(), dx.abs(), dy.abs()], -1)
    tiny = torch.finfo(pred.dtype).tiny
    k = lengths.detach().amax(-1).clamp_min(tiny / MIN_SIDE)
    k = torch.where(torch.isfinite(k), k, torch.ones_like(k))

    def side(v: Tensor) -> Tensor:
        return (v / k).clamp_min(MIN_SIDE)

    delta = tp - tt
    cos2 = 0.5 * (1 + torch.cos(2 * delta))
    sin2 = 0.5 * (1 - torch.cos(2 * delta))
    ct, st = torch.cos(tt), torch.sin(tt)
    wt, ht = side(wt), side(ht)
    # the target written with the quarter turn that brings its angle within pi/4 of pred's
    # (the same Gaussian): near-identical boxes then differ by small numbers everywhere, and
    # the closed forms below lose no accuracy to cancellation
    turn = cos2 < sin2
    wt, ht = torch.where(turn, ht, wt), torch.where(turn, wt, ht)
    cos2, sin2 = torch.where(turn, sin2, cos2), torch.where(turn, cos2, sin2)
    ct, st = torch.where(turn, -st, ct), torch.where(turn, ct, st)
    return PairFrame(
        dx / k, dy / k, side(wp), side(hp), wt, ht,
        torch.cos(tp), torch.sin(tp), ct, st, cos2, sin2, k,
    )  # fmt: skip


def local_square(f: PairFrame, pred_frame: bool) -> tuple[Tensor, Tensor]:
    """The centre offset's squared coordinates along the sides of pred (or target)."""
    c, s = (f.cp, f.sp) if pred_frame else (f.ct, f.st)
    u = f.dx * c + f.dy * s
    v = -f.dx * s + f.dy * c
    return u * u, v * v


def bhattacharyya(f: PairFrame, scale: float) -> Tensor:
    """Bhattacharyya distance of the two Gaussians (covariance ``scale R diag(w^2, h^2) R^T``).

    ``BD = 1/8 d^T S^{-1} d + 1/2 log(det S / sqrt(det S_p det S_t))``, ``S = (S_p + S_t)/2``:
    with ``D = det(S_p + S_t) / scale^2`` written as a sum of positive terms."""
    wp2, hp2, wt2, ht2 = f.wp**2, f.hp**2, f.wt**2, f.ht**2
    d = wp2 * hp2 + wt2 * ht2 + f.cos2 * (hp2 * wt2 + wp2 * ht2) + f.sin2 * (hp2 * ht2 + wp2 * wt2)
    up, vp = local_square(f, True)
    ut, vt = local_square(f, False)
    # d^T adj(S_p + S_t) d / det(S_p + S_t); numerics.div keeps the backward pass finite for
    # sides near the floor (1 / d^2 would overflow float32)
    quad = numerics.div(hp2 * up + wp2 * vp + ht2 * ut + wt2 * vt, scale * d)
    # log(d / 4P), P = wp hp wt ht, with d - 4P written as a sum of squares (exact, 0 for the
    # same box)
    p4 = 4 * f.wp * f.hp * f.wt * f.ht
    excess = (
        (f.wp * f.hp - f.wt * f.ht) ** 2
        + f.cos2 * (f.hp * f.wt - f.wp * f.ht) ** 2
        + f.sin2 * (f.hp * f.ht - f.wp * f.wt) ** 2
    )
    return 0.25 * quad + 0.5 * torch.log1p(numerics.div(excess, p4))


def kullback_leibler(f: PairFrame, scale: float, alpha: float) -> Tensor:
    """KL(N_t || N_p), mmrotate's ``kld_loss`` (its ``Sigma_p_inv`` fixes the direction), with
    the centre term divided by ``alpha^2``."""
    wp2, hp2, wt2, ht2 = f.wp**2, f.hp**2, f.wt**2, f.ht**2
    up, vp = local_square(f, True)
    div = numerics.div
    centre = (div(up, wp2) + div(vp, hp2)) / scale
    # tr(Sp^-1 St) - 2 - log det(Sp^-1 St) = phi(a) + phi(b) + sin^2 (c + e - a - b) with
    # a = wt^2/wp^2, b = ht^2/hp^2, phi(a) = a - 1 - log a >= 0 (no cancellation at a = 1
    # beyond its own size) and c + e - a - b = (ht^2 - wt^2)(hp^2 - wp^2) / (wp^2 hp^2)
    am1, bm1 = div(wt2 - wp2, wp2), div(ht2 - hp2, hp2)
    phi = (am1 - torch.log1p(am1)) + (bm1 - torch.log1p(bm1))
    cross = div((ht2 - wt2) * (hp2 - wp2), wp2 * hp2)
    return 0.5 * centre / (alpha * alpha) + 0.5 * (phi + f.sin2 * cross)


def wasserstein_sq(f: PairFrame, scale: float, alpha: float) -> tuple[Tensor, Tensor]:
    """Squared 2-Wasserstein distance (in the pair's frame) as mmrotate's ``gwd_loss``:
    ``|d|^2 + alpha^2 (tr S_p + tr S_t - 2 tr((S_p^1/2 S_t S_p^1/2)^1/2))``, and
    ``sqrt(det S_p det S_t)``."""
    wp2, hp2, wt2, ht2 = f.wp**2, f.hp**2, f.wt**2, f.ht**2
    prod_tr = f.cos2 * (wp2 * wt2 + hp2 * ht2) + f.sin2 * (wp2 * ht2 + hp2 * wt2)
    det_sqrt = f.wp * f.hp * f.wt * f.ht
    coupling = numerics.sqrt(prod_tr + 2 * det_sqrt)
    # S - 2X = (S^2 - 4X^2) / (S + 2X), S = sum of the squared sides, X the coupling: the
    # numerator in closed form vanishes with the difference of the boxes (no cancellation)
    total = wp2 + hp2 + wt2 + ht2
    num = ((f.wp - f.wt) ** 2 + (f.hp - f.ht) ** 2) * ((f.wp + f.wt) ** 2 + (f.hp + f.ht) ** 2)
    num = num + 4 * f.sin2 * (wp2 - hp2) * (wt2 - ht2)
    shape = scale * numerics.div(num, total + 2 * coupling)
    return f.dx**2 + f.dy**2 + alpha * alpha * shape.clamp_min(0), scale * scale * det_sqrt


def postprocess(distance: Tensor, fun: str, tau: float) -> Tensor:
    """mmrotate's ``postprocess``: ``f(d)``, then ``1 - 1/(tau + f(d))`` when ``tau >= 1``."""
    if fun == "log1p":
        distance = torch.log1p(distance)
    elif fun == "sqrt":
        distance = numerics.sqrt(distance)
    if tau >= 1.0:
        return 1 - 1 / (tau + distance)
    return distance


def rotated_loss(
    terms: Any,
    pred: Tensor,
    target: Tensor,
    *,
    fn: str,
    angle_unit: str,
    weight: Tensor | None,
    reduction: str,
    normalizer: Tensor | float | None,
    **options: Any,
) -> Tensor:
    """Check the pair, compute ``terms(frame, **options)`` per box in the compute dtype and
    reduce."""
    pred, target = check_rotated_pair(pred, target, fn)
    dtype = compute_dtype(pred, target)
    f = pair_frame(upcast(pred, dtype), upcast(target, dtype), angle_unit)
    loss = terms(f, **options)
    w = None
    if weight is not None:
        w = check_tensor(weight, "weight", fn, floating=True).to(dtype)
        try:
            ok = torch.broadcast_shapes(tuple(w.shape), tuple(loss.shape)) == tuple(loss.shape)
        except RuntimeError:
            ok = False
        if not ok:
            raise InputError(
                f"{fn}: expected weight broadcastable to {shape_str(loss.shape)}, got "
                f"{shape_str(w)}"
            )
    return reduce_loss(loss, reduction, fn=fn, weight=w, normalizer=normalizer)


def rotated_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """``pred, target`` ``(8, 5)`` oriented boxes: sides in (1, 3), centre offsets below a
    side, angles anywhere in ``(-pi, pi)``."""
    gen = generator(seed)
    n = 8
    centre = uniform(n, 2, dtype=torch.float64, gen=gen, hi=4.0)
    wh = uniform(n, 2, dtype=torch.float64, gen=gen, lo=1.0, hi=3.0)
    angle = uniform(n, 1, dtype=torch.float64, gen=gen, lo=-math.pi, hi=math.pi)
    shift = uniform(n, 2, dtype=torch.float64, gen=gen, lo=-0.5, hi=0.5)
    k = uniform(n, 2, dtype=torch.float64, gen=gen, lo=0.7, hi=1.3)
    turn = uniform(n, 1, dtype=torch.float64, gen=gen, lo=-0.6, hi=0.6)
    pred = torch.cat([centre, wh, angle], -1)
    target = torch.cat([centre + shift, wh * k, angle + turn], -1)
    return Example((pred.to(dtype), target.to(dtype)))
