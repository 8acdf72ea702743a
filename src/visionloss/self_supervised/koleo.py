"""KoLeo: the Kozachenko-Leonenko differential-entropy regulariser (DINOv2)."""

from __future__ import annotations

import torch
from torch import Tensor

from .. import distributed as vdist
from .._core.checks import check_tensor, shape_str
from .._core.declare import loss_function
from .._core.dtypes import compute_dtype, upcast
from .._core.numerics import norm
from .._core.options import NonNegative, Reduction
from .._core.reduction import reduce_loss
from .._core.registry import register_loss
from .._core.vectors import normalize
from ..errors import InputError
from ._common import SSL_DOCS, BatchGather, embedding_examples

# rows of the (anchors x keys) similarity matrix searched at once for nearest neighbours
_BLOCK_ELEMENTS = 1 << 22


def _nearest(anchors: Tensor, keys: Tensor, rows: Tensor) -> Tensor:
    """Index among ``keys`` of each anchor's nearest neighbour (largest dot product of unit
    vectors), its own row ``rows[i]`` excluded; searched in row blocks without gradients."""
    out = []
    step = max(1, _BLOCK_ELEMENTS // max(keys.shape[0], 1))
    cols = torch.arange(keys.shape[0], device=keys.device)
    with torch.no_grad():
        for lo in range(0, anchors.shape[0], step):
            dots = anchors[lo : lo + step].detach() @ keys.detach().transpose(0, 1)
            dots = dots.masked_fill(cols == rows[lo : lo + step, None], float("-inf"))
            out.append(dots.argmax(1))
    return torch.cat(out) if out else rows


@loss_function(SSL_DOCS)
def koleo_loss(
    embeddings: Tensor,
    *,
    eps: NonNegative = 1e-8,
    gather: BatchGather = "none",
    reduction: Reduction = "mean",
) -> Tensor:
    r"""KoLeo: spread embeddings uniformly by pushing each away from its nearest neighbour.

    .. math::
        \ell_i = -\log\big(\lVert x_i - x_{\mathrm{nn}(i)} + \epsilon \rVert_2 + \epsilon\big),
        \qquad \mathrm{nn}(i) = \arg\max_{j \ne i} \langle x_i, x_j \rangle

    on L2-normalised embeddings (the Kozachenko-Leonenko estimator of differential entropy,
    up to constants). The ``eps`` inside the norm and outside follows DINOv2's code
    (``nn.PairwiseDistance(eps=1e-8)`` and ``log(d + eps)``), as lightly's ``KoLeoLoss``.
    The neighbour search runs in row blocks without gradients (memory O(block + N·D)); the
    gradient flows through the chosen distance to both vectors.

    Degenerate inputs: a sample without another sample (batch of one) leaves the mean (a
    batch of one gives 0 with a graph); coincident embeddings (collapse) give a large but
    finite ``-log(eps sqrt(D) + eps)`` with finite gradients (with ``eps=0`` their value is
    ``+inf``, the estimator's own value, still with zero, finite gradients).

    Args:
        embeddings: ``(N, D)`` embeddings, floating point.
        eps: ``>= 0`` (default ``1e-8``, DINOv2's).
        gather: ``"none"`` (default); ``"local"``: this process's samples as anchors, their
            nearest neighbours searched among every process's samples (the mean over the
            global batch); ``"global"``: every sample of every process as an anchor. Both
            equal the single-process loss on the concatenated batch with DDP-exact gradients.

    Shape:
        output: scalar, or ``(N,)`` for ``"none"`` (0 for a sample without neighbour).

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Sablayrolles, Douze, Schmid and Jegou, *Spreading vectors for similarity search*,
        ICLR 2019, arXiv:1806.03198 (Eq. 5); Oquab et al., *DINOv2*, arXiv:2304.07193.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # neighbours at distance sqrt(2)
        >>> koleo_loss(x, eps=0.0)
        tensor(-0.3466)
    """
    fn = "koleo_loss"
    x = check_tensor(embeddings, "embeddings", fn, floating=True, ndim=2)
    if x.shape[1] == 0:
        raise InputError(
            f"{fn}: expected embeddings with a feature dimension > 0, got {shape_str(x)}"
        )
    x = normalize(upcast(x, compute_dtype(x)))
    batch = vdist.gather_batch(x, gather=gather, fn=fn)
    valid = torch.full((batch.anchors.shape[0],), batch.keys.shape[0] > 1, device=x.device)
    neighbour = _nearest(batch.anchors, batch.keys, batch.anchor_index)
    gap = batch.anchors - batch.keys.index_select(0, neighbour) + eps
    loss = -torch.log(norm(gap) + eps)
    loss = torch.where(valid, loss, loss.new_zeros(()))
    return reduce_loss(
        loss, reduction, fn=fn, mask=valid, gather="local" if gather == "local" else "none"
    )


KoLeoLoss = register_loss(
    "koleo",
    family="self_supervised",
    function=koleo_loss,
    module="KoLeoLoss",
    formula="-1/N sum_i log(||x_i - x_nn(i)|| + eps)",
    reference="Sablayrolles et al., ICLR 2019, arXiv:1806.03198; Oquab et al., DINOv2",
    examples=embedding_examples,
).module
