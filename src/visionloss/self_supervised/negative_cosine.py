"""Negative cosine similarity of a prediction and a target (BYOL, SimSiam)."""

from __future__ import annotations

from typing import Annotated

from torch import Tensor

from .._core.declare import loss_function
from .._core.dtypes import compute_dtype, upcast
from .._core.options import Bool, Choice, Reduction
from .._core.reduction import reduce_loss
from .._core.registry import register_loss
from .._core.vectors import normalize
from ._common import SSL_DOCS, check_views, pair_examples

Variant = Annotated[str, Choice("simsiam", "byol")]


@loss_function(SSL_DOCS)
def negative_cosine_loss(
    query: Tensor,
    key: Tensor,
    *,
    stop_gradient: Bool = True,
    variant: Variant = "simsiam",
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Negative cosine similarity of a prediction and a target: BYOL and SimSiam.

    .. math::
        \ell_i = -\cos\big(p_i, \operatorname{sg}(z_i)\big) \;\; \text{(SimSiam)}, \qquad
        \ell_i = \big\lVert \bar p_i - \operatorname{sg}(\bar z_i) \big\rVert^2
               = 2 - 2 \cos\big(p_i, \operatorname{sg}(z_i)\big) \;\; \text{(BYOL)}

    with ``p = query`` the online network's prediction, ``z = key`` the target (the other
    view's projection: SimSiam's same network, BYOL's momentum network) and ``sg`` the
    stop-gradient, applied when ``stop_gradient=True`` (the default, both papers): ``key``
    then gets no gradient. The symmetrised loss of both papers is
    ``(loss(p1, z2) + loss(p2, z1)) / 2``. lightly's ``NegativeCosineSimilarity`` is the
    SimSiam form without the stop-gradient (its users detach ``z``). A zero vector has cosine
    0 with every vector (loss 0 or 2) and a zero gradient.

    Args:
        query: ``(N, D)`` predictions ``p`` (the online branch), floating point.
        key: ``(N, D)`` targets ``z`` (row ``i`` the other view of image ``i``).
        stop_gradient: detach ``key`` (default True, as both papers).
        variant: ``"simsiam"`` (default, ``-cos``) or ``"byol"`` (``2 - 2 cos``, the squared
            distance of the normalised vectors).

    Shape:
        output: scalar, or ``(N,)`` for ``"none"``.

    Returns:
        the loss; float32 for fp16/bf16 inputs. An empty batch gives 0 with a graph.

    Reference:
        Grill et al., *Bootstrap Your Own Latent*, NeurIPS 2020, arXiv:2006.07733 (Eq. 2);
        Chen and He, *Exploring Simple Siamese Representation Learning*, CVPR 2021,
        arXiv:2011.10566 (Eq. 1-4).

    Example:
        >>> import torch
        >>> p = torch.tensor([[1.0, 0.0]])
        >>> z = torch.tensor([[1.0, 1.0]])
        >>> negative_cosine_loss(p, z)  # -cos 45 degrees
        tensor(-0.7071)
        >>> negative_cosine_loss(p, z, variant="byol")
        tensor(0.5858)
    """
    fn = "negative_cosine_loss"
    check_views(query, key, fn)
    dtype = compute_dtype(query, key)
    target = key.detach() if stop_gradient else key
    cos = (normalize(upcast(query, dtype)) * normalize(upcast(target, dtype))).sum(-1)
    loss = -cos if variant == "simsiam" else 2.0 - 2.0 * cos
    return reduce_loss(loss, reduction, fn=fn)


NegativeCosineLoss = register_loss(
    "negative_cosine",
    family="self_supervised",
    function=negative_cosine_loss,
    module="NegativeCosineLoss",
    aliases=("byol", "simsiam"),
    formula="-cos(p, sg(z)) (SimSiam); 2 - 2 cos(p, sg(z)) (BYOL)",
    reference="Grill et al., BYOL, NeurIPS 2020; Chen and He, SimSiam, CVPR 2021",
    examples=pair_examples,
).module
