"""Contrastive loss (Hadsell, Chopra and LeCun 2006): pair form and batch form."""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import distributed as vdist
from .._core.checks import check_tensor, shape_str
from .._core.declare import loss_function
from .._core.dtypes import compute_dtype
from .._core.options import Bool, Choice, Reduction
from .._core.reduction import reduce_loss
from .._core.registry import register_loss
from ..errors import InputError, InputTypeError, OptionError
from ._common import (
    METRIC_DOCS,
    Gather,
    Margin,
    batch_labels,
    check_embeddings,
    check_embeddings_labels,
    distance_matrix,
    embedding_examples,
    prepare,
    rowwise_distance,
    self_mask,
)
from ._mining import nonzero

CONTRASTIVE_METRICS = ("euclidean", "squared_euclidean", "cosine")
CONTRASTIVE_AVERAGES = ("pairs", "separate", "nonzero")
Power = Annotated[int, Choice(1, 2)]


def _terms(
    D: Tensor,
    pos: Tensor,
    neg: Tensor,
    margin: float,
    pos_margin: float,
    power: int,
    half: bool,
) -> tuple[Tensor, Tensor]:
    """Per-pair losses of similar (``pos``) and dissimilar (``neg``) pairs, 0 elsewhere."""
    pos_term = F.relu(D - pos_margin)
    neg_term = F.relu(margin - D)
    if power == 2:
        pos_term, neg_term = pos_term.square(), neg_term.square()
    if half:
        pos_term, neg_term = 0.5 * pos_term, 0.5 * neg_term
    zero = D.new_zeros(())
    return torch.where(pos, pos_term, zero), torch.where(neg, neg_term, zero)


def _reduce(
    pos_loss: Tensor,
    neg_loss: Tensor,
    pos: Tensor,
    neg: Tensor,
    average: str,
    reduction: str,
    gather: str,
) -> Tensor:
    """The mean over all pairs (``"pairs"``), or the sum of the means over the positive and
    the negative pairs (``"separate"``; ``"nonzero"``: over those with a loss > 0)."""
    fn = "contrastive_loss"
    if average == "pairs" or reduction != "mean":
        count = pos.sum() + neg.sum()
        return reduce_loss(pos_loss + neg_loss, reduction, fn=fn, denominator=count, gather=gather)
    if average == "nonzero":
        pos, neg = nonzero(pos_loss), nonzero(neg_loss)  # a NaN term counts
    return reduce_loss(pos_loss, "mean", fn=fn, denominator=pos.sum(), gather=gather) + (
        reduce_loss(neg_loss, "mean", fn=fn, denominator=neg.sum(), gather=gather)
    )


@loss_function(METRIC_DOCS)
def contrastive_loss(
    embeddings: Tensor,
    labels: Tensor,
    is_similar: Tensor | None = None,
    *,
    margin: Margin = 1.0,
    pos_margin: Margin = 0.0,
    metric: Annotated[str, Choice(*CONTRASTIVE_METRICS)] = "euclidean",
    normalize: Bool = False,
    power: Power = 2,
    half: Bool = True,
    average: Annotated[str, Choice(*CONTRASTIVE_AVERAGES)] = "pairs",
    reduction: Reduction = "mean",
    gather: Gather = "none",
) -> Tensor:
    r"""Contrastive loss of Hadsell, Chopra and LeCun (2006), for pairs or for a whole batch.

    .. math::
        \ell_{ij} = \tfrac{1}{2} D_{ij}^2 \ \text{(similar)}, \qquad
        \ell_{ij} = \tfrac{1}{2} \max(0,\, m - D_{ij})^2 \ \text{(dissimilar)}

    with :math:`D` the Euclidean distance: exactly the paper's loss by default.

    Two forms:

    * pair form ``contrastive_loss(x1, x2, is_similar)``: ``x1[i]`` and ``x2[i]`` form a pair,
      ``is_similar`` is a **bool** tensor (True = similar pair; no 0/1 ambiguity);
    * batch form ``contrastive_loss(embeddings, labels)``: every ordered pair ``(i, j)``,
      ``i != j``, of the batch, similar when the labels are equal. Each unordered pair counts
      twice, so the mean is the mean over unordered pairs. ``gather`` applies to this form.

    Named variants (each is a set of options):

    * Hadsell et al. 2006 (default): ``power=2, half=True, average="pairs"``.
    * No 1/2 (TF-Addons ``contrastive_loss``, the Keras siamese example): ``half=False``.
    * Squared distance (Caffe's ``legacy_version``: :math:`D^2` and
      :math:`\max(0, m - D^2)`): ``metric="squared_euclidean", power=1``.
    * Means over positive and negative pairs separately: ``average="separate"`` (sum of the
      two means); ``average="nonzero"`` averages each over its pairs with a loss > 0.
    * pytorch-metric-learning ``ContrastiveLoss(pos_margin=a, neg_margin=b)``:
      ``normalize=True, power=1, half=False, average="nonzero", pos_margin=a, margin=b``.
    * ``torch.nn.CosineEmbeddingLoss(margin=c)`` (pair form): ``metric="cosine", power=1,
      half=False, margin=1 - c``.

    Args:
        embeddings: ``(B, D)`` floating point (``x1`` in the pair form).
        labels: ``(B,)`` integer labels (batch form), or ``x2`` of shape ``(B, D)`` (pair form).
        is_similar: ``(B,)`` bool, pair form only.
        pos_margin: similar pairs are penalised by ``max(0, D - pos_margin)`` (default 0).
        metric: ``"euclidean"`` (default), ``"squared_euclidean"`` or ``"cosine"``.
        power: 2 (default, squared hinge) or 1.
        half: multiply by 1/2 (default True, as the paper).
        average: ``"pairs"`` (default), ``"separate"`` or ``"nonzero"``.

    Shape:
        pair form: ``(B, D), (B, D), (B,)``, ``"none"`` gives ``(B,)``. Batch form: ``(B, D),
        (B,)``, ``"none"`` gives the ``(B, B)`` matrix of pair losses (0 on the diagonal;
        ``(B, N)`` with ``gather="local"``, ``(N, N)`` with ``"global"``); ``"sum"`` is its sum.

    Returns:
        the loss; float32 for fp16/bf16 inputs. A mean over no pairs is 0 with a graph.

    Reference:
        Hadsell, Chopra and LeCun, *Dimensionality Reduction by Learning an Invariant Mapping*,
        CVPR 2006, Eq. (4); Chopra, Hadsell and LeCun, CVPR 2005.

    Example:
        >>> import torch
        >>> x1, x2 = torch.tensor([[0.0, 0.0], [0.0, 0.0]]), torch.tensor([[0.6, 0.8], [0.3, 0.4]])
        >>> contrastive_loss(x1, x2, torch.tensor([True, False]), margin=1.0, reduction="none")
        tensor([0.5000, 0.1250])
    """
    fn = "contrastive_loss"
    if is_similar is not None:
        D, pos, neg = _pair_distances(embeddings, labels, is_similar, metric, normalize, gather)
    else:
        D, pos, neg = _batch_distances(embeddings, labels, metric, normalize, gather, fn)
    pos_loss, neg_loss = _terms(D, pos, neg, margin, pos_margin, power, half)
    return _reduce(pos_loss, neg_loss, pos, neg, average, reduction, gather)


def _batch_distances(
    embeddings: Tensor, labels: Tensor, metric: str, normalize: bool, gather: str, fn: str
) -> tuple[Tensor, Tensor, Tensor]:
    """Distances of every ordered pair of the (gathered) batch, and the similar (self
    excluded) and dissimilar pairs."""
    if isinstance(labels, Tensor) and labels.is_floating_point():
        raise InputTypeError(
            f"{fn}: expected labels to be an integer tensor (batch form), got {labels.dtype}; "
            "for the pair form pass contrastive_loss(x1, x2, is_similar)"
        )
    check_embeddings_labels(embeddings, labels, fn)
    x = prepare(embeddings, normalize)
    batch = vdist.gather_batch(x, labels, gather=gather, fn=fn)
    D = distance_matrix(batch.anchors, batch.keys, metric, self_index=batch.anchor_index)
    anchor_labels, key_labels = batch_labels(batch)
    same = anchor_labels[:, None] == key_labels[None, :]
    pos = same & ~self_mask(batch.anchor_index, batch.keys.shape[0])
    return D, pos, ~same


def _pair_distances(
    x1: Tensor, x2: Tensor, is_similar: Tensor, metric: str, normalize: bool, gather: str
) -> tuple[Tensor, Tensor, Tensor]:
    """Distances of the pairs ``(x1[i], x2[i])``, and which are similar and dissimilar."""
    fn = "contrastive_loss"
    check_embeddings(x1, fn, "x1")
    check_embeddings(x2, fn, "x2")
    if x2.shape != x1.shape:
        raise InputError(
            f"{fn}: expected x2 of shape {shape_str(x1)} matching x1, got {shape_str(x2)}"
        )
    check_tensor(is_similar, "is_similar", fn, ndim=1)
    if is_similar.dtype != torch.bool:
        raise InputTypeError(
            f"{fn}: expected is_similar to be a bool tensor (True = similar pair), "
            f"got {is_similar.dtype}"
        )
    if is_similar.shape[0] != x1.shape[0]:
        raise InputError(
            f"{fn}: expected is_similar of shape ({x1.shape[0]},) matching x1 {shape_str(x1)}, "
            f"got {shape_str(is_similar)}"
        )
    if gather != "none":
        raise OptionError(f"{fn}: gather={gather!r} needs the batch form (embeddings, labels)")
    dtype = compute_dtype(x1, x2)
    D = rowwise_distance(prepare(x1, normalize, dtype), prepare(x2, normalize, dtype), metric)
    return D, is_similar, ~is_similar


ContrastiveLoss = register_loss(
    "contrastive",
    family="metric",
    function=contrastive_loss,
    module="ContrastiveLoss",
    aliases=("hadsell",),
    formula="1/2 D^2 (similar), 1/2 max(0, m - D)^2 (dissimilar)",
    reference="Hadsell, Chopra and LeCun, CVPR 2006",
    examples=embedding_examples,
).module
