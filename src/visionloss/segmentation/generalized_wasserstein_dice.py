"""Generalized Wasserstein Dice loss (Fidon et al., 2017)."""

from __future__ import annotations

from typing import Annotated, Any

import torch
from torch import Tensor

from .._core import numerics
from .._core.checks import check_tensor, require, shape_str
from .._core.declare import DocParts, loss_function
from .._core.examples import Example
from .._core.options import Check, Choice, IgnoreIndex, Reduction
from .._core.reduction import reduce_loss
from .._core.registry import register_loss
from ..errors import OptionError, OptionTypeError
from ._overlap import OVERLAP_DOCS, Smooth, overlap_examples, prepare_inputs, smooth_pair

_FN = "generalized_wasserstein_dice_loss"


class _MatrixCheck(Check):
    """A square matrix: a 2-D tensor or a nested sequence of numbers (made a float32 tensor)."""

    def __call__(self, value: Any, name: str, fn: str) -> Any:
        if not isinstance(value, Tensor):
            try:
                value = torch.as_tensor(value, dtype=torch.float32)
            except (TypeError, ValueError, RuntimeError):
                raise OptionTypeError(
                    f"{fn}: expected {name} to be a (C, C) tensor or nested sequence of "
                    f"numbers, got {type(value).__name__}"
                ) from None
        if not value.is_floating_point() or value.dim() != 2 or value.shape[0] != value.shape[1]:
            raise OptionTypeError(
                f"{fn}: expected {name} to be a floating (C, C) matrix, got a {value.dtype} "
                f"tensor of shape {tuple(value.shape)}"
            )
        return value


DistMatrix = Annotated[Tensor, _MatrixCheck()]
Weighting = Annotated[str, Choice("default", "GDL")]

_DOCS = DocParts(
    args={
        "input": """logits ``(B, C, *spatial)`` with 1 to 3 spatial dims (softmax over the
            channels).""",
        "dist_matrix": r"""``(C, C)`` distances :math:`M_{c'c} \ge 0` between classes (0 on
            the diagonal; ``M[0, c]`` is class ``c``'s distance from the background), e.g. 1
            off the diagonal for plain labels, smaller between confusable classes.""",
        "weighting": """``"default"`` (the paper: every foreground pixel weighs 1 in the true
            positives, the background 0) or ``"GDL"`` (each class weighs ``1 / (V_c + 1)``
            by its volume ``V_c`` in the image, as the generalized Dice; MONAI's
            ``weighting_mode``).""",
        "smooth": """added to the numerator and the denominator; a pair ``(s_nr, s_dr)``
            sets them apart (MONAI's ``smooth_nr, smooth_dr``, default ``1e-5`` each).""",
        "reduction": """``"mean"`` (over the images with a valid pixel), ``"sum"`` or
            ``"none"`` (``(B,)``).""",
    }
)


@loss_function(OVERLAP_DOCS | _DOCS)
def generalized_wasserstein_dice_loss(
    input: Tensor,
    target: Tensor,
    *,
    dist_matrix: DistMatrix,
    weighting: Weighting = "default",
    smooth: Smooth = (1e-5, 1e-5),
    ignore_index: IgnoreIndex = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Generalized Wasserstein Dice loss: a Dice score whose errors are Wasserstein distances
    between the predicted and the target class distributions.

    .. math::
        W_i = \sum_{c'} \sum_c g_{c'i}\, M_{c'c}\, p_{ci}, \qquad
        TP = \sum_i \alpha_{y_i} (1 - W_i), \qquad
        \ell_b = 1 - \frac{2\, TP + s_{nr}}{2\, TP + \sum_i W_i + s_{dr}}

    per image over its valid pixels, with :math:`\alpha` the class weights of ``weighting``
    (``"GDL"``: the denominator is :math:`\sum_i \alpha_{y_i} (2 - W_i)`). For a one-hot target
    :math:`W_i` is the Wasserstein distance between :math:`p_i` and the target class under
    the ground cost :math:`M`, so confusing two close classes costs less than confusing
    distant ones (a soft target gives the expected cost :math:`\sum_{c'} g_{c'} W(p, c')`).
    With :math:`M = 1 - I` and one foreground class it is the soft Dice loss of the
    foreground. MONAI's ``GeneralizedWassersteinDiceLoss(dist_matrix, weighting_mode,
    smooth_nr, smooth_dr)`` is the same (see the tests).

    Degenerate cases: an image without foreground (``"default"``: :math:`TP = 0`) scores
    :math:`1 - s_{nr} / (\sum W + s_{dr})`, pushing false positives down; an image whose
    pixels are all ignored leaves the mean; no valid pixel at all gives 0 with a graph.

    Shape:
        ``"none"``: ``(B,)``.

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Fidon et al., *Generalised Wasserstein Dice score for imbalanced multi-class
        segmentation using holistic convolutional networks*, BrainLes 2017, arXiv:1707.00478.

    Example:
        >>> import torch
        >>> m = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
        >>> x = torch.zeros(1, 2, 1, 2)  # p = 0.5 everywhere: W = 0.5 at each pixel
        >>> generalized_wasserstein_dice_loss(x, torch.tensor([[[0, 1]]]), dist_matrix=m)
        tensor(0.5000)
    """
    prep = prepare_inputs(
        input,
        target,
        fn=_FN,
        activation="softmax",
        weight=None,
        include_background=True,
        classes=None,
        ignore_index=ignore_index,
    )
    p = prep.prob
    c = p.shape[1]
    if dist_matrix.shape != (c, c):
        raise OptionError(
            f"{_FN}: expected dist_matrix of shape ({c}, {c}) for input {shape_str(input)}, "
            f"got {shape_str(dist_matrix)}"
        )
    check_tensor(dist_matrix, "dist_matrix", _FN, floating=True)
    require(
        torch.isfinite(dist_matrix) & (dist_matrix >= 0),
        f"{_FN}: expected dist_matrix >= 0 and finite; a negative or non-finite entry was found",
        OptionError,
    )
    m = dist_matrix.to(device=p.device, dtype=p.dtype)
    cost = torch.einsum("kc,bcn->bkn", m, p)  # cost[k] = sum_c M[k, c] p_c
    if prep.index is not None:
        idx = prep.index.clamp_min(0)  # ignored pixels (-1) are masked below
        w = cost.gather(1, idx.unsqueeze(1)).squeeze(1)
        onehot = None
    else:
        assert prep.dense is not None
        onehot = prep.dense
        w = (onehot * cost).sum(1)
    vf = None if prep.valid is None else prep.valid.to(p.dtype)
    if weighting == "default":
        alpha = torch.ones(c, dtype=p.dtype, device=p.device)
        alpha[0] = 0.0
        alpha = alpha.view(1, c)
    else:
        if onehot is None:
            assert prep.index is not None
            hits = prep.index.unsqueeze(1) == torch.arange(c, device=p.device).view(1, c, 1)
            volumes = hits.sum(-1).to(p.dtype)
        else:
            volumes = onehot.sum(-1)
        alpha = 1.0 / (volumes + 1.0)  # (B, C)
    if onehot is None:
        assert prep.index is not None
        a = alpha.expand(p.shape[0], c).gather(1, prep.index.clamp_min(0))
    else:
        a = torch.einsum("bcn,bc->bn", onehot, alpha.expand(p.shape[0], c))
    if vf is not None:
        w, a = w * vf, a * vf
    tp = (a * (1.0 - w)).sum(-1)
    if weighting == "default":
        denominator = 2.0 * tp + w.sum(-1)
    else:
        denominator = (a * (2.0 - w)).sum(-1)
    s_nr, s_dr = smooth_pair(smooth)
    loss = 1.0 - numerics.div(2.0 * tp + s_nr, denominator + s_dr, default=1.0)
    return reduce_loss(loss, reduction, fn=_FN, mask=prep.count() > 0)


def _examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    ex = overlap_examples(dtype=dtype, seed=seed)
    m = torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 0.5], [1.0, 0.5, 0.0]], dtype=dtype)
    return ex._replace(options={"dist_matrix": m})


GeneralizedWassersteinDiceLoss = register_loss(
    "generalized_wasserstein_dice",
    family="segmentation",
    function=generalized_wasserstein_dice_loss,
    module="GeneralizedWassersteinDiceLoss",
    formula="1 - 2 TP / (2 TP + sum_i W(p_i, g_i)), W under a class distance matrix",
    reference="Fidon et al., BrainLes 2017, arXiv:1707.00478",
    examples=_examples,
).module
