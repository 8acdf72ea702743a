"""Lovász-softmax and Lovász hinge losses (Berman et al. 2018), vectorised over rows."""

from __future__ import annotations

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


def lovasz_rows(errors: Tensor, target: Tensor, valid: Tensor | None, *, hinge: bool) -> Tensor:
    """The Lovász extension of the Jaccard loss at ``errors``, for every row at once.

    ``errors``, ``target`` (0/1 foreground) and ``valid`` (bool, or None) are ``(..., N)``;
    returns ``(...)``. Each row is sorted by decreasing error (invalid pixels last, where they
    change no cumulative count and so get a zero weight); the weight of the ``j``-th error is
    :math:`\\Delta_J(S_j) - \\Delta_J(S_{j-1})` with :math:`\\Delta_J(S) = |S| / |G \\cup S|`
    for the set :math:`S_j` of the ``j`` largest errors (Berman et al., Alg. 1). Cumulative
    counts are taken in float64 so they stay exact on large rows.
    """
    key = errors.detach()
    if valid is not None:
        key = key.masked_fill(~valid, float("-inf"))
    perm = key.argsort(dim=-1, descending=True)
    e = errors.gather(-1, perm)
    g = target.gather(-1, perm).to(torch.float64)
    fg, bg = g, 1.0 - g
    if valid is not None:
        v = valid.gather(-1, perm).to(torch.float64)
        fg, bg = fg * v, bg * v
    total = fg.sum(-1, keepdim=True)
    inter = total - fg.cumsum(-1)
    union = total + bg.cumsum(-1)
    pos = union > 0
    jaccard = torch.where(pos, 1.0 - inter / torch.where(pos, union, 1.0), 0.0)
    weights = torch.diff(jaccard, dim=-1, prepend=jaccard.new_zeros(*jaccard.shape[:-1], 1))
    if hinge:
        e = F.relu(e)
    return (e * weights.to(e.dtype)).sum(-1)


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

    Rows are sorted all at once (one ``argsort`` over the images and classes; no Python loop
    over pixels, images or classes). Class means are as in :func:`dice_loss`. On an empty
    target the extension is the largest error of the row, which gives the worst false
    positive a gradient: ``empty="penalize"`` and ``"include"`` keep such pairs (Berman's
    ``lovasz_softmax(classes="all")``, per image or not), ``"exclude"`` drops them. With
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
