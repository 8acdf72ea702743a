"""CLIP's symmetric image-text cross entropy with a learned logit scale."""

from __future__ import annotations

import math
from typing import Any

from torch import Tensor

from .._core.declare import loss_function
from .._core.registry import register_loss
from ._core import contrast_options, pair_examples, reduce_terms
from ._image_text import IMAGE_TEXT_DOCS, LogScale, MaxScale, clip_terms, prepare_pair, scale_of

CLIP_LOG_SCALE = math.log(1 / 0.07)  # the paper's initial temperature 0.07


@loss_function(IMAGE_TEXT_DOCS, options=contrast_options)
def clip_loss(
    query: Tensor,
    key: Tensor,
    *,
    log_scale: LogScale = CLIP_LOG_SCALE,
    max_scale: MaxScale = 100.0,
    **options: Any,
) -> Tensor:
    r"""CLIP: symmetric cross entropy of the image-text similarity logits.

    .. math::
        \ell_i = \tfrac12 \Big(-\log \frac{e^{s_{ii}}}{\sum_j e^{s_{ij}}}
                 - \log \frac{e^{s_{ii}}}{\sum_j e^{s_{ji}}}\Big),
        \qquad s_{ij} = \min(e^t, s_{\max})\, \cos(x_i, y_j)

    {{image_text}}

    The logit scale is ``e^t`` with ``t = log_scale`` (initialised at ``log(1/0.07)`` in the
    paper), clipped at ``max_scale = 100`` as the paper clips it ("to prevent scaling the
    logits by more than 100"): above the clip ``t`` gets no gradient. OpenCLIP's ``ClipLoss``
    takes the scale itself (``logit_scale.exp()``); pass its logarithm here. A batch of one
    pair has loss 0 (no negative). ``gather="local"`` is OpenCLIP's ``local_loss``: each
    process's images against every process's texts and its texts against every image, the
    mean over the global batch.

    Args:
        max_scale: the largest logit scale ``s_max`` (default 100, the paper's clip).

    Shape:
        output: scalar, or ``(N,)`` per pair for ``"none"`` (the mean of both directions;
        ``(N_global,)`` with ``gather="global"``).

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Radford et al., *Learning Transferable Visual Models From Natural Language
        Supervision*, ICML 2021, arXiv:2103.00020 (Fig. 3 and Sec. 2.5).

    Example:
        >>> import torch
        >>> images = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> clip_loss(images, images, log_scale=0.0)  # log(1 + e^-1)
        tensor(0.3133)
    """
    fn = "clip_loss"
    q, k, dtype = prepare_pair(query, key, options["similarity"], fn)
    scale = scale_of(log_scale, dtype, max_scale).to(q.device)
    terms = clip_terms(q, k, scale, options["gather"], fn)
    return reduce_terms(terms, options["reduction"], gather=options["gather"])


CLIPLoss = register_loss(
    "clip",
    family="contrastive",
    function=clip_loss,
    module="CLIPLoss",
    formula="1/2 (CE(e^t Q K^T, I) + CE(e^t K Q^T, I)), e^t <= 100",
    reference="Radford et al., CLIP, ICML 2021, arXiv:2103.00020",
    examples=pair_examples,
).module
