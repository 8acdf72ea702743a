"""Asymmetric unified focal loss (Yeung et al., 2022)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .._core import numerics
from .._core.declare import DocParts, loss_function
from .._core.options import Fraction, IgnoreIndex
from .._core.reduction import reduce_loss
from .._core.registry import register_loss
from ..errors import InputError
from ._overlap import OVERLAP_DOCS, Smooth, overlap_examples, prepare_inputs, smooth_pair
from ._pixelwise import PIXEL_DOCS, LogitActivation, TermsReduction

_FN = "asymmetric_unified_focal_loss"

_DOCS = DocParts(
    args={
        "activation": """``"softmax"`` over ``C >= 2`` channels (default), or ``"sigmoid"``
            for a 1-channel binary input (its background probability is ``1 - p``).""",
        "smooth": """added to the numerator and the denominator of each Tversky index (a pair
            sets them apart); default ``1e-7`` as the authors' code.""",
    }
)


@loss_function(OVERLAP_DOCS | PIXEL_DOCS | _DOCS)
def asymmetric_unified_focal_loss(
    input: Tensor,
    target: Tensor,
    *,
    lambda_focal: Fraction = 0.5,
    delta: Fraction = 0.6,
    gamma: Fraction = 0.5,
    smooth: Smooth = 1e-7,
    activation: LogitActivation = "softmax",
    ignore_index: IgnoreIndex = None,
    reduction: TermsReduction = "mean",
) -> Tensor:
    r"""Asymmetric unified focal loss: an asymmetric focal term plus an asymmetric focal
    Tversky term, with the focal suppression applied to the background only.

    .. math::
        L_{maF} = \frac{1}{n} \sum_i \Big[-(1 - \delta)(1 - p_{0i})^{\gamma} g_{0i} \log p_{0i}
            - \delta \sum_{c \ge 1} g_{ci} \log p_{ci}\Big]

    .. math::
        L_{maFT} = \frac{1}{BC} \sum_b \Big[(1 - \mathrm{TI}_{b0})
            + \sum_{c \ge 1} (1 - \mathrm{TI}_{bc})^{1 - \gamma}\Big], \quad
        \mathrm{TI} = \frac{TP + s}{TP + \delta FN + (1 - \delta) FP + s}

    .. math::
        L = \lambda L_{maF} + (1 - \lambda) L_{maFT}

    over the ``n`` valid pixels; class 0 is the background, every other class is "rare"
    (its errors are never down-weighted, and its Tversky loss is raised to ``1 - gamma < 1``,
    which enhances small losses). The probabilities' logs come from ``log_softmax`` /
    ``logsigmoid`` (no clamping).

    Convention: the authors' code sums the focal term over the classes and averages it over
    the pixels (as here); MONAI's ``AsymmetricUnifiedFocalLoss`` (probabilities in, binary
    only, ``delta=0.7`` by default) averages over pixels and both classes, i.e. half the
    focal term: MONAI with ``weight=w'`` is ``(1 + w)^{-1}`` times ours with
    ``lambda_focal=w``, ``w' = 2w / (1 + w)`` (see the tests).

    Degenerate cases: no valid pixel gives 0 with a graph; an absent class has TP = FN = 0
    in its image, so its Tversky index is ``s / s = 1`` (loss 0) without false positives, and
    false positives push it down; values and gradients stay finite (the power
    ``1 - gamma`` is taken with a guarded gradient at 0).

    Args:
        lambda_focal: weight :math:`\lambda` of the focal term, in ``[0, 1]``.
        delta: :math:`\delta`, weight of the foreground (false negatives) against the
            background (false positives), in ``[0, 1]``; 0.6 in the paper.
        gamma: :math:`\gamma`, the background's focal exponent and the foreground Tversky
            exponent ``1 - gamma``, in ``[0, 1]``; 0.5 in the paper.

    Returns:
        the loss, a 0-dim tensor; float32 for fp16/bf16 inputs.

    Reference:
        Yeung et al., *Unified focal loss: generalising Dice and cross entropy-based losses
        to handle class imbalanced medical image segmentation*, CMIG 2022, arXiv:2102.04525.

    Example:
        >>> import torch
        >>> x = torch.zeros(1, 2, 1, 2)  # p = 0.5: focal 0.306, Tversky (0.5 + 0.707) / 2
        >>> asymmetric_unified_focal_loss(x, torch.tensor([[[0, 1]]]))
        tensor(0.4548)
    """
    if activation == "sigmoid" and input.dim() >= 2 and input.shape[1] != 1:
        raise InputError(
            f"{_FN}: activation='sigmoid' takes a 1-channel binary input, got input of shape "
            f"{tuple(input.shape)}; use softmax for C >= 2 channels"
        )
    prep = prepare_inputs(
        input,
        target,
        fn=_FN,
        activation=activation,
        weight=None,
        include_background=True,
        classes=None,
        ignore_index=ignore_index,
        log_probs=activation == "softmax",
    )
    if activation == "softmax":
        lp = prep.log_prob
        assert lp is not None
        p = prep.prob
        c = p.shape[1]
        if prep.index is not None:
            ids = torch.arange(c, device=p.device).view(1, c, 1)
            g = (prep.index.unsqueeze(1) == ids).to(p.dtype)
        else:
            assert prep.dense is not None
            g = prep.dense
    else:
        z = prep.logits
        assert z is not None and prep.dense is not None
        lp = torch.cat([F.logsigmoid(-z), F.logsigmoid(z)], 1)
        p = lp.exp()
        g1 = prep.dense
        g = torch.cat([1.0 - g1, g1], 1)
        if prep.valid is not None:
            g = g * prep.valid.unsqueeze(1)
    b, c = p.shape[:2]
    vf = None if prep.valid is None else prep.valid.to(p.dtype)

    # focal term: sum over classes, mean over the valid pixels
    ce = -g * lp
    back = (1.0 - delta) * numerics.focal_factor(lp[:, :1], gamma) * ce[:, :1]
    per_pixel = back.squeeze(1) + delta * ce[:, 1:].sum(1)
    focal = reduce_loss(per_pixel, reduction, fn=_FN, mask=prep.valid)

    # focal Tversky term: one index per (image, class), mean over the pairs
    pv = p if vf is None else p * vf.unsqueeze(1)
    tp = (pv * g).sum(-1)
    fn = g.sum(-1) - tp
    fp = pv.sum(-1) - tp
    s_nr, s_dr = smooth_pair(smooth)
    ti = numerics.div(tp + s_nr, tp + delta * fn + (1.0 - delta) * fp + s_dr, default=1.0)
    pair = torch.cat([1.0 - ti[:, :1], numerics.pow(1.0 - ti[:, 1:], 1.0 - gamma)], 1)
    has_pixels = (prep.count() > 0).unsqueeze(1).expand(b, c)
    tversky = reduce_loss(pair, reduction, fn=_FN, mask=has_pixels)
    return lambda_focal * focal + (1.0 - lambda_focal) * tversky


AsymmetricUnifiedFocalLoss = register_loss(
    "asymmetric_unified_focal",
    family="segmentation",
    function=asymmetric_unified_focal_loss,
    module="AsymmetricUnifiedFocalLoss",
    formula="lambda maF + (1 - lambda) maFT (focal suppression on the background only)",
    reference="Yeung et al., Unified focal loss, CMIG 2022, arXiv:2102.04525",
    examples=overlap_examples,
).module
