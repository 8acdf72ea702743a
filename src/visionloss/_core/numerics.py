"""The library's one set of guarded elementwise primitives.

Each function gives finite values and finite gradients for every finite input, subnormals
included, and lets NaN and infinite inputs through (a NaN in gives a NaN out, so a GradScaler
still sees it). A
magnitude below ``tiny`` (the dtype's smallest normal number) counts as zero: there the
function returns its documented limit with a zero gradient. Where the exact result or its
derivative would overflow, it is clamped to the dtype's largest finite value.

``div``, ``sqrt`` and ``pow`` are ``torch.autograd.Function`` s whose backward applies the same
guards (autograd's own formulas divide by squares, which underflow for subnormal inputs); their
backward passes are written with differentiable operations, so double backward (gradient
penalties) works.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

__all__ = ["div", "sqrt", "pow", "norm", "inverse_norm", "log1mexp", "focal_factor"]


def _limits(x: Tensor) -> tuple[float, float]:
    info = torch.finfo(x.dtype)
    return info.tiny, info.max


def _is_zero(x: Tensor, tiny: float) -> Tensor:
    """``|x| < tiny``: False for NaN, so NaN takes the ordinary path and propagates."""
    return x.abs() < tiny


def div_value(num: Tensor, den: Tensor, default: float) -> tuple[Tensor, Tensor]:
    """``(q, zero)``: the value of :func:`div` on plain tensors (no autograd Function), and
    the mask ``|den| < tiny`` where ``q`` is ``default``. For hand-written backward passes that
    take :func:`div` apart (with :func:`div_partials`)."""
    tiny, big = _limits(num)
    zero = _is_zero(den, tiny)
    q = num / den.masked_fill(zero, 1.0)
    q = torch.where(num.isinf(), q, q.clamp(-big, big))  # overflow of finite inputs only
    return q.masked_fill_(zero, default), zero


def _reciprocal(den: Tensor, zero: Tensor) -> Tensor:
    # no clamp needed where |den| >= tiny: at most 1 / tiny, a finite number
    return den.masked_fill(zero, 1.0).reciprocal().masked_fill(zero, 0.0)


def reciprocal(den: Tensor) -> Tensor:
    """``1 / den``, 0 where ``|den| < tiny`` (:func:`div`'s derivative for the numerator)."""
    return _reciprocal(den, _is_zero(den, _limits(den)[0]))


def div_partials(
    den: Tensor, q: Tensor, zero: Tensor, with_den: bool = True
) -> tuple[Tensor, Tensor | None]:
    """``(dq/dnum, dq/dden)`` of :func:`div_value`'s ``(q, zero)``: ``1 / den`` and ``-q /
    den`` (clamped to the dtype's range), 0 where ``zero``; the second only ``with_den``."""
    d_num = _reciprocal(den, zero)
    if not with_den:
        return d_num, None
    _, big = _limits(q)
    return d_num, (-q * d_num).clamp(-big, big)  # 0 where den is 0: d_num is


class _Div(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, num: Tensor, den: Tensor, default: float) -> Tensor:
        q, zero = div_value(num, den, default)
        ctx.save_for_backward(den, q, zero)
        ctx.num_shape = num.shape
        return q

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor | None, None]:
        # the zero mask is the forward's: eight operations instead of thirteen, on a Dice
        # loss's (B, C) tail a good part of its backward at medium sizes
        den, q, zero = ctx.saved_tensors
        d_num, d_den = div_partials(den, q, zero, with_den=ctx.needs_input_grad[1])
        g_num = _sum_to(grad * d_num, ctx.num_shape) if ctx.needs_input_grad[0] else None
        g_den = None if d_den is None else _sum_to(grad * d_den, den.shape)
        return g_num, g_den, None


def _sum_to(g: Tensor, shape: torch.Size) -> Tensor:
    return g if g.shape == shape else g.sum_to_size(shape)


def _host_count(num: Tensor, den: Tensor) -> bool:
    """A 0-dim CPU ``den`` without a gradient, for a float32 / float64 ``num`` in eager mode
    (reading it is free; fp16 / bf16 quotients keep the Function's rounding of ``den``)."""
    return (
        den.dim() == 0
        and den.device.type == "cpu"
        and not den.requires_grad
        and num.dtype in (torch.float32, torch.float64)
        and not torch.compiler.is_compiling()
    )


def div(num: Tensor, den: Tensor | float, default: float = 0.0) -> Tensor:
    """``num / den``, and ``default`` (zero gradient) where ``|den| < tiny``.

    A plain number ``den`` with ``|den| >= 1`` (a count) is an ordinary division: no
    autograd Function, so a scalar mean costs what ``x.mean()`` does; so is a 0-dim CPU
    tensor ``den`` without a gradient whose value is ``>= 1`` in magnitude (eager, float32 /
    float64 ``num``).

    ``default`` is the value the caller's formula takes in the limit: 0 for a ratio of
    quantities that vanish together (IoU of empty boxes counts as no overlap), 1 for a score
    whose 0/0 means "perfect" (Dice with an empty target under ``empty="include"``).
    """
    if isinstance(den, Tensor) and _host_count(num, den):
        # a count held on the CPU (the mean of masked terms): read it (no device sync) and
        # divide by the number, which is what the Function below computes for |den| >= 1;
        # it cost about twenty tensor operations on scalars, forward and backward
        value = float(den)
        if abs(value) >= 1:
            return num / value
    if not isinstance(den, Tensor):
        if abs(den) >= 1:  # a count: nonzero, and the quotient cannot overflow
            return num / den
        den = torch.as_tensor(den, dtype=num.dtype, device=num.device)
    num, den = torch.broadcast_tensors(num, den.to(num.dtype))
    out: Tensor = _Div.apply(num, den, float(default))
    return out


class _Sqrt(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        tiny, _ = _limits(x)
        pos = ~(x < tiny)  # NaN stays on this branch
        y = torch.where(pos, torch.where(pos, x, 1.0).sqrt(), 0.0)
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        x, y = ctx.saved_tensors
        tiny, big = _limits(x)
        pos = ~(x < tiny)
        d = (0.5 / torch.where(pos, y, torch.ones_like(y))).clamp(max=big)
        return grad * torch.where(pos, d, torch.zeros_like(d))


def sqrt(x: Tensor) -> Tensor:
    """``sqrt(x)`` for ``x >= tiny``; 0 with a zero gradient below (zero, subnormal and the
    small negative values that rounding leaves in a squared distance)."""
    out: Tensor = _Sqrt.apply(x)
    return out


def pow_value(x: Tensor, exponent: float) -> Tensor:
    """The value of :func:`pow` on plain tensors (no autograd Function)."""
    tiny, big = _limits(x)
    pos = ~(x < tiny)
    base = torch.where(pos, x, 1.0)
    return torch.where(pos, base.pow(exponent).clamp(max=big), 0.0)


def pow_slope(x: Tensor, exponent: float) -> Tensor:
    """The derivative of :func:`pow`: ``exponent x^(exponent - 1)`` clamped to the dtype's
    range, 0 below ``tiny``."""
    tiny, big = _limits(x)
    pos = ~(x < tiny)
    base = torch.where(pos, x, torch.ones_like(x))
    d = (exponent * base.pow(exponent - 1.0)).clamp(-big, big)
    return torch.where(pos, d, torch.zeros_like(d))


class _Pow(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, exponent: float) -> Tensor:
        ctx.save_for_backward(x)
        ctx.exponent = exponent
        return pow_value(x, exponent)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        (x,) = ctx.saved_tensors
        return grad * pow_slope(x, ctx.exponent), None


def pow(x: Tensor, exponent: float) -> Tensor:
    """``x ** exponent`` for ``x >= tiny`` and ``exponent > 0``; 0 with a zero gradient below
    (so ``0 ** 0.5`` has no infinite slope). ``exponent == 1`` returns ``x`` itself (no
    guard is needed then)."""
    if exponent == 1.0:
        return x
    out: Tensor = _Pow.apply(x, float(exponent))
    return out


def norm(x: Tensor, dim: int = -1, keepdim: bool = False) -> Tensor:
    """Euclidean norm along ``dim`` without overflow or underflow of the squares: the vector is
    scaled by its largest magnitude first. A vector whose entries are all below ``tiny`` has
    norm 0 and a zero gradient; the gradient elsewhere is ``x / ||x||`` (at most 1). A norm
    beyond the dtype's range is clamped to its largest value.

    Below float64 the squares are summed in float64 instead (one pass, no scaling: a float32
    square can neither overflow nor underflow there)."""
    tiny, big = _limits(x)
    if x.dtype != torch.float64:
        zero, n64 = _norm64(x, dim)
        n = torch.where(zero, torch.zeros_like(n64), n64).clamp(max=big).to(x.dtype)
        return n if keepdim else n.squeeze(dim)
    scale = x.detach().abs().amax(dim=dim, keepdim=True)
    zero = scale < tiny
    scale = torch.where(zero, torch.ones_like(scale), scale)
    y = x / scale
    sq = (y * y).sum(dim=dim, keepdim=True)
    n = (scale * torch.where(zero, torch.ones_like(sq), sq).sqrt()).clamp(max=big)
    n = torch.where(zero, torch.zeros_like(n), n)
    return n if keepdim else n.squeeze(dim)


def _norm64(x: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """``(zero, n)``: rows whose entries are all below ``tiny`` (False for NaN), and the norm
    along ``dim`` (kept) summed in float64."""
    tiny, _ = _limits(x)
    zero = x.detach().abs().amax(dim=dim, keepdim=True) < tiny
    return zero, torch.linalg.vector_norm(x, dim=dim, keepdim=True, dtype=torch.float64)


def inverse_norm(x: Tensor, dim: int = -1) -> Tensor:
    """``1 / ||x||`` along ``dim`` (kept), in ``x``'s dtype; 0 with a zero gradient for a
    vector whose entries are all below ``tiny``. Multiplying ``x`` by it normalises ``x`` in
    one pass over ``x`` (the guards act on the per-vector norms only). Below float64 the norm
    and its inverse are taken in float64, so a huge vector's inverse loses no range."""
    if x.dtype == torch.float64:
        return div(torch.ones((), dtype=x.dtype, device=x.device), norm(x, dim=dim, keepdim=True))
    zero, n64 = _norm64(x, dim)
    inv = 1.0 / torch.where(zero, torch.ones_like(n64), n64)
    return torch.where(zero, torch.zeros_like(inv), inv).to(x.dtype)


def log1mexp(x: Tensor) -> Tensor:
    """``log(1 - exp(x))`` for ``x <= 0`` (Maechler 2012: ``log(-expm1(x))`` near 0,
    ``log1p(-exp(x))`` below ``-log 2``). ``x`` is kept at or below ``-tiny`` so ``x = 0`` (a
    probability of exactly 1) gives a large finite negative value with a finite gradient."""
    tiny, _ = _limits(x)
    near = torch.log(-torch.expm1(x.clamp(max=-tiny)))
    far = torch.log1p(-torch.exp(x.clamp(max=-math.log(2.0))))
    return torch.where(x > -math.log(2.0), near, far)


def focal_factor(log_p: Tensor, gamma: float) -> Tensor:
    """The focal modulating factor ``(1 - p) ** gamma`` from ``log p`` (``<= 0``), computed as
    ``exp(gamma * log(1 - p))``: no ``0 ** gamma`` and no cancellation in ``1 - p`` when ``p``
    is close to 1. ``gamma == 0`` gives exactly 1."""
    if gamma == 0:
        return torch.ones_like(log_p)
    return torch.exp(gamma * log1mexp(log_p))


# ------------------------------------------------------------------- torch's CPU log1p
def _wake_vectorised_log1p() -> None:
    """Run one vectorised ``atan2`` (on the CPU, 64 elements).

    With torch 2.14's AVX512 CPU kernels, ``log1p`` and what is built on it (``softplus``,
    ``logsigmoid``, ``binary_cross_entropy_with_logits``, the focal losses) run about 10x
    slower in a process until a vectorised ``atan2`` has run once (2.5M floats: ``log1p`` 25
    ms before, 2 ms after; ``softplus`` 24 ms, 3.8 ms; found when the peers' BCE ran 3x faster
    after the box-loss cases than alone). The call costs microseconds; it speeds up torch's
    own functions for the whole process, ours and everybody else's alike."""
    ones = torch.ones(64, device="cpu", dtype=torch.float32)  # never a default CUDA device
    torch.atan2(ones, ones)


_wake_vectorised_log1p()
