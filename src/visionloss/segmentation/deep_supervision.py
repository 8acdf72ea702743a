"""Deep supervision: one loss over a list of multi-scale outputs (the nnU-Net recipe)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from numbers import Real

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._core.checks import check_tensor, shape_str
from ..errors import InputError, InputTypeError, OptionError, OptionTypeError

_CLS = "DeepSupervisionLoss"


class DeepSupervisionLoss(nn.Module):
    r"""Apply a segmentation loss to each output of a deeply supervised network, against the
    target resized to that output's size, and take the weighted sum.

    .. math::
        L = \sum_{l=0}^{S-1} \tilde w_l\, \mathcal{L}\left(x_l, \mathrm{resize}(t, x_l)\right),
        \qquad \tilde w_l = \frac{w_l}{\sum_j w_j}, \quad w_l = 2^{-l}

    The outputs are ordered from the full resolution (``l = 0``) down. The target is resized
    with ``"nearest-exact"`` interpolation (class indices stay indices; a one-hot target stays
    one-hot; ignored pixels keep ``ignore_index``), only where the sizes differ. By default
    the weights halve per scale and are normalised to sum to 1 (nnU-Net, which also gives the
    lowest scale weight 0: pass ``weights=[1, 0.5, 0.25, 0]``). MONAI's
    ``DeepSupervisionLoss(loss, weight_mode="exp")`` uses ``max(2^{-l}, 1/16)`` without
    normalisation: ``weights=[...], normalize=False`` reproduces it.

    Not a registry entry: it wraps another loss (any callable ``loss(input, target)``, e.g.
    :class:`DiceCELoss`), so it has no options of its own to declare.

    Args:
        loss: the loss of one scale, ``loss(input, target) -> Tensor``.
        weights: one weight ``>= 0`` per scale (finite, not all 0); a list longer than the
            outputs is cut to their number. Default ``2^{-l}``.
        normalize: divide the weights by their sum (default True).

    Example:
        >>> import torch
        >>> from visionloss import DiceLoss
        >>> ds = DeepSupervisionLoss(DiceLoss())
        >>> outs = [torch.zeros(1, 2, 8, 8), torch.zeros(1, 2, 4, 4)]
        >>> t = torch.zeros(1, 8, 8, dtype=torch.long)
        >>> t[:, 4:] = 1
        >>> ds(outs, t)  # both scales: Dice 0.5
        tensor(0.5000)
    """

    def __init__(
        self,
        loss: Callable[[Tensor, Tensor], Tensor],
        *,
        weights: Sequence[float] | None = None,
        normalize: bool = True,
    ) -> None:
        super().__init__()
        if not callable(loss):
            raise OptionTypeError(
                f"{_CLS}: expected loss to be a callable loss(input, target), got "
                f"{type(loss).__name__}"
            )
        if not isinstance(normalize, bool):
            raise OptionTypeError(
                f"{_CLS}: expected normalize to be True or False, got {normalize!r}"
            )
        if weights is not None:
            if isinstance(weights, Tensor):
                weights = weights.detach().flatten().tolist()
            if isinstance(weights, (str, bytes)) or not hasattr(weights, "__iter__"):
                raise OptionTypeError(
                    f"{_CLS}: expected weights to be a sequence of numbers, got {weights!r}"
                )
            weights = list(weights)
            if not weights or not all(
                isinstance(w, Real) and not isinstance(w, bool) for w in weights
            ):
                raise OptionTypeError(f"{_CLS}: expected weights to hold numbers, got {weights!r}")
            if not all(math.isfinite(float(w)) and w >= 0 for w in weights) or not any(
                w > 0 for w in weights
            ):
                raise OptionError(
                    f"{_CLS}: expected weights >= 0 and finite, not all 0, got {weights!r}"
                )
            weights = [float(w) for w in weights]
        self.loss = loss
        self.weights = weights
        self.normalize = normalize

    def scale_weights(self, levels: int) -> list[float]:
        """The weights of ``levels`` outputs (normalised when ``normalize``)."""
        if self.weights is None:
            w = [0.5**level for level in range(levels)]
        else:
            if len(self.weights) < levels:
                raise InputError(f"{_CLS}: got {levels} outputs but {len(self.weights)} weights")
            w = self.weights[:levels]
        total = sum(w)
        if self.normalize:
            if total <= 0:
                raise OptionError(f"{_CLS}: the weights of the {levels} outputs sum to 0")
            w = [v / total for v in w]
        return w

    @staticmethod
    def resize(target: Tensor, like: Tensor) -> Tensor:
        """``target`` (indices ``(B, *spatial)`` or dense ``(B, C, *spatial)``) at the spatial
        size of ``like (B, C, *spatial)``, by ``"nearest-exact"`` interpolation."""
        size = tuple(like.shape[2:])
        index = target.dim() == like.dim() - 1
        spatial = tuple(target.shape[1:] if index else target.shape[2:])
        if spatial == size:
            return target
        x = target.unsqueeze(1) if index else target
        out = F.interpolate(x.to(torch.float64), size=size, mode="nearest-exact")
        out = out.squeeze(1) if index else out
        return out.to(target.dtype)

    def forward(self, input: Tensor | Sequence[Tensor], target: Tensor) -> Tensor:
        """The weighted sum of the loss over the outputs (a single tensor is one output)."""
        outputs = [input] if isinstance(input, Tensor) else list(input)
        if not outputs:
            raise InputError(f"{_CLS}: expected at least one output, got an empty sequence")
        for i, x in enumerate(outputs):
            if not isinstance(x, Tensor):
                raise InputTypeError(
                    f"{_CLS}: expected input[{i}] to be a tensor, got {type(x).__name__}"
                )
        check_tensor(target, "target", _CLS)
        if target.dim() not in (outputs[0].dim() - 1, outputs[0].dim()):
            raise InputError(
                f"{_CLS}: expected target of shape (B, *spatial) or (B, C, *spatial) for "
                f"input[0] {shape_str(outputs[0])}, got {shape_str(target)}"
            )
        weights = self.scale_weights(len(outputs))
        total: Tensor | None = None
        for w, x in zip(weights, outputs):
            if w == 0:
                continue
            term = w * self.loss(x, self.resize(target, x))
            total = term if total is None else total + term
        assert total is not None  # at least one weight > 0
        return total
