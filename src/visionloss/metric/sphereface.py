"""SphereFace: multiplicative angular margin softmax, A-Softmax (Liu et al., CVPR 2017)."""

from __future__ import annotations

import math
from typing import Annotated, Any

import torch
from torch import Tensor

from .._core.declare import loss_function
from .._core.dtypes import upcast
from .._core.numerics import norm
from .._core.options import NonNegative, Number, Positive, Reduction
from ..errors import OptionError
from ._margin import HEAD_DOCS, head_cosines, margin_softmax, register_head, target_column


class _WholeNumber(Number):
    """A finite number ``>= 1`` with an integer value (``4`` or ``4.0``)."""

    def __call__(self, value: Any, name: str, fn: str) -> Any:
        value = super().__call__(value, name, fn)
        if float(value) != int(value):
            raise OptionError(f"{fn}: expected {name} to be a whole number >= 1, got {value!r}")
        return value


WholeNumber = Annotated[float, _WholeNumber(1)]


def cos_multiple(c: Tensor, m: int) -> Tensor:
    """``cos(m theta)`` from ``c = cos(theta)``: the Chebyshev polynomial ``T_m(c)`` by its
    recurrence (a polynomial: finite values and gradients everywhere, no angle)."""
    prev, cur = torch.ones_like(c), c
    if m == 0:
        return prev
    for _ in range(m - 1):
        prev, cur = cur, 2.0 * c * cur - prev
    return cur


@loss_function(HEAD_DOCS)
def sphereface_loss(
    embeddings: Tensor,
    labels: Tensor,
    weight: Tensor,
    *,
    margin: WholeNumber = 4,
    scale: Positive = 1.0,
    anneal: NonNegative = 0.0,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""SphereFace (A-Softmax): the target's angle multiplied by ``m``, logits scaled by the
    embedding's norm.

    .. math::
        \psi(\theta) = (-1)^k \cos(m \theta) - 2k,\ \theta \in
        \Big[\frac{k\pi}{m}, \frac{(k+1)\pi}{m}\Big], \qquad
        f_{y_i} = s \lVert x_i \rVert \frac{\lambda \cos\theta_{y_i} + \psi(\theta_{y_i})}
        {1 + \lambda},\quad f_j = s \lVert x_i \rVert \cos \theta_j

    with class weights normalised, and ``\ell_i = -\log \operatorname{softmax}(f)_{y_i}``.
    ``cos(m theta)`` is the Chebyshev polynomial ``T_m(cos theta)`` (no angle where the
    gradient flows; ``k`` is piecewise constant). ``anneal`` is the paper's ``lambda`` that
    blends in the plain softmax early in training (its code decays it as
    ``max(5, 1000 / (1 + 0.12 t))`` over iterations ``t``; set it per step, e.g. on the
    Module's ``anneal`` attribute); 0 is the pure A-Softmax.

    pytorch-metric-learning ``SphereFaceLoss(num_classes, embedding_size, margin=m,
    scale=s)`` (no annealing): ours with ``weight=W.T``.

    Args:
        margin: the multiplicative margin ``m``, a whole number (default 4).
        scale: an extra scale ``s`` of the logits (default 1).
        anneal: the annealing ``lambda >= 0`` (default 0).

    Shape:
        output: scalar, or ``(B,)`` for ``"none"``.

    Returns:
        the loss; float32 for fp16/bf16 inputs. A zero embedding has all logits 0.

    Reference:
        Liu, Wen, Yu, Li, Raj and Song, *SphereFace: Deep Hypersphere Embedding for Face
        Recognition*, CVPR 2017, arXiv:1704.08063, Eq. (7) and Sec. 3.4 (annealing).

    Example:
        >>> import torch
        >>> w = torch.eye(2)
        >>> sphereface_loss(torch.tensor([[1.0, 0.0]]), torch.tensor([0]), w, margin=1)
        tensor(0.3133)
    """
    fn = "sphereface_loss"
    m = int(margin)
    c = head_cosines(embeddings, labels, weight, fn)
    ct = target_column(c, labels)
    with torch.no_grad():
        k = torch.floor(torch.acos(ct) * m / math.pi).clamp(0, m - 1)
    sign = 1.0 - 2.0 * torch.remainder(k, 2.0)
    psi = sign * cos_multiple(ct, m) - 2.0 * k
    target = (anneal * ct + psi) / (1.0 + anneal)
    x_norm = norm(upcast(embeddings, c.dtype), dim=1, keepdim=True)
    return margin_softmax(c, labels, target, scale * x_norm, reduction, fn)


SphereFaceLoss = register_head(
    "sphereface",
    sphereface_loss,
    "SphereFaceLoss",
    formula="CE(s ||x|| [psi(theta_y), cos theta_j]), psi = (-1)^k cos(m theta) - 2k",
    aliases=("a_softmax",),
    reference="Liu et al., SphereFace, CVPR 2017, arXiv:1704.08063",
)
