"""Shared parts of the metric family: option types and groups (``Gather`` also used by the
contrastive family), docstring text, example inputs, input checks and distances through matrix
products."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar, cast

import torch
from torch import Tensor, nn

from .._core.checks import check_labels, check_tensor, shape_str
from .._core.declare import DocParts, loss_function
from .._core.dtypes import autocast_off, compute_dtype, upcast
from .._core.examples import Example, ModuleCall, generator, normal
from .._core.numerics import sqrt
from .._core.options import Bool, Choice, NonNegative, Reduction
from .._core.vectors import normalize as unit
from ..distributed import GATHER_MODES, GatheredBatch
from ..errors import InputError

METRICS = ("euclidean", "squared_euclidean", "cosine", "dot")


# ------------------------------------------------------------------------------ option types
Gather = Annotated[str, Choice(*GATHER_MODES)]
Metric = Annotated[str, Choice(*METRICS)]
Margin = NonNegative


def triplet_options(
    *,
    margin: Margin = 1.0,
    metric: Metric = "euclidean",
    normalize: Bool = False,
    soft: Bool = False,
    reduction: Reduction = "mean",
) -> None:
    """The options of the triplet losses (an option group: declared once, listed in each
    loss's real signature after its own options)."""


METRIC_DOCS = DocParts(
    args={
        "embeddings": """``(B, D)`` floating point.""",
        "labels": """``(B,)`` integer class labels.""",
        "margin": """``m >= 0`` (default 1.0).""",
        "metric": """``"euclidean"`` (default), ``"squared_euclidean"``, ``"cosine"`` or
            ``"dot"`` (see :func:`pairwise_distance`).""",
        "normalize": """L2-normalise the inputs first (default False).""",
        "soft": """softplus instead of the hinge (default False).""",
        "reduction": """``"mean"``, ``"sum"`` or ``"none"``.""",
        "gather": """``"none"`` (default), ``"global"`` or ``"local"``: under torch.distributed
            the batch is every process's embeddings (see :mod:`visionloss.distributed`; the
            value equals the single-process loss on the concatenated batch).""",
    },
)


_F = TypeVar("_F", bound=Callable[..., Any])


def metric_helper(function: _F) -> _F:
    """Declare a public helper of the family that is not a loss (:func:`pairwise_distance`,
    :func:`mine_triplets`): its options are checked and its Args text is composed from
    :data:`METRIC_DOCS`, as a loss's; it keeps its own return type."""
    return cast(_F, loss_function(METRIC_DOCS)(function))


# ---------------------------------------------------------------------------------- examples
def embedding_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """Embeddings ``(8, 4)`` (distances well below the default margin, so no hinge sits at
    its kink) and labels with two members in each of four classes."""
    gen = generator(seed)
    labels = torch.arange(8) % 4
    labels = labels[torch.randperm(8, generator=gen)]
    return Example((normal(8, 4, dtype=dtype, gen=gen, scale=0.1), labels))


def triplet_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """Anchors, positives and negatives ``(8, 4)`` each."""
    gen = generator(seed)
    return Example(tuple(normal(8, 4, dtype=dtype, gen=gen, scale=0.1) for _ in range(3)))


def _module_centers(module: nn.Module) -> dict[str, Any]:
    return {"centers": module.centers}


def center_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """Embeddings ``(8, 4)``, labels in ``[0, 4)`` and centres ``(4, 4)``; the Module is
    ``CenterLoss(num_classes=4, dim=4)``, whose ``centers`` buffer is the function's input."""
    x, labels = embedding_examples(dtype, seed).args
    return Example(
        (x, labels, normal(4, 4, dtype=dtype, gen=generator(seed + 1))),
        module=ModuleCall(init_kwargs={"num_classes": 4, "dim": 4}, to_function=_module_centers),
    )


# ------------------------------------------------------------------------------------ checks
def check_embeddings(embeddings: object, fn: str, name: str = "embeddings") -> Tensor:
    """A floating ``(B, D)`` tensor."""
    return check_tensor(embeddings, name, fn, floating=True, ndim=2)


def check_embeddings_labels(embeddings: object, labels: object, fn: str) -> None:
    """``embeddings`` of shape ``(B, D)`` and integer ``labels`` of shape ``(B,)``."""
    x = check_embeddings(embeddings, fn)
    y = check_tensor(labels, "labels", fn, ndim=1)
    check_labels(y, None, fn, name="labels")
    if y.shape[0] != x.shape[0]:
        raise InputError(
            f"{fn}: expected labels of shape ({x.shape[0]},) matching embeddings "
            f"{shape_str(x)}, got {shape_str(y)}"
        )


def batch_labels(batch: GatheredBatch) -> tuple[Tensor, Tensor]:
    """The anchor and key labels of a batch gathered with labels."""
    return cast(Tensor, batch.anchor_labels), cast(Tensor, batch.key_labels)


# --------------------------------------------------------------------------------- distances
def prepare(x: Tensor, normalize: bool, dtype: torch.dtype | None = None) -> Tensor:
    """``x`` in ``dtype`` (default its compute dtype: float32 for half inputs), L2-normalised
    if asked (a zero vector stays zero, with a zero gradient)."""
    x = upcast(x, dtype or compute_dtype(x))
    return unit(x) if normalize else x


def self_mask(self_index: Tensor, num_keys: int) -> Tensor:
    """``(n, N)`` bool mask, True at ``(i, self_index[i])``."""
    keys = torch.arange(num_keys, device=self_index.device)
    return self_index[:, None] == keys[None, :]


def distance_matrix(
    x: Tensor, y: Tensor, metric: str, *, self_index: Tensor | None = None
) -> Tensor:
    """``(n, N)`` distances between the rows of ``x`` and ``y`` through one matrix product.

    Euclidean distances are computed from ``|x|^2 + |y|^2 - 2 x.y`` after subtracting a common
    centre (distances do not change, the cancellation does), clamped at 0, with a square root
    whose gradient is 0 at 0. Entries ``(i, self_index[i])`` are set to exactly 0 (a sample and
    itself); for "dot" they are left as they are. Inputs must already be in the compute dtype;
    the products are computed in it also inside an autocast region.
    """
    with autocast_off(x.device.type):
        return _distance_matrix(x, y, metric, self_index)


def _distance_matrix(x: Tensor, y: Tensor, metric: str, self_index: Tensor | None) -> Tensor:
    if metric in ("euclidean", "squared_euclidean"):
        center = 0.5 * (x.detach().mean(0, keepdim=True) + y.detach().mean(0, keepdim=True))
        if x.shape[0] == 0 or y.shape[0] == 0:
            center = torch.zeros_like(center)
        xc, yc = x - center, y - center
        x2 = xc.square().sum(-1, keepdim=True)
        y2 = yc.square().sum(-1)
        sq = torch.addmm(x2 + y2[None, :], xc, yc.T, alpha=-2.0).clamp_min(0.0)
        if self_index is not None:
            sq = torch.where(self_mask(self_index, y.shape[0]), sq.new_zeros(()), sq)
        return sq if metric == "squared_euclidean" else sqrt(sq)
    if metric == "cosine":
        d = 1.0 - unit(x) @ unit(y).T
        d = d.clamp(0.0, 2.0)
        if self_index is not None:
            d = torch.where(self_mask(self_index, y.shape[0]), d.new_zeros(()), d)
        return d
    return -(x @ y.T)


def rowwise_distance(x: Tensor, y: Tensor, metric: str) -> Tensor:
    """``(B,)`` distances between matching rows of ``x`` and ``y`` (exact differences)."""
    if metric in ("euclidean", "squared_euclidean"):
        sq = (x - y).square().sum(-1)
        return sq if metric == "squared_euclidean" else sqrt(sq)
    if metric == "cosine":
        return (1.0 - (unit(x) * unit(y)).sum(-1)).clamp(0.0, 2.0)
    return -(x * y).sum(-1)
