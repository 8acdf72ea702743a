"""Margin-based loss with distance-weighted sampling and a learnable boundary beta (Wu et al.,
ICCV 2017)."""

from __future__ import annotations

import inspect
from typing import Annotated, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._core.checks import check_tensor, shape_str
from .._core.declare import loss_function
from .._core.dtypes import upcast
from .._core.examples import Example, ModuleCall
from .._core.module import LossModule
from .._core.options import Bool, Choice, NonNegative, Positive, Reduction
from .._core.reduction import reduce_loss
from .._core.registry import register_loss
from ..distributed import gather_batch
from ..errors import InputError, OptionError
from ._common import (
    METRIC_DOCS,
    Gather,
    batch_labels,
    check_embeddings_labels,
    distance_matrix,
    embedding_examples,
    prepare,
)
from ._mining import propagate_nan, triplet_masks

Sampling = Annotated[str, Choice("all", "distance")]


def distance_weights(D: Tensor, neg: Tensor, dim: int, cutoff: float, upper: float) -> Tensor:
    """Wu et al.'s sampling weights ``1 / q(d)`` of the negatives, ``q(d) ∝ d^{n-2}
    (1 - d^2/4)^{(n-3)/2}`` (the density of distances between uniform points on the unit
    sphere in ``n`` dimensions), with ``d`` clipped below at ``cutoff`` and weight 0 for
    ``d >= upper`` and for non-negatives; rows normalised (an all-zero row stays zero)."""
    d = D.detach().clamp(min=cutoff, max=2.0 - 1e-6)
    log_w = (2.0 - dim) * torch.log(d) - 0.5 * (dim - 3.0) * torch.log1p(-0.25 * d * d)
    keep = neg & (D.detach() < upper)
    low = torch.finfo(log_w.dtype).min
    log_w = torch.where(keep, log_w, log_w.new_full((), low))
    w = torch.softmax(log_w, dim=1)
    w = torch.where(keep, w, w.new_zeros(()))
    return w


@loss_function(METRIC_DOCS)
def margin_loss(
    embeddings: Tensor,
    labels: Tensor,
    beta: Tensor,
    *,
    margin: NonNegative = 0.2,
    nu: NonNegative = 0.0,
    sampling: Sampling = "all",
    cutoff: Positive = 0.5,
    nonzero_loss_cutoff: Positive = 1.4,
    normalize: Bool = True,
    gather: Gather = "none",
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Margin-based loss: positives inside ``beta - alpha``, negatives outside ``beta + alpha``.

    .. math::
        \ell = \frac{\sum_{(a, p, n)} \big([D_{ap} - \beta_a + \alpha]_+
            + [\beta_a - D_{an} + \alpha]_+ + \nu \beta_a\big)}
            {\#\{\text{pair terms} > 0\}}

    over triplets of anchors ``a``, positives ``p`` and negatives ``n`` with Euclidean
    distances (of L2-normalised embeddings by default); ``beta`` is a learnable boundary,
    one for all (shape ``(1,)``) or one per class (``(C,)``, ``beta_a = beta[y_a]``), and ``nu``
    weighs its regulariser. Triplets:

    * ``"all"``: every valid triplet (as pytorch-metric-learning's ``MarginLoss``), summed
      in closed form from the ``B x B`` distances (no ``B^3`` tensor);
    * ``"distance"``: Wu et al.'s distance-weighted sampling: for every positive pair one
      negative drawn with probability ``∝ 1 / q(d)`` (see :func:`distance_weights`), ``d``
      clipped at ``cutoff`` and only negatives closer than ``nonzero_loss_cutoff``. Random
      (torch's global generator): seed it for reproducible runs.

    The denominator counts the positive and the negative terms that are > 0 (Wu et al.'s
    ``pair_cnt``); a batch without a triplet gives 0 with a graph. :class:`MarginLoss` holds
    ``beta`` as a Parameter. pytorch-metric-learning ``MarginLoss(margin, nu, beta,
    learn_beta, num_classes)``: the same value for ``nu = 0`` or a per-class ``beta``; with
    one shared ``beta`` it adds ``nu * beta`` undivided (Wu et al.'s code, and ours, divide
    the regulariser with the rest).

    Args:
        beta: the boundary, ``(1,)`` shared or ``(C,)`` per class.
        margin: ``alpha`` (default 0.2).
        nu: the weight of ``beta``'s regulariser (default 0).
        sampling: ``"all"`` (default) or ``"distance"``.
        cutoff: the distances' lower clip in the sampling weights (default 0.5).
        nonzero_loss_cutoff: negatives at least this far are never sampled (default 1.4).
        normalize: L2-normalise the embeddings first (default True, as the paper).

    Shape:
        output: scalar, or ``(B,)`` per-anchor sums for ``"none"`` (``(N,)`` with
        ``gather="global"``).

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Wu, Manmatha, Smola and Krähenbühl, *Sampling Matters in Deep Embedding Learning*,
        ICCV 2017, arXiv:1706.07567, Eq. (4)-(5) and Sec. 4.

    Example:
        >>> import torch
        >>> x = torch.tensor([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
        >>> margin_loss(x, torch.tensor([0, 0, 1, 1]), torch.tensor([1.2]))
        tensor(0.)
    """
    fn = "margin_loss"
    check_embeddings_labels(embeddings, labels, fn)
    b = check_tensor(beta, "beta", fn, floating=True)
    if b.dim() != 1 or b.shape[0] == 0:
        raise InputError(f"{fn}: expected beta of shape (1,) or (num_classes,), got {shape_str(b)}")
    x = prepare(embeddings, normalize)
    batch = gather_batch(x, labels, gather=gather, fn=fn)
    D = distance_matrix(batch.anchors, batch.keys, "euclidean", self_index=batch.anchor_index)
    ya, yk = batch_labels(batch)
    pos, neg = triplet_masks(ya, yk, batch.anchor_index)
    b = upcast(b, D.dtype)
    if b.shape[0] > 1:
        if ya.numel() and int(ya.max()) >= b.shape[0]:
            raise InputError(
                f"{fn}: expected labels < {b.shape[0]} (the classes of beta {shape_str(b)})"
            )
        beta_a = b[ya]
    else:
        beta_a = b.expand(ya.shape[0])  # one shared beta
    pos_l = torch.where(pos, F.relu(D - beta_a[:, None] + margin), D.new_zeros(()))
    neg_l = torch.where(neg, F.relu(beta_a[:, None] - D + margin), D.new_zeros(()))
    if sampling == "all":
        n_neg, n_pos = neg.sum(1).to(D.dtype), pos.sum(1).to(D.dtype)
        per_anchor = pos_l.sum(1) * n_neg + neg_l.sum(1) * n_pos + nu * beta_a * n_pos * n_neg
        count = ((pos_l > 0).sum(1) * n_neg + (neg_l > 0).sum(1) * n_pos).sum()
    else:
        w = distance_weights(D, neg, x.shape[1], float(cutoff), float(nonzero_loss_cutoff))
        a, p = torch.nonzero(pos & (w.sum(1, keepdim=True) > 0), as_tuple=True)
        n = torch.multinomial(w[a], 1).squeeze(1) if a.numel() else a
        terms = pos_l[a, p] + neg_l[a, n] + nu * beta_a[a]
        per_anchor = D.new_zeros(D.shape[0]).index_add(0, a, terms)
        count = (pos_l[a, p] > 0).sum() + (neg_l[a, n] > 0).sum()
    per_anchor, count = propagate_nan(per_anchor, count, D, pos | neg)
    return reduce_loss(per_anchor, reduction, fn=fn, denominator=count, gather=gather)


def _module_beta(module: nn.Module) -> dict[str, Any]:
    return {"beta": module.beta}


def margin_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """Embeddings ``(8, 4)`` in 4 classes and a per-class ``beta`` ``(4,)``; the Module is
    ``MarginLoss(num_classes=4)``."""
    x, labels = embedding_examples(dtype, seed).args
    x = x * 4.0  # distances around the boundary
    beta = torch.linspace(0.9, 1.3, 4, dtype=torch.float64).to(dtype) + 0.01 * seed
    return Example(
        (x, labels, beta),
        module=ModuleCall(init_kwargs={"num_classes": 4}, to_function=_module_beta),
    )


class MarginLoss(LossModule):
    """Margin-based loss with its learnable boundary ``beta`` (Wu et al. 2017); see
    :func:`margin_loss`.

    ``beta`` is an ``nn.Parameter`` (include this Module's parameters in the optimiser; Wu et
    al. train it with the network), one per class with ``num_classes``, else one shared.

    The constructor's arguments (from ``__init__``):
    """

    function = margin_loss

    def __init__(
        self,
        num_classes: int | None = None,
        *,
        beta_init: float = 1.2,
        learn_beta: bool = True,
        margin: float = 0.2,
        nu: float = 0.0,
        sampling: str = "all",
        cutoff: float = 0.5,
        nonzero_loss_cutoff: float = 1.4,
        normalize: bool = True,
        gather: str = "none",
        reduction: str = "mean",
    ) -> None:
        """Build ``beta`` and set the options of :func:`margin_loss`.

        Args:
            num_classes: one ``beta`` per class (default None: one shared).
            beta_init: its initial value (default 1.2).
            learn_beta: make ``beta`` a Parameter (default True) or a fixed buffer.
            {{sampling_options}}
            normalize: L2-normalise the embeddings first (default True).
            gather: ``"none"`` (default), ``"global"`` or ``"local"``.
            reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        """
        fn = "MarginLoss"
        options = dict(
            margin=margin,
            nu=nu,
            sampling=sampling,
            cutoff=cutoff,
            nonzero_loss_cutoff=nonzero_loss_cutoff,
            normalize=normalize,
            gather=gather,
            reduction=reduction,
        )
        decl = margin_loss.__visionloss__  # type: ignore[attr-defined]
        options = {k: decl.check(k, v, fn) for k, v in options.items()}
        if num_classes is not None and (
            isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1
        ):
            raise OptionError(
                f"{fn}: expected num_classes to be a positive int, got {num_classes!r}"
            )
        super().__init__(**options)
        self.num_classes, self.learn_beta = num_classes, bool(learn_beta)
        init = torch.full((num_classes or 1,), float(beta_init))
        if self.learn_beta:
            self.beta = nn.Parameter(init)
        else:
            self.register_buffer("beta", init)

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        """Compute :func:`margin_loss` with this Module's ``beta`` and options.

        Args:
            embeddings: ``(B, D)`` floating point.
            labels: ``(B,)`` integer class labels.

        Module state (not arguments of ``forward``):
            beta: this Module's ``beta``, passed to :func:`margin_loss`.

        Returns:
            the loss (see :func:`margin_loss`).
        """
        return margin_loss(embeddings, labels, self.beta, **self.options())


# the sampling options' descriptions are margin_loss's own
MarginLoss.__init__.__doc__ = (MarginLoss.__init__.__doc__ or "").replace(
    "{{sampling_options}}",
    "\n            ".join(
        margin_loss.__visionloss__.entries[k]  # type: ignore[attr-defined]
        for k in ("margin", "nu", "sampling", "cutoff", "nonzero_loss_cutoff")
    ),
)
MarginLoss.__doc__ = (
    inspect.cleandoc(MarginLoss.__doc__ or "")
    + "\n\nArgs:\n"
    + (inspect.cleandoc(((MarginLoss.__init__.__doc__ or "").split("Args:", 1) + [""])[1]))
    .replace("\n", "\n    ")
    .join(("    ", "\n"))
)

register_loss(
    "margin",
    family="metric",
    function=margin_loss,
    module=MarginLoss,
    formula="([D_ap - beta + a]_+ + [beta - D_an + a]_+ + nu beta) / #nonzero",
    aliases=("margin_based",),
    reference="Wu et al., Sampling Matters in Deep Embedding Learning, ICCV 2017",
    examples=margin_examples,
)
