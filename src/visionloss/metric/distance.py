"""Pairwise distances between embeddings through matrix products."""

from __future__ import annotations

import torch
from torch import Tensor

from .._core.checks import shape_str
from .._core.dtypes import compute_dtype
from .._core.options import Bool
from ..errors import InputError
from ._common import Metric, check_embeddings, distance_matrix, metric_helper, prepare


@metric_helper
def pairwise_distance(
    x: Tensor,
    y: Tensor | None = None,
    *,
    metric: Metric = "euclidean",
    normalize: Bool = False,
) -> Tensor:
    r"""Distances between every row of ``x`` and every row of ``y`` (or of ``x``).

    .. math::
        D_{ij} = \begin{cases}
            \lVert x_i - y_j \rVert_2 & \text{"euclidean"} \\
            \lVert x_i - y_j \rVert_2^2 & \text{"squared\_euclidean"} \\
            1 - \frac{x_i \cdot y_j}{\lVert x_i \rVert \lVert y_j \rVert} & \text{"cosine"} \\
            -\,x_i \cdot y_j & \text{"dot"}
        \end{cases}

    Computed through one matrix product, ``|x|^2 + |y|^2 - 2 x y^T`` after subtracting a common
    centre (which leaves distances unchanged and reduces cancellation), so no ``N x M x D``
    tensor is formed. Half-precision inputs are computed in float32 (and returned as float32).
    The square root has a finite gradient where a distance is 0 (duplicate points): the gradient
    is 0 there, a subgradient. Without ``y`` the diagonal is exactly 0 (except for "dot").

    Every metric is a dissimilarity (smaller is closer), so "dot" is the *negative* inner
    product and can be negative; "cosine" lies in ``[0, 2]``.

    Args:
        x: ``(N, D)`` floating point.
        y: ``(M, D)`` floating point, or ``None`` for ``y = x``.

    Shape:
        ``x``: ``(N, D)``, ``y``: ``(M, D)``; output ``(N, M)`` (``(N, N)`` without ``y``).

    Returns:
        the distance matrix; float32 for fp16/bf16 inputs, float64 for float64 inputs.

    Reference:
        Hadsell, Chopra and LeCun, *Dimensionality Reduction by Learning an Invariant Mapping*,
        CVPR 2006 (Euclidean distance between embeddings); the matrix-product form is the one of
        ``torch.cdist(..., compute_mode="use_mm_for_euclid_dist")``.

    Example:
        >>> import torch
        >>> pairwise_distance(torch.tensor([[0.0, 0.0], [3.0, 4.0]]))
        tensor([[0., 5.],
                [5., 0.]])
    """
    fn = "pairwise_distance"
    check_embeddings(x, fn, "x")
    same = y is None
    if y is not None:
        check_embeddings(y, fn, "y")
        if y.shape[1] != x.shape[1]:
            raise InputError(
                f"{fn}: expected y with {x.shape[1]} columns matching x {shape_str(x)}, "
                f"got {shape_str(y)}"
            )
    dtype = compute_dtype(x) if y is None else compute_dtype(x, y)
    xp = prepare(x, normalize, dtype)
    yp = xp if y is None else prepare(y, normalize, dtype)
    self_index = torch.arange(x.shape[0], device=x.device) if same else None
    return distance_matrix(xp, yp, metric, self_index=self_index)
