"""Lovász-softmax and Lovász hinge losses (Berman et al. 2018), vectorised over rows."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .._core.declare import loss_function
from .._core.options import Bool
from .._core.registry import register_loss
from ._overlap import (
    OVERLAP_DOCS,
    activation_options,
    class_options,
    overlap_examples,
    policy_options,
    prepare_inputs,
    reduce_pairs,
    selected_channels,
)

_BLOCK = 1 << 17  # elements of the rows whose weights are formed at once (~64 bytes each)


def _sorted_weights(g: Tensor, v: Tensor | None, dtype: torch.dtype) -> Tensor:
    """The Lovász weights of rows already sorted by decreasing error: ``g`` the 0/1 target and
    ``v`` the valid mask (or None) in that order. ``Delta_J`` of the ``j`` largest errors is
    ``1 - inter / union`` with ``inter = |G| - fg_j`` and ``union = |G| + bg_j`` (``fg_j``,
    ``bg_j``: foreground and background pixels among them), integer counts here; the quotient
    and the differences of consecutive values are taken in float64 (they are ~1/N apart),
    then rounded to ``dtype``."""
    fg = g if v is None else g * v
    seen_fg = fg.cumsum(-1, dtype=torch.int64)
    if v is None:
        seen = torch.arange(1, g.shape[-1] + 1, device=g.device)
    else:
        seen = v.cumsum(-1, dtype=torch.int64)
    total = seen_fg[..., -1:]
    union = (seen - seen_fg).add_(total)
    jaccard = (total - seen_fg).to(torch.float64).div_(union).neg_().add_(1.0)
    jaccard.masked_fill_(union == 0, 0.0)
    start = jaccard.new_zeros(*jaccard.shape[:-1], 1)
    return torch.diff(jaccard, dim=-1, prepend=start).to(dtype)


def lovasz_rows(errors: Tensor, target: Tensor, valid: Tensor | None, *, hinge: bool) -> Tensor:
    """The Lovász extension of the Jaccard loss at ``errors``, for every row at once.

    ``errors``, ``target`` (0/1 foreground) and ``valid`` (bool, or None) are ``(..., N)``;
    returns ``(...)``. Each row is sorted by decreasing error (invalid pixels last, where they
    change no cumulative count and so get a zero weight); the weight of the ``j``-th error is
    :math:`\\Delta_J(S_j) - \\Delta_J(S_{j-1})` with :math:`\\Delta_J(S) = |S| / |G \\cup S|`
    for the set :math:`S_j` of the ``j`` largest errors (Berman et al., Alg. 1), computed
    without a gradient (the weights are piecewise constant in the errors) in blocks of rows
    and put back in the pixels' order, so the graph is ``sum(errors * weights)`` and keeps
    one tensor of the errors' size (not the permutation and the sorted errors); the
    temporaries of the sort and of the counts are bounded by a block.
    """
    rows = errors.detach().reshape(math.prod(errors.shape[:-1]), errors.shape[-1])
    flat_target = target.reshape(rows.shape)
    flat_valid = None if valid is None else valid.reshape(rows.shape)
    weights = torch.empty_like(rows)
    step = max(1, _BLOCK // max(rows.shape[-1], 1))
    with torch.no_grad():
        for lo in range(0, rows.shape[0], step):
            key = rows[lo : lo + step]
            v = None if flat_valid is None else flat_valid[lo : lo + step]
            if v is not None:
                key = key.masked_fill(~v, float("-inf"))
            perm = key.argsort(dim=-1, descending=True)
            sorted_v = None if v is None else v.gather(-1, perm)
            w = _sorted_weights(flat_target[lo : lo + step].gather(-1, perm), sorted_v, rows.dtype)
            weights[lo : lo + step].scatter_(-1, perm, w)
    if hinge:
        errors = F.relu(errors)
    return (errors * weights.view(errors.shape)).sum(-1)


def _lovasz(
    input: Tensor,
    target: Tensor,
    *,
    fn: str,
    per_image: bool,
    empty: str,
    reduction: str,
    **options: Any,
) -> Tensor:
    prep = prepare_inputs(input, target, fn=fn, **options)
    hinge = prep.activation == "sigmoid"
    b, _, n = prep.prob.shape
    k = len(prep.classes)
    if prep.index is not None:
        cls = torch.tensor(prep.classes, device=input.device).view(1, k, 1)
        g = (prep.index.unsqueeze(1) == cls).to(prep.dtype)
    else:
        assert prep.dense is not None
        g = selected_channels(prep.dense, prep.classes)
    if hinge:
        assert prep.logits is not None
        errors = 1.0 - selected_channels(prep.logits, prep.classes) * (2.0 * g - 1.0)
    else:
        errors = (g - selected_channels(prep.prob, prep.classes)).abs()
    valid = None if prep.valid is None else prep.valid.unsqueeze(1).expand(b, k, n)
    if not per_image:  # one row per class holding the pixels of every image
        errors, g = (t.transpose(0, 1).reshape(1, k, b * n) for t in (errors, g))
        valid = None if valid is None else valid.transpose(0, 1).reshape(1, k, b * n)
    loss = lovasz_rows(errors, g, valid, hinge=hinge)
    count = g.new_full(g.shape[:-1], float(g.shape[-1])) if valid is None else valid.sum(-1)
    counted = count > 0
    if empty == "exclude":
        present = (g if valid is None else g * valid).sum(-1) > 0
        counted = counted & present
    out = reduce_pairs(loss, counted, prep.class_weight, reduction, fn)
    return out if per_image or reduction != "none" else out.squeeze(0)


@loss_function(OVERLAP_DOCS, options=(activation_options, class_options, policy_options))
def lovasz_loss(input: Tensor, target: Tensor, *, per_image: Bool = True, **options: Any) -> Tensor:
    r"""Lovász loss: the convex extension of the Jaccard loss, at the pixel errors.

    The Lovász extension of :math:`1 - IoU` of each (image, class) is evaluated at the
    pixel errors.

    .. math::
        \ell_{bc} = \sum_{j=1}^{N} m_{(j)}\, \big(\Delta_J(\{(1), \dots, (j)\}) -
                    \Delta_J(\{(1), \dots, (j-1)\})\big), \qquad
        \Delta_J(S) = \frac{|S|}{|G_{bc} \cup S|}

    with the errors sorted :math:`m_{(1)} \ge m_{(2)} \ge \dots` and :math:`G_{bc}` the
    target pixels of class ``c``. The errors depend on ``activation``:

    * ``"softmax"`` (multiclass, Lovász-softmax): :math:`m_i = |g_{ci} - p_{ci}|` on the
      softmax probabilities.
    * ``"sigmoid"`` (binary / multi-label, Lovász hinge): :math:`m_i = \max(0, 1 - z_i
      (2 g_i - 1))` on the logits of each channel (no sigmoid is taken: the hinge works on
      margins, as Berman et al.'s binary loss).
    * ``"none"``: :math:`m_i = |g_{ci} - p_{ci}|` on the given probabilities, each in
      ``[0, 1]`` (Lovász-sigmoid when they are sigmoid outputs: one channel with
      ``per_image=False`` is Berman's ``lovasz_softmax(p, t, classes=[1])``).

    Rows are sorted in blocks of about 2^17 pixels (one ``argsort`` over many images and
    classes at once; no Python loop over pixels), and the graph keeps one weight per pixel:
    4 x 19 x 128 x 256 logits take 59 MiB at peak (smp's loop over classes 63). Class means
    are as in :func:`dice_loss`. On an empty target the extension is the largest error of the
    row, which gives the worst false positive a gradient: ``empty="penalize"`` and
    ``"include"`` keep such pairs (Berman's ``lovasz_softmax(classes="all")``, per image or
    not), ``"exclude"`` drops them. With
    ``per_image=False`` that is Berman's default ``classes="present"``; with
    ``per_image=True`` Berman averages the present classes of each image and then the
    images, where this function pools the (image, class) pairs, so the two differ when the
    images have different numbers of present classes.

    {{degenerate}}
    With ``activation="sigmoid"`` the errors are hinge margins, unbounded:
    every pixel wrong by a logit of ``x`` costs ``1 + |x|``.

    Args:
        activation: ``"softmax"``, ``"sigmoid"`` (hinge) or ``"none"``, see above.
        per_image: one value per (image, class) (default), or per class with the pixels of
            the whole batch in one row (``False``, Berman's and smp's default).

    {{pairs}}

    Reference:
        Berman, Triki, Blaschko, *The Lovász-Softmax loss: A tractable surrogate for the
        optimization of the intersection-over-union measure in neural networks*, CVPR 2018,
        arXiv:1705.08790.

    Example:
        >>> import torch
        >>> p = torch.tensor([[[[0.9, 0.2, 0.6]], [[0.1, 0.8, 0.4]]]])  # probabilities
        >>> t = torch.tensor([[[0, 1, 1]]])
        >>> lovasz_loss(p, t, activation="none", reduction="none")
        tensor([[0.3667, 0.4000]])
    """
    return _lovasz(input, target, fn="lovasz_loss", per_image=per_image, **options)


LovaszLoss = register_loss(
    "lovasz",
    family="segmentation",
    function=lovasz_loss,
    module="LovaszLoss",
    # no "lovasz_hinge" alias: an alias carries no options, so it would build the softmax
    # loss; the hinge is build_loss("lovasz", activation="sigmoid")
    aliases=("lovasz_softmax",),
    formula="Lovász extension of 1 - IoU at the sorted pixel errors",
    reference="Berman et al., CVPR 2018, arXiv:1705.08790",
    examples=overlap_examples,
).module
