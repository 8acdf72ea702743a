"""SwAV: swapped prediction of Sinkhorn-Knopp codes across crops, and its prototypes."""

from __future__ import annotations

from typing import Annotated

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from .. import distributed as vdist
from .._core.checks import check_tensor, shape_str
from .._core.declare import loss_function
from .._core.dtypes import compute_dtype, upcast
from .._core.examples import Example, generator, normal
from .._core.numerics import div
from .._core.options import PER_CALL, Number, Reduction
from .._core.reduction import reduce_loss
from .._core.registry import register_loss
from .._core.vectors import normalize
from ..errors import InputError, OptionError
from ._common import SSL_DOCS, BatchGather

Temperature = Annotated[float, Number(0, lo_open=True)]
Views = Annotated[int, Number(1)]
Iterations = Annotated[int, Number(1)]
Queue = Annotated[Tensor | None, PER_CALL]


@torch.no_grad()
def sinkhorn_codes(scores: Tensor, epsilon: float, iterations: int, *, reduce: bool) -> Tensor:
    """SwAV's soft codes ``Q`` (``(B, K)``, rows summing to 1) of ``scores (B, K)``: ``exp(
    scores / epsilon)`` alternately normalised to equal prototype (row of ``Q^T``) and equal
    sample marginals, ``iterations`` times. With ``reduce`` (under torch.distributed) the
    total, the prototype sums, the maximum and the batch size are all-reduced, so each
    process gets its rows of the codes of the concatenated global batch."""
    x = scores.detach() / epsilon
    top = x.max() if x.numel() else x.new_zeros(())
    count = x.new_tensor(float(x.shape[0]))
    if reduce:
        top = top.clone()
        dist.all_reduce(top, op=dist.ReduceOp.MAX)
        count = vdist.all_reduce_sum(count)
    q = torch.exp(x - top).transpose(0, 1)  # (K, B); the shift cancels in the normalisation
    total = q.sum()
    q = div(q, vdist.all_reduce_sum(total) if reduce else total)
    for _ in range(iterations):
        rows = q.sum(1, keepdim=True)
        q = div(q, vdist.all_reduce_sum(rows) if reduce else rows)
        q = div(q, q.sum(0, keepdim=True) * count)
    return (q * count).transpose(0, 1)


def _check(scores: object, queue: object, views: int, fn: str) -> Tensor:
    s = check_tensor(scores, "scores", fn, floating=True, ndim=3)
    if s.shape[0] < 2 or views > s.shape[0] or s.shape[2] == 0:
        raise InputError(
            f"{fn}: expected scores of shape (V, N, K) with V >= 2 crops, V >= assign_views = "
            f"{views} and K > 0, got {shape_str(s)}"
        )
    if queue is not None:
        q = check_tensor(queue, "queue", fn, floating=True, ndim=3)
        if q.shape[0] != views or q.shape[2] != s.shape[2]:
            raise InputError(
                f"{fn}: expected queue of shape ({views}, M, {s.shape[2]}) matching scores "
                f"{shape_str(s)}, got {shape_str(q)}"
            )
    return s


@loss_function(SSL_DOCS)
def swav_loss(
    scores: Tensor,
    *,
    queue: Queue = None,
    assign_views: Views = 2,
    temperature: Temperature = 0.1,
    epsilon: Temperature = 0.05,
    sinkhorn_iterations: Iterations = 3,
    gather: BatchGather = "none",
    reduction: Reduction = "mean",
) -> Tensor:
    r"""SwAV: each crop predicts the Sinkhorn-Knopp code of another crop of the same image.

    .. math::
        \ell_n = \frac{1}{V_a} \sum_{i < V_a} \frac{1}{V - 1} \sum_{v \ne i}
            -\sum_k q_{i,n,k} \log \operatorname{softmax}\Big(\frac{z_{v,n}}{\tau}\Big)_k

    ``scores`` are the prototype scores ``z_{v,n,k} = <x_{v,n}, c_k>`` of ``V`` crops
    (unit features against unit prototypes: :class:`SwAVPrototypes` owns the prototypes and
    computes them), the first ``assign_views`` the high-resolution crops whose codes are
    computed; the others (multi-crop's small crops) only predict. The codes
    ``q_i = sinkhorn(z_i)`` (:func:`sinkhorn_codes`, no gradient) spread the batch evenly
    over the prototypes: ``exp(z / epsilon)`` normalised alternately over prototypes and
    samples, ``sinkhorn_iterations`` times. With ``queue`` (the scores of earlier batches'
    features for each assigned crop, ``(assign_views, M, K)``) the codes are computed on the
    batch and the queue together, as SwAV does for small batches, and the batch's rows kept.
    Defaults are the paper's: ``tau = 0.1``, ``epsilon = 0.05``, 3 iterations (lightly's
    ``SwaVLoss`` takes the crops as lists: ``high_resolution_outputs`` = our first
    ``assign_views`` crops).

    Args:
        scores: ``(V, N, K)`` prototype scores of ``V >= 2`` crops of ``N`` images.
        queue: ``(assign_views, M, K)`` scores of queued features, or None.
        assign_views: the number of leading crops whose codes are predicted (default 2).
        temperature: ``tau > 0`` of the predictions (default 0.1).
        epsilon: ``> 0``, the entropic regularisation of the codes (default 0.05).
        sinkhorn_iterations: ``>= 1`` (default 3).
        gather: ``"none"`` (default); ``"global"`` or ``"local"``: the Sinkhorn sums (total,
            per-prototype sums, batch size) are all-reduced, so the codes are those of the
            concatenated global batch, and the mean runs over every process's samples (the
            single-process loss on the concatenated batch, DDP-exact gradients).

    Shape:
        output: scalar, or ``(N,)`` per image for ``"none"``.

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Caron et al., *Unsupervised Learning of Visual Features by Contrasting Cluster
        Assignments*, NeurIPS 2020, arXiv:2006.09882 (Eq. 1-3, Algorithm 1).

    Example:
        >>> import torch
        >>> scores = torch.zeros(2, 4, 3)  # no preference: uniform codes and predictions
        >>> swav_loss(scores)  # log 3
        tensor(1.0986)
    """
    fn = "swav_loss"
    s = _check(scores, queue, assign_views, fn)
    if isinstance(assign_views, bool) or int(assign_views) != assign_views:
        raise OptionError(f"{fn}: expected assign_views to be an int, got {assign_views!r}")
    dtype = compute_dtype(s)
    s = upcast(s, dtype)
    reduce = gather != "none" and vdist.is_distributed()
    n, views = s.shape[1], s.shape[0]
    log_p = F.log_softmax(s / temperature, dim=-1)  # (V, N, K)
    total = s.new_zeros(n)
    for i in range(int(assign_views)):
        rows = s[i]
        if queue is not None:
            rows = torch.cat([rows, upcast(queue[i], dtype)])
        codes = sinkhorn_codes(rows, epsilon, int(sinkhorn_iterations), reduce=reduce)[:n]
        cross = -(codes[None] * log_p).sum(-1)  # (V, N)
        keep = torch.arange(views, device=s.device) != i
        total = total + cross[keep].sum(0) / (views - 1)
    per_sample = total / int(assign_views)
    return reduce_loss(per_sample, reduction, fn=fn, gather="local" if reduce else "none")


class SwAVPrototypes(nn.Module):
    """SwAV's prototypes and feature queue: the Module that owns the state of
    :func:`swav_loss`.

    ``forward(features)`` maps ``(V, N, D)`` crop features to the prototype scores ``(V, N,
    K)`` of :func:`swav_loss` (unit features against unit prototypes). The prototypes are an
    ``nn.Parameter`` ``(K, D)`` trained with the network; call :meth:`normalize_` after each
    optimiser step (SwAV keeps them on the unit sphere; the scores normalise them anyway).
    With ``queue_length > 0`` the detached features of the first ``assign_views`` crops are
    kept in a first-in first-out buffer ``queue`` ``(assign_views, queue_length, D)``
    (saved in the ``state_dict``); :meth:`queue_scores` gives its scores for ``swav_loss(...,
    queue=...)`` and :meth:`enqueue` adds a batch (rows never filled are left out).

    Args:
        dim: feature size ``D``.
        num_prototypes: ``K`` (SwAV: 3000 on ImageNet).
        queue_length: features kept per assigned crop (default 0: no queue).
        assign_views: crops whose features are queued (default 2).

    Example:
        >>> import torch
        >>> head = SwAVPrototypes(dim=8, num_prototypes=5, queue_length=16)
        >>> feats = torch.randn(4, 3, 8)  # 2 global + 2 small crops of 3 images
        >>> loss = swav_loss(head(feats), queue=head.queue_scores())
        >>> head.enqueue(feats)
        >>> int(head.filled)
        3
    """

    queue: Tensor
    filled: Tensor

    def __init__(
        self, dim: int, num_prototypes: int, *, queue_length: int = 0, assign_views: int = 2
    ) -> None:
        super().__init__()
        for name, value, low in (
            ("dim", dim, 1),
            ("num_prototypes", num_prototypes, 1),
            ("queue_length", queue_length, 0),
            ("assign_views", assign_views, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise OptionError(
                    f"SwAVPrototypes: expected {name} to be an int >= {low}, got {value!r}"
                )
        self.prototypes = nn.Parameter(normalize(torch.randn(num_prototypes, dim)))
        self.register_buffer("queue", torch.zeros(assign_views, queue_length, dim))
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))

    def forward(self, features: Tensor) -> Tensor:
        return normalize(features) @ normalize(self.prototypes).transpose(0, 1)

    @torch.no_grad()
    def normalize_(self) -> None:
        """Project the prototypes back onto the unit sphere (after an optimiser step)."""
        self.prototypes.copy_(normalize(self.prototypes))

    def queue_scores(self) -> Tensor | None:
        """Scores of the queued features ``(assign_views, M, K)`` (no gradient), or None
        while the queue is empty or disabled."""
        m = int(self.filled)
        if m == 0:
            return None
        with torch.no_grad():
            return self(self.queue[:, :m])

    @torch.no_grad()
    def enqueue(self, features: Tensor) -> None:
        """Put the first ``assign_views`` crops of ``features (V, N, D)`` at the front of the
        queue (the oldest rows fall off)."""
        length = self.queue.shape[1]
        if length == 0:
            return
        new = features[: self.queue.shape[0]].detach().to(self.queue.dtype)[:, :length]
        self.queue.copy_(torch.cat([new, self.queue], 1)[:, :length])
        self.filled.fill_(min(length, int(self.filled) + new.shape[1]))


def swav_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """Prototype scores of three crops (two assigned) of six images over five prototypes."""
    scores = normal(3, 6, 5, dtype=torch.float64, gen=generator(seed), scale=0.5).tanh()
    return Example((scores.to(dtype),))


SwAVLoss = register_loss(
    "swav",
    family="self_supervised",
    function=swav_loss,
    module="SwAVLoss",
    formula="1/V_a sum_i 1/(V-1) sum_{v != i} H(sinkhorn(z_i), softmax(z_v / tau))",
    reference="Caron et al., SwAV, NeurIPS 2020, arXiv:2006.09882",
    examples=swav_examples,
).module
