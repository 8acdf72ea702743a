"""Gradient density of the GHM losses (Li et al., AAAI 2019): the histogram of gradient norms
``g`` in ``bins`` equal bins of [0, 1] and the harmonising weights that divide each element by
its bin's population, shared by GHM-C (classification) and GHM-R (boxes).

Everything is tensor arithmetic (``scatter_add`` and ``gather``): no host synchronisation, no
loop over the bins.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any

import torch
from torch import Tensor

from ..errors import InputError, InputTypeError, OptionError, OptionTypeError
from . import numerics
from .checks import check_broadcastable, check_tensor, shape_str
from .declare import DocParts, declaration, loss_module
from .options import PER_CALL, Check, Number

__all__ = ["density_weights", "running_counts", "check_counts", "ghm_weights", "valid_mask"]


def _bins(g: Tensor, bins: int) -> Tensor:
    """Bin of each ``g`` in [0, 1]: ``floor(g * bins)``, the top edge included in the last bin
    (mmdetection's ``edges[-1] += 1e-6``; GHM-R's edge ``1e3`` holds every ``g < 1`` alike).
    A NaN ``g`` (a NaN input or target, whose loss is NaN anyway) goes to bin 0."""
    g = torch.where(torch.isnan(g), torch.zeros_like(g), g)
    return (g * bins).floor().clamp(0, bins - 1).long()


def batch_counts(g: Tensor, valid: Tensor, bins: int) -> tuple[Tensor, Tensor]:
    """``(index, counts)``: each element's bin and the number of valid elements per bin."""
    index = _bins(g.detach(), bins)
    counts = torch.zeros(bins, dtype=g.dtype, device=g.device)
    counts = counts.scatter_add(0, index.reshape(-1), valid.reshape(-1).to(g.dtype))
    return index, counts


def running_counts(counts: Tensor, accumulated: Tensor | None, momentum: float) -> Tensor:
    """The bin populations the weights divide by: the batch's ``counts`` when ``momentum`` is
    0 or nothing is accumulated, else ``momentum * accumulated + (1 - momentum) * counts`` in
    the bins this batch fills (the others keep ``accumulated``), mmdetection's ``acc_sum``
    update."""
    if momentum == 0 or accumulated is None:
        return counts
    acc = accumulated.to(counts.dtype)
    return torch.where(counts > 0, momentum * acc + (1 - momentum) * counts, acc)


def density_weights(
    index: Tensor, counts: Tensor, density: Tensor, valid: Tensor, total: Tensor
) -> Tensor:
    """``total / (n * density[bin])`` for the valid elements (0 elsewhere), ``n`` the number of
    bins this batch fills (``counts > 0``): each filled bin gets the same total weight. Detached
    (the weights are constants, as in the paper)."""
    n = (counts > 0).sum().to(counts.dtype)
    per_bin = numerics.div(total.to(counts.dtype).expand_as(density), n * density)
    w = per_bin.gather(0, index.reshape(-1)).reshape(index.shape)
    return torch.where(valid, w, torch.zeros_like(w)).detach()


def valid_mask(mask: Tensor | None, shape: torch.Size, fn: str, device: torch.device) -> Tensor:
    """The elements to use: ``mask != 0`` (checked, broadcast to ``shape``), or all of them."""
    if mask is None:
        return torch.ones(shape, dtype=torch.bool, device=device)
    check_tensor(mask, "mask", fn)
    check_broadcastable(mask, shape, "mask", fn)
    return torch.broadcast_to(mask != 0, shape)


def ghm_weights(
    g: Tensor, valid: Tensor, bins: int, bin_counts: Tensor | None, momentum: float, fn: str
) -> Tensor:
    """The harmonising weights of the gradient norms ``g`` (:func:`density_weights`, the
    valid elements' total shared by the filled bins), the densities from this batch's
    histogram or, with ``momentum``, the running ones (``bin_counts`` checked)."""
    index, counts = batch_counts(g, valid, bins)
    if bin_counts is not None:
        bin_counts = check_counts(bin_counts, bins, fn)
    density = running_counts(counts, bin_counts, momentum)
    total = valid.sum().to(g.dtype).clamp_min(1)
    return density_weights(index, counts, density, valid, total)


def check_counts(counts: object, bins: int, fn: str) -> Tensor:
    """Accumulated bin counts: a floating tensor of shape ``(bins,)``."""
    if not isinstance(counts, Tensor) or not counts.is_floating_point():
        raise InputTypeError(
            f"{fn}: expected bin_counts to be a floating-point tensor, got "
            f"{getattr(counts, 'dtype', type(counts).__name__)}"
        )
    if tuple(counts.shape) != (bins,):
        raise InputError(
            f"{fn}: expected bin_counts of shape ({bins},), one count per bin, got "
            f"{shape_str(counts)}"
        )
    return counts


# ------------------------------------------------------------------ options and docs


class _BinCount(Check):
    """An int ``>= 1`` (``bool`` is not an int here)."""

    def __call__(self, value: Any, name: str, fn: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise OptionTypeError(f"{fn}: expected {name} to be an int, got {value!r}")
        if value < 1:
            raise OptionError(f"{fn}: expected {name} >= 1, got {value!r}")
        return value


Bins = Annotated[int, _BinCount()]
Momentum = Annotated[float, Number(0, 1, hi_open=True)]
Counts = Annotated[Tensor | None, PER_CALL]
Mask = Annotated[Tensor | None, PER_CALL]

GHM_DOCS = DocParts(
    args={
        "bins": """number of equal bins of the gradient norm in [0, 1] (default 10, the
            paper's).""",
        "momentum": """weight in [0, 1) of the accumulated counts in the running bin
            populations (default 0: each batch's own histogram).""",
        "bin_counts": """``(bins,)`` bin populations accumulated over the previous batches
            (the Module's buffer of the same name); used with ``momentum > 0``: the bins this
            batch fills count ``momentum * bin_counts + (1 - momentum) * batch_counts``.
            ``None``: this batch's counts.""",
        "reduction": """``"mean"`` (the weighted sum over the number of valid elements,
            mmdetection's ``avg_factor``), ``"sum"`` or ``"none"``.""",
    },
    paragraphs={
        "module": """The Module keeps ``bin_counts`` as a persistent buffer (zeros at first):
    in training mode each call computes the loss with the buffer as it is and then stores the
    updated counts in it (in place, no host synchronisation); in eval mode it only reads it.""",
    },
)


def module_doc(doc: str, declaration: Any) -> str:
    """A hand-written GHM Module's docstring with the declared options' entries appended."""
    lines = [
        "        " + line if line else line
        for p in declaration.options
        for line in declaration.entries[p.name].splitlines()
    ]
    return doc.rstrip() + "\n\n    Args:\n" + "\n".join(lines) + "\n"


def counts_to_function(module: Any) -> dict[str, Any]:
    """The function argument a GHM Module's state stands for (``ModuleCall.to_function``)."""
    return {"bin_counts": module.bin_counts}


GradientNorm = Callable[[Tensor, Tensor, "Tensor | None", Any], "tuple[Tensor, Tensor]"]


def _module_intro(function: str) -> str:
    return f"""Module form of :func:`{function}` with the running bin populations.

    The buffer ``bin_counts`` (persistent, ``(bins,)`` zeros at first) is what the function
    takes as ``bin_counts``: in training mode each call computes the loss with it and then
    stores ``momentum * bin_counts + (1 - momentum) * batch_counts`` in the bins the batch
    fills (mmdetection's ``acc_sum``); in eval mode it is only read. With ``momentum=0`` it is
    never used.

"""


def ghm_module(
    function: Callable[..., Tensor], name: str, module: str, example: str, norm: GradientNorm
) -> type:
    """The Module of a GHM loss: the declared Module of ``function`` plus the persistent buffer
    ``bin_counts``, passed to the function as ``bin_counts`` and, in training mode with
    ``momentum > 0``, updated after each call from ``norm(a, b, mask, module) -> (g, valid)``
    (the gradient norms and the valid elements of the batch). Its docstring: the shared
    description of the buffer, then ``example`` (its ``Example:`` section, the lines after the
    first indented as in a class docstring), then the options."""
    declared = loss_module(function, name, module=module)
    doc = _module_intro(function.__name__) + "    " + example

    def __init__(self: Any, **options: Any) -> None:
        declared.__init__(self, **options)
        self.register_buffer("bin_counts", torch.zeros(self.bins))

    def forward(
        self: Any, a: Tensor, b: Tensor, mask: Tensor | None = None,
        bin_counts: Tensor | None = None,
    ) -> Tensor:  # fmt: skip
        counts = self.bin_counts if bin_counts is None else bin_counts
        loss = function(a, b, mask=mask, bin_counts=counts, **self.options())
        if self.training and self.momentum > 0 and bin_counts is None:
            with torch.no_grad():
                g, valid = norm(a.detach(), b.detach(), mask, self)
                _, batch = batch_counts(g, valid, self.bins)
                batch = batch.to(self.bin_counts.dtype)
                self.bin_counts.copy_(running_counts(batch, self.bin_counts, self.momentum))
        return loss

    __init__.__signature__ = inspect.signature(declared.__init__)  # type: ignore[attr-defined]
    __init__.__doc__ = declared.__init__.__doc__
    forward.__signature__ = inspect.signature(declared.forward)  # type: ignore[attr-defined]
    forward.__doc__ = declared.forward.__doc__
    namespace = {
        "__init__": __init__,
        "forward": forward,
        "__doc__": module_doc(doc, declaration(function)),
        "__module__": module,
        "__qualname__": name,
    }
    cls = type(name, (declared,), namespace)
    for attr in ("__init__", "forward"):
        getattr(cls, attr).__qualname__ = f"{name}.{attr}"
        getattr(cls, attr).__module__ = module  # documentation tools resolve methods by module
    return cls
