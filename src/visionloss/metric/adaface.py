"""AdaFace: feature-norm-adaptive margin (Kim, Jain and Liu, CVPR 2022)."""

from __future__ import annotations

import inspect
import math
from typing import Any

import torch
from torch import Tensor, nn

from .._core.checks import check_fraction, check_tensor, shape_str
from .._core.declare import loss_function
from .._core.dtypes import upcast
from .._core.examples import Example, ModuleCall
from .._core.module import LossModule
from .._core.numerics import norm
from .._core.options import NonNegative, Positive, Reduction
from .._core.reduction import reduce_loss
from .._core.registry import register_loss
from ..errors import InputError, OptionError
from ._margin import (
    HEAD_DOCS,
    check_class_matrix,
    compute_in,
    cosine_to,
    head_examples,
    init_rows,
    replace_target,
    sine,
    softmax_head,
    target_column,
)

EPS = 1e-3  # the reference code's eps: cosine clamp, angle clip, std offset


def _check_stat(value: object, name: str, fn: str) -> Tensor:
    t = check_tensor(value, name, fn, floating=True)
    if tuple(t.shape) != (1,):
        raise InputError(f"{fn}: expected {name} of shape (1,), got {shape_str(t)}")
    return t.reshape(())


@loss_function(HEAD_DOCS)
def adaface_loss(
    embeddings: Tensor,
    labels: Tensor,
    weight: Tensor,
    norm_mean: Tensor,
    norm_std: Tensor,
    *,
    margin: NonNegative = 0.4,
    h: Positive = 0.333,
    scale: Positive = 64.0,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""AdaFace: a margin that moves from angular (ArcFace) to additive (CosFace) with the
    embedding's norm, a proxy of image quality.

    .. math::
        \hat z_i = \operatorname{clip}\Big(h \frac{\lVert x_i \rVert - \mu}{\sigma + \epsilon},
        -1, 1\Big),\quad
        f_{y_i} = \cos\big(\operatorname{clip}(\theta_{y_i} - m \hat z_i, \epsilon,
        \pi - \epsilon)\big) - (m \hat z_i + m)

    the other logits ``cos theta_j``, all times ``s``, then softmax cross entropy.
    ``mu`` and ``sigma`` are the running mean and standard deviation of the (clipped to
    ``[0.001, 100]``, detached) feature norms; :class:`AdaFaceLoss` keeps them as buffers and
    updates them in training mode with momentum 0.01 before the loss, as the reference code.
    As there, the cosines are clamped to ``[-1 + eps, 1 - eps]`` (``eps = 1e-3``) and the
    clipped angle carries no gradient; ``cos(theta + a)`` is formed from the cosine and the
    sine (no ``acos`` where a gradient flows).

    Args:
        norm_mean: ``mu``, shape ``(1,)`` (the Module's running mean).
        norm_std: ``sigma``, shape ``(1,)`` (the Module's running std).
        margin: ``m`` (default 0.4).
        h: the concentration ``h`` of ``z`` (default 0.333).

    Shape:
        output: scalar, or ``(B,)`` for ``"none"``.

    Returns:
        the loss; float32 for fp16/bf16 inputs. An empty batch gives 0 with a graph.

    Reference:
        Kim, Jain and Liu, *AdaFace: Quality Adaptive Margin for Face Recognition*, CVPR
        2022, arXiv:2204.00964, Eq. (11)-(12); the authors' ``head.py`` (``AdaFace``).

    Example:
        >>> import torch
        >>> w = torch.eye(2)
        >>> x, y = torch.tensor([[1.0, 0.0]]), torch.tensor([0])
        >>> mu, sigma = torch.tensor([1.0]), torch.tensor([1.0])
        >>> adaface_loss(x, y, w, mu, sigma, margin=0.0, scale=1.0)
        tensor(0.3135)
    """
    fn = "adaface_loss"
    check_class_matrix(embeddings, labels, weight, fn, "weight")
    dtype = compute_in(embeddings, weight)
    mu = upcast(_check_stat(norm_mean, "norm_mean", fn), dtype).detach()
    sigma = upcast(_check_stat(norm_std, "norm_std", fn), dtype).detach()
    c = cosine_to(embeddings, weight, dtype).clamp(-1.0 + EPS, 1.0 - EPS)
    norms = norm(upcast(embeddings, dtype), dim=1).detach().clamp(0.001, 100.0)
    z = (h * (norms - mu) / (sigma + EPS)).clamp(-1.0, 1.0)
    angle = -margin * z  # g_angular, per sample
    ct = target_column(c, labels)
    with torch.no_grad():
        theta = torch.acos(ct) + angle
    shifted = ct * torch.cos(angle) - sine(ct) * torch.sin(angle)
    low, high = math.cos(EPS), math.cos(math.pi - EPS)
    target = torch.where(theta < EPS, ct.new_full((), low), shifted)
    target = torch.where(theta > math.pi - EPS, ct.new_full((), high), target)
    target = target - (margin * z + margin)
    loss = softmax_head(scale * replace_target(c, labels, target), labels)
    return reduce_loss(loss, reduction, fn=fn)


@torch.no_grad()
def _update_stats(module: AdaFaceLoss, embeddings: Tensor) -> None:
    norms = norm(embeddings.detach().to(module.norm_mean.dtype), dim=1).clamp(0.001, 100.0)
    if norms.numel() < 2:
        return
    a = module.momentum
    module.norm_mean.mul_(1 - a).add_(a * norms.mean())
    module.norm_std.mul_(1 - a).add_(a * norms.std())


class AdaFaceLoss(LossModule):
    """AdaFace with its class weights (a Parameter) and the running feature-norm statistics
    (buffers ``norm_mean``, ``norm_std``, initialised to 20 and 100 as the reference code);
    see :func:`adaface_loss`. In training mode ``forward`` first updates the statistics with
    the batch's (momentum 0.01), then computes the loss; ``eval()`` freezes them.

    The constructor's arguments (from ``__init__``):
    """

    function = adaface_loss
    norm_mean: Tensor
    norm_std: Tensor

    def __init__(
        self,
        num_classes: int,
        embedding_size: int,
        *,
        momentum: float = 0.01,
        margin: float = 0.4,
        h: float = 0.333,
        scale: float = 64.0,
        reduction: str = "mean",
    ) -> None:
        """Build the weights and the statistics and set the options of :func:`adaface_loss`.

        Args:
            num_classes: number of classes.
            embedding_size: ``D``, the embeddings' size.
            momentum: of the running statistics (default 0.01).
            margin: ``m`` (default 0.4).
            h: the concentration ``h`` of ``z`` (default 0.333).
            scale: ``s > 0``, the logits' scale (default 64.0).
            reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        """
        fn = "AdaFaceLoss"
        for name, value in (("num_classes", num_classes), ("embedding_size", embedding_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise OptionError(f"{fn}: expected {name} to be a positive int, got {value!r}")
        decl = adaface_loss.__visionloss__  # type: ignore[attr-defined]
        options = dict(margin=margin, h=h, scale=scale, reduction=reduction)
        options = {k: decl.check(k, v, fn) for k, v in options.items()}
        check_fraction(momentum, "momentum", fn)
        self.momentum = float(momentum)
        super().__init__(**options)
        setattr(self, "num_classes", num_classes)  # noqa: B010
        setattr(self, "embedding_size", embedding_size)  # noqa: B010
        self.weight = nn.Parameter(init_rows(num_classes, embedding_size))
        self.register_buffer("norm_mean", torch.tensor([20.0]))
        self.register_buffer("norm_std", torch.tensor([100.0]))

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        """Update the statistics (training mode), then compute :func:`adaface_loss`.

        Args:
            embeddings: ``(B, D)`` floating point.
            labels: ``(B,)`` integer class labels in ``[0, num_classes)``.

        Module state (not arguments of ``forward``):
            weight: this Module's Parameter.
            norm_mean: the running mean buffer.
            norm_std: the running std buffer.

        Returns:
            the loss (see :func:`adaface_loss`).
        """
        if self.training:
            _update_stats(self, embeddings)
        return adaface_loss(
            embeddings, labels, self.weight, self.norm_mean, self.norm_std, **self.options()
        )


AdaFaceLoss.__doc__ = (
    inspect.cleandoc(AdaFaceLoss.__doc__ or "")
    + "\n\nArgs:\n"
    + (inspect.cleandoc(((AdaFaceLoss.__init__.__doc__ or "").split("Args:", 1) + [""])[1]))
    .replace("\n", "\n    ")
    .join(("    ", "\n"))
)


def _module_state(module: nn.Module) -> dict[str, Any]:
    return {"weight": module.weight, "norm_mean": module.norm_mean, "norm_std": module.norm_std}


def adaface_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """As :func:`head_examples` plus the statistics ``(20, 100)``; the Module is
    ``AdaFaceLoss(4, 4)`` in eval mode."""
    x, labels, w = head_examples(dtype, seed).args
    mu = torch.tensor([20.0], dtype=dtype) + seed
    sigma = torch.tensor([100.0], dtype=dtype)
    init = {"num_classes": 4, "embedding_size": 4}
    return Example(
        (x, labels, w, mu, sigma), module=ModuleCall(init_kwargs=init, to_function=_module_state)
    )


register_loss(
    "adaface",
    family="metric",
    function=adaface_loss,
    module=AdaFaceLoss,
    formula="CE(s [cos(clip(theta_y - m z)) - (m z + m), cos theta_j]), z from ||x||",
    reference="Kim et al., AdaFace, CVPR 2022, arXiv:2204.00964",
    examples=adaface_examples,
)
