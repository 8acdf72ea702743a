"""Sigmoid focal loss (RetinaNet), binary and multilabel."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .._core.declare import loss_function
from .._core.dtypes import compute_dtype, upcast
from .._core.numerics import focal_factor
from .._core.registry import register_loss
from . import _blockwise as blockwise
from ._blockwise import softplus_pair
from ._common import (
    CLASSIFICATION_DOCS,
    Alpha,
    FocalModule,
    IgnoreValue,
    Normalizer,
    binary_examples,
    binary_loss,
    binary_options,
    binary_terms,
    class_vector,
    combine_binary,
    focal_options,
)


class _SigmoidFocal(torch.autograd.Function):
    """Elementwise sigmoid focal loss for ``gamma > 0`` with a hand-derived backward.

    With ``l+ = log p``, ``l- = log(1 - p)``, ``p`` and ``q = 1 - p`` (each computed on its
    own, within 2 ulp for any finite logit: :func:`._blockwise.softplus_pair`), ``A = a y`` and
    ``B = (1 - a)(1 - y)``:

    ``L = -(A q^g l+ + B p^g l-)``,
    ``dL/dx = A q^g (g p l+ - q) + B p^g (p - g q l-)``

    (``dl+/dx = q``, ``dl-/dx = -p``, ``dq^g/dx = -g p q^g``, ``dp^g/dx = g q p^g``). The
    factors are powers of the sigmoids themselves, never of ``1 - p``, so nothing cancels,
    and every term stays finite for saturated logits. The forward computes the derivative
    with the value (they share every transcendental) and keeps only it: the backward is one
    multiplication, where the autograd graph of the same formula keeps about ten tensors of
    the input's size and runs as many kernels again. The inputs come in their own dtypes and
    are computed in float32 block by block (:mod:`._blockwise`).
    """

    @staticmethod
    def forward(
        ctx: Any,
        x: Tensor,
        y: Tensor,
        a: float | Tensor | None,
        gamma: float,
        grad: bool,
        total: bool,
    ) -> Tensor:
        return blockwise.forward(ctx, _focal_value, x, y, a, gamma, grad, total=total)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        return blockwise.backward(ctx, _generic_focal_terms, grad)


def _focal_value(
    x: Tensor, y: Tensor, a: float | Tensor | None, gamma: float, out: Tensor, d: Tensor | None
) -> None:
    """The elementwise loss of :class:`_SigmoidFocal` into ``out`` and, unless ``d`` is None,
    its derivative into ``d`` (computed in place: six temporaries of ``x``'s size)."""
    sn, sp, q, p = softplus_pair(x)  # -log p, -log(1 - p), 1 - p, p
    qa = q.pow(gamma).mul_(y)  # A q^g
    pb = p.pow(gamma)
    pb.addcmul_(pb, y, value=-1.0)  # B p^g
    if a is not None:
        qa.mul_(a)
        pb.mul_(1 - a)
    # A q^g (-log p) + B p^g (-log(1 - p)): each side apart, so an infinite log meets a zero
    # weight only where the logit is infinite (outside the contract: NaN or inf, as BCE)
    torch.mul(qa, sn, out=out).addcmul_(pb, sp)
    if d is not None:
        # A q^g (g p l+ - q) = -A q^g (g p sn + q), plus B p^g (p - g q l-) = B p^g (p + g q sp)
        minus = sn.mul_(p).mul_(gamma).add_(q).mul_(qa)
        torch.sub(sp.mul_(q).mul_(gamma).add_(p).mul_(pb), minus, out=d)


def _focal_terms(
    x: Tensor,
    y: Tensor,
    *,
    fn: str,
    alpha: float | Tensor | None,
    gamma: float,
    total: bool = False,
) -> Tensor:
    """The elementwise focal loss of ``x`` and ``y`` in their own dtypes (``raw_inputs``:
    the Function upcasts block by block, no float32 copy of either is made); with ``total``
    the Function path returns its sum (``sums``: the reduction sums either)."""
    dtype = compute_dtype(x, y)
    a = class_vector(alpha, x, "alpha", fn, dtype)
    if gamma != 0:
        # one autograd node, eager and compiled (inductor fuses its forward into one kernel;
        # the generic graph below compiles to a far slower one); the target is a constant
        # (the generic path below is taken when it needs a gradient)
        if not (y.requires_grad or (isinstance(a, Tensor) and a.requires_grad)):
            need = torch.is_grad_enabled() and x.requires_grad
            out: Tensor = _SigmoidFocal.apply(x, y, a, gamma, need, total)
            return out
    return _generic_focal_terms(upcast(x, dtype), upcast(y, dtype), a, gamma)


_focal_terms.raw_inputs = True  # type: ignore[attr-defined]
_focal_terms.sums = True  # type: ignore[attr-defined]


def _generic_focal_terms(x: Tensor, y: Tensor, a: float | Tensor | None, gamma: float) -> Tensor:
    """The elementwise focal loss as a plain autograd graph (targets or alpha with a gradient,
    ``gamma = 0``, and the second derivative of :class:`_SigmoidFocal`)."""
    pos, neg = binary_terms(x, from_logits=True)  # -log p, -log(1 - p)
    pos_scale: float | Tensor | None = None
    neg_scale: float | Tensor | None = None
    if gamma != 0:
        pos_scale = focal_factor(-pos, gamma)  # (1 - p)^gamma
        neg_scale = focal_factor(-neg, gamma)  # p^gamma = (1 - (1 - p))^gamma
    if a is not None:
        pos_scale = a if pos_scale is None else a * pos_scale
        neg_scale = (1 - a) if neg_scale is None else (1 - a) * neg_scale
    return combine_binary(y, pos, neg, pos_scale, neg_scale)


@loss_function(CLASSIFICATION_DOCS, options=(focal_options, binary_options))
def focal_loss(
    input: Tensor,
    target: Tensor,
    *,
    alpha: Alpha = 0.25,
    ignore_index: IgnoreValue = None,
    normalizer: Normalizer = None,
    **options: Any,
) -> Tensor:
    r"""Sigmoid focal loss (Lin et al. 2017): BCE on logits scaled down for easy examples.

    .. math::
        \ell_i = w_i \left[ \alpha\, y_i\, (1 - p_i)^\gamma \,(-\log p_i)
                 + (1 - \alpha)(1 - y_i)\, p_i^\gamma \,(-\log(1 - p_i)) \right],
        \quad p_i = \sigma(x_i)

    For a 0/1 target this is the paper's :math:`-\alpha_t (1 - p_t)^\gamma \log p_t`. The
    modulating factors are computed in log space, :math:`(1 - p)^\gamma =
    \exp(\gamma \log\sigma(-x))`, so they neither cancel nor produce ``0 ** gamma`` gradients
    for saturated logits. ``gamma=0, alpha=None`` runs exactly the operations of
    :func:`binary_cross_entropy_loss`: same values, same gradients.

    A soft target :math:`y \in (0, 1)` weights the two terms by :math:`y` and :math:`1 - y`
    (the expected focal loss of a Bernoulli(y) label), as kornia's
    ``binary_focal_loss_with_logits``. torchvision's ``sigmoid_focal_loss`` (which uses
    :math:`p_t = p y + (1-p)(1-y)`) and MONAI's ``FocalLoss`` agree with this on 0/1 targets
    only. A per-class ``alpha`` of shape ``(C,)`` weights the positives of class ``c`` by
    ``alpha[c]`` and its negatives by ``1 - alpha[c]`` (MONAI's sequence ``alpha`` leaves the
    negatives at 1).

    Degenerate cases: {{ignored}}; an all-zero ``weight`` gives 0.
    ``normalizer="positives"`` without any positive divides by 1, so the mean is then the sum.
    {{saturated}} This holds for every ``gamma >= 0``.

    Args:
        input: logits of any shape, e.g. ``(N, C, *)`` (multilabel) or ``(N,)``; floating.
        target: the same shape, values in [0, 1] (or ``ignore_index``).
        alpha: weight of the positive term (the negative term gets ``1 - alpha``): a number in
            [0, 1] (default 0.25, RetinaNet), a ``(C,)`` tensor along dim 1 (or a sequence of
            numbers), or None (off).
        ignore_index: target entries equal to this value contribute nothing and leave the mean.
        normalizer: for ``"mean"``, divide the sum by it (by 1 where it is <= 0) instead of the
            number of valid elements: ``"positives"`` (the sum of the valid targets, i.e. the
            number of positive entries for 0/1 targets, as RetinaNet's normalisation by the
            anchors assigned to a box), a finite number ``>= 0`` or a tensor of one finite
            value (e.g. a count all-reduced across processes).

    Shape:
        ``input``, ``target``: ``(*)``; output: scalar, or ``(*)`` for ``"none"`` (ignored
        entries hold 0).

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Lin et al., *Focal Loss for Dense Object Detection*, ICCV 2017, arXiv:1708.02002.

    Example:
        >>> import torch
        >>> x = torch.tensor([3.0, -3.0, 0.0])        # easy positive, hard positive, unsure
        >>> y = torch.ones(3)
        >>> focal_loss(x, y, alpha=None, gamma=2.0, reduction="none")
        tensor([1.0928e-04, 2.7663e+00, 1.7329e-01])
        >>> from visionloss import binary_cross_entropy_loss
        >>> binary_cross_entropy_loss(x, y, reduction="none")
        tensor([0.0486, 3.0486, 0.6931])
        >>> labels = torch.tensor([[1.0, 0.0, -1.0]])  # -1: ignored anchor
        >>> focal_loss(torch.zeros(1, 3), labels, ignore_index=-1, normalizer="positives")
        tensor(0.1733)
    """
    return binary_loss(
        input,
        target,
        _focal_terms,
        fn="focal_loss",
        alpha=alpha,
        ignore_index=ignore_index,
        normalizer=normalizer,
        **options,
    )


FocalLoss = register_loss(
    "focal",
    family="classification",
    function=focal_loss,
    module="FocalLoss",
    base=FocalModule,
    aliases=("sigmoid_focal",),
    formula="-alpha_t (1 - p_t)^gamma log p_t, p = sigmoid(x)",
    reference="Lin et al., Focal Loss for Dense Object Detection, ICCV 2017, arXiv:1708.02002",
    examples=binary_examples,
).module
