"""Vector maths shared by the embedding families (metric, contrastive)."""

from __future__ import annotations

from torch import Tensor

from .numerics import inverse_norm


def normalize(x: Tensor, dim: int = -1) -> Tensor:
    """``x`` scaled to unit L2 norm along ``dim``; a zero vector (all entries below the dtype's
    smallest normal number) stays zero, with a zero gradient (``F.normalize`` divides by
    ``max(norm, 1e-12)`` and so gives a zero vector a gradient of ``1e12``). The norm is taken
    without overflow (entries up to the dtype's maximum), and a NaN entry makes the whole
    vector NaN rather than zero, so a NaN embedding is never mistaken for a zero one. The
    guards act on the per-vector norms; ``x`` is read twice and multiplied once, as in
    ``F.normalize``."""
    return x * inverse_norm(x, dim)
