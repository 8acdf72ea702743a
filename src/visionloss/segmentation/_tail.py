"""Steps 3 to 5 of the overlap pipeline (:mod:`._overlap`): from the ``(B', K)`` sums to the
loss (private).

The plain functions (:func:`dice_score`, :func:`tversky_score`, :func:`pair_losses`,
:func:`reduce_pairs`) are the reference and the ``torch.compile`` path, where inductor fuses
them. In eager mode they are about thirty small operations forward and as many autograd
nodes backward on ``(B, K)`` tensors, a fixed cost of about 150 us a call on one CPU thread
(half of a Dice loss's time at ``(2, 2, 32, 32)``, a third at ``(8, 3, 64, 64)``).
:func:`reduced_pair_losses` takes the Dice and Tversky scores through :class:`_PairTail`
instead: the same operations forward without a graph, and a hand-derived backward of about a
dozen operations. Values are the plain path's (the same operations in the same order);
gradients equal it to rounding.

With ``num``, ``den`` the score's numerator and denominator (``2 I + s_nr`` and ``P + G +
s_dr`` for Dice; ``I + s_nr`` and ``I + alpha (P - I) + beta (G - I) + s_dr`` for Tversky),
``s = num / den`` (1 where ``|den| < tiny``, zero gradient), ``L = 1 - s`` or, for an empty
pair under ``"penalize"``, ``S / max(n, 1)``, and the reduction ``sum_counted w L^gamma``
(divided by ``D = sum_counted w`` for the mean, 0 where ``D < tiny``):

``dL/dnum = -1 / den``, ``dL/dden = s / den``, and the score's linear coefficients carry them to
``I``, ``P`` and ``G``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .._core import numerics
from .._core.autograd import differentiable_grad, double_backward
from .._core.reduction import reduce_loss


@dataclass
class Stats:
    """Sums of one call: ``(B', K)`` each, ``count`` is ``(B', 1)``; ``B' = B`` per image, 1
    for whole-batch statistics.

    ``pred_sum`` is the denominator's ``P`` (``sum p^2`` when ``squared``); ``prob_sum`` is always
    the plain ``sum p`` (the same tensor when not ``squared``), which the empty-mask policy
    divides by ``n`` for the soft false-positive rate.
    """

    intersection: Tensor
    pred_sum: Tensor
    target_sum: Tensor
    count: Tensor
    prob_sum: Tensor


# ---------------------------------------------------------------- 3. scores


def _plus(x: Tensor, smooth: float) -> Tensor:
    return x + smooth if smooth else x  # x + 0.0 only turns -0.0 into +0.0


def dice_terms(st: Stats, smooth_nr: float, smooth_dr: float) -> tuple[Tensor, Tensor]:
    """``(2 I + s_nr, P + G + s_dr)``."""
    return _plus(2.0 * st.intersection, smooth_nr), _plus(st.pred_sum + st.target_sum, smooth_dr)


def dice_score(st: Stats, smooth_nr: float, smooth_dr: float) -> Tensor:
    """``(2 I + s_nr) / (P + G + s_dr)``; 1 (a perfect score) where the denominator is 0."""
    return numerics.div(*dice_terms(st, smooth_nr, smooth_dr), default=1.0)


def tversky_terms(
    st: Stats, smooth_nr: float, smooth_dr: float, *, alpha: float, beta: float
) -> tuple[Tensor, Tensor]:
    """``(I + s_nr, I + alpha FP + beta FN + s_dr)`` with ``FP = P - I``, ``FN = G - I``."""
    i = st.intersection
    fp, fn = st.pred_sum - i, st.target_sum - i
    return _plus(i, smooth_nr), _plus(i + alpha * fp + beta * fn, smooth_dr)


def tversky_score(
    st: Stats, smooth_nr: float, smooth_dr: float, *, alpha: float, beta: float
) -> Tensor:
    """``(I + s_nr) / (I + alpha FP + beta FN + s_dr)``; 1 where the denominator is 0."""
    terms = tversky_terms(st, smooth_nr, smooth_dr, alpha=alpha, beta=beta)
    return numerics.div(*terms, default=1.0)


# ---------------------------------------------------------------- 4. empty masks


def pair_losses(score: Tensor, st: Stats, empty: str) -> tuple[Tensor, Tensor]:
    """``(loss, counted)``, both ``(B', K)``: ``1 - score`` with the empty-mask policy.

    A pair is empty when its target has no mass over the valid pixels (``G = 0``).

    * ``"penalize"``: an empty pair's loss is its soft false-positive rate ``sum p / n`` (the
      mean predicted probability over its ``n`` valid pixels, also with ``squared``, where the
      denominator's ``P`` is ``sum p^2``): 0 for a clean prediction, 1 when every pixel is
      predicted as the class, gradient ``1/n`` on each false positive.
    * ``"include"``: the formula as is: with ``smooth = 0`` an empty pair with any false
      positive scores 0 (loss 1, zero gradient), with ``smooth > 0`` the loss is
      ``P / (P + s)``-like and pushes false positives down.
    * ``"exclude"``: empty pairs leave the mean.

    A pair without any valid pixel (everything ignored) leaves the mean in every mode.
    """
    loss = 1.0 - score
    has_pixels = (st.count > 0).expand_as(loss)
    present = st.target_sum > 0
    if empty == "penalize":
        fp_rate = st.prob_sum / st.count.clamp_min(1.0)
        return torch.where(present, loss, fp_rate), has_pixels
    if empty == "exclude":
        return loss, has_pixels & present
    return loss, has_pixels


# ---------------------------------------------------------------- 5. reduction


def reduce_pairs(
    loss: Tensor, counted: Tensor, class_weight: Tensor, reduction: str, fn: str
) -> Tensor:
    """Class-weighted reduction of ``(B', K)`` pair losses.

    ``"mean"`` is ``sum_{counted} w_k L / sum_{counted} w_k`` (a uniform weight changes nothing;
    nothing counted gives 0 with a graph); ``"sum"`` is ``sum_{counted} w_k L``; ``"none"``
    returns ``w_k L`` with pairs that are not counted set to 0.
    """
    w = class_weight.to(loss.dtype).expand_as(loss)
    denominator = torch.where(counted, w, torch.zeros_like(w)).sum()
    return reduce_loss(loss, reduction, fn=fn, mask=counted, weight=w, denominator=denominator)


# ---------------------------------------------------------------- 3 to 5 in one Function


@dataclass(frozen=True)
class _Spec:
    """The non-tensor arguments of steps 3 to 5."""

    score: Callable[..., Tensor]
    params: dict[str, float]
    smooth: tuple[float, float]
    empty: str
    gamma: float
    reduction: str
    fn: str


def _dice_coefficients() -> tuple[float, float, float, float]:
    return 2.0, 0.0, 1.0, 1.0


def _tversky_coefficients(*, alpha: float, beta: float) -> tuple[float, float, float, float]:
    return 1.0, 1.0 - alpha - beta, alpha, beta


# a score whose numerator and denominator are linear in (I, P, G): its terms, and their
# coefficients (dnum/dI, dden/dI, dden/dP, dden/dG) from the score's parameters
_LINEAR_SCORES: dict[Callable[..., Tensor], tuple[Callable[..., Any], Callable[..., Any]]] = {
    dice_score: (dice_terms, _dice_coefficients),
    tversky_score: (tversky_terms, _tversky_coefficients),
}


def _plain(st: Stats, class_weight: Tensor, spec: _Spec) -> Tensor:
    loss, counted = pair_losses(spec.score(st, *spec.smooth, **spec.params), st, spec.empty)
    powered = numerics.pow(loss, spec.gamma)
    return reduce_pairs(powered, counted, class_weight, spec.reduction, spec.fn)


def reduced_pair_losses(
    st: Stats,
    smooth: tuple[float, float],
    class_weight: Tensor,
    *,
    score: Callable[..., Tensor],
    empty: str,
    reduction: str,
    fn: str,
    gamma: float = 1.0,
    **params: float,
) -> Tensor:
    """``reduce_pairs(pair_losses(score(st, *smooth, **params))[0] ** gamma, ...)``: steps 3
    to 5 (``params``: the score's own, Tversky's ``alpha`` and ``beta``). Dice and Tversky
    scores take :class:`_PairTail` in eager mode; other scores, ``torch.compile``, and
    counts or class weights that require a gradient take the plain functions."""
    spec = _Spec(score, params, smooth, empty, float(gamma), reduction, fn)
    if (
        score not in _LINEAR_SCORES
        or torch.compiler.is_compiling()
        or st.count.requires_grad
        or class_weight.requires_grad
    ):
        return _plain(st, class_weight, spec)
    out: Tensor = _PairTail.apply(
        st.intersection, st.pred_sum, st.target_sum, st.prob_sum, st.count, class_weight, spec
    )
    return out


def _inverse(total: Tensor, tiny: float) -> Tensor | float:
    """The backward's ``1 / D`` of the mean, 0 where ``|D| < tiny``: a number when ``D`` is on
    the CPU (reading it is free there), a tensor elsewhere (no host sync)."""
    if total.device.type != "cpu":
        return numerics.reciprocal(total)
    d = float(total)
    return 1.0 / d if abs(d) >= tiny else 0.0


class _PairTail(torch.autograd.Function):
    """``(I, P, G, S, n, w) -> loss`` of :func:`reduced_pair_losses` (see the module doc).
    ``P`` and ``S`` are one tensor when not ``squared``: autograd adds their gradients."""

    @staticmethod
    def forward(
        ctx: Any,
        inter: Tensor,
        pred: Tensor,
        target: Tensor,
        prob: Tensor,
        count: Tensor,
        weight: Tensor,
        spec: _Spec,
    ) -> Tensor:
        st = Stats(inter, pred, target, count, prob)
        terms, coefficients = _LINEAR_SCORES[spec.score]
        num, den = terms(st, *spec.smooth, **spec.params)
        q, zero = numerics.div_value(num, den, 1.0)
        loss = 1.0 - q
        present = target > 0
        scale = None
        if spec.empty == "penalize":
            scale = count.clamp_min(1.0)
            loss = torch.where(present, loss, prob / scale)
        counted = (count > 0).expand_as(loss)
        if spec.empty == "exclude":
            counted = counted & present
        powered = loss if spec.gamma == 1.0 else numerics.pow_value(loss, spec.gamma)
        w = weight.to(loss.dtype).expand_as(loss)
        out = torch.where(counted, powered * w, 0.0)
        total_weight: Tensor | float | None = None
        if spec.reduction != "none":
            out = out.sum()
            if spec.reduction == "mean":
                total_weight = torch.where(counted, w, 0.0).sum()
                out = numerics.div(out, total_weight)
                total_weight = _inverse(total_weight, torch.finfo(out.dtype).tiny)
        ctx.save_for_backward(inter, pred, target, prob, count, weight)
        ctx.spec, ctx.coefficients = spec, coefficients(**spec.params)
        ctx.parts = (den, q, zero, present, scale, counted, w, loss, total_weight)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        spec = ctx.spec
        if double_backward():
            grads = differentiable_grad(_PairTail._plain_of(spec), ctx.saved_tensors, (grad,))
            return (*grads, None)
        den, q, zero, present, scale, counted, w, loss, total_weight = ctx.parts
        if total_weight is not None:  # 1 / D
            grad = grad * total_weight
        g_loss = torch.where(counted, grad * w, 0.0)
        if spec.gamma != 1.0:
            g_loss = g_loss * numerics.pow_slope(loss, spec.gamma)
        g_prob = None
        if scale is not None:
            g_prob = torch.where(present, 0.0, g_loss) / scale
            g_loss = torch.where(present, g_loss, 0.0)
        # d loss = -d score
        d_num, d_den = numerics.div_partials(den, q, zero)
        assert d_den is not None  # with_den
        g_score = -g_loss
        g_num, g_den = g_score * d_num, g_score * d_den
        c_num, c_inter, c_pred, c_target = ctx.coefficients
        g_inter = g_num if c_num == 1.0 else c_num * g_num
        if c_inter != 0.0:
            g_inter = g_inter + c_inter * g_den
        g_pred = g_den if c_pred == 1.0 else c_pred * g_den
        g_target = None
        if ctx.needs_input_grad[2]:
            g_target = g_den if c_target == 1.0 else c_target * g_den
        return g_inter, g_pred, g_target, g_prob, None, None, None

    @staticmethod
    def _plain_of(spec: _Spec) -> Callable[..., Tensor]:
        def plain(
            inter: Tensor, pred: Tensor, target: Tensor, prob: Tensor, count: Tensor, w: Tensor
        ) -> Tensor:
            return _plain(Stats(inter, pred, target, count, prob), w, spec)

        return plain
