"""DINO: self-distillation with a centred, sharpened momentum teacher, across crops."""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Integral
from typing import Annotated, Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import distributed as vdist
from .._core.checks import check_tensor, shape_str
from .._core.declare import loss_function, loss_module
from .._core.dtypes import compute_dtype, upcast
from .._core.examples import Example, ModuleCall, generator, normal
from .._core.module import LossModule
from .._core.options import PER_CALL, Check, Fraction, IndexOption, Number, Reduction
from .._core.reduction import reduce_loss
from .._core.registry import register_loss
from ..errors import InputError, OptionError, OptionTypeError
from ._common import SSL_DOCS, BatchGather

Temperature = Annotated[float, Number(0, lo_open=True)]


class _Epochs(Check):
    """A number of epochs: an int >= 0."""

    def __call__(self, value: Any, name: str, fn: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, Integral):
            raise OptionTypeError(f"{fn}: expected {name} to be an int, got {value!r}")
        if value < 0:
            raise OptionError(f"{fn}: expected {name} >= 0, got {value!r}")
        return int(value)


Epochs = Annotated[int, _Epochs()]
Center = Annotated[Tensor | None, PER_CALL]
Epoch = Annotated[int | None, IndexOption(), PER_CALL]


def teacher_temperature_at(
    epoch: int | None, teacher: float, warmup: float, warmup_epochs: int
) -> float:
    """DINO's schedule: linear from ``warmup`` at epoch 0 to ``teacher`` at epoch
    ``warmup_epochs - 1`` (``np.linspace(warmup, teacher, warmup_epochs)``), then
    ``teacher``; ``teacher`` when ``epoch`` is None."""
    if epoch is None or epoch >= warmup_epochs:
        return teacher
    if warmup_epochs == 1:
        return warmup
    return warmup + (teacher - warmup) * epoch / (warmup_epochs - 1)


def _check(student: object, teacher: object, center: object, fn: str) -> tuple[Tensor, Tensor]:
    s = check_tensor(student, "student", fn, floating=True, ndim=3)
    t = check_tensor(teacher, "teacher", fn, floating=True, ndim=3)
    if t.shape[1:] != s.shape[1:] or t.shape[0] > s.shape[0] or s.shape[2] == 0:
        raise InputError(
            f"{fn}: expected teacher of shape (V_t, {s.shape[1]}, {s.shape[2]}) with V_t <= "
            f"{s.shape[0]} student views and K > 0, matching student {shape_str(s)}, got "
            f"{shape_str(t)}"
        )
    if s.shape[0] * t.shape[0] - t.shape[0] == 0:
        raise InputError(
            f"{fn}: expected at least one pair of different views, got student {shape_str(s)} "
            f"and teacher {shape_str(t)}"
        )
    if center is not None:
        c = check_tensor(center, "center", fn, floating=True)
        if c.numel() not in (1, s.shape[2]):
            raise InputError(
                f"{fn}: expected center of {s.shape[2]} entries (or one), got {shape_str(c)}"
            )
    return s, t


@loss_function(SSL_DOCS)
def dino_loss(
    student: Tensor,
    teacher: Tensor,
    *,
    center: Center = None,
    epoch: Epoch = None,
    student_temperature: Temperature = 0.1,
    teacher_temperature: Temperature = 0.04,
    warmup_teacher_temperature: Temperature = 0.04,
    warmup_epochs: Epochs = 0,
    center_momentum: Fraction = 0.9,
    gather: BatchGather = "none",
    reduction: Reduction = "mean",
) -> Tensor:
    r"""DINO: the student's crops predict the centred, sharpened teacher's other crops.

    .. math::
        \ell_n = \frac{1}{|P|} \sum_{(i, j) \in P} -\sum_k
            \operatorname{softmax}\Big(\frac{t_{i,n} - c}{\tau_t}\Big)_k
            \log \operatorname{softmax}\Big(\frac{s_{j,n}}{\tau_s}\Big)_k,
        \qquad P = \{(i, j) : i < V_t,\ j < V_s,\ i \ne j\}

    ``student`` holds the student's outputs for ``V_s`` crops (the ``V_t`` global crops
    first, then the local crops of multi-crop), ``teacher`` the teacher's outputs for the
    ``V_t`` global crops (teacher crop ``i`` is student crop ``i``): every teacher crop
    teaches every student crop but the same one. The teacher is a stop-gradient target
    (detached here). Centring (subtracting ``center``, an EMA of the teacher's batch means)
    and sharpening (``tau_t < tau_s``) together avoid collapse. The teacher temperature
    follows the paper's warm-up when ``epoch`` is given: linear from
    ``warmup_teacher_temperature`` to ``teacher_temperature`` over the first
    ``warmup_epochs`` epochs (lightly's ``DINOLoss(epoch=...)``).

    :class:`DINOLoss` keeps ``center`` as a buffer (a 0-dim zero until its first training
    step) and after each training ``forward`` updates it as
    ``c <- m c + (1 - m) mean(teacher)`` with ``m = center_momentum``, the mean over every
    teacher row of the global batch (sums and counts all-reduced under torch.distributed:
    every process keeps the same center, the single-process one on the concatenated batch);
    the function itself only reads ``center``.

    Args:
        student: ``(V_s, N, K)`` student outputs (logits over ``K`` prototypes) of ``V_s``
            crops, the ``V_t`` global crops first; floating point.
        teacher: ``(V_t, N, K)`` teacher outputs of the global crops, ``V_t <= V_s``.
        center: ``(K,)`` (or one element) subtracted from the teacher outputs; None: 0.
        epoch: the current epoch for the teacher temperature warm-up; None: no warm-up.
        student_temperature: ``tau_s > 0`` (default 0.1).
        teacher_temperature: ``tau_t > 0`` after the warm-up (default 0.04).
        warmup_teacher_temperature: ``tau_t`` at epoch 0 (default 0.04).
        warmup_epochs: epochs of the linear warm-up (default 0: none).
        center_momentum: ``m`` of :class:`DINOLoss`'s center update, in [0, 1] (default 0.9).
        gather: ``"none"`` (default); ``"global"`` or ``"local"``: the mean runs over every
            process's samples (the value of the concatenated batch, DDP-exact gradients).

    Shape:
        output: scalar, or ``(N,)`` per sample for ``"none"``.

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Caron et al., *Emerging Properties in Self-Supervised Vision Transformers*, ICCV 2021,
        arXiv:2104.14294 (Eq. 2-4, Algorithm 1).

    Example:
        >>> import torch
        >>> student = torch.zeros(2, 1, 4)  # uniform student: cross entropy log 4
        >>> teacher = torch.randn(2, 1, 4)
        >>> dino_loss(student, teacher)
        tensor(1.3863)
    """
    fn = "dino_loss"
    s, t = _check(student, teacher, center, fn)
    dtype = compute_dtype(s, t)
    tau_t = teacher_temperature_at(
        epoch, teacher_temperature, warmup_teacher_temperature, warmup_epochs
    )
    t = upcast(t.detach(), dtype)
    if center is not None:
        t = t - upcast(center.detach(), dtype).reshape(-1)
    targets = F.softmax(t / tau_t, dim=-1)  # (V_t, N, K)
    log_p = F.log_softmax(upcast(s, dtype) / student_temperature, dim=-1)  # (V_s, N, K)
    cross = -torch.einsum("tnk,snk->tsn", targets, log_p)  # (V_t, V_s, N)
    v_t = t.shape[0]
    same = torch.eye(v_t, s.shape[0], dtype=torch.bool, device=s.device)
    cross = torch.where(same[:, :, None], cross.new_zeros(()), cross)
    per_sample = cross.sum((0, 1)) / (v_t * s.shape[0] - v_t)
    return reduce_loss(per_sample, reduction, fn=fn, gather="none" if gather == "none" else "local")


@torch.no_grad()
def dino_center(center: Tensor, teacher: Tensor, momentum: float) -> Tensor:
    """DINO's center update ``m c + (1 - m) mean(teacher)``, the mean over the views and
    samples of ``teacher (V_t, N, K)`` of every process (sums all-reduced); a new tensor."""
    t = teacher.detach().to(torch.float64 if center.dtype == torch.float64 else torch.float32)
    stats = torch.cat([t.sum((0, 1)), t.new_tensor([float(t.shape[0] * t.shape[1])])])
    stats = vdist.all_reduce_sum(stats)
    batch = stats[:-1] / stats[-1].clamp_min(1.0)
    return (momentum * center.to(batch.dtype) + (1.0 - momentum) * batch).to(center.dtype)


class _CenterBuffer(LossModule):
    """Holds DINO's ``center`` buffer (0-dim until the first update gives it ``K`` entries;
    a state dict of either shape loads)."""

    center: Tensor

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.register_buffer("center", torch.zeros(()))

    def _load_from_state_dict(
        self, state_dict: Mapping[str, Any], prefix: str, *args: Any, **kwargs: Any
    ) -> None:
        incoming = state_dict.get(prefix + "center")
        if isinstance(incoming, Tensor) and incoming.shape != self.center.shape:
            self.center = torch.zeros_like(incoming, device=self.center.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class DINOLoss(loss_module(dino_loss, "DINOLoss", base=_CenterBuffer)):  # type: ignore[misc]
    """DINO loss with its teacher center (Caron et al. 2021); see :func:`dino_loss`.

    The center is the buffer ``center`` (saved in the ``state_dict``): zero at first, then
    after every ``forward`` in training mode ``c <- m c + (1 - m)`` times the teacher's mean
    over the global batch (all-reduced across processes). ``eval()`` freezes it. Passing
    ``center=`` to ``forward`` uses that center instead and updates nothing.

    Args:
        student_temperature: ``tau_s > 0`` (default 0.1).
        teacher_temperature: ``tau_t > 0`` after the warm-up (default 0.04).
        warmup_teacher_temperature: ``tau_t`` at epoch 0 (default 0.04).
        warmup_epochs: epochs of the linear warm-up (default 0).
        center_momentum: ``m`` of the center update (default 0.9).
        gather: ``"none"``, ``"global"`` or ``"local"`` (the mean over every process's
            samples); the center always uses the global batch.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Example:
        >>> import torch
        >>> loss = DINOLoss(warmup_teacher_temperature=0.04, teacher_temperature=0.07,
        ...                 warmup_epochs=30)
        >>> student, teacher = torch.randn(6, 4, 16), torch.randn(2, 4, 16)  # 2 global crops
        >>> value = loss(student, teacher, epoch=3)
        >>> tuple(loss.center.shape)  # updated from the teacher's batch mean
        (16,)
    """

    center: Tensor

    def forward(
        self,
        student: Tensor,
        teacher: Tensor,
        *,
        center: Center = None,
        epoch: Epoch = None,
    ) -> Tensor:
        """Compute :func:`dino_loss` with this Module's center, then update it (training).

        Args:
            student: ``(V_s, N, K)`` student outputs, the global crops first.
            teacher: ``(V_t, N, K)`` teacher outputs of the global crops.
            center: a center to use instead of the buffer (no update then).
            epoch: the current epoch, for the teacher temperature warm-up.

        Returns:
            the loss (see :func:`dino_loss`).
        """
        own = center is None
        loss = dino_loss(
            student, teacher, center=self.center if own else center, epoch=epoch, **self.options()
        )
        if self.training and own:
            self.center = dino_center(self.center, teacher, self.center_momentum)
        return loss


def _module_center(module: Any) -> dict[str, Any]:
    return {"center": module.center}


def dino_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """Four crops (two global) of six samples over eight prototypes, a center of eight."""
    gen = generator(seed)
    return Example(
        (normal(4, 6, 8, dtype=dtype, gen=gen), normal(2, 6, 8, dtype=dtype, gen=gen)),
        {"center": normal(8, dtype=dtype, gen=gen, scale=0.1)},
        module=ModuleCall(to_function=_module_center),
    )


register_loss(
    "dino",
    family="self_supervised",
    function=dino_loss,
    module=DINOLoss,
    formula="1/|P| sum_{i != j} H(softmax((t_i - c)/tau_t), softmax(s_j/tau_s))",
    reference="Caron et al., DINO, ICCV 2021, arXiv:2104.14294",
    examples=dino_examples,
)
