"""Wise-IoU loss (Tong et al.), v1 / v2 / v3, with the running mean of the IoU loss."""

from __future__ import annotations

import inspect
import math
from typing import Annotated, Any

import torch
from torch import Tensor

from .._core import numerics
from .._core.checks import require
from .._core.declare import declaration, loss_function, loss_module
from .._core.module import LossModule
from .._core.options import Check, Choice, Number, Positive
from .._core.registry import register_loss
from ..errors import OptionError, OptionTypeError, UnknownOptionError
from . import _common as C
from . import _geometry as G

# the authors' code of March 2023 (Instinct323/wiou, iou.py line 16 at a7386de): the mean's
# half-life is 7000 calls; their repository now (ca97fc0, January 2024) uses 1e-2
DEFAULT_MOMENTUM = 1 - 0.5 ** (1 / 7000)

Version = Annotated[str, Choice("v1", "v2", "v3")]


class _MeanCheck(Check):
    """``None``, a number in ``(0, 1]`` (a mean of ``1 - IoU``), or a floating tensor
    broadcastable to the boxes (its values are checked by the loss, with :func:`require`)."""

    def __call__(self, value: Any, name: str, fn: str) -> Any:
        if isinstance(value, Tensor):
            if not value.is_floating_point():
                raise OptionTypeError(
                    f"{fn}: expected {name} to be a floating tensor, got {value.dtype}"
                )
            return value
        return _MEAN(value, name, fn)


_MEAN = Number(0, 1, lo_open=True, optional=True)
_TINY = torch.finfo(torch.float32).tiny
IoUMean = Annotated[Tensor | float | None, _MeanCheck()]
_MOMENTUM = Number(0, 1, lo_open=True)
Momentum = Annotated[float, _MOMENTUM]


def _batch_mean(liou: Tensor, weight: Tensor | None) -> tuple[Tensor, bool | Tensor]:
    """Detached (weighted) mean of ``1 - IoU`` over the batch and whether it saw any box (a
    Python bool from the shape, or a 0-dim tensor for a weighted batch: never a host sync)."""
    liou = liou.detach()
    if weight is None:
        count = liou.numel()
        return liou.sum() / max(count, 1), count > 0
    w = torch.broadcast_to(weight.detach().to(liou.dtype), liou.shape)
    total = w.sum()
    return numerics.div((w * liou).sum(), total), total > 0


def _wiou_terms(
    b: C.Pair,
    *,
    version: str,
    iou_mean: Tensor | float | None,
    alpha: float,
    delta: float,
    gamma: float,
) -> Tensor:
    liou = 1 - G.overlap(b.p, b.t).iou
    dx, dy = G.centre_offset(b.p, b.t)
    cw, ch = G.enclosing(b.p, b.t)
    focus = torch.exp(G.ratio(dx.square() + dy.square(), (cw.square() + ch.square()).detach()))
    loss = focus * liou  # WIoU v1
    if version == "v1":
        return loss
    if iou_mean is None:
        mean = _batch_mean(liou, b.weight)[0]
    else:
        mean = torch.as_tensor(iou_mean, dtype=liou.dtype, device=liou.device)
        if isinstance(iou_mean, Tensor):  # a number was checked by its option type
            require(
                ~((mean <= 0) | (mean > 1)),
                "wiou_loss: expected iou_mean, a mean of 1 - IoU, in (0, 1]; a value outside "
                "was found (a mean of 0 leaves the outlier degree beta undefined)",
                OptionError,
            )
    beta = numerics.div(liou.detach(), torch.broadcast_to(mean, liou.shape))
    if version == "v2":
        return numerics.pow(beta, gamma) * loss
    # alpha^(beta - delta) as an exp: torch.pow(scalar, tensor) rounds differently in the
    # vectorised body and the tail of a CPU loop, so its bits depended on the batch size
    return beta / (delta * torch.exp((beta - delta) * math.log(alpha))) * loss


@loss_function(C.BOX_DOCS, options=C.box_options)
def wiou_loss(
    pred: Tensor,
    target: Tensor,
    *,
    version: Version = "v3",
    iou_mean: IoUMean = None,
    alpha: Positive = 1.9,
    delta: Positive = 3.0,
    gamma: Positive = 0.5,
    **options: Any,
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

    {{degenerate}}
    Two identical zero-area boxes have :math:`\mathcal L_{IoU} = 1` and zero gradient: v1 gives
    1, v2 and v3 their focusing factor at that :math:`\beta`. Inverted corners count as empty
    for the IoU; the enclosing box spans all four corners on each axis, so it contains both
    centres and the distance attention :math:`\exp(\rho^2 / c^2)` stays at most :math:`e`.

    {{scale}}

    Args:
        version: ``"v1"``, ``"v2"`` or ``"v3"`` (default).
        iou_mean: mean of :math:`1 - \mathrm{IoU}` used in :math:`\beta` (v2, v3); a number
            in ``(0, 1]`` or a tensor of such values broadcastable to ``(...)``. ``None``: the
            batch mean.
        alpha: v3's :math:`\alpha` (default 1.9, the paper's; ``alpha <= 1`` makes v3's gain
            monotonic).
        delta: v3's :math:`\delta` (default 3, the paper's): the gain is 1 at
            :math:`\beta = \delta`.
        gamma: v2's exponent (default 0.5).
        weight: optional per-box weight broadcastable to ``(...)``; it also weights the batch
            mean (weight 0 marks padding).

    {{shape}}

    Reference:
        Tong et al., *Wise-IoU: Bounding Box Regression Loss with Dynamic Focusing Mechanism*,
        arXiv:2301.10051 (2023), Eqs. (8), (10), (13)-(14).

    Example:
        >>> import torch
        >>> wiou_loss(torch.tensor([[0.0, 0.0, 2.0, 2.0]]), torch.tensor([[1.0, 0.0, 3.0, 2.0]]),
        ...           version="v1")
        tensor(0.7200)
    """
    return C.box_loss(
        _wiou_terms,
        pred,
        target,
        fn="wiou_loss",
        version=version,
        iou_mean=iou_mean,
        alpha=alpha,
        delta=delta,
        gamma=gamma,
        **options,
    )


_Declared = loss_module(wiou_loss, "WIoULoss", module=__name__)


class WIoULoss(LossModule):
    """Module form of :func:`wiou_loss` with the running mean of :math:`1 - \\mathrm{IoU}`.

    The buffer ``iou_mean`` (persistent, initial value 1) is updated in ``forward`` while the
    Module is in training mode, before it is used: ``mean <- (1 - momentum) mean + momentum
    batch_mean``. In eval mode it is only read. The update is an in-place tensor operation: no
    ``.item()``, no host sync. A mean of exactly 0 (``momentum=1`` after a batch of perfect
    boxes) is used as the smallest normal float32, the limit of a vanishing mean.

    Defaults: ``alpha=1.9, delta=3`` are the paper's v3 setting, and with ``momentum = 1 -
    0.5^(1/7000)`` (a half-life of 7000 calls) they are the constants of the authors' code of
    March 2023 (Instinct323/wiou, ``iou.py`` at a7386de, lines 16 and 77). The authors'
    repository now (ca97fc0, January 2024, lines 13-15) uses ``momentum=1e-2, alpha=1.7,
    delta=2.7``: pass those to follow it. With the same constants this Module equals their
    ``IouLoss(ltype="WIoU")`` (``monotonous=False``: v3; ``True``: v2 with ``gamma=0.5``).

    Args:
        momentum: weight in ``(0, 1]`` of each batch in the running mean.
    {options}

    Example:
        >>> import torch
        >>> crit = WIoULoss(version="v3", momentum=0.5)
        >>> _ = crit(torch.tensor([[0.0, 0.0, 2.0, 2.0]]), torch.tensor([[1.0, 0.0, 3.0, 2.0]]))
        >>> crit.iou_mean
        tensor(0.8333)
    """

    function = wiou_loss
    iou_mean: Tensor
    version: str
    box_format: str
    momentum: float

    def __init__(self, *, momentum: Momentum = DEFAULT_MOMENTUM, **options: Any) -> None:
        name = type(self).__name__
        if "iou_mean" in options:
            raise UnknownOptionError(f"{name}: 'iou_mean' is the running mean, not an option")
        momentum = _MOMENTUM(momentum, "momentum", name)
        _Declared.__init__(self, **options)
        del self.iou_mean  # the function's option: the running mean's buffer takes its place
        self.momentum = momentum
        self.register_buffer("iou_mean", torch.ones(()))

    def forward(
        self, pred: Tensor, target: Tensor, weight: Tensor | None = None, normalizer: Any = None
    ) -> Tensor:
        """:func:`wiou_loss` with this Module's options and running mean (updated first in
        training mode, for v2 and v3)."""
        if self.training and self.version != "v1":
            self._update(pred, target, weight)
        # a running mean of 0 (momentum 1 after a batch of perfect boxes) is used as the
        # smallest normal float32, the limit of a vanishing mean: iou_mean must be > 0
        options = {**self.options(), "iou_mean": self.iou_mean.clamp_min(_TINY)}
        return wiou_loss(pred, target, weight=weight, normalizer=normalizer, **options)

    @torch.no_grad()
    def _update(self, pred: Tensor, target: Tensor, weight: Tensor | None) -> None:
        name = type(self).__name__
        pred, target = G.check_pair(pred, target, name)
        p, t, _ = G.to_unit(pred, target, self.box_format)
        w = G.check_weight(weight, pred.shape[:-1], p.x1.dtype, name)
        batch, seen = _batch_mean(1 - G.overlap(p, t).iou, w)
        buffer = self.iou_mean
        updated = torch.lerp(buffer, batch.to(buffer.dtype), self.momentum)
        if isinstance(seen, Tensor):
            buffer.copy_(torch.where(seen, updated, buffer))
        elif seen:
            buffer.copy_(updated)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, momentum={self.momentum:.3g}"


def _module_signature() -> inspect.Signature:
    """``(*, version, momentum, alpha, ...)``: the function's options but ``iou_mean`` (the
    buffer), with ``momentum`` after ``version`` as before."""
    options = [p for p in declaration(wiou_loss).options if p.name != "iou_mean"]
    momentum = inspect.Parameter(
        "momentum", inspect.Parameter.KEYWORD_ONLY, default=DEFAULT_MOMENTUM, annotation="Momentum"
    )
    self = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return inspect.Signature([self, options[0], momentum, *options[1:]], return_annotation=None)


setattr(WIoULoss.__init__, "__signature__", _module_signature())  # noqa: B010
WIoULoss.__doc__ = (WIoULoss.__doc__ or "").replace(
    "    {options}\n",
    "\n".join(
        "        " + line if line else line
        for p in inspect.signature(WIoULoss.__init__).parameters.values()
        if p.name not in ("self", "momentum")
        for line in declaration(wiou_loss).entries[p.name].splitlines()
    )
    + "\n",
)

register_loss(
    "wiou",
    family="boxes",
    function=wiou_loss,
    module=WIoULoss,
    formula="v1: exp(rho^2/c*^2) (1 - IoU); v3: beta/(delta alpha^(beta-delta)) L_v1",
    reference="Tong et al., Wise-IoU, arXiv:2301.10051",
    examples=C.wiou_examples,
)
