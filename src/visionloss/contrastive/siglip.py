"""SigLIP's pairwise sigmoid image-text loss, chunked round the ring of processes."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from .._core.declare import loss_function
from .._core.registry import register_loss
from ._core import Terms, contrast_options, pair_examples, reduce_terms
from ._image_text import IMAGE_TEXT_DOCS, Bias, LogScale, prepare_pair, scale_of, siglip_terms

SIGLIP_LOG_SCALE = math.log(10.0)  # the paper's initialisation t' = log 10


@loss_function(IMAGE_TEXT_DOCS, options=contrast_options)
def siglip_loss(
    query: Tensor,
    key: Tensor,
    *,
    log_scale: LogScale = SIGLIP_LOG_SCALE,
    bias: Bias = -10.0,
    **options: Any,
) -> Tensor:
    r"""SigLIP: an independent binary classification of every image-text pair.

    .. math::
        \ell_i = \sum_{j=1}^{N} \log\big(1 + e^{-y_{ij}\,(e^t \cos(x_i, y_j) + b)}\big),
        \qquad y_{ij} = \begin{cases} 1 & i = j \\ -1 & i \ne j \end{cases}

    and the loss is :math:`\frac1N \sum_i \ell_i` (the paper's sum over all ``N^2`` pairs
    divided by ``N``). {{image_text}}

    Paper initialisation: ``t = log 10``, ``b = -10`` (a learned temperature and bias: pass
    0-dim tensors and they get their gradients). OpenCLIP's ``SigLipLoss`` takes the scale
    itself (``logit_scale.exp()``) and the bias.

    Across processes ``gather="local"`` is the paper's chunked scheme: each process's images
    stay put and the text embeddings travel round the ring of processes by point-to-point
    sends, one block per step (``W - 1`` steps), the gradients travelling back the same way;
    each block's logits are recomputed in the backward pass, so a process never holds more
    than one ``n x m`` block of logits and never the global matrix. ``"global"`` gathers every
    image and text and forms the global matrix on every process. Both equal the
    single-process loss on the concatenated batch, with each process's input gradients ``W``
    times its single-process gradients.

    Args:
        bias: ``b``, a number or a 0-dim tensor (a learned bias gets its gradient).

    Shape:
        output: scalar, or ``(N,)`` per image for ``"none"`` (``(N_global,)`` with
        ``gather="global"``).

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Zhai, Mustafa, Kolesnikov and Beyer, *Sigmoid Loss for Language Image Pre-Training*,
        ICCV 2023, arXiv:2303.15343 (Algorithm 1, Sec. 3.3 chunked implementation).

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0]])
        >>> siglip_loss(x, x, log_scale=0.0, bias=0.0)  # log(1 + e^-1)
        tensor(0.3133)
    """
    fn = "siglip_loss"
    q, k, dtype = prepare_pair(query, key, options["similarity"], fn)
    scale = scale_of(log_scale, dtype, None).to(q.device)
    b = torch.as_tensor(bias, dtype=dtype).reshape(()).to(q.device)
    gather = options["gather"]
    rows = siglip_terms(q, k, scale, b, gather, fn)
    valid = torch.ones_like(rows, dtype=torch.bool)
    return reduce_terms(
        Terms(rows, valid), options["reduction"], gather="local" if gather == "local" else "none"
    )


SigLIPLoss = register_loss(
    "siglip",
    family="contrastive",
    function=siglip_loss,
    module="SigLIPLoss",
    formula="1/N sum_ij log(1 + exp(-y_ij (e^t <x_i, y_j> + b)))",
    reference="Zhai et al., Sigmoid Loss for Language Image Pre-Training, ICCV 2023",
    examples=pair_examples,
).module
