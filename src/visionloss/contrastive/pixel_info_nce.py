"""FOCAL's pixel-level InfoNCE++ for forgery localisation (per image or pooled over the batch)."""

from __future__ import annotations

import torch
from torch import Tensor

from .. import distributed as vdist
from .._core.checks import check_choice
from .._core.dtypes import compute_dtype
from .._core.module import LossModule
from .._core.registry import register_loss
from ._core import (
    Terms,
    check_common,
    check_dense,
    check_threshold,
    flatten_pixels,
    image_terms,
    label_terms,
    mask_fraction,
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


def _check(fn, scope, positive, anchors, max_samples, threshold):
    check_choice(scope, SCOPES, "scope", fn)
    check_choice(positive, POSITIVES, "positive", fn)
    check_choice(anchors, ANCHORS, "anchors", fn)
    check_threshold(fn, threshold)
    if max_samples is not None and (
        isinstance(max_samples, bool) or not isinstance(max_samples, int) or max_samples < 1
    ):
        raise ValueError(
            f"{fn}: expected max_samples to be None or an int >= 1, got {max_samples!r}"
        )


def pixel_info_nce_loss(
    features: Tensor,
    mask: Tensor,
    *,
    temperature: float | Tensor = 0.1,
    scope: str = "image",
    positive: str = "mean_logit",
    max_samples: int | None = None,
    anchors: str = "pristine",
    threshold: float = 0.5,
    similarity: str = "cosine",
    generator: torch.Generator | None = None,
    gather: str = "none",
    reduction: str = "mean",
    backend: str = "auto",
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

    Args:
        features: ``(B, D, H, W)`` feature map, floating point.
        mask: ``(B, H', W')`` or ``(B, 1, H', W')`` forgery mask (1 = forged; bool, 0/1
            integers or fractions), resized to ``(H, W)`` by area averaging when it differs;
            a pixel is forged when its fraction exceeds ``threshold``.
        temperature: ``tau > 0`` (default 0.1, as FOCAL).
        scope: ``"image"`` (default, FOCAL) or ``"batch"``.
        positive: ``"mean_logit"`` (default, the official code) or ``"mean_exp"`` (the paper's
            Eq. 2).
        max_samples: at most this many pixels of each class per image (FOCAL: 1000), or
            ``None`` (default) for all.
        anchors: ``"pristine"`` (default, FOCAL) or ``"both"``.
        threshold: forged-fraction threshold in [0, 1) (default 0.5).
        similarity: ``"cosine"`` (default) or ``"dot"``.
        generator: random generator for ``max_samples`` (default: torch's global one).
        gather: ``"none"`` (default), ``"global"`` or ``"local"``. ``scope="batch"``: the
            dictionary holds every process's pixels (see :mod:`visionloss.distributed`: the
            value equals the single-process loss on the concatenated batch, DDP's gradient
            average is exact). ``scope="image"``: nothing is gathered; both modes make the
            mean run over every process's images.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.
        backend: ``"auto"`` or ``"torch"``.

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
    check_common(
        fn,
        temperature=temperature,
        similarity=similarity,
        reduction=reduction,
        backend=backend,
        gather=gather,
    )
    _check(fn, scope, positive, anchors, max_samples, threshold)
    features, mask = check_dense(features, mask, fn)
    b, d, h, w = features.shape
    dtype = compute_dtype(features)
    labels = (mask_fraction(mask, (h, w)) > threshold).flatten(1).long()
    x = prepare(flatten_pixels(features), similarity, dtype)
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
            image_terms(terms, labels), reduction, gather="none" if gather == "none" else "local"
        )

    # scope == "batch": one dictionary pooled over the batch (and the processes)
    mode = "local" if reduction == "none" and gather == "global" else gather
    batch = vdist.gather_batch(x.reshape(b * m, d), labels.reshape(-1), gather=mode, fn=fn)
    terms = label_terms(
        batch.anchors,
        batch.keys,
        temperature,
        batch.anchor_labels,
        batch.key_labels,
        mode=_MODES[positive],
        anchor_rows=batch.anchor_index,
        key_valid=batch.key_labels >= 0,
    )
    lab = batch.anchor_labels
    valid = terms.valid & (lab == 0 if anchors == "pristine" else lab >= 0)
    terms = Terms(torch.where(valid, terms.loss, terms.loss.new_zeros(())), valid)
    if reduction != "none":
        return reduce_terms(terms, reduction, gather=mode)
    per_query = terms.loss.view(b, m)
    if index is not None:  # unused slots hold 0 and may repeat a pixel: add, don't overwrite
        per_query = per_query.new_zeros((b, h * w)).scatter_add(1, index, per_query)
    return per_query.view(b, h, w)


class PixelInfoNCELoss(LossModule):
    """Module form of :func:`pixel_info_nce_loss`: ``loss(features, mask)``."""

    function = pixel_info_nce_loss

    def __init__(
        self,
        *,
        temperature: float | Tensor = 0.1,
        scope: str = "image",
        positive: str = "mean_logit",
        max_samples: int | None = None,
        anchors: str = "pristine",
        threshold: float = 0.5,
        similarity: str = "cosine",
        gather: str = "none",
        reduction: str = "mean",
        backend: str = "auto",
    ) -> None:
        fn = "PixelInfoNCELoss"
        check_common(
            fn,
            temperature=temperature,
            similarity=similarity,
            reduction=reduction,
            backend=backend,
            gather=gather,
        )
        _check(fn, scope, positive, anchors, max_samples, threshold)
        super().__init__(
            temperature=temperature,
            scope=scope,
            positive=positive,
            max_samples=max_samples,
            anchors=anchors,
            threshold=threshold,
            similarity=similarity,
            gather=gather,
            reduction=reduction,
            backend=backend,
        )


register_loss(
    "pixel_info_nce",
    family="contrastive",
    function=pixel_info_nce_loss,
    module=PixelInfoNCELoss,
    aliases=("info_nce_pp", "focal_info_nce"),
    formula="-log e^{s+/t} / (e^{s+/t} + sum_{k-} e^{q.k-/t}), s+ = mean over "
    "pristine positives, per image",
    reference="Wu et al., FOCAL, arXiv:2308.09307",
)
