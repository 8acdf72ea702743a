"""ProxyNCA (Movshovitz-Attias et al., ICCV 2017) and its ProxyNCA++ temperature form (Teh
et al., ECCV 2020)."""

from __future__ import annotations

import torch
from torch import Tensor

from .._core.declare import loss_function
from .._core.options import Bool, Positive, Reduction
from .._core.reduction import reduce_loss
from ._margin import (
    HEAD_DOCS,
    head_cosines,
    proxy_examples,
    register_head,
    softmax_head,
    target_column,
)
from ._pairs import masked_logsumexp


@loss_function(HEAD_DOCS)
def proxy_nca_loss(
    embeddings: Tensor,
    labels: Tensor,
    proxies: Tensor,
    *,
    temperature: Positive = 1.0,
    exclude_positive: Bool = False,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""ProxyNCA: neighbourhood component analysis against one proxy per class.

    .. math::
        \ell_i = -\log \frac{e^{-d(\hat x_i, \hat p_{y_i}) / T}}
        {\sum_{z \in Z} e^{-d(\hat x_i, \hat p_z) / T}},
        \qquad d(\hat x, \hat p) = \lVert \hat x - \hat p \rVert^2 = 2 - 2 \cos(x, p)

    on L2-normalised embeddings and proxies. ``Z`` is every proxy (ProxyNCA++, Teh et al.,
    and pytorch-metric-learning), or every proxy but the positive with
    ``exclude_positive=True`` (the original ProxyNCA, Eq. (8) of Movshovitz-Attias et al.;
    the loss can then be negative). ProxyNCA++ uses ``temperature=1/9``; its other parts
    (fast-moving proxies, global max pooling, layer norm) are training choices, not the loss.
    The samples are independent (no ``gather``: a per-sample mean).

    pytorch-metric-learning ``ProxyNCALoss(num_classes, embedding_size, softmax_scale=k)``:
    ``temperature=1/k`` (its default ``k = 1``), ``proxies=loss.proxies``; it leaves out of
    the mean a sample whose probability underflows to 0 (we keep its large finite loss).

    {{cosine_at_one}}

    Args:
        temperature: ``T > 0`` (default 1).
        exclude_positive: the original ProxyNCA denominator (default False).

    {{head_output}}

    Reference:
        Movshovitz-Attias, Toshev, Leung, Ioffe and Singh, *No Fuss Distance Metric Learning
        using Proxies*, ICCV 2017, arXiv:1703.07464; Teh, DeVries and Taylor, *ProxyNCA++:
        Revisiting and Revitalizing Proxy Neighborhood Component Analysis*, ECCV 2020,
        arXiv:2004.01113, Eq. (5).

    Example:
        >>> import torch
        >>> proxy_nca_loss(torch.eye(2), torch.tensor([0, 1]), torch.eye(2))
        tensor(0.1269)
    """
    fn = "proxy_nca_loss"
    c = head_cosines(embeddings, labels, proxies, fn, "proxies")
    logits = -(2.0 - 2.0 * c) / temperature
    if not exclude_positive:
        return reduce_loss(softmax_head(logits, labels), reduction, fn=fn)
    hit = torch.nn.functional.one_hot(labels, logits.shape[1]).to(torch.bool)
    others = masked_logsumexp(logits, ~hit)  # 0 with a single class (no other proxy)
    loss = others - target_column(logits, labels)
    return reduce_loss(loss, reduction, fn=fn)


ProxyNCALoss = register_head(
    "proxy_nca",
    proxy_nca_loss,
    "ProxyNCALoss",
    formula="-log softmax(-||x - p||^2 / T)_y on unit vectors",
    aliases=("proxy_nca_pp",),
    reference="Movshovitz-Attias et al., ICCV 2017, arXiv:1703.07464; Teh et al., ECCV 2020",
    examples=proxy_examples,
    matrix="proxies",
)
