"""FOCAL's pixel-level InfoNCE++ for forgery localisation (per image or pooled over the batch)."""

from __future__ import annotations

from typing import Annotated, Any

import torch
from torch import Tensor

from .. import distributed as vdist
from .._core.declare import loss_function
from .._core.dtypes import compute_dtype
from .._core.options import PER_CALL, Choice
from .._core.registry import register_loss
from ..metric._common import batch_labels
from ._core import (
    CONTRASTIVE_DOCS,
    MaxSamples,
    Temperature,
    Terms,
    Threshold,
    check_dense,
    contrast_options,
    dense_examples,
    flatten_pixels,
    image_terms,
    label_terms,
    mask_fraction,
    nan_images,
    per_image_terms,
    prepare,
    reduce_terms,
    sample_per_class,
)

SCOPES = ("image", "batch")
POSITIVES = ("mean_logit", "mean_exp")
# the contrast_terms mode of each positive form
_MODES = {"mean_logit": "mean_logit", "mean_exp": "in"}
ANCHORS = ("pristine", "both")


@loss_function(CONTRASTIVE_DOCS, options=contrast_options)
def pixel_info_nce_loss(
    features: Tensor,
    mask: Tensor,
    *,
    temperature: Temperature = 0.1,
    scope: Annotated[str, Choice(*SCOPES)] = "image",
    positive: Annotated[str, Choice(*POSITIVES)] = "mean_logit",
    max_samples: MaxSamples = None,
    anchors: Annotated[str, Choice(*ANCHORS)] = "pristine",
    threshold: Threshold = 0.5,
    generator: Annotated[torch.Generator | None, PER_CALL] = None,
    **options: Any,
) -> Tensor:
    r"""FOCAL's InfoNCE++: per image, pristine pixels pull together and push away the forged
    ones; the loss is computed image by image, then averaged.

    .. math::
        \ell_{\text{mean\_logit}}(q) = -\log \frac{e^{\bar s^+(q)/\tau}}
            {e^{\bar s^+(q)/\tau} + \sum_{k^-} e^{q\cdot k^-/\tau}}, \quad
        \bar s^+ = \frac{1}{J}\sum_j q\cdot k_j^+ ; \qquad
        \ell_{\text{mean\_exp}}(q) = -\log \frac{\frac{1}{J}\sum_j e^{q\cdot k_j^+/\tau}}
            {\sum_{k} e^{q\cdot k/\tau}}

    For each image the L2-normalised pixel features are split by the mask: pristine pixels are
    the queries ``q`` and their positives ``k^+`` (the other pristine pixels, ``J`` of them),
    forged pixels the negatives ``k^-``. FOCAL's official code uses one positive logit, the
    mean of the positive similarities, against the negatives (``positive="mean_logit"``, the
    default: its cross entropy with label 0). The paper's Eq. (2) averages the positives'
    exponentials in the numerator and sums over every key of the dictionary, the ``J``
    positives and the negatives, in the denominator (``"mean_exp"``; the same form as SupCon's
    :math:`L^{in}`, whose minimum is :math:`\log J` rather than 0). ``anchors="both"`` also
    makes the forged pixels queries (positives forged, negatives pristine).

    ``scope="image"`` (FOCAL, Eq. 3) averages each image's queries, then the images;
    ``"batch"`` pools the pixels of the whole batch into one dictionary (the batch-level
    baseline FOCAL compares against) and averages over all queries. ``max_samples`` keeps at
    most that many random pixels of each class per image (the official code's 1,000-sample
    dictionary; ``None`` uses every pixel: the torch path forms an ``n x n`` similarity matrix
    per image, ``(B n) x (B n)`` for ``"batch"``).

    Degenerate cases: a query without a positive (the only pixel of its class) leaves the
    mean; with ``scope="image"`` an image with a single class contributes nothing; a batch
    where nothing contributes gives 0 with a graph (FOCAL's code crashes on ``torch.stack``
    of an empty list).

    {{nan_features}}

    Default temperature 0.1, as FOCAL.

    Args:
        scope: ``"image"`` (default, FOCAL) or ``"batch"``.
        positive: ``"mean_logit"`` (default, the official code) or ``"mean_exp"`` (the paper's
            Eq. 2).
        max_samples: at most this many pixels of each class per image (FOCAL: 1000), or
            ``None`` (default) for all.
        anchors: ``"pristine"`` (default, FOCAL) or ``"both"``.
        generator: random generator for ``max_samples`` (default: torch's global one); a
            per-call argument of the Module.
        gather: ``"none"`` (default), ``"global"`` or ``"local"``. ``scope="batch"``: the
            dictionary holds every process's pixels (see :mod:`visionloss.distributed`: the
            value equals the single-process loss on the concatenated batch, DDP's gradient
            average is exact). ``scope="image"``: nothing is gathered; both modes make the
            mean run over every process's images.

    Shape:
        output: scalar; for ``"none"``, ``(B,)`` per image with ``scope="image"`` (0 for images
        that do not count) and the ``(B, H, W)`` per-query map with ``scope="batch"`` (0 at
        pixels that are not queries; this process's pixels in every gather mode). ``"sum"``
        sums what ``"mean"`` averages: images, or queries.

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Wu, Chen and Zhou, *Rethinking Image Forgery Detection via Contrastive Learning and
        Unsupervised Clustering (FOCAL)*, arXiv:2308.09307, Eqs. (2) - (3); official code
        ``HighwayWu/FOCAL`` (``main.py``, ``losses.py``).

    Example:
        >>> import torch
        >>> f = torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]).reshape(1, 2, 1, 3)
        >>> mask = torch.tensor([[[0, 0, 1]]])  # two pristine pixels along x, one forged along y
        >>> pixel_info_nce_loss(f, mask, temperature=1.0)  # log(1 + e^(0 - 1))
        tensor(0.3133)
    """
    fn = "pixel_info_nce_loss"
    similarity, gather, reduction = options["similarity"], options["gather"], options["reduction"]
    features, mask = check_dense(features, mask, fn)
    b, d, h, w = features.shape
    dtype = compute_dtype(features)
    labels = (mask_fraction(mask, (h, w)) > threshold).flatten(1).long()
    x = prepare(flatten_pixels(features), similarity, dtype)
    every_pixel = x  # for nan_images: also the pixels that are not sampled
    index = None
    if max_samples is not None:
        index, taken = sample_per_class(labels, max_samples, generator)
        x = torch.gather(x, 1, index[..., None].expand(-1, -1, d))
        labels = torch.where(taken, torch.gather(labels, 1, index), labels.new_full((), -1))
    m = x.shape[1]

    if scope == "image":
        terms = per_image_terms(x, labels, temperature, _MODES[positive])
        query = labels == 0 if anchors == "pristine" else labels >= 0
        terms = Terms(terms.loss, terms.valid & query)
        return reduce_terms(
            image_terms(terms, labels, every_pixel),
            reduction,
            gather="none" if gather == "none" else "local",
        )

    # scope == "batch": one dictionary pooled over the batch (and the processes)
    mode = "local" if reduction == "none" and gather == "global" else gather
    batch = vdist.gather_batch(x.reshape(b * m, d), labels.reshape(-1), gather=mode, fn=fn)
    lab, key_labels = batch_labels(batch)
    terms = label_terms(
        batch.anchors,
        batch.keys,
        temperature,
        lab,
        key_labels,
        mode=_MODES[positive],
        anchor_rows=batch.anchor_index,
        key_valid=key_labels >= 0,
    )
    valid = terms.valid & (lab == 0 if anchors == "pristine" else lab >= 0)
    terms = Terms(torch.where(valid, terms.loss, terms.loss.new_zeros(())), valid)
    nan = nan_images(every_pixel)  # pixels that are not sampled too
    if reduction != "none":
        return reduce_terms(terms, reduction, gather=mode) + nan.sum()
    per_query = terms.loss.view(b, m)
    if index is not None:  # unused slots hold 0 and may repeat a pixel: add, don't overwrite
        per_query = per_query.new_zeros((b, h * w)).scatter_add(1, index, per_query)
    return per_query.view(b, h, w) + nan[:, None, None]


PixelInfoNCELoss = register_loss(
    "pixel_info_nce",
    family="contrastive",
    function=pixel_info_nce_loss,
    module="PixelInfoNCELoss",
    aliases=("info_nce_pp", "focal_info_nce"),
    formula="-log e^{s+/t} / (e^{s+/t} + sum_{k-} e^{q.k-/t}), s+ = mean over "
    "pristine positives, per image",
    reference="Wu et al., FOCAL, arXiv:2308.09307",
    examples=dense_examples,
).module
