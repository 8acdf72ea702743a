"""Soft clDice loss (Shit et al.): topology-aware overlap of skeletons and masks."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .._core.declare import loss_function
from .._core.registry import register_loss
from ._overlap import OVERLAP_DOCS, smooth_pair
from ._shape import (
    CLDICE_DOCS,
    CLDICE_OPTIONS,
    SHAPE_DOCS,
    cldice_pairs,
    reduce_batch_pairs,
    selected_inputs,
    shape_examples,
)

_FN = "cldice_loss"


@loss_function(OVERLAP_DOCS | SHAPE_DOCS | CLDICE_DOCS, options=CLDICE_OPTIONS)
def cldice_loss(input: Tensor, target: Tensor, **options: Any) -> Tensor:
    r"""Soft clDice loss: the harmonic mean of topology precision and sensitivity, from soft
    skeletons.

    .. math::
        T_{prec} = \frac{\sum S_P\, G + s_{nr}}{\sum S_P + s_{dr}}, \quad
        T_{sens} = \frac{\sum S_G\, P + s_{nr}}{\sum S_G + s_{dr}}, \quad
        \ell_{bk} = 1 - \frac{2\, T_{prec}\, T_{sens}}{T_{prec} + T_{sens}}

    per (image, class) over the valid pixels, with :math:`P` the activated input, :math:`G`
    the one-hot target and :math:`S` their soft skeletons (:func:`soft_skeleton`). The
    skeleton of the prediction should lie inside the target and the target's skeleton inside
    the prediction, so breaking a thin vessel in two costs as much as losing a wide region.
    The class-weighted mean over the pairs follows.

    Convention. The authors' code sums over the batch and the foreground channels (one score,
    ``per_image=False`` with one class); MONAI's ``SoftclDiceLoss`` (1.6) sums over the
    channels of each image and adds ``1e-4`` to the harmonic mean's denominator. Both agree
    with this form on one foreground class (see the tests). An empty target with ``smooth >
    0`` gives :math:`T_{sens} = 1` and a loss that pushes the predicted skeleton to zero. The
    soft skeleton of a full mask is its border pixels' set difference with its opening
    (max-pooling pads with :math:`-\infty`), finite like every other case.

    {{pair_shape}}

    Reference:
        {{cldice_reference}}

    Example:
        >>> import torch
        >>> t = torch.zeros(1, 7, 7, dtype=torch.long)
        >>> t[0, 3, 1:6] = 1  # a thin line
        >>> p = torch.stack([1.0 - t, t.float()], 1).float()
        >>> cldice_loss(p, t, activation="none", classes=[1], smooth=0.0)
        tensor(0.)
    """
    sp = selected_inputs(input, target, _FN, options)
    per_image = options["per_image"]
    loss, counted = cldice_pairs(
        sp, options["iterations"], *smooth_pair(options["smooth"]), per_image
    )
    return reduce_batch_pairs(
        loss, counted, sp.prep.class_weight, options["reduction"], per_image, _FN
    )


ClDiceLoss = register_loss(
    "cldice",
    family="segmentation",
    function=cldice_loss,
    module="ClDiceLoss",
    formula="1 - 2 Tprec Tsens / (Tprec + Tsens), from soft skeletons",
    reference="Shit et al., clDice, CVPR 2021, arXiv:2003.07311",
    examples=shape_examples,
).module
