"""Center loss (Wen et al. 2016) and the paper's centre update rule."""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
from torch import Tensor, nn

from .. import distributed as vdist
from .._core.checks import check_fraction, check_labels, check_tensor, shape_str
from .._core.declare import loss_function
from .._core.dtypes import compute_dtype, upcast
from .._core.module import LossModule
from .._core.options import Reduction
from .._core.reduction import reduce_loss
from .._core.registry import register_loss
from ..errors import InputError, OptionError
from ._common import METRIC_DOCS, center_examples, check_embeddings_labels


def _check_centers(embeddings: Tensor, labels: Tensor, centers: object, fn: str) -> None:
    check_embeddings_labels(embeddings, labels, fn)
    centers = check_tensor(centers, "centers", fn, floating=True, ndim=2)
    if centers.shape[1] != embeddings.shape[1]:
        raise InputError(
            f"{fn}: expected centers of shape (num_classes, {embeddings.shape[1]}) matching "
            f"embeddings {shape_str(embeddings)}, got {shape_str(centers)}"
        )
    check_labels(labels, centers.shape[0], fn, name="labels")


@loss_function(METRIC_DOCS)
def center_loss(
    embeddings: Tensor, labels: Tensor, centers: Tensor, *, reduction: Reduction = "mean"
) -> Tensor:
    r"""Center loss: half the squared distance of each embedding to its class centre.

    .. math:: \ell_i = \tfrac{1}{2} \lVert x_i - c_{y_i} \rVert_2^2

    Only the batch's own centres are gathered (``centers[labels]``, O(B·D); no ``B x C``
    distance matrix). Gradients flow to ``embeddings`` and, if it requires grad, to
    ``centers``. The paper's centre update is :func:`update_centers` (what :class:`CenterLoss`
    does in training mode). The mean is over the batch (Wen et al. write the sum over the
    mini-batch; ``reduction="sum"`` gives it).

    Args:
        labels: ``(B,)`` integer class labels in ``[0, num_classes)``.
        centers: ``(num_classes, D)`` class centres.

    Shape:
        output: scalar, or ``(B,)`` for ``"none"``.

    Returns:
        the loss; float32 for fp16/bf16 inputs. An empty batch gives 0 with a graph.

    Reference:
        Wen, Zhang, Li and Qiao, *A Discriminative Feature Learning Approach for Deep Face
        Recognition*, ECCV 2016, Eq. (2).

    Example:
        >>> import torch
        >>> centers = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
        >>> center_loss(torch.tensor([[3.0, 4.0], [1.0, 1.0]]), torch.tensor([0, 1]), centers)
        tensor(6.2500)
    """
    fn = "center_loss"
    _check_centers(embeddings, labels, centers, fn)
    dtype = compute_dtype(embeddings, centers)
    c = upcast(centers, dtype).index_select(0, labels)
    loss = 0.5 * (upcast(embeddings, dtype) - c).square().sum(1)
    return reduce_loss(loss, reduction, fn=fn)


@torch.no_grad()
def update_centers(
    centers: Tensor, embeddings: Tensor, labels: Tensor, *, alpha: float = 0.5
) -> Tensor:
    r"""The centre update of Wen et al. (2016), in place; returns ``centers``.

    .. math::
        \Delta c_j = \frac{\sum_i \delta(y_i = j)\,(c_j - x_i)}{1 + \sum_i \delta(y_i = j)},
        \qquad c_j \leftarrow c_j - \alpha\, \Delta c_j

    Classes absent from the batch do not move. Under torch.distributed (an initialised process
    group of several processes) the sums and counts are all-reduced first, so every process
    applies the update of the concatenated global batch and the centres stay identical.

    Args:
        centers: ``(num_classes, D)``, updated in place.
        embeddings: ``(B, D)`` (detached here).
        labels: ``(B,)`` integer labels in ``[0, num_classes)``.
        alpha: the centres' learning rate, in ``[0, 1]`` (default 0.5, as the paper).

    Returns:
        ``centers``.
    """
    fn = "update_centers"
    check_fraction(alpha, "alpha", fn)
    _check_centers(embeddings, labels, centers, fn)
    C, D = centers.shape
    x = embeddings.detach().to(torch.float64 if centers.dtype == torch.float64 else torch.float32)
    stats = x.new_zeros(C, D + 1)
    stats.index_add_(0, labels, torch.cat([x, x.new_ones(x.shape[0], 1)], dim=1))
    stats = vdist.all_reduce_sum(stats)
    sums, counts = stats[:, :D], stats[:, D:]
    c = centers.to(x.dtype)
    delta = (counts * c - sums) / (1.0 + counts)
    centers.copy_((c - alpha * delta).to(centers.dtype))
    return centers


class CenterLoss(LossModule):
    """Center loss with its class centres (Wen et al. 2016); see :func:`center_loss`.

    The centres are the buffer ``centers`` (``num_classes x dim``, Xavier-uniform initialised,
    as caffe-face's ``center_filler``). In training mode each ``forward`` first computes the
    loss with the current centres, then applies the paper's update :func:`update_centers`
    under ``no_grad`` (the documented state this Module mutates); ``eval()`` freezes them.
    With ``learn_centers=True`` the centres are instead an ``nn.Parameter`` trained by your
    optimizer and no rule update happens. Under torch.distributed the centres are broadcast
    from rank 0 on the first call and the updates are all-reduced, so every process keeps the
    same centres.

    Args:
        num_classes: number of classes.
        dim: embedding size.
        alpha: the centres' learning rate (default 0.5).
        learn_centers: learn the centres by gradient (default False: the update rule).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Example:
        >>> import torch
        >>> loss = CenterLoss(num_classes=3, dim=2)
        >>> x, y = torch.randn(4, 2), torch.tensor([0, 1, 1, 2])
        >>> value = loss(x, y)  # the centres of classes 0, 1, 2 move towards x
        >>> tuple(loss.centers.shape)
        (3, 2)
    """

    function = center_loss

    def __init__(
        self,
        num_classes: int,
        dim: int,
        *,
        alpha: float = 0.5,
        learn_centers: bool = False,
        reduction: Reduction = "mean",
    ) -> None:
        fn = "CenterLoss"
        if not isinstance(num_classes, int) or num_classes < 1:
            raise OptionError(
                f"{fn}: expected num_classes to be a positive int, got {num_classes!r}"
            )
        if not isinstance(dim, int) or dim < 1:
            raise OptionError(f"{fn}: expected dim to be a positive int, got {dim!r}")
        check_fraction(alpha, "alpha", fn)
        super().__init__(reduction=reduction)
        self.num_classes, self.dim = num_classes, dim
        self.alpha, self.learn_centers = float(alpha), bool(learn_centers)
        bound = math.sqrt(6.0 / (num_classes + dim))
        init = torch.empty(num_classes, dim).uniform_(-bound, bound)
        if self.learn_centers:
            self.centers = nn.Parameter(init)
        else:
            self.register_buffer("centers", init)
        self._synced = False

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        if vdist.is_distributed() and not self._synced:
            with torch.no_grad():
                dist.broadcast(self.centers.data, src=0)
        self._synced = self._synced or vdist.is_distributed()
        loss = center_loss(embeddings, labels, self.centers, reduction=self.reduction)
        if self.training and not self.learn_centers:
            update_centers(self.centers, embeddings, labels, alpha=self.alpha)
        return loss

    def extra_repr(self) -> str:
        return (
            f"num_classes={self.num_classes}, dim={self.dim}, alpha={self.alpha}, "
            f"learn_centers={self.learn_centers}, reduction={self.reduction!r}"
        )


register_loss(
    "center",
    family="metric",
    function=center_loss,
    module=CenterLoss,
    formula="1/2 ||x_i - c_{y_i}||^2",
    aliases=("center_loss",),
    reference="Wen et al., ECCV 2016",
    examples=center_examples,
)
