"""TopK cross entropy (nnU-Net's TopK loss): the hardest k percent of the pixels."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .._core.declare import loss_function
from .._core.options import Reduction
from .._core.reduction import reduce_loss
from .._core.registry import register_loss
from ._overlap import OVERLAP_DOCS, class_options, overlap_examples, prepare_inputs
from ._pixelwise import PIXEL_DOCS, LogitActivation
from ._shape import SHAPE_DOCS, TopKPercent, pixel_cross_entropy, top_k_mask

_FN = "topk_cross_entropy_loss"


@loss_function(OVERLAP_DOCS | SHAPE_DOCS | PIXEL_DOCS, options=class_options)
def topk_cross_entropy_loss(
    input: Tensor,
    target: Tensor,
    *,
    k: TopKPercent = 10.0,
    activation: LogitActivation = "softmax",
    reduction: Reduction = "mean",
    **options: Any,
) -> Tensor:
    r"""Cross entropy of the hardest ``k`` percent of the pixels (nnU-Net's TopK loss).

    .. math::
        L = \frac{1}{m} \sum_{i \in \mathrm{top}_m} -w_{y_i} \log p_{y_i, i}, \qquad
        m = \max\left(1, \left\lfloor \frac{k\, n}{100} \right\rfloor\right)

    over the ``n`` valid pixels of the whole batch, ranked by their (class-weighted) cross
    entropy; ``w'`` is ``weight`` with 0 for the classes that are not selected (such a pixel
    scores 0 but stays in the count). With ``activation="sigmoid"`` the entries are the binary
    cross entropies of each (pixel, selected channel), and ``n`` counts those. The selection
    is a sort (no host synchronisation, differentiable through the kept entries).

    nnU-Net (``TopKLoss``, ``k=10``) ranks every voxel of the batch with ignored ones at 0
    and divides by ``int(k N / 100)`` of all ``N`` voxels; here ignored pixels leave both
    the ranking and ``n`` (equal when nothing is ignored, see the tests). Degenerate cases: no
    valid pixel gives 0 with a graph and zero gradients.

    Args:
        k: the percentage of the pixels kept, in ``(0, 100]``; 100 is plain cross entropy.
        reduction: ``"mean"`` (over the ``m`` kept entries), ``"sum"`` or ``"none"``.

    Shape:
        ``"none"``: ``(B, *spatial)`` (``(B, K, *spatial)`` with sigmoid): the kept entries'
        losses, 0 elsewhere.

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Isensee et al., *nnU-Net*, Nature Methods 2021, arXiv:1809.10486 (``TopKLoss``); Wu
        et al., *Bridging category-level and instance-level semantic image segmentation*,
        arXiv:1605.06885 (online bootstrapped cross entropy).

    Example:
        >>> import torch
        >>> x = torch.tensor([[[[2.0, 0.0, -2.0, 0.0]], [[0.0, 0.0, 0.0, 2.0]]]])
        >>> t = torch.tensor([[[0, 0, 0, 1]]])
        >>> topk_cross_entropy_loss(x, t, k=25)  # the worst pixel: -log sigmoid(-2)
        tensor(2.1269)
    """
    prep = prepare_inputs(
        input,
        target,
        fn=_FN,
        activation=activation,
        log_probs=activation == "softmax",
        **options,
    )
    loss, valid = pixel_cross_entropy(prep)
    chosen, count = top_k_mask(loss, valid, k)
    if activation == "softmax":
        shape = (input.shape[0], *input.shape[2:])
    else:
        shape = (input.shape[0], len(prep.classes), *input.shape[2:])
    return reduce_loss(
        loss.reshape(shape), reduction, fn=_FN, mask=chosen.reshape(shape), denominator=count
    )


TopKCrossEntropyLoss = register_loss(
    "topk_cross_entropy",
    family="segmentation",
    function=topk_cross_entropy_loss,
    module="TopKCrossEntropyLoss",
    formula="mean of the k% largest pixel cross entropies",
    reference="Isensee et al., nnU-Net, arXiv:1809.10486 (TopKLoss)",
    aliases=("topk_ce",),
    examples=overlap_examples,
).module
