"""Shared maths and checks of the classification family (private).

Everything here works on logits of shape ``(N, C, *)`` with the class dimension at 1, the
layout of ``torch.nn.functional.cross_entropy`` and of image models (``(N, C, H, W)``).
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .._core.checks import (
    check_fraction,
    check_labels,
    check_same_shape,
    check_tensor,
    shape_str,
    values_checkable,
)
from .._core.module import LossModule
from .._core.reduction import REDUCTIONS, reduce_loss, safe_divide

Number = int | float


# ----------------------------------------------------------------------------- option checks
def check_gamma(gamma: float, fn: str) -> None:
    """The focusing parameter: a finite number ``>= 0``."""
    if not isinstance(gamma, Real) or not 0.0 <= float(gamma) < math.inf:
        raise ValueError(f"{fn}: expected gamma >= 0, got {gamma!r}")


def check_alpha(alpha: object, fn: str) -> None:
    """``alpha`` is None, a number in [0, 1], or a 1-D tensor of per-class values in [0, 1]."""
    if alpha is None:
        return
    if isinstance(alpha, Tensor):
        if alpha.dim() > 1:
            raise ValueError(
                f"{fn}: expected alpha to be a number or a (C,) tensor, got shape {shape_str(alpha)}"
            )
        if not alpha.is_floating_point():
            raise TypeError(
                f"{fn}: expected alpha to be a floating-point tensor, got {alpha.dtype}"
            )
        if values_checkable(alpha) and alpha.numel() and bool(((alpha < 0) | (alpha > 1)).any()):
            raise ValueError(f"{fn}: expected alpha in [0, 1], got {alpha.tolist()}")
        return
    check_fraction(alpha, "alpha", fn)


def check_temperature(temperature: float, fn: str) -> None:
    if not isinstance(temperature, Real) or not 0.0 < float(temperature) < math.inf:
        raise ValueError(f"{fn}: expected temperature > 0, got {temperature!r}")


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
    the shape of ``input``; raise TypeError / ValueError otherwise."""
    check_tensor(target, "target", fn)
    if target.dtype == torch.bool or target.is_complex():
        raise TypeError(
            f"{fn}: expected target of integer class indices or floating probabilities, "
            f"got {target.dtype}"
        )
    locations = location_shape(input)
    if not target.is_floating_point():
        if tuple(target.shape) != locations:
            raise ValueError(
                f"{fn}: expected target of shape {shape_str(locations)} (class indices) matching "
                f"input {shape_str(input)}, got {shape_str(target)}"
            )
        return True
    if target.shape != input.shape:
        raise ValueError(
            f"{fn}: expected target of shape {shape_str(input)} (probabilities) or "
            f"{shape_str(locations)} (integer class indices) matching input {shape_str(input)}, "
            f"got {shape_str(target)}"
        )
    return False


def check_binary_target(
    input: Tensor, target: Tensor, fn: str, ignore_index: float | None = None
) -> None:
    """``target`` has the shape of ``input``, a real dtype, and (on the CPU) values in [0, 1]."""
    check_tensor(target, "target", fn)
    if target.is_complex():
        raise TypeError(f"{fn}: expected a real target, got {target.dtype}")
    check_same_shape(input, target, fn)
    if target.numel() == 0 or not values_checkable(target) or target.dtype == torch.bool:
        return
    values = target.detach()
    values = values if ignore_index is None else values[values != ignore_index]
    if values.numel() and bool(((values < 0) | (values > 1)).any()):
        ignore = "" if ignore_index is None else f" (or ignore_index={ignore_index})"
        raise ValueError(
            f"{fn}: expected target values in [0, 1]{ignore}, got values in "
            f"[{float(values.min())}, {float(values.max())}]"
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
    value: Number | Tensor | None, input: Tensor, name: str, fn: str, dtype: torch.dtype
) -> float | Tensor | None:
    """A per-class option (``pos_weight``, ``alpha``) applied along dim 1 of ``(N, C, *)``.

    None stays None, a number stays a float, a 0-dim or one-element tensor broadcasts as a
    scalar, and a ``(C,)`` tensor is viewed as ``(1, C, 1, ..., 1)``, so it never lands on the
    last (width) dimension by accident.
    """
    if value is None:
        return None
    if isinstance(value, Real):
        return float(value)
    if not isinstance(value, Tensor):
        raise TypeError(
            f"{fn}: expected {name} to be a number or a tensor, got {type(value).__name__}"
        )
    if not value.is_floating_point():
        raise TypeError(f"{fn}: expected {name} to be a floating-point tensor, got {value.dtype}")
    value = value.to(device=input.device, dtype=dtype)
    if value.dim() == 0 or (value.dim() == 1 and value.numel() == 1 and input.dim() < 2):
        return value.reshape(())
    channels = input.shape[1] if input.dim() >= 2 else None
    if value.dim() != 1 or channels is None or value.numel() != channels:
        want = f"() or ({channels},)" if channels is not None else "()"
        raise ValueError(
            f"{fn}: expected {name} of shape {want}, one value per class along dim 1 of input "
            f"{shape_str(input)}, got {shape_str(value)}"
        )
    return value.reshape(1, channels, *([1] * (input.dim() - 2)))


def class_weight(
    weight: Tensor | None, num_classes: int, fn: str, dtype: torch.dtype, device: torch.device
) -> Tensor | None:
    """A ``(C,)`` floating class-weight vector (or None)."""
    if weight is None:
        return None
    check_tensor(weight, "weight", fn, floating=True)
    if tuple(weight.shape) != (num_classes,):
        raise ValueError(
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
    """An elementwise weight broadcastable to ``shape`` (or None)."""
    if weight_map is None:
        return None
    check_tensor(weight_map, name, fn, floating=True)
    try:
        torch.broadcast_shapes(tuple(weight_map.shape), tuple(shape))
    except RuntimeError:
        raise ValueError(
            f"{fn}: expected {name} broadcastable to {shape_str(shape)}, got "
            f"{shape_str(weight_map)}"
        ) from None
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


def log1mexp(x: Tensor) -> Tensor:
    """``log(1 - exp(x))`` for ``x <= 0``, accurate everywhere (Maechler 2012) and with finite
    gradients: ``x`` is kept below ``-tiny`` so ``x = 0`` (a probability of exactly 1) gives a
    large finite negative value instead of ``-inf`` and a zero gradient instead of NaN."""
    tiny = torch.finfo(x.dtype).tiny
    near = torch.log(-torch.expm1(x.clamp(max=-tiny)))
    far = torch.log1p(-torch.exp(x.clamp(max=-math.log(2.0))))
    return torch.where(x > -math.log(2.0), near, far)


def modulating_factor(log_one_minus_p: Tensor, gamma: float) -> Tensor:
    """``(1 - p)^gamma`` computed as ``exp(gamma * log(1 - p))``: no ``0 ** gamma`` and no
    cancellation in ``1 - p`` when ``p`` is close to 1."""
    return torch.exp(gamma * log_one_minus_p)


def check_kl_reduction(reduction: str, fn: str) -> str:
    """``"batchmean" | "mean" | "sum" | "none"`` for divergences."""
    if not isinstance(reduction, str) or reduction not in ("batchmean", *REDUCTIONS):
        raise ValueError(
            f"{fn}: expected reduction to be one of 'batchmean', 'mean', 'sum', 'none', "
            f"got {reduction!r}"
        )
    return reduction


def reduce_divergence(values: Tensor, reduction: str, fn: str) -> Tensor:
    """Reduce per-distribution values of shape ``(N, *)``: ``"batchmean"`` sums and divides by
    ``N``; ``"mean"`` averages over the ``N * prod(*)`` distributions."""
    check_kl_reduction(reduction, fn)
    if reduction == "batchmean":
        return safe_divide(values.sum(), float(values.shape[0]))
    return reduce_loss(values, reduction, fn=fn)


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
        raise ValueError(
            f"{fn}: expected target of shape {shape_str(input)} matching input, "
            f"got {shape_str(target)}"
        )
    check_temperature(temperature, fn)
    dtype = torch.float64 if torch.float64 in (input.dtype, target.dtype) else torch.float32
    x, y = input.to(dtype), target.to(dtype)
    if temperature != 1:
        x, y = x / temperature, y / temperature
    return F.log_softmax(x, dim=1), F.log_softmax(y, dim=1)


def kl_terms(log_p: Tensor, log_q: Tensor) -> Tensor:
    """``sum_c p_c (log p_c - log q_c)`` over dim 1: KL(P || Q) per distribution.

    Terms with ``p_c = 0`` are 0 (the limit of ``p log p``), with finite gradients (both logs
    are replaced before the product, so no ``0 * inf`` reaches the backward pass). A term with
    ``p_c > 0 = q_c`` makes the divergence ``+inf``; that infinity is added as a constant, so the
    gradient is the (finite) gradient of the other terms rather than NaN.
    """
    p = log_p.exp()
    infinite = (p > 0) & torch.isneginf(log_q)
    support = (p > 0) & ~infinite
    zero = log_p.new_zeros(())
    diff = torch.where(support, log_p, zero) - torch.where(support, log_q, zero)
    finite = torch.where(support, p * diff, zero).sum(1)
    return finite + torch.where(infinite.any(1), float("inf"), 0.0).to(finite.dtype)


class DivergenceModule(LossModule):
    """Module base of the divergences, whose ``reduction`` also admits ``"batchmean"`` (the
    base class checks ``"mean" | "sum" | "none"`` only, so the word is kept out of it)."""

    def __init__(self, *, reduction: str = "batchmean", **options: Any) -> None:
        check_kl_reduction(reduction, type(self).__name__)
        super().__init__(**options)
        self.reduction = reduction

    def options(self) -> dict[str, Any]:
        return {**super().options(), "reduction": self.reduction}
