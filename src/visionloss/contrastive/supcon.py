"""Supervised contrastive loss (SupCon), both of Khosla et al.'s variants."""

from __future__ import annotations

from typing import Annotated, Any

from torch import Tensor

from .._core.checks import check_labels, check_tensor, shape_str
from .._core.declare import loss_function
from .._core.dtypes import compute_dtype, product_dtype
from .._core.options import Choice
from .._core.registry import register_loss
from ..errors import InputError
from ..metric._common import embedding_examples
from ._core import (
    CONTRASTIVE_DOCS,
    Temperature,
    check_vectors,
    contrast_options,
    multiview_terms,
    prepare,
    reduce_terms,
)

VARIANTS = ("out", "in")


def _check(fn: str, features: Tensor, labels: Tensor | None) -> None:
    check_vectors(features, "features", fn, ndim=(2, 3))
    if labels is None:
        return
    check_tensor(labels, "labels", fn, ndim=1)
    check_labels(labels, None, fn, name="labels")
    if labels.shape[0] != features.shape[0]:
        raise InputError(
            f"{fn}: expected labels of shape ({features.shape[0]},) matching features "
            f"{shape_str(features)}, got {shape_str(labels)}"
        )


@loss_function(CONTRASTIVE_DOCS, options=contrast_options)
def supcon_loss(
    features: Tensor,
    labels: Tensor | None = None,
    *,
    temperature: Temperature = 0.1,
    variant: Annotated[str, Choice(*VARIANTS)] = "out",
    **options: Any,
) -> Tensor:
    r"""Supervised contrastive loss: every view is pulled towards all views of its class.

    .. math::
        L^{out}_i = \frac{-1}{|P(i)|}\sum_{p\in P(i)} \log
            \frac{e^{s_{ip}/\tau}}{\sum_{a\in A(i)} e^{s_{ia}/\tau}}, \qquad
        L^{in}_i = -\log\Big(\frac{1}{|P(i)|}\sum_{p\in P(i)}
            \frac{e^{s_{ip}/\tau}}{\sum_{a\in A(i)} e^{s_{ia}/\tau}}\Big)

    over the ``N V`` views (anchors): ``A(i)`` is every other view, ``P(i)`` those with the
    label of ``i``. ``variant="out"`` (the default, the paper's better one) or ``"in"``.
    Without ``labels`` each sample is its own class (SimCLR's NT-Xent over ``V`` views).

    Anchors without a positive (a class seen once) leave the mean (pytorch-metric-learning's
    ``AvgNonZeroReducer`` drops them too); a batch without any positive gives 0 with a graph.
    SupContrast's ``SupConLoss`` (since its December 2023 fix; before, it divided by
    ``|P(i)| = 0``: NaN) gives such an anchor 0 and keeps it in its mean over all ``N V``
    anchors, and scales by ``temperature / base_temperature``; it takes dot products of the
    features as given (its training code L2-normalises them): on features ``(N, V, D)`` it is
    ``supcon_loss(x, y, temperature=t, similarity="dot", reduction="none").mean() * t /
    base_temperature``, the same as the default mean when every anchor has a positive.
    Per-row log-sum-exp with the self term at ``-inf`` (no max shift needed, none that
    changes the value).

    The mean is over the anchors with a positive; default temperature 0.1.

    Args:
        features: ``(N, D)`` or ``(N, V, D)`` (``V`` views of each sample), floating point.
        labels: ``(N,)`` integer class labels, or ``None`` (each sample its own class).
        variant: ``"out"`` (default) or ``"in"``: the mean outside or inside the log.

    Shape:
        output: scalar, or for ``"none"`` the per-anchor loss of shape ``(N,)`` or ``(N, V)``
        (0 for anchors without a positive; ``N_global`` rows with ``gather="global"``).

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Khosla et al., *Supervised Contrastive Learning*, NeurIPS 2020, arXiv:2004.11362,
        Eqs. (2) and (3).

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        >>> supcon_loss(x, torch.tensor([0, 0, 1]), temperature=1.0, reduction="none")
        tensor([0.3133, 0.3133, 0.0000])
    """
    fn = "supcon_loss"
    similarity, gather, reduction = options["similarity"], options["gather"], options["reduction"]
    _check(fn, features, labels)
    single_view = features.dim() == 2
    x = features[:, None] if single_view else features
    x = prepare(x, similarity, compute_dtype(features), product_dtype(features))
    terms = multiview_terms(x, labels, temperature, mode=variant, gather=gather, fn=fn)
    if single_view and reduction == "none":
        return reduce_terms(terms, reduction)[:, 0]
    return reduce_terms(terms, reduction, gather=gather)


SupConLoss = register_loss(
    "supcon",
    family="contrastive",
    function=supcon_loss,
    module="SupConLoss",
    aliases=("sup_con",),
    formula="-1/|P(i)| sum_p log e^{s_ip/t} / sum_{a != i} e^{s_ia/t}",
    reference="Khosla et al., Supervised Contrastive Learning, NeurIPS 2020, arXiv:2004.11362",
    examples=embedding_examples,
).module
