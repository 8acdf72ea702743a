"""Triplet loss with online mining inside the batch: batch-hard, semi-hard, batch-all."""

from __future__ import annotations

from typing import Annotated, Any

import torch
from torch import Tensor

from .._core.declare import loss_function
from .._core.options import Choice
from .._core.reduction import reduce_loss
from .._core.registry import register_loss
from ..distributed import gather_batch
from ._common import (
    METRIC_DOCS,
    Gather,
    batch_labels,
    check_embeddings_labels,
    distance_matrix,
    embedding_examples,
    prepare,
    triplet_options,
)
from ._mining import AVERAGES, MINERS, Mining, batch_hard_rows, propagate_nan, triplet_masks

Average = Annotated[str | None, Choice(*AVERAGES, optional=True)]

_DEFAULT_AVERAGE = {"all": "nonzero", "hard": "valid", "semihard": "valid"}


@loss_function(METRIC_DOCS, options=triplet_options)
def batch_triplet_loss(
    embeddings: Tensor,
    labels: Tensor,
    *,
    mining: Mining = "hard",
    average: Average = None,
    gather: Gather = "none",
    **options: Any,
) -> Tensor:
    r"""Triplet loss with the triplets mined online from the batch's distance matrix.

    .. math::
        \ell(a, p, n) = \big[m + D_{ap} - D_{an}\big]_+ \quad
        (\text{or } \log(1 + e^{m + D_{ap} - D_{an}}) \text{ with } \texttt{soft})

    where ``p`` shares the label of anchor ``a`` (``p != a``) and ``n`` does not. Triplets:

    * ``"hard"`` (default), batch-hard (Hermans et al. 2017): per anchor the farthest positive
      and the closest negative; the mean is over anchors.
    * ``"semihard"``: FaceNet's semi-hard negatives as TF-Addons ``triplet_semihard_loss``
      implements them: for every anchor-positive pair the closest negative *strictly* farther
      than the positive, or, when there is none, the farthest negative; the mean is over
      anchor-positive pairs. O(B²) memory (TF-Addons tiles a B² x B matrix).
    * ``"all"``, batch-all (Moindrot 2018): every valid triplet; the mean is over triplets with
      a positive loss. Computed exactly from each anchor's sorted negative distances and
      prefix sums (O(B²) memory, O(B² log B) time); the ``soft`` variant sums over anchor
      chunks of at most 4M triplets. No B x B x B tensor is formed at any batch size.

    Anchors without a positive or without a negative are left out (they add nothing and are not
    counted). A batch without a valid triplet gives 0, attached to the graph, never NaN. A NaN
    embedding gives a NaN loss: every anchor with a NaN distance to a positive or a negative
    is NaN, even where mining would pass over that distance or leave the anchor out.

    ``average`` chooses the mean's denominator: ``"nonzero"`` (the triplets, or pairs, whose
    loss is > 0: Moindrot's batch-all and pytorch-metric-learning's ``AvgNonZeroReducer``) or
    ``"valid"`` (all of them); default ``"nonzero"`` for ``"all"``, ``"valid"`` otherwise.

    Hermans' soft margin is ``soft=True, margin=0``. FaceNet uses squared distances of
    L2-normalised embeddings with margin 0.2: ``metric="squared_euclidean", normalize=True,
    margin=0.2``. Peers:

    * TF-Addons ``triplet_semihard_loss(y, x, margin)``: its default ``distance_metric="L2"``
      is the plain Euclidean distance (since v0.11, July 2020; before, the same string meant
      the squared distance), so it is ``mining="semihard"`` with the default
      ``metric="euclidean"``; ``"squared-L2"`` is ``metric="squared_euclidean"`` and
      ``"angular"`` is ``metric="cosine"``. It gives an anchor without negatives a made-up
      negative (the row minimum), where we leave that anchor out. ``triplet_hard_loss``
      averages over every anchor, valid or not: on batches where every anchor has a positive
      and a negative it is ``mining="hard"`` (its ``soft=True`` drops the margin:
      ``soft=True, margin=0``).
    * pytorch-metric-learning ``TripletMarginLoss(margin=m)`` with ``BatchHardMiner()``:
      ``mining="hard", normalize=True, average="nonzero"`` (PML L2-normalises by default, does
      not square, and averages over triplets with a loss > 0). Without a miner, or with
      ``TripletMarginMiner(margin=m, type_of_triplets="all")``: ``mining="all",
      normalize=True``. PML's ``"semihard"`` miner keeps *every* triplet with
      ``0 < D_an - D_ap <= m``, not FaceNet's one negative per anchor-positive pair.

    Args:
        mining: ``"hard"`` (default), ``"semihard"`` or ``"all"``.
        average: ``"nonzero"`` or ``"valid"`` (see above); ``None`` for the paper's choice.

    Shape:
        ``embeddings``: ``(B, D)``, ``labels``: ``(B,)``. Output: scalar, or for ``"none"`` the
        ``(B,)`` per-anchor *sum* of its triplet losses (0 for left-out anchors; ``(N,)`` over
        the global batch with ``gather="global"``). ``"sum"`` is the sum of that vector and
        ``"mean"`` divides it by the count chosen by ``average``.

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Schroff, Kalenichenko and Philbin, *FaceNet*, CVPR 2015, arXiv:1503.03832; Hermans,
        Beyer and Leibe, *In Defense of the Triplet Loss for Person Re-Identification*,
        arXiv:1703.07737; Moindrot, *Triplet Loss and Online Triplet Mining in TensorFlow*
        (2018); TF-Addons ``tfa.losses.triplet_semihard_loss``.

    Example:
        >>> import torch
        >>> x = torch.tensor([[0.0], [1.0], [3.0], [3.5]])
        >>> y = torch.tensor([0, 0, 1, 1])
        >>> batch_triplet_loss(x, y, mining="hard", margin=2.0, reduction="none")
        tensor([0.0000, 1.0000, 0.5000, 0.0000])
        >>> batch_triplet_loss(x, y, mining="all", margin=2.0)  # 2.0 over 3 positive triplets
        tensor(0.6667)
    """
    fn = "batch_triplet_loss"
    check_embeddings_labels(embeddings, labels, fn)
    average = average or _DEFAULT_AVERAGE[mining]
    x = prepare(embeddings, options["normalize"])
    batch = gather_batch(x, labels, gather=gather, fn=fn)
    metric, margin, soft = options["metric"], float(options["margin"]), options["soft"]
    pos, neg = triplet_masks(*batch_labels(batch), batch.anchor_index)
    if mining == "hard":  # the distance matrix only mines: no graph of (n, N) tensors
        with torch.no_grad():
            D = distance_matrix(batch.anchors, batch.keys, metric, self_index=batch.anchor_index)
        mined = batch_hard_rows(batch.anchors, batch.keys, D, pos, neg, margin, soft, metric)
    else:
        D = distance_matrix(batch.anchors, batch.keys, metric, self_index=batch.anchor_index)
        mined = MINERS[mining](D, pos, neg, margin, soft)
    count = mined.count_nonzero if average == "nonzero" else mined.count_valid
    per_anchor, count = propagate_nan(mined.per_anchor, count, D, pos | neg)
    reduction = options["reduction"]
    return reduce_loss(per_anchor, reduction, fn=fn, denominator=count, gather=gather)


BatchTripletLoss = register_loss(
    "batch_triplet",
    family="metric",
    function=batch_triplet_loss,
    module="BatchTripletLoss",
    formula="mean [m + D(a,p) - D(a,n)]_+ over mined triplets (hard/semihard/all)",
    reference="Schroff et al., FaceNet, arXiv:1503.03832; Hermans et al., arXiv:1703.07737",
    examples=embedding_examples,
).module
