"""Seesaw loss (Wang et al., CVPR 2021) for long-tailed classification."""

from __future__ import annotations

import inspect
import math
from typing import Annotated, Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .._core.checks import check_tensor, shape_str
from .._core.declare import DocParts, declaration, loss_function, loss_module
from .._core.examples import Example, ModuleCall, generator, integers, normal
from .._core.options import PER_CALL, Check, NonNegative, Positive
from .._core.registry import register_loss
from ..errors import InputError, InputTypeError, OptionError, OptionTypeError
from ._common import CLASSIFICATION_DOCS, check_logits, index_options, softmax_loss


class _NumClasses(Check):
    """None or an int ``>= 1``."""

    def __call__(self, value: Any, name: str, fn: str) -> Any:
        if value is None:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise OptionTypeError(f"{fn}: expected {name} to be None or an int, got {value!r}")
        if value < 1:
            raise OptionError(f"{fn}: expected {name} >= 1, got {value!r}")
        return value


NumClasses = Annotated[int | None, _NumClasses()]
Counts = Annotated[Tensor | None, PER_CALL]

SEESAW_DOCS = CLASSIFICATION_DOCS | DocParts(
    args={
        "target": """class indices of shape ``(N, *)`` (an integer dtype, values in
            ``[0, C)`` or ``ignore_index``).""",
        "num_classes": """the number of classes ``C`` (checked against ``input``; the Module
            needs it to hold its counts; default None: any).""",
        "class_counts": """``(C,)`` numbers of training samples seen per class (the Module's
            buffer of the same name, accumulated over the batches); ``None``: this batch's
            counts.""",
    }
)


def _seesaw_terms(
    log_p: Tensor,
    target: Tensor,
    index: bool,
    *,
    fn: str,
    p: float,
    q: float,
    eps: float,
    counts: Tensor,
    logits: Tensor,
) -> tuple[Tensor, None]:
    c = log_p.shape[1]
    x = logits
    # the seesaw factors S_ij for the sample's class i = target and every other class j
    log_s = torch.zeros_like(x)
    shape = (x.shape[0], 1, *x.shape[2:])
    t = target.reshape(shape)
    if p > 0:
        n = counts.to(x.dtype).clamp(min=1)
        # mitigation M_ij = (N_j / N_i)^p where N_j < N_i, else 1: log form
        log_ratio = torch.log(n)[None, :] - torch.log(n)[:, None]  # [i, j] = log(N_j / N_i)
        log_m = torch.clamp(log_ratio, max=0) * p
        rows = log_m[target.reshape(-1)]  # (N * prod(*), C)
        rows = rows.reshape(x.shape[0], *x.shape[2:], c).movedim(-1, 1)
        log_s = log_s + rows
    if q > 0:
        # compensation C_ij = (sigma_j / sigma_i)^q where sigma_j > sigma_i, else 1 (detached)
        lp = log_p.detach()
        self_lp = lp.gather(1, t)
        log_self = self_lp.clamp(min=math.log(eps))
        log_s = log_s + q * torch.clamp(lp - log_self, min=0)
    other = torch.ones_like(x).scatter(1, t, 0.0)
    z = x + log_s * other
    log_q = F.log_softmax(z, dim=1)
    return -log_q.gather(1, t).squeeze(1), None


@loss_function(SEESAW_DOCS, options=index_options)
def seesaw_loss(
    input: Tensor,
    target: Tensor,
    *,
    p: NonNegative = 0.8,
    q: NonNegative = 2.0,
    eps: Positive = 1e-2,
    num_classes: NumClasses = None,
    class_counts: Counts = None,
    **options: Any,
) -> Tensor:
    r"""Seesaw loss: cross entropy whose negative logits are rescaled by a mitigation factor
    (fewer gradients from frequent to rare classes) and a compensation factor (more penalty
    for a misclassification into a rare class).

    .. math::
        \ell_i = -\log \frac{e^{z_{i,y}}}{e^{z_{i,y}} + \sum_{j \ne y} S_{yj}\, e^{z_{i,j}}},
        \qquad S_{yj} = M_{yj}\, C_{yj}

    .. math::
        M_{yj} = \begin{cases} (N_j / N_y)^p & N_j < N_y \\ 1 & \text{else}\end{cases},\qquad
        C_{yj} = \begin{cases} (\sigma_j / \sigma_y)^q & \sigma_j > \sigma_y \\ 1 &
        \text{else}\end{cases}

    :math:`N_c` is the number of training samples of class :math:`c` seen so far (counted at
    least 1), :math:`\sigma = \operatorname{softmax}(z)` (detached; :math:`\sigma_y` at least
    ``eps``). Written in log space: :math:`z_{ij} + \log S_{yj}`. This is mmdetection's
    ``seesaw_ce_loss`` (the classification branch of ``SeesawLoss``, whose Module adds an
    objectness branch over two extra logits and updates its counts before the loss);
    :class:`SeesawLoss` keeps the counts as a buffer.

    Degenerate cases: {{ignored}}. With ``p = q = 0`` this is :func:`cross_entropy_loss`.
    {{saturated}}

    Args:
        p: exponent ``>= 0`` of the mitigation factor (default 0.8; 0: off).
        q: exponent ``>= 0`` of the compensation factor (default 2; 0: off).
        eps: lower bound ``> 0`` of :math:`\sigma_y` in the compensation factor (default
            0.01).

    Shape:
        ``input``: ``(N, C, *)``; ``target``: ``(N, *)``; output: scalar, or ``(N, *)`` for
        ``"none"``.

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Wang et al., *Seesaw Loss for Long-Tailed Instance Segmentation*, CVPR 2021,
        arXiv:2008.10032, Eqs. (2)-(5).

    Example:
        >>> import torch
        >>> x = torch.tensor([[0.0, 2.0, 0.0]])       # a sample of the rare class 0
        >>> counts = torch.tensor([10.0, 1000.0, 100.0])
        >>> seesaw_loss(x, torch.tensor([0]), class_counts=counts)
        tensor(6.0049)
    """
    fn = "seesaw_loss"
    check_logits(input, fn)
    check_tensor(target, "target", fn)
    if num_classes is not None and input.shape[1] != num_classes:
        raise InputError(
            f"{fn}: expected input with num_classes={num_classes} classes along dim 1, got "
            f"{shape_str(input)}"
        )
    if target.is_floating_point():
        raise InputTypeError(f"{fn}: expected target of integer class indices, got {target.dtype}")
    c = input.shape[1]
    if class_counts is None:
        valid = target != options["ignore_index"] if options["ignore_index"] is not None else None
        safe = target if valid is None else torch.where(valid, target, torch.zeros_like(target))
        ones = torch.ones_like(safe, dtype=torch.float32)
        if valid is not None:
            ones = ones * valid
        counts = torch.zeros(c, device=input.device).scatter_add(
            0, safe.reshape(-1).clamp(0, max(c - 1, 0)), ones.reshape(-1)
        )
    else:
        if not isinstance(class_counts, Tensor) or not class_counts.is_floating_point():
            raise InputTypeError(f"{fn}: expected class_counts to be a floating-point tensor")
        if tuple(class_counts.shape) != (c,):
            raise InputError(
                f"{fn}: expected class_counts of shape ({c},), one count per class of input "
                f"{shape_str(input)}, got {shape_str(class_counts)}"
            )
        counts = class_counts.detach()
    return softmax_loss(
        input,
        target,
        _seesaw_terms_from_logits,
        fn=fn,
        p=p,
        q=q,
        eps=eps,
        counts=counts,
        **options,
    )


def _seesaw_terms_from_logits(
    log_p: Tensor, target: Tensor, index: bool, **params: Any
) -> tuple[Tensor, None]:
    # log_softmax(z) with z = x + log S: the softmax of x shifts by a constant per sample, so
    # log_p (the upcast input's log_softmax) stands for x itself
    return _seesaw_terms(log_p, target, index, logits=log_p, **params)


_Declared = loss_module(seesaw_loss, "SeesawLoss", module=__name__)


class SeesawLoss(_Declared):  # type: ignore[valid-type,misc]
    """Module form of :func:`seesaw_loss` with the accumulated class counts.

    With ``num_classes`` set, the buffer ``class_counts`` (persistent, ``(num_classes,)``
    zeros at first) counts the training samples of each class: in training mode each call
    first adds the batch's labels to it (in place, no host synchronisation; ignored labels do
    not count), then computes the loss with it, as mmdetection's ``SeesawLoss``; in eval mode
    it is only read. Without ``num_classes`` the Module keeps no counts (each batch's own).

    Example:
        >>> import torch
        >>> crit = SeesawLoss(num_classes=3)
        >>> _ = crit(torch.zeros(4, 3), torch.tensor([1, 1, 2, 1]))
        >>> crit.class_counts
        tensor([0., 3., 1.])
    """

    class_counts: Tensor
    num_classes: int | None
    ignore_index: int | None

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        if self.num_classes is not None:
            self.register_buffer("class_counts", torch.zeros(self.num_classes))

    def forward(
        self,
        input: Tensor,
        target: Tensor,
        weight_map: Tensor | None = None,
        class_counts: Tensor | None = None,
    ) -> Tensor:
        if class_counts is None and self.num_classes is not None:
            if self.training:
                with torch.no_grad():
                    t = target.reshape(-1)
                    keep = torch.ones_like(t, dtype=self.class_counts.dtype)
                    if self.ignore_index is not None:
                        keep = keep * (t != self.ignore_index)
                        t = torch.where(t != self.ignore_index, t, torch.zeros_like(t))
                    t = t.clamp(0, self.num_classes - 1).to(self.class_counts.device)
                    self.class_counts.scatter_add_(0, t, keep.to(self.class_counts.device))
            class_counts = self.class_counts
        return seesaw_loss(
            input, target, weight_map=weight_map, class_counts=class_counts, **self.options()
        )


SeesawLoss.__init__.__signature__ = inspect.signature(_Declared.__init__)  # type: ignore[attr-defined]
SeesawLoss.forward.__signature__ = inspect.signature(_Declared.forward)  # type: ignore[attr-defined]
SeesawLoss.forward.__doc__ = _Declared.forward.__doc__
SeesawLoss.__init__.__doc__ = _Declared.__init__.__doc__
SeesawLoss.__doc__ = (
    (SeesawLoss.__doc__ or "").rstrip()
    + "\n\n    Args:\n"
    + "\n".join(
        "        " + line if line else line
        for prm in declaration(seesaw_loss).options
        for line in declaration(seesaw_loss).entries[prm.name].splitlines()
    )
    + "\n"
)


def _counts_to_function(module: Any) -> dict[str, Any]:
    return {"class_counts": module.class_counts}


def _seesaw_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """Logits ``(12, 5)``, class indices, long-tailed counts; the Module holds 5 classes."""
    gen = generator(seed)
    return Example(
        (normal(12, 5, dtype=dtype, gen=gen, scale=2.0), integers(12, high=5, gen=gen)),
        # q = 0: the compensation factor is detached (a constant of the loss, as mmdet's), so a
        # numerical gradient check of the whole loss would see its variation
        options={"num_classes": 5, "q": 0.0},
        module=ModuleCall(to_function=_counts_to_function),
    )


register_loss(
    "seesaw",
    family="classification",
    function=seesaw_loss,
    module=SeesawLoss,
    formula="-log(e^z_y / (e^z_y + sum_{j!=y} M_yj C_yj e^z_j))",
    reference="Wang et al., Seesaw Loss for Long-Tailed Instance Segmentation, CVPR 2021, "
    "arXiv:2008.10032",
    examples=_seesaw_examples,
)
