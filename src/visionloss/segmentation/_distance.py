"""Exact Euclidean distance transforms and soft morphology on the tensor's own device.

Distance transform. The squared Euclidean distance from each element to the nearest feature
(a ``True`` element) is separable (Saito and Toriwaki 1994; Felzenszwalb and Huttenlocher
2012): with ``f_0`` the 0 / inf indicator of the features,

.. math::
    f_{a}(x) = \\min_{q} \\; f_{a-1}(x_1, .., q, .., x_n) + s_a^2 (x_a - q)^2

one axis ``a`` after the other, and the last ``f`` is the exact squared distance. The first
pass is a nearest-feature scan (two cumulative max / min passes over the indices, linear
time); each later pass is the lower envelope of the parabolas of one line, computed here as a
min-plus product of the line with the ``(n, n)`` table of ``s^2 (p - q)^2``: ``O(N n)`` work for
``N`` elements and lines of length ``n``, in chunks of at most 2^24 temporaries, with no host
synchronisation and no data-dependent control flow (it runs under ``torch.compile``, on any
device, batched over images and classes). Felzenszwalb and Huttenlocher's ``O(N)`` envelope
walk is sequential per line; on a GPU the min-plus form keeps every lane busy, and both give
the same exact minimum. Elements with no feature anywhere get ``inf``.

On the CPU, outside ``torch.compile``, SciPy's ``distance_transform_edt`` (the same exact
transform, a sequential O(N) implementation) is used per mask when SciPy is installed: it is
about 4 to 20 times faster there than the min-plus form (``benchmarks/distance_map_speed.py``).
``CPU_BACKEND = "torch"`` forces the torch form (the tests run both).

Soft morphology. Min- and max-pooling with 3-wide windows (clDice's soft erosion and dilation,
Shit et al. 2021) and the cross-kernel erosion of Karimi and Salcudean's Hausdorff estimate.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

# temporaries of one min-plus chunk (elements): 2^24 float32 values are 64 MiB
_CHUNK = 1 << 24

# "scipy" (when importable, eager mode) or "torch": the CPU implementation of the transform
CPU_BACKEND = "scipy"


def _scipy_squared(feature: Tensor, spacing: Sequence[float], dtype: torch.dtype) -> Tensor | None:
    """The squared transform by SciPy, mask by mask (None when SciPy is not installed)."""
    try:
        from scipy.ndimage import distance_transform_edt
    except ImportError:  # pragma: no cover - scipy is a dev / experiments dependency
        return None
    import numpy as np

    nd = len(spacing)
    masks = feature.reshape(-1, *feature.shape[feature.dim() - nd :]).numpy()
    out = np.empty(masks.shape, dtype=np.float64)
    for i, m in enumerate(masks):
        if m.any():
            out[i] = distance_transform_edt(~m, sampling=tuple(float(s) for s in spacing)) ** 2
        else:
            out[i] = np.inf
    return torch.from_numpy(out).to(dtype).reshape(feature.shape)


def _first_pass(feature: Tensor, spacing: float, dtype: torch.dtype) -> Tensor:
    """Squared distance along the last dim to the nearest feature of the same line (inf when
    the line has none)."""
    n = feature.shape[-1]
    idx = torch.arange(n, device=feature.device)
    big = 2 * n + 1
    left = torch.where(feature, idx, -big).cummax(-1).values
    right = torch.where(feature, idx, big).flip(-1).cummin(-1).values.flip(-1)
    d = torch.minimum(idx - left, right - idx).to(dtype)
    d = torch.where(d > n, torch.full_like(d, float("inf")), d)
    return d * d * (spacing * spacing)


def _min_plus(f: Tensor, spacing: float) -> Tensor:
    """One later pass along the last dim: ``g(p) = min_q f(q) + s^2 (p - q)^2``."""
    n = f.shape[-1]
    shape = f.shape
    lines = f.reshape(-1, n)
    pos = torch.arange(n, device=f.device, dtype=f.dtype)
    table = (pos.view(n, 1) - pos.view(1, n)).square() * (spacing * spacing)  # (p, q)
    step = max(1, _CHUNK // (n * n))
    out = [
        (lines[i : i + step].unsqueeze(1) + table).amin(-1) for i in range(0, lines.shape[0], step)
    ]
    return torch.cat(out, 0).reshape(shape) if out else lines.reshape(shape)


def squared_distance(
    feature: Tensor, spacing: Sequence[float], *, dtype: torch.dtype = torch.float32
) -> Tensor:
    """Exact squared Euclidean distance from every element of ``feature (*, *spatial)`` (bool,
    ``len(spacing)`` spatial dims) to its nearest ``True`` element, in the units of
    ``spacing``; ``inf`` where there is none. No gradient (a function of a mask)."""
    nd = len(spacing)
    with torch.no_grad():
        if feature.numel() == 0:
            return torch.zeros(feature.shape, dtype=dtype, device=feature.device)
        if (
            CPU_BACKEND == "scipy"
            and feature.device.type == "cpu"
            and not torch.compiler.is_compiling()
        ):
            result = _scipy_squared(feature, spacing, dtype)
            if result is not None:
                return result
        last = feature.dim() - 1
        f = _first_pass(feature, float(spacing[-1]), dtype)
        for k in range(1, nd):
            axis = last - k
            f = _min_plus(f.movedim(axis, -1), float(spacing[-1 - k])).movedim(-1, axis)
        return f.contiguous()


def distance(
    feature: Tensor, spacing: Sequence[float], *, dtype: torch.dtype = torch.float32
) -> Tensor:
    """Euclidean distance to the nearest ``True`` element (``inf`` where there is none); see
    :func:`squared_distance`."""
    return squared_distance(feature, spacing, dtype=dtype).sqrt()


def mask_distances(
    mask: Tensor, spacing: Sequence[float], *, dtype: torch.dtype = torch.float32
) -> tuple[Tensor, Tensor, Tensor]:
    """``(inside, outside, has_boundary)`` of masks ``(*, *spatial)``.

    ``inside``: at each mask element, the distance to the nearest element outside the mask (0
    outside); ``outside``: at each element outside, the distance to the nearest mask element (0
    inside) - scipy's ``distance_transform_edt(mask)`` and ``distance_transform_edt(~mask)``.
    ``has_boundary (*, 1, ..., 1)``: the mask is neither empty nor full; both maps are zero
    where it is not (there is no interface to measure from).
    """
    nd = len(spacing)
    dims = tuple(range(mask.dim() - nd, mask.dim()))
    has = mask.any(dim=dims, keepdim=True) & (~mask).any(dim=dims, keepdim=True)
    inside = distance(~mask, spacing, dtype=dtype)
    outside = distance(mask, spacing, dtype=dtype)
    zero = torch.zeros((), dtype=dtype, device=mask.device)
    inside = torch.where(mask & has, inside, zero)
    outside = torch.where(~mask & has, outside, zero)
    return inside, outside, has


# ---------------------------------------------------------------- soft morphology


def _pool(x: Tensor, kernel: tuple[int, ...]) -> Tensor:
    """Max pooling ``(B, C, *spatial)`` with a stride-1 window of ``kernel`` and same size."""
    padding = tuple(k // 2 for k in kernel)
    nd = x.dim() - 2
    if nd == 1:
        return F.max_pool1d(x, kernel, 1, padding)
    if nd == 2:
        return F.max_pool2d(x, kernel, 1, padding)
    return F.max_pool3d(x, kernel, 1, padding)


def soft_erode(x: Tensor) -> Tensor:
    """clDice's soft erosion: the minimum over the 3-wide window of each axis (a cross), the
    minimum of one 1-D min-pooling per axis."""
    nd = x.dim() - 2
    out = None
    for a in range(nd):
        kernel = tuple(3 if i == a else 1 for i in range(nd))
        eroded = -_pool(-x, kernel)
        out = eroded if out is None else torch.minimum(out, eroded)
    assert out is not None  # at least one spatial dim
    return out


def soft_dilate(x: Tensor) -> Tensor:
    """clDice's soft dilation: the maximum over the full 3^d window."""
    return _pool(x, (3,) * (x.dim() - 2))


def soft_open(x: Tensor) -> Tensor:
    return soft_dilate(soft_erode(x))


def cross_kernel(nd: int, *, dtype: torch.dtype, device: torch.device) -> Tensor:
    """The ``(1, 1, 3, .., 3)`` cross (the centre and its ``2 nd`` face neighbours), each weight
    ``1 / (2 nd + 1)`` (Karimi and Salcudean's erosion kernel: 0.2 in 2-D, 1/7 in 3-D)."""
    k = torch.zeros((3,) * nd, dtype=dtype, device=device)
    centre = (1,) * nd
    k[centre] = 1.0
    for a in range(nd):
        for d in (0, 2):
            k[tuple(d if i == a else 1 for i in range(nd))] = 1.0
    return (k / (2 * nd + 1)).view(1, 1, *k.shape)


def convolve(x: Tensor, kernel: Tensor) -> Tensor:
    """Same-size convolution of ``(B, 1, *spatial)`` with a ``(1, 1, 3, .., 3)`` kernel."""
    nd = x.dim() - 2
    conv = (F.conv1d, F.conv2d, F.conv3d)[nd - 1]
    return conv(x, kernel, padding=1)


def skeleton(x: Tensor, iterations: int) -> Tensor:
    """clDice's soft skeleton (see :func:`visionloss.soft_skeleton`), without checks."""
    skel = F.relu(x - soft_open(x))
    for _ in range(iterations):
        x = soft_erode(x)
        delta = F.relu(x - soft_open(x))
        skel = skel + F.relu(delta - skel * delta)
    return skel
