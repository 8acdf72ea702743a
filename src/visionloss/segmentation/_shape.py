"""Shared maths of the shape losses (boundary, Hausdorff, clDice, TopK, ...).

They read the overlap family's :func:`~._overlap.prepare_inputs` (one activation, one class
selection, one weight vector, the same target forms and ``ignore_index``) and then need the
spatial layout back: :func:`spatial_inputs` returns the activated input and the one-hot target
of the selected classes as ``(B, K, *spatial)`` tensors and the valid mask as ``(B, 1,
*spatial)``. Class-index targets are expanded to the ``K`` selected classes only (distance
maps and skeletons are spatial operations: they need a mask per class).

Per-pair values. A shape loss has one value per (image, class) pair, the mean of its
elementwise term over the pair's valid pixels (MONAI's convention for the boundary and
Hausdorff losses: a mean over the spatial dims, then over images and classes), reduced by
:func:`~._overlap.reduce_pairs`: a class-weighted mean of the pairs, pairs without a valid pixel
left out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Annotated, Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .._core import numerics
from .._core.checks import check_tensor, shape_str
from .._core.declare import DocParts
from .._core.examples import Example, generator, normal
from .._core.indexing import per_class
from .._core.options import Bool, Check, Number, Reduction
from ..errors import InputError, OptionError, OptionTypeError
from ._distance import convolve, cross_kernel, mask_distances, skeleton
from ._overlap import (
    Prepared,
    Smooth,
    activation_options,
    class_options,
    prepare_inputs,
    reduce_pairs,
)


class _SpacingCheck(Check):
    """``None``, a number ``> 0`` or a sequence of them (one per spatial dim)."""

    def __call__(self, value: Any, name: str, fn: str) -> Any:
        if value is None:
            return value
        items = value if isinstance(value, (tuple, list)) else (value,)
        if isinstance(value, Tensor):
            items = tuple(value.reshape(-1).tolist())
        for v in items:
            if isinstance(v, bool) or not isinstance(v, Real):
                raise OptionTypeError(
                    f"{fn}: expected {name} to be a number or a sequence of numbers > 0, got "
                    f"{value!r}"
                )
            if not (math.isfinite(float(v)) and float(v) > 0):
                raise OptionError(f"{fn}: expected {name} > 0 and finite, got {value!r}")
        if not items:
            raise OptionError(f"{fn}: expected {name} to hold at least one number, got []")
        return tuple(float(v) for v in items) if isinstance(value, (tuple, list, Tensor)) else value


Spacing = Annotated[float | Sequence[float] | None, _SpacingCheck()]


def spacing_of(spacing: Spacing, nd: int, fn: str) -> tuple[float, ...]:
    """``spacing`` (checked by its option type) as one float per spatial dim."""
    if spacing is None:
        return (1.0,) * nd
    if isinstance(spacing, (tuple, list)):
        if len(spacing) != nd:
            raise OptionError(
                f"{fn}: expected spacing of {nd} values (one per spatial dim), got {spacing!r}"
            )
        return tuple(float(s) for s in spacing)
    return (float(spacing),) * nd  # type: ignore[arg-type]  # a number here


def shape_reduction(*, reduction: Reduction = "mean") -> None:
    """The reduction of a per-pair shape loss."""


# the option groups of a per-pair shape loss (boundary, Hausdorff)
SHAPE_OPTIONS = (activation_options, class_options, shape_reduction)


SHAPE_DOCS = DocParts(
    args={
        "spacing": """the pixel (voxel) size of each spatial dim, for anisotropic data: a
            number, or one value per spatial dim (scipy's ``sampling``); default 1.""",
        "distance_map": """precomputed maps ``(B, C, *spatial)`` of every input channel (e.g.
            from :func:`signed_distance_map` in a data loader); computed from ``target`` on its
            device when None. Read without gradient.""",
        "iterations": """number of soft-skeleton iterations (erode / open / subtract); the
            skeleton reaches structures up to about ``2 iterations + 1`` pixels wide.""",
        "reduction": """``"mean"`` (class-weighted mean over the (image, class) pairs with a
            valid pixel), ``"sum"`` or ``"none"`` (``(B, K)``: the weighted pair values, 0 for
            pairs without a valid pixel).""",
    },
    paragraphs={
        "pair_shape": """Shape:
                ``"none"``: ``(B, K)`` for the ``K`` selected classes.

            Returns:
                the loss; float32 for fp16/bf16 inputs.""",
        "masks": """An empty or a full mask (no interface) has an all-zero distance map, as
            MONAI's and Kervadec's code do; its pair then contributes 0 (boundary) or only the
            other mask's distances (Hausdorff). A pair whose pixels are all ignored leaves the
            mean; all pixels ignored gives 0 with a graph and zero gradients.""",
        # the body of the Hausdorff losses' ``Reference:`` section
        "hausdorff_reference": """
            Karimi and Salcudean, *Reducing the Hausdorff distance in medical image segmentation
            with convolutional neural networks*, IEEE TMI 2019, arXiv:1904.10030.""",
    },
)


@dataclass
class Spatial:
    """Activated input and one-hot target of the selected classes, with their layout."""

    prep: Prepared
    prob: Tensor  # (B, K, *spatial) activated input of the selected classes
    target: Tensor  # (B, K, *spatial) one-hot / soft target, 0 at ignored pixels
    valid: Tensor | None  # (B, 1, *spatial) bool
    spatial: tuple[int, ...]

    @property
    def count(self) -> Tensor:
        """Valid pixels of each image, ``(B, 1)``."""
        return self.prep.count().unsqueeze(1)

    def pixel_mean(self, x: Tensor) -> Tensor:
        """Mean of ``x (B, K, *spatial)`` over the valid pixels of each pair: ``(B, K)``."""
        if self.valid is not None:
            x = torch.where(self.valid, x, x.new_zeros(()))
        total = x.flatten(2).sum(-1)
        return total / self.count.clamp_min(1.0)

    def pair_counted(self) -> Tensor:
        return (self.count > 0).expand(self.prob.shape[0], self.prob.shape[1])

    def reduce(self, loss: Tensor, reduction: str, fn: str) -> Tensor:
        """:func:`~._overlap.reduce_pairs` of per-pair values ``(B, K)`` (the pairs with a
        valid pixel counted, the selected classes' weights)."""
        return reduce_pairs(loss, self.pair_counted(), self.prep.class_weight, reduction, fn)


def batch_pairs(out: Tensor, per_image: bool, reduction: str) -> Tensor:
    """A loss reduced over ``(B', K)`` pairs as returned: without ``per_image`` the batch is one
    row (``B' = 1``), and ``"none"`` gives ``(K,)``."""
    return out if per_image or reduction != "none" else out.squeeze(0)


def reduce_batch_pairs(
    loss: Tensor,
    counted: Tensor,
    class_weight: Tensor,
    reduction: str,
    per_image: bool,
    fn: str,
) -> Tensor:
    """:func:`~._overlap.reduce_pairs`, then :func:`batch_pairs`."""
    return batch_pairs(
        reduce_pairs(loss, counted, class_weight, reduction, fn), per_image, reduction
    )


def spatial_inputs(input: Tensor, target: Tensor, *, fn: str, **selection: Any) -> Spatial:
    """:func:`prepare_inputs`, with the selected classes' probabilities and one-hot target in
    their spatial layout."""
    return spatial_of(prepare_inputs(input, target, fn=fn, **selection), input)


SELECTION = ("activation", "weight", "include_background", "classes", "ignore_index")


def selected_inputs(input: Tensor, target: Tensor, fn: str, options: dict[str, Any]) -> Spatial:
    """:func:`spatial_inputs` with the activation and class selection taken from a loss's
    ``options`` (its :func:`~._overlap.activation_options` and
    :func:`~._overlap.class_options`)."""
    return spatial_inputs(input, target, fn=fn, **{k: options[k] for k in SELECTION})


def spatial_of(prep: Prepared, input: Tensor) -> Spatial:
    """The :class:`Spatial` view of prepared inputs (see :func:`spatial_inputs`)."""
    b = input.shape[0]
    spatial = tuple(input.shape[2:])
    cls = prep.classes
    c = input.shape[1]
    every = cls == list(range(c))
    ids = None if every else torch.tensor(cls, device=input.device)
    prob = prep.prob if ids is None else prep.prob.index_select(1, ids)
    if prep.index is not None:
        labels = torch.tensor(cls, device=input.device).view(1, -1, 1)
        onehot = (prep.index.unsqueeze(1) == labels).to(prep.dtype)
    else:
        assert prep.dense is not None
        onehot = prep.dense if ids is None or c == 1 else prep.dense.index_select(1, ids)
    valid = None if prep.valid is None else prep.valid.view(b, 1, *spatial)
    k = len(cls)
    return Spatial(
        prep,
        prob.reshape(b, k, *spatial),
        onehot.reshape(b, k, *spatial),
        valid,
        spatial,
    )


def cldice_pairs(
    sp: Spatial, iterations: int, smooth_nr: float, smooth_dr: float, per_image: bool
) -> tuple[Tensor, Tensor]:
    """``(loss, counted)`` of clDice, ``(B', K)`` each (``B' = 1`` without ``per_image``):
    ``1 - 2 Tprec Tsens / (Tprec + Tsens)`` from the soft skeletons of the prediction and the
    target, the sums taken over the valid pixels."""
    skel_pred = skeleton(sp.prob, iterations)
    skel_true = skeleton(sp.target, iterations)
    if sp.valid is not None:
        zero = sp.prob.new_zeros(())
        skel_pred = torch.where(sp.valid, skel_pred, zero)
        skel_true = torch.where(sp.valid, skel_true, zero)

    def total(x: Tensor) -> Tensor:
        s = x.flatten(2).sum(-1)
        return s if per_image else s.sum(0, keepdim=True)

    tprec = numerics.div(
        total(skel_pred * sp.target) + smooth_nr, total(skel_pred) + smooth_dr, default=1.0
    )
    tsens = numerics.div(
        total(skel_true * sp.prob) + smooth_nr, total(skel_true) + smooth_dr, default=1.0
    )
    loss = 1.0 - numerics.div(2.0 * tprec * tsens, tprec + tsens)
    counted = sp.pair_counted()
    if not per_image:
        counted = counted.any(0, keepdim=True)
    return loss, counted


def channel_maps(distance_map: Tensor | None, sp: Spatial, input: Tensor, fn: str) -> Tensor | None:
    """A precomputed ``distance_map (B, C, *spatial)``, checked, for the selected classes."""
    if distance_map is None:
        return None
    check_tensor(distance_map, "distance_map", fn, floating=True)
    if distance_map.shape != input.shape:
        raise InputError(
            f"{fn}: expected distance_map of shape {shape_str(input)} (one map per input "
            f"channel) matching input {shape_str(input)}, got {shape_str(distance_map)}"
        )
    dm = distance_map.detach().to(sp.prob.dtype)
    cls = sp.prep.classes
    if cls != list(range(input.shape[1])):
        dm = dm.index_select(1, torch.tensor(cls, device=input.device))
    return dm


def signed_map(mask: Tensor, spacing: Sequence[float], dtype: torch.dtype) -> Tensor:
    """Kervadec's signed distance map of boolean masks ``(*, *spatial)``: outside, the distance
    to the nearest mask element; inside, ``-(d - 1)`` with ``d`` the distance to the nearest
    element outside; 0 for an empty or a full mask."""
    inside, outside, has = mask_distances(mask, spacing, dtype=dtype)
    return torch.where(mask, (1.0 - inside) * has, outside)


def unsigned_map(mask: Tensor, spacing: Sequence[float], dtype: torch.dtype) -> Tensor:
    """Distance of each element to the mask's interface (inside and outside), 0 for an empty or
    a full mask (MONAI's ``HausdorffDTLoss.distance_field``)."""
    inside, outside, _ = mask_distances(mask, spacing, dtype=dtype)
    return inside + outside


def shape_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """Logits ``(2, 3, 8, 8)`` and class indices ``(2, 8, 8)``: a random blob of class 1 and
    a bar of class 2 in each image (every mask has an interface)."""
    gen = generator(seed)
    x = normal(2, 3, 8, 8, dtype=dtype, gen=gen)
    t = torch.zeros(2, 8, 8, dtype=torch.long)
    corner = torch.randint(0, 3, (2, 2), generator=gen)
    for b in range(2):
        i, j = int(corner[b, 0]), int(corner[b, 1])
        t[b, 1 + i : 5 + i, 1 + j : 4 + j] = 1
        t[b, 6, 1 + j : 7] = 2
    return Example((x, t))


class _IterationsCheck(Check):
    """An int ``>= 0`` (a float, even 3.0, is refused)."""

    def __call__(self, value: Any, name: str, fn: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise OptionTypeError(f"{fn}: expected {name} to be an int >= 0, got {value!r}")
        if value < 0:
            raise OptionError(f"{fn}: expected {name} >= 0, got {value!r}")
        return value


Iterations = Annotated[int, _IterationsCheck()]


def cldice_options(
    *, iterations: Iterations = 3, smooth: Smooth = 1.0, per_image: Bool = True
) -> None:
    """The soft skeleton's iterations and the clDice ratios' smoothing and grouping."""


# the option groups of the clDice losses
CLDICE_OPTIONS = (activation_options, class_options, cldice_options, shape_reduction)


CLDICE_DOCS = DocParts(
    args={
        "smooth": r"""added to the numerator and the denominator of :math:`T_{prec}` and
            :math:`T_{sens}` (a pair ``(s_nr, s_dr)`` sets them apart: MONAI's ``smooth_nr,
            smooth_dr``); default 1 as the authors' code. With 0, a ratio whose skeleton is
            empty counts as 1 (perfect).""",
        "per_image": """one score per (image, class) (default), or per class over the whole
            batch (``False``: the authors' code, which sums over the batch; ``"none"`` is then
            ``(K,)``).""",
    },
    paragraphs={
        # the body of the clDice losses' ``Reference:`` section
        "cldice_reference": """
            Shit et al., *clDice - a novel topology-preserving loss function for tubular
            structure segmentation*, CVPR 2021, arXiv:2003.07311.""",
    },
)


# ---------------------------------------------------------------- TopK cross entropy

TopKPercent = Annotated[float, Number(0, 100, lo_open=True)]


def pixel_cross_entropy(prep: Prepared) -> tuple[Tensor, Tensor | None]:
    """``(loss, valid)`` of the unreduced, class-weighted cross entropy: ``(B, N)`` per pixel
    with softmax (``-w'_y log p_y``, ``w'`` 0 for classes not selected), ``(B, K, N)`` per
    selected channel with sigmoid (binary cross entropy times ``w_k``); ``valid`` broadcasts
    to it (None when nothing is ignored)."""
    if prep.activation == "softmax":
        lp = prep.log_prob
        assert lp is not None  # prepare_inputs(log_probs=True)
        w = prep.pixel_weight
        if prep.index is not None:
            idx = prep.index.clamp_min(0)  # ignored pixels (-1) are masked by valid
            loss = -lp.gather(1, idx.unsqueeze(1)).squeeze(1) * per_class(w, idx)
        else:
            assert prep.dense is not None
            loss = -(prep.dense * w.view(1, -1, 1) * lp).sum(1)
        return loss, prep.valid
    z = prep.logits
    assert z is not None  # sigmoid
    cls = prep.classes
    ids = torch.tensor(cls, device=z.device)
    if cls != list(range(z.shape[1])):
        z = z.index_select(1, ids)
    if prep.index is not None:
        g = (prep.index.unsqueeze(1) == ids.view(1, -1, 1)).to(z.dtype)
    else:
        assert prep.dense is not None
        g = prep.dense if z.shape[1] == prep.dense.shape[1] else prep.dense.index_select(1, ids)
    loss = (F.softplus(z) - z * g) * prep.class_weight.view(1, -1, 1)
    valid = None if prep.valid is None else prep.valid.unsqueeze(1)
    return loss, valid


def top_k_mask(loss: Tensor, valid: Tensor | None, k: float) -> tuple[Tensor, Tensor]:
    """``(chosen, count)``: the mask of the ``floor(n k / 100)`` largest valid entries of
    ``loss`` (at least one when ``n > 0``; nnU-Net's ``int(num_voxels * k / 100)``) and that
    number, as a tensor: one sort, no host synchronisation."""
    flat = loss.detach().reshape(-1)
    if valid is None:
        n = flat.new_tensor(float(flat.numel()))
        key = flat
    else:
        v = torch.broadcast_to(valid, loss.shape).reshape(-1)
        n = v.sum().to(flat.dtype)
        key = torch.where(v, flat, torch.full_like(flat, -math.inf))
    count = torch.floor(n * k / 100.0)
    count = torch.where(n > 0, count.clamp_min(1.0), count)
    order = torch.sort(key, descending=True, stable=True).indices
    rank = torch.arange(flat.numel(), device=flat.device, dtype=flat.dtype)
    chosen = torch.zeros_like(flat, dtype=torch.bool).scatter(0, order, rank < count)
    return chosen.view(loss.shape), count


Erosions = Annotated[int, _IterationsCheck()]


def erosion_estimate(bound: Tensor, erosions: int, alpha: float) -> Tensor:
    """Karimi and Salcudean's erosion estimate of ``bound (B, K, *spatial)`` (the squared
    error): ``sum_j (j + 1)^alpha E_j`` where ``E_j`` is the ``j``-th soft erosion of
    ``bound`` by the cross kernel, thresholded at 0.5 and min-max normalised per (image,
    class) (kornia's ``HausdorffERLoss`` recipe)."""
    b, k = bound.shape[:2]
    spatial = bound.shape[2:]
    dims = tuple(range(2, bound.dim()))
    kernel = cross_kernel(len(spatial), dtype=bound.dtype, device=bound.device)
    x = bound.reshape(b * k, 1, *spatial)
    total = torch.zeros_like(x)
    for j in range(erosions):
        d = convolve(x, kernel)
        e = (d - 0.5).masked_fill(d < 0.5, 0.0)
        hi = e.amax(dim=dims, keepdim=True)
        lo = e.amin(dim=dims, keepdim=True)
        span = hi - lo
        nonzero = span != 0
        e = torch.where(nonzero, (e - lo) / torch.where(nonzero, span, torch.ones_like(span)), e)
        total = total + e * float(j + 1) ** alpha
        x = e
    return total.reshape(b, k, *spatial)
