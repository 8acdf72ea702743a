"""Binary cross entropy on logits (default) or probabilities, with pos_weight along dim 1."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .._core.declare import loss_function
from .._core.dtypes import compute_dtype, upcast
from .._core.options import Bool
from .._core.registry import register_loss
from . import _blockwise as blockwise
from ._blockwise import negative_tail, softplus_pair
from ._common import (
    CLASSIFICATION_DOCS,
    PosWeight,
    binary_examples,
    binary_loss,
    binary_options,
    binary_terms,
    check_probabilities,
    class_vector,
    combine_binary,
    smoothing_options,
)

_PROBABILITIES = " with from_logits=False"


class _LogitBCE(torch.autograd.Function):
    """Binary cross entropy on logits, elementwise, with a hand-derived backward, in blocks
    (:mod:`._blockwise`): with ``w`` the positive weight (1 without ``pos_weight``) and
    ``y`` the (smoothed) target,

    ``L = w y softplus(-x) + (1 - y) softplus(x)``,
    ``dL/dx = (1 - y) sigmoid(x) - w y sigmoid(-x)``.

    The value is accurate for every finite logit: without ``pos_weight`` it is
    ``log1p(exp(-|x|)) + x (H(x) - y)``, ``H`` the step (torch's ``(1 - y) x -
    logsigmoid(x)`` cancels to 0 for y = 0, x < -17 in float32, where the loss is e^x), the
    tail within 2 ulp (:func:`._blockwise.negative_tail`; 0 where it is subnormal). The
    derivative without ``pos_weight`` is torch's ``sigmoid(x) - y`` (within an ulp of 1 of the
    exact one; where it matters, x > 17 with y = 1, it is below 4e-8): with both sigmoids
    apart the loss took 1.8x the time of ``binary_cross_entropy_with_logits``. Without
    ``pos_weight`` the graph keeps only the inputs and the backward takes ``sigmoid(x) - y``
    again block by block, in place in the gradient: peak 10.5 MiB there instead of 20 (torch
    19). A mean or sum (no weight, nothing ignored) is summed block by block and writes no
    loss of the input's size (``total``). (4, 19, 128, 256), one CPU thread, fwd+bwd: 1.01x
    (1.00-1.01) torch's time in the committed runs, bf16 0.97x (1.13x / 1.05x with
    ``softplus`` for the tail and the float ``aminmax`` of the target check; 1.45x with
    ``(1 - y) max(x, 0) - y min(x, 0)``, blocks of 2^16, the loss written whole and the
    derivative in a temporary). With
    ``pos_weight`` both softplus terms and both sigmoids are taken apart
    (:func:`._blockwise.softplus_pair`) and the forward keeps the derivative."""

    @staticmethod
    def forward(
        ctx: Any,
        x: Tensor,
        y: Tensor,
        pw: float | Tensor | None,
        eps: float,
        grad: bool,
        total: bool,
    ) -> Tensor:
        # without pos_weight the backward takes sigmoid(x) - y again, block by block (two
        # passes it saves in the forward): nothing of the input's size is kept (compiled,
        # inductor's partitioner moves sigmoid(x) - y into the forward's loop and keeps it,
        # as it does for torch's own loss)
        derivative = _bce_derivative if pw is None else None
        return blockwise.forward(ctx, _bce_value, x, y, pw, eps, grad, derivative, total)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        return blockwise.backward(ctx, _logit_terms, grad)


def _bce_value(
    x: Tensor, y: Tensor, pw: float | Tensor | None, eps: float, out: Tensor, d: Tensor | None
) -> None:
    """The loss of :class:`_LogitBCE` into ``out`` and its derivative into ``d``."""
    if eps:
        y = y * (1 - eps) + 0.5 * eps
    if pw is None:
        # log1p(exp(-|x|)) + x (H(x) - y), H the step (1 at x >= 0): x (1 - y) or -x y, the
        # one product rounded once, and no term cancels another (a comparison, three in-place
        # passes and torch's logsigmoid: (1 - y) max(x, 0) - y min(x, 0) took four more); the
        # derivative is taken in the backward (``_bce_derivative``), never into ``d``
        torch.ge(x, 0, out=out).sub_(y).mul_(x)
        if torch.compiler.is_compiling():  # inductor's logsigmoid adds min(|x|, 0) - ...
            out.add_(torch.log1p(torch.exp(-x.abs())))
        else:
            out.sub_(negative_tail(x))
        return
    sp_neg, sp_pos, sig_neg, sig_pos = softplus_pair(x)
    wy, not_y = y * pw, 1 - y
    torch.mul(wy, sp_neg, out=out).addcmul_(not_y, sp_pos)
    if d is not None:
        torch.mul(not_y, sig_pos, out=d).addcmul_(wy, sig_neg, value=-1.0)


def _bce_derivative(x: Tensor, y: Tensor, eps: float, out: Tensor | None) -> Tensor:
    """``sigmoid(x) - y`` (``y`` smoothed) of float32 blocks of :class:`_LogitBCE`, into
    ``out`` when given."""
    if eps:
        y = y * (1 - eps) + 0.5 * eps
    return torch.sigmoid(x, out=out).sub_(y)


def _logit_terms(x: Tensor, y: Tensor, pw: float | Tensor | None, eps: float) -> Tensor:
    return _plain_terms(x, y, pw, eps, True)


def _plain_terms(
    x: Tensor, y: Tensor, pw: float | Tensor | None, eps: float, from_logits: bool
) -> Tensor:
    """The elementwise loss as an autograd graph (probabilities, a target or ``pos_weight``
    with a gradient, and the second derivative of :class:`_LogitBCE`)."""
    if eps:
        y = y * (1 - eps) + 0.5 * eps
    pos, neg = binary_terms(x, from_logits)
    return combine_binary(y, pos, neg, pos_scale=pw)


def _bce_terms(
    x: Tensor,
    y: Tensor,
    *,
    fn: str,
    pos_weight: float | Tensor | None,
    label_smoothing: float,
    from_logits: bool,
    total: bool = False,
) -> Tensor:
    """The elementwise loss of ``x`` and ``y`` in their own dtypes (``raw_inputs``); with
    ``total`` the Function path returns its sum (``sums``: the reduction sums either)."""
    if not from_logits:  # NaN too: torch's binary_cross_entropy refuses it without our name
        check_probabilities(x, "input probabilities", fn, nan=False, condition=_PROBABILITIES)
    dtype = compute_dtype(x, y)
    pw = class_vector(pos_weight, x, "pos_weight", fn, dtype)
    eps = float(label_smoothing)
    if from_logits and not (y.requires_grad or (isinstance(pw, Tensor) and pw.requires_grad)):
        need = torch.is_grad_enabled() and x.requires_grad
        out: Tensor = _LogitBCE.apply(x, y, pw, eps, need, total)
        return out
    return _plain_terms(upcast(x, dtype), upcast(y, dtype), pw, eps, from_logits)


_bce_terms.raw_inputs = True  # type: ignore[attr-defined]
_bce_terms.sums = True  # type: ignore[attr-defined]


@loss_function(CLASSIFICATION_DOCS, options=(smoothing_options, binary_options))
def binary_cross_entropy_loss(
    input: Tensor,
    target: Tensor,
    *,
    pos_weight: PosWeight = None,
    from_logits: Bool = True,
    **options: Any,
) -> Tensor:
    r"""Binary cross entropy, elementwise, on logits (default) or on probabilities.

    .. math::
        \ell_i = -w_i \left[ \beta_c\, \tilde y_i \log \sigma(x_i)
                             + (1 - \tilde y_i) \log (1 - \sigma(x_i)) \right],
        \qquad \tilde y = (1 - \varepsilon)\, y + \varepsilon / 2

    with :math:`\beta_c` the ``pos_weight`` of the class :math:`c` of element :math:`i`. On
    logits the logs are ``logsigmoid(x)`` and ``logsigmoid(-x)``, exact for any finite logit.
    With ``from_logits=False`` the input holds probabilities and the logs are clamped at -100,
    as ``torch.nn.functional.binary_cross_entropy`` (prefer logits: they do not saturate).

    ``pos_weight`` of shape ``(C,)`` applies along the class dimension 1 of an ``(N, C, *)``
    input. ``torch.nn.functional.binary_cross_entropy_with_logits`` broadcasts ``pos_weight``
    against the *last* dimension instead: for ``(N, C)`` inputs the two agree, but for
    ``(N, C, H, W)`` torch needs ``pos_weight.view(C, 1, 1)``, and with ``W == C`` it silently
    weights image columns instead of classes. Label smoothing is symmetric.

    Degenerate cases: an empty input gives 0 for ``"mean"`` and ``"sum"``, attached to the
    graph (never NaN), and an empty tensor for ``"none"``; an all-zero ``weight`` gives 0 with
    zero gradients. A confident wrong logit ``x`` costs about ``|x|``.
    {{saturated}}
    With ``from_logits=False``, probabilities of exactly 0 or 1 are allowed: each log is
    clamped at -100, as in torch, so values and gradients stay finite.

    Args:
        input: logits (or probabilities in [0, 1] with ``from_logits=False``), any shape
            ``(N, C, *)``, ``(N,)``...; floating point.
        target: the same shape, values in [0, 1] (soft targets allowed; bool or integer 0/1
            targets are converted).
        pos_weight: weight of the positive term, finite and ``>= 0``: a number or a tensor of
            shape ``()`` or ``(C,)`` (applied along dim 1; a sequence of numbers is made a
            tensor).
        from_logits: True (default) for logits, False for probabilities.
        reduction: ``"mean"`` (over all elements, as torch), ``"sum"`` or ``"none"``.

    Shape:
        ``input``, ``target``: ``(*)``; output: scalar, or ``(*)`` for ``"none"``.

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Standard Bernoulli log-likelihood; ``pos_weight`` as in
        ``torch.nn.BCEWithLogitsLoss``; label smoothing: Szegedy et al., arXiv:1512.00567.

    Example:
        >>> import torch
        >>> x = torch.tensor([[0.0, 2.0]])
        >>> binary_cross_entropy_loss(x, torch.tensor([[1.0, 0.0]]), reduction="none")
        tensor([[0.6931, 2.1269]])
        >>> x = torch.zeros(1, 2, 3, 2)            # (N, C, H, W) with W == C
        >>> y = torch.ones(1, 2, 3, 2)
        >>> pw = torch.tensor([1.0, 3.0])          # class 1 positives count 3 times
        >>> binary_cross_entropy_loss(x, y, pos_weight=pw, reduction="none")[0, :, 0]
        tensor([[0.6931, 0.6931],
                [2.0794, 2.0794]])
    """
    return binary_loss(
        input,
        target,
        _bce_terms,
        fn="binary_cross_entropy_loss",
        pos_weight=pos_weight,
        from_logits=from_logits,
        **options,
    )


BinaryCrossEntropyLoss = register_loss(
    "binary_cross_entropy",
    family="classification",
    function=binary_cross_entropy_loss,
    module="BinaryCrossEntropyLoss",
    aliases=("bce",),
    formula="-[pos_weight_c y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))]",
    reference="Bernoulli log-likelihood; pos_weight as torch.nn.BCEWithLogitsLoss",
    examples=binary_examples,
).module
