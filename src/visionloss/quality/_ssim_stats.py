"""The local statistics of SSIM and their pooled map, with a hand-derived backward.

:func:`gaussian_filter` (separable depthwise convolutions, sums of shifted slices under
``torch.compile``; 2-D and 3-D, ``"valid"`` or reflect-padded ``"same"``) and its adjoint
:func:`gaussian_filter_adjoint`; :func:`ssim_terms`
(the luminance and contrast-structure maps as a plain autograd graph) and
:class:`PooledSSIM`, the mean over each image channel of ``lum * cs`` (or of ``cs``) with the
backward written out.

Why. The autograd graph of the maps keeps about twenty tensors of the image's size for the
backward (the padded and half-filtered moment stacks of the convolutions, and every product
and quotient of the elementwise tail): 254 MiB for SSIM of 8 x 3 x 256 x 256 images against
pytorch-msssim's 289 and piq's 204, 322 with padding against kornia's 176. The Function keeps
the five filtered moments only and, in the backward, forms the gradient of the pooled map
with respect to them (a few elementwise passes), filters it with the adjoint of the Gaussian
filter (transposed convolutions, then the reflect padding folded back) and applies the chain
rule of the moments ``x', y', x'^2, y'^2, x'y'``.

Derivatives. With ``mu_x = m0 + m_x``, ``s_xx = m2 - m0^2``, ``s_yy = m3 - m1^2``,
``s_xy = m4 - m0 m1``, ``lum = A1 / B1`` and ``cs = A2 / B2``: ``d lum / d mu_x =
2 (mu_y - lum mu_x) / B1``, ``d cs / d s_xy = 2 / B2``, ``d cs / d s_xx = d cs / d s_yy =
-cs / B2``; a quotient whose denominator is below the dtype's ``tiny`` is 1 with a zero
gradient, as :func:`~visionloss._core.numerics.div` gives it in the plain graph. Under
``create_graph=True`` the backward differentiates the plain graph instead.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .._core.autograd import differentiable_grad, double_backward
from .._core.numerics import div


def _kernels(window: Tensor, nd: int, groups: int) -> list[Tensor]:
    """The depthwise 1-D kernels of the separable filter, one per spatial dim."""
    n = window.numel()
    out = []
    for d in range(nd):
        shape = [1] * nd
        shape[d] = n
        out.append(window.view(1, 1, *shape).expand(groups, 1, *shape))
    return out


def _taken(z: Tensor | list[Tensor]) -> Tensor:
    """``z``, or the tensor taken out of the one-element list ``z``: a caller that hands its
    only reference over this way lets the tensor be freed after its first use."""
    return z.pop() if isinstance(z, list) else z


def _shifted_sum(z: Tensor, window: Tensor, dim: int) -> Tensor:
    """The valid correlation of ``z`` with the 1-D ``window`` along ``dim``, as a sum of
    shifted slices: elementwise work that inductor fuses into one vectorised loop."""
    n = window.numel()
    length = z.shape[dim] - n + 1
    out = z.narrow(dim, 0, length) * window[0]
    for k in range(1, n):
        out = out + z.narrow(dim, k, length) * window[k]
    return out


# Under torch.compile the forward's filter is a sum of shifted slices, not convolutions: with
# a convolution in the graph inductor stores every tensor of the graph channels-last on a CPU
# (mkldnn), and the moment maps' elementwise loops then run along the 5C channels, 3 or 15
# floats a vector (compiled SSIM of 8 x 3 x 256 x 256 images: 1.1-1.4x the time of compiled
# pytorch-msssim on a CPU with bf16 dot products). The backward's graph keeps the transposed
# convolutions (its elementwise part is small; as a zero-padded shifted sum the adjoint, and
# with it compiled reflect-padded SSIM, was 1.4x slower). Eager, the convolutions stay
# (mkldnn's depthwise kernels are the fastest there).


def gaussian_filter(z: Tensor | list[Tensor], window: Tensor, padding: str) -> Tensor:
    """Depthwise separable filtering of ``(B, G, *S)`` along each spatial dim (``z`` may be
    handed over in a one-element list, see :func:`_taken`)."""
    z = _taken(z)
    nd = z.dim() - 2
    if padding == "same":
        z = F.pad(z, [window.numel() // 2] * (2 * nd), mode="reflect")
    if torch.compiler.is_compiling():
        for d in range(nd):
            z = _shifted_sum(z, window, 2 + d)
        return z
    conv = F.conv2d if nd == 2 else F.conv3d
    for kernel in _kernels(window, nd, z.shape[1]):
        z = conv(z, kernel, groups=z.shape[1])
    return z


def _fold_reflection(g: Tensor, dim: int, p: int) -> Tensor:
    """The adjoint of reflect-padding ``dim`` by ``p``: the core, plus each border flipped
    back onto the entries it mirrors (padded ``j < p`` is core ``p - j``; padded ``p + L + j``
    is core ``L - 2 - j``)."""
    n = g.shape[dim] - 2 * p
    core = g.narrow(dim, p, n).clone()
    core.narrow(dim, 1, p).add_(g.narrow(dim, 0, p).flip(dim))
    core.narrow(dim, n - 1 - p, p).add_(g.narrow(dim, p + n, p).flip(dim))
    return core


def gaussian_filter_adjoint(g: Tensor | list[Tensor], window: Tensor, padding: str) -> Tensor:
    """The adjoint (transpose) of :func:`gaussian_filter`: ``<filter(z), g> = <z, adjoint(g)>``
    for every ``z``; ``g`` has the filtered shape, the result the input's (``g`` may be handed
    over in a one-element list, see :func:`_taken`)."""
    g = _taken(g)
    nd = g.dim() - 2
    convt = F.conv_transpose2d if nd == 2 else F.conv_transpose3d
    for kernel in reversed(_kernels(window, nd, g.shape[1])):
        g = convt(g, kernel, groups=g.shape[1])
    if padding == "same":
        for d in range(nd):
            g = _fold_reflection(g, 2 + d, window.numel() // 2)
    return g


def _means(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """``(m_x, m_y)``: the per-channel means of the images, constants of the graph (the
    shift that keeps the variances' cancellation small)."""
    dims = tuple(range(2, x.dim()))
    return x.detach().mean(dim=dims, keepdim=True), y.detach().mean(dim=dims, keepdim=True)


def _moment_stack(x: Tensor, y: Tensor, mx: Tensor, my: Tensor) -> Tensor:
    """``(B, 5C, *S)``: ``x', y', x'^2, y'^2, x'y'`` of ``x' = x - m_x``, ``y' = y - m_y``,
    each written into its slice of one tensor without autograd (no separate maps, no
    concatenation); a concatenation when the graph is recorded (``out=`` does not
    differentiate) and under ``torch.compile`` (``out=`` into a slice is a graph break there,
    and inductor plans the buffers itself)."""
    recorded = torch.is_grad_enabled() and (x.requires_grad or y.requires_grad)
    if recorded or torch.compiler.is_compiling():
        xs, ys = x - mx, y - my
        return torch.cat([xs, ys, xs * xs, ys * ys, xs * ys], dim=1)
    c = x.shape[1]
    stack = x.new_empty((x.shape[0], 5 * c, *x.shape[2:]))
    xs = torch.sub(x, mx, out=stack[:, :c])
    ys = torch.sub(y, my, out=stack[:, c : 2 * c])
    torch.mul(xs, xs, out=stack[:, 2 * c : 3 * c])
    torch.mul(ys, ys, out=stack[:, 3 * c : 4 * c])
    torch.mul(xs, ys, out=stack[:, 4 * c :])
    return stack


def ssim_terms(
    x: Tensor, y: Tensor, window: Tensor, c1: float, c2: float, padding: str
) -> tuple[Tensor, Tensor]:
    """The luminance map and the contrast-structure map of ``(B, C, *S)`` images (a plain
    autograd graph)."""
    channels = x.shape[1]
    mx, my = _means(x, y)
    moments = gaussian_filter([_moment_stack(x, y, mx, my)], window, padding)
    mu_xs, mu_ys, exx, eyy, exy = moments.split(channels, dim=1)
    sxx = exx - mu_xs * mu_xs
    syy = eyy - mu_ys * mu_ys
    sxy = exy - mu_xs * mu_ys
    mu_x, mu_y = mu_xs + mx, mu_ys + my
    lum = div(2 * mu_x * mu_y + c1, mu_x * mu_x + mu_y * mu_y + c1, default=1.0)
    cs = div(2 * sxy + c2, sxx + syy + c2, default=1.0)
    return lum, cs


def pooled_map(
    x: Tensor, y: Tensor, window: Tensor, c1: float, c2: float, padding: str, full: bool
) -> Tensor:
    """``(B, C)``: the mean over each image channel of ``lum * cs`` (``full``) or of ``cs``,
    as a plain autograd graph (the reference of :class:`PooledSSIM`)."""
    lum, cs = ssim_terms(x, y, window, c1, c2, padding)
    return (lum * cs if full else cs).flatten(2).mean(2)


def _quotient(num: Tensor, den: Tensor) -> tuple[Tensor, Tensor]:
    """``(num / den, 1 / den)``, with ``(1, 0)`` where ``|den| < tiny``."""
    small = den.abs() < torch.finfo(den.dtype).tiny
    inv = torch.where(small, 0.0, 1.0 / torch.where(small, 1.0, den))
    return torch.where(small, 1.0, num * inv), inv


def _contrast(m: Tensor, c2: float) -> tuple[Tensor, Tensor]:
    """``(cs, 1 / B2)`` from the five filtered moments ``m`` (see :func:`_quotient`)."""
    m0, m1, m2, m3, m4 = m.chunk(5, dim=1)
    return _quotient((m4 - m0 * m1).mul_(2).add_(c2), (m2 - m0 * m0).add_(m3 - m1 * m1).add_(c2))


def _luminance(
    m: Tensor, mx: Tensor, my: Tensor, c1: float
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(lum, 1 / B1, mu_x, mu_y)`` from the filtered moments and the images' means."""
    m0, m1 = m.chunk(5, dim=1)[:2]
    mu_x, mu_y = m0 + mx, m1 + my
    lum, inv = _quotient((mu_x * mu_y).mul_(2).add_(c1), (mu_x * mu_x).add_(mu_y * mu_y).add_(c1))
    return lum, inv, mu_x, mu_y


class PooledSSIM(torch.autograd.Function):
    """``(x, y) -> (B, C)`` means of ``lum * cs`` (``full``) or ``cs``; see the module doc."""

    @staticmethod
    def forward(
        ctx: Any,
        x: Tensor,
        y: Tensor,
        window: Tensor,
        c1: float,
        c2: float,
        padding: str,
        full: bool,
    ) -> Tensor:
        mx, my = _means(x, y)
        m = gaussian_filter([_moment_stack(x, y, mx, my)], window, padding)
        cs, _ = _contrast(m, c2)
        if full:
            cs = cs.mul_(_luminance(m, mx, my, c1)[0])
        ctx.save_for_backward(x, y, mx, my, m, window)
        ctx.options = (c1, c2, padding, full)
        return cs.flatten(2).mean(2)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, y, mx, my, m, window = ctx.saved_tensors
        c1, c2, padding, full = ctx.options
        if double_backward():
            dx, dy = differentiable_grad(
                lambda a, b: pooled_map(a, b, window, c1, c2, padding, full), (x, y), (grad,)
            )
            return dx, dy, None, None, None, None, None
        m0, m1 = m.chunk(5, dim=1)[:2]
        count = m0[0, 0].numel()
        g = (grad / count).view(*grad.shape, *([1] * (m.dim() - 2)))  # d mean / d map
        cs, inv2 = _contrast(m, c2)
        # u = dL/d cs / B2; the covariance terms: g_sxy = 2 u, g_sxx = g_syy = -cs u
        g_mux: Tensor | None = None
        g_muy: Tensor | None = None
        if full:
            lum, inv1, mu_x, mu_y = _luminance(m, mx, my, c1)
            u = (lum * g).mul_(inv2)
            v = (cs * g).mul_(inv1).mul_(2)  # 2 dL/d lum / B1
            g_mux = (mu_y - lum * mu_x).mul_(v)
            g_muy = (mu_x - lum * mu_y).mul_(v)
            del mu_x, mu_y, lum, v, inv1
        else:
            u = inv2 * g
        g_sxy = 2 * u
        g_var = cs.mul_(u).neg_()  # g_sxx = g_syy
        del u, inv2, cs
        # the gradients of the five moments
        c = x.shape[1]
        g0 = (m0 * g_var).mul_(-2).sub_(m1 * g_sxy)
        g1 = (m1 * g_var).mul_(-2).sub_(m0 * g_sxy)
        if g_mux is not None and g_muy is not None:
            g0.add_(g_mux)
            g1.add_(g_muy)
        del g_mux, g_muy
        # x'^2 and y'^2 have the same gradient g_var: its adjoint is taken once (four maps
        # through the transposed filter, not five)
        hand_over = [torch.cat([g0, g1, g_var, g_sxy], dim=1)]
        del g0, g1, g_var, g_sxy
        a0, a1, a_var, a4 = gaussian_filter_adjoint(hand_over, window, padding).split(c, 1)
        xs, ys = x - mx, y - my
        dx = dy = None
        if ctx.needs_input_grad[0]:
            dx = (2 * xs).mul_(a_var).add_(a0).add_(ys * a4)
        if ctx.needs_input_grad[1]:
            dy = (2 * ys).mul_(a_var).add_(a1).add_(xs * a4)
        return dx, dy, None, None, None, None, None
