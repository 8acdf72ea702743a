"""Discriminator feature matching (Salimans et al.; pix2pixHD's multi-scale form)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import torch
from torch import Tensor

from .._core.checks import check_tensor, shape_str
from .._core.declare import loss_function
from .._core.dtypes import compute_dtype, upcast
from .._core.examples import Example, generator, normal
from .._core.options import Bool, NonNegative, Number, Reduction
from .._core.reduction import reduce_loss
from .._core.registry import register_loss
from ..errors import InputError, InputTypeError
from ._common import ADVERSARIAL_DOCS

__all__ = ["feature_matching_loss", "FeatureMatchingLoss"]

Features = Tensor | Sequence[Tensor] | Sequence[Sequence[Tensor]]


def _nested(x: object, name: str, fn: str) -> list[list[Tensor]]:
    """A tensor, a list of tensors (one discriminator) or a list of lists (several)."""
    if isinstance(x, Tensor):
        return [[x]]
    if isinstance(x, Sequence) and x and all(isinstance(t, Tensor) for t in x):
        return [list(x)]
    if (
        isinstance(x, Sequence)
        and x
        and all(isinstance(d, Sequence) and d and all(isinstance(t, Tensor) for t in d) for d in x)
    ):
        return [list(d) for d in x]
    raise InputTypeError(
        f"{fn}: expected {name} to be a torch.Tensor, a list of tensors or a list of lists of "
        f"tensors (one list per discriminator), got {type(x).__name__}"
    )


@loss_function(ADVERSARIAL_DOCS)
def feature_matching_loss(
    fake_features: Features,
    real_features: Features,
    *,
    lambda_: NonNegative = 10.0,
    layer_weight: Annotated[float | None, Number(0, optional=True)] = None,
    skip_last: Bool = False,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Feature matching of pix2pixHD: L1 distance between a discriminator's intermediate
    features of generated and real images, over its layers and its scales.

    With :math:`D_k` the :math:`K` discriminators (scales) and :math:`D_k^{(i)}` the
    :math:`T_k` features used of discriminator :math:`k`,

    .. math::
        \ell = \lambda \sum_{k=1}^{K} \frac{1}{K} \sum_{i=1}^{T_k} w_k\,
            \frac{1}{N_i} \big\lVert D_k^{(i)}(x_{\text{fake}})
            - \mathrm{sg}[D_k^{(i)}(x_{\text{real}})] \big\rVert_1,
        \qquad w_k = \frac{4}{T_k}

    (pix2pixHD's ``feat_weights = 4 / (n_layers_D + 1)`` and ``D_weights = 1 / num_D``,
    ``lambda_feat = 10``). The real features are constants (detached). Salimans et al.'s
    original matches the batch means of one layer with a squared error; this is the
    per-sample multi-scale form that image-to-image models use.

    Args:
        fake_features: the discriminators' features of generated images: a list (one per
            discriminator) of lists of ``(B, *)`` tensors, one list of tensors (one
            discriminator) or one tensor.
        real_features: the same structure for the real images.
        lambda_: the overall weight :math:`\lambda` (default 10, pix2pixHD's).
        layer_weight: :math:`w_k` for every layer (default ``None``: ``4 / T_k``).
        skip_last: drop the last entry of each list, the discriminator's final prediction,
            as pix2pixHD does with its discriminators' full output lists (default False:
            every entry is a feature to match).
        reduction: ``"mean"`` over images (default, pix2pixHD's value), ``"sum"`` or
            ``"none"`` (``(B,)``).

    Shape:
        every feature ``(B, *)`` (matching shapes between fake and real); output: scalar,
        or ``(B,)`` for ``"none"``.

    Returns:
        the loss, float32 for half inputs.

    Reference:
        Wang et al., *High-Resolution Image Synthesis and Semantic Manipulation with
        Conditional GANs* (pix2pixHD), CVPR 2018, arXiv:1711.11585, Eq. (4); Salimans et al.,
        *Improved Techniques for Training GANs*, NeurIPS 2016, arXiv:1606.03498.

    Example:
        >>> import torch
        >>> fake = [[torch.zeros(2, 3), torch.zeros(2, 4)]]  # one discriminator, two layers
        >>> real = [[torch.ones(2, 3), torch.ones(2, 4)]]
        >>> feature_matching_loss(fake, real, lambda_=1.0)  # 2 layers x 4 / 2 x 1
        tensor(4.)
    """
    fn = "feature_matching_loss"
    fake, real = (
        _nested(fake_features, "fake_features", fn),
        _nested(real_features, "real_features", fn),
    )
    if skip_last:
        fake, real = [d[:-1] for d in fake], [d[:-1] for d in real]
    if [len(d) for d in fake] != [len(d) for d in real] or not all(fake):
        raise InputError(
            f"{fn}: expected fake_features and real_features with the same, non-empty numbers "
            f"of features per discriminator, got {[len(d) for d in fake]} and "
            f"{[len(d) for d in real]}"
        )
    dtype = compute_dtype(*[t for d in fake + real for t in d])
    total: Tensor | None = None
    for fk, rk in zip(fake, real):
        w = 4.0 / len(fk) if layer_weight is None else float(layer_weight)
        for a, b in zip(fk, rk):
            check_tensor(a, "fake_features", fn, floating=True, min_ndim=1)
            check_tensor(b, "real_features", fn, floating=True, min_ndim=1)
            if a.shape != b.shape:
                raise InputError(
                    f"{fn}: expected real features of shape {shape_str(a)} matching the fake "
                    f"ones, got {shape_str(b)}"
                )
            diff = (upcast(a, dtype) - upcast(b, dtype).detach()).abs()
            term = diff.flatten(1).mean(1) if diff.dim() > 1 else diff
            term = term * (lambda_ * w / len(fake))
            total = term if total is None else total + term
    return reduce_loss(total if total is not None else torch.zeros(()), reduction, fn=fn)


def _examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """Features ``(4, 3, 5)`` of generated and real samples (one discriminator, one layer)."""
    gen = generator(seed)
    return Example((normal(4, 3, 5, dtype=dtype, gen=gen), normal(4, 3, 5, dtype=dtype, gen=gen)))


FeatureMatchingLoss = register_loss(
    "feature_matching",
    family="adversarial",
    function=feature_matching_loss,
    module="FeatureMatchingLoss",
    formula="lambda sum_k 1/K sum_i 4/T_k mean |D_k^i(fake) - sg[D_k^i(real)]|",
    reference="Wang et al. (pix2pixHD), CVPR 2018, arXiv:1711.11585; Salimans et al. 2016",
    examples=_examples,
).module
