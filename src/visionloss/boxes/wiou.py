"""Wise-IoU loss (Tong et al.), v1 / v2 / v3, with the running mean of the IoU loss."""

from __future__ import annotations

import torch
from torch import Tensor

from .._core.checks import check_choice, check_positive
from .._core.module import LossModule
from .._core.registry import register_loss
from . import _geometry as G
from ._common import Normalizer, check_common, reduce_boxes

VERSIONS = ("v1", "v2", "v3")
DEFAULT_MOMENTUM = 1 - 0.5 ** (1 / 7000)  # the authors' code: the mean's half-life is 7000 calls


def _batch_mean(liou: Tensor, weight: Tensor | None) -> tuple[Tensor, bool | Tensor]:
    """Detached (weighted) mean of ``1 - IoU`` over the batch and whether it saw any box (a
    Python bool from the shape, or a 0-dim tensor for a weighted batch: never a host sync)."""
    liou = liou.detach()
    if weight is None:
        count = liou.numel()
        return liou.sum() / max(count, 1), count > 0
    w = torch.broadcast_to(weight.detach().to(liou.dtype), liou.shape)
    total = w.sum()
    return G.safe_div((w * liou).sum(), total), total > 0


def _wiou(
    pred: Tensor,
    target: Tensor,
    *,
    version: str,
    iou_mean: Tensor | float | None,
    running: tuple[Tensor, float] | None,
    alpha: float,
    delta: float,
    gamma: float,
    box_format: str,
    weight: Tensor | None,
    reduction: str,
    normalizer: Normalizer,
    fn: str,
) -> Tensor:
    check_common(box_format, reduction, fn)
    check_choice(version, VERSIONS, "version", fn)
    for value, name in ((alpha, "alpha"), (delta, "delta"), (gamma, "gamma")):
        check_positive(value, name, fn)
    p, t = G.prepare_pair(pred, target, box_format, fn)
    liou = 1 - G.overlap(p, t).iou
    dx, dy = G.centre_offset(p, t)
    cw, ch = G.enclosing(p, t)
    focus = torch.exp(G.safe_div(dx.square() + dy.square(), (cw.square() + ch.square()).detach()))
    loss = focus * liou  # WIoU v1
    if version != "v1":
        if running is not None:  # the Module: update its buffer first, then use it
            buffer, momentum = running
            batch, seen = _batch_mean(liou, weight)
            with torch.no_grad():
                updated = torch.lerp(buffer, batch.to(buffer.dtype), momentum)
                if isinstance(seen, Tensor):
                    buffer.copy_(torch.where(seen, updated, buffer))
                elif seen:
                    buffer.copy_(updated)
            mean = buffer.to(liou.dtype)
        elif iou_mean is None:
            mean = _batch_mean(liou, weight)[0]
        else:
            mean = torch.as_tensor(iou_mean, dtype=liou.dtype, device=liou.device)
        beta = G.safe_div(liou.detach(), torch.broadcast_to(mean, liou.shape))
        if version == "v2":
            loss = G.safe_pow(beta, gamma) * loss
        else:
            loss = beta / (delta * torch.pow(alpha, beta - delta)) * loss
    return reduce_boxes(loss, weight=weight, reduction=reduction, normalizer=normalizer, fn=fn)


def wiou_loss(
    pred: Tensor,
    target: Tensor,
    *,
    version: str = "v3",
    iou_mean: Tensor | float | None = None,
    alpha: float = 1.9,
    delta: float = 3.0,
    gamma: float = 0.5,
    box_format: str = "xyxy",
    weight: Tensor | None = None,
    reduction: str = "mean",
    normalizer: Normalizer = None,
) -> Tensor:
    r"""Wise-IoU loss: the IoU loss scaled by a distance attention (v1) and a focusing factor
    on the outlier degree :math:`\beta` (v2 monotonic, v3 non-monotonic).

    .. math::
        \mathcal L_{v1} = \exp\!\Big(\frac{(x - x^{gt})^2 + (y - y^{gt})^2}
                                         {(W_g^2 + H_g^2)^{*}}\Big)\, \mathcal L_{IoU},
        \quad \beta = \frac{\mathcal L_{IoU}^{*}}{\overline{\mathcal L_{IoU}}}

    .. math::
        \mathcal L_{v2} = \beta^{\gamma}\, \mathcal L_{v1}, \qquad
        \mathcal L_{v3} = \frac{\beta}{\delta\, \alpha^{\beta - \delta}}\, \mathcal L_{v1}

    :math:`\mathcal L_{IoU} = 1 - \mathrm{IoU}`, :math:`W_g, H_g` the enclosing box, ``*`` held
    constant (no gradient). :math:`\overline{\mathcal L_{IoU}}` is a running mean over training:
    :class:`WIoULoss` keeps it in a buffer (no host sync). This function uses ``iou_mean`` when
    given, else the (weighted) mean of the current batch.

    Degenerate cases: as :func:`iou_loss` for no boxes, all-zero weights and the IoU term (0,
    with zero gradient, for a zero-area box or inverted corners). Two identical zero-area boxes
    have :math:`\mathcal L_{IoU} = 1` and zero gradient: v1 gives 1, v2 and v3 their focusing
    factor at that :math:`\beta`. Inverted corners count as empty for the IoU; the enclosing box
    spans all four corners on each axis, so it contains both centres and the distance attention
    :math:`\exp(\rho^2 / c^2)` stays at most :math:`e`.

    Args:
        pred: ``(..., 4)`` predicted boxes, floating point.
        target: ``(..., 4)`` target boxes, same shape.
        version: ``"v1"``, ``"v2"`` or ``"v3"`` (default).
        iou_mean: mean of :math:`1 - \mathrm{IoU}` used in :math:`\beta` (v2, v3); a float or
            a 0-dim tensor. ``None``: the batch mean.
        alpha: v3's :math:`\alpha` (default 1.9). delta: v3's :math:`\delta` (default 3).
        gamma: v2's exponent (default 0.5).
        box_format: ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``.
        weight: optional per-box weight broadcastable to ``(...)``; it also weights the batch
            mean (weight 0 marks padding).
        reduction: ``"mean"`` (over boxes), ``"sum"`` or ``"none"``.
        normalizer: with ``"mean"``, divide the sum by it (by 1 where it is <= 0).

    Shape:
        ``pred``, ``target``: ``(..., 4)``; output: scalar, or ``(...)`` for ``"none"``.

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Tong et al., *Wise-IoU: Bounding Box Regression Loss with Dynamic Focusing Mechanism*,
        arXiv:2301.10051 (2023), Eqs. (8), (10), (13)-(14).

    Example:
        >>> import torch
        >>> wiou_loss(torch.tensor([[0.0, 0.0, 2.0, 2.0]]), torch.tensor([[1.0, 0.0, 3.0, 2.0]]),
        ...           version="v1")
        tensor(0.7200)
    """
    return _wiou(
        pred,
        target,
        version=version,
        iou_mean=iou_mean,
        running=None,
        alpha=alpha,
        delta=delta,
        gamma=gamma,
        box_format=box_format,
        weight=weight,
        reduction=reduction,
        normalizer=normalizer,
        fn="wiou_loss",
    )


class WIoULoss(LossModule):
    """Module form of :func:`wiou_loss` with the running mean of :math:`1 - \\mathrm{IoU}`.

    The buffer ``iou_mean`` (persistent, initial value 1) is updated in ``forward`` while the
    Module is in training mode, before it is used: ``mean <- (1 - momentum) mean + momentum
    batch_mean`` (``momentum`` default ``1 - 0.5^(1/7000)``, the authors'). In eval mode it is
    only read. The update is an in-place tensor operation: no ``.item()``, no host sync.

    Example:
        >>> import torch
        >>> crit = WIoULoss(version="v3", momentum=0.5)
        >>> _ = crit(torch.tensor([[0.0, 0.0, 2.0, 2.0]]), torch.tensor([[1.0, 0.0, 3.0, 2.0]]))
        >>> crit.iou_mean
        tensor(0.8333)
    """

    function = wiou_loss

    def __init__(
        self,
        *,
        version: str = "v3",
        momentum: float = DEFAULT_MOMENTUM,
        alpha: float = 1.9,
        delta: float = 3.0,
        gamma: float = 0.5,
        box_format: str = "xyxy",
        reduction: str = "mean",
    ) -> None:
        name = "WIoULoss"
        check_choice(version, VERSIONS, "version", name)
        G.check_format(box_format, name)
        if not 0 < momentum <= 1:
            raise ValueError(f"{name}: expected momentum in (0, 1], got {momentum}")
        super().__init__(
            version=version,
            alpha=alpha,
            delta=delta,
            gamma=gamma,
            box_format=box_format,
            reduction=reduction,
        )
        self.momentum = momentum
        self.register_buffer("iou_mean", torch.ones(()))

    def forward(
        self,
        pred: Tensor,
        target: Tensor,
        *,
        weight: Tensor | None = None,
        normalizer: Normalizer = None,
    ) -> Tensor:
        running = (self.iou_mean, self.momentum) if self.training else None
        return _wiou(
            pred,
            target,
            **self.options(),
            iou_mean=self.iou_mean,
            running=running,
            weight=weight,
            normalizer=normalizer,
            fn="WIoULoss",
        )

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, momentum={self.momentum:.3g}"


register_loss(
    "wiou",
    family="boxes",
    function=wiou_loss,
    module=WIoULoss,
    formula="v1: exp(rho^2/c*^2) (1 - IoU); v3: beta/(delta alpha^(beta-delta)) L_v1",
    reference="Tong et al., Wise-IoU, arXiv:2301.10051",
)
