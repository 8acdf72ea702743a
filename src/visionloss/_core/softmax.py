"""torch's (log-)softmax written into a tensor the caller gives (private)."""

from __future__ import annotations

import torch
from torch import Tensor


def softmax_into(x: Tensor, out: Tensor, *, log: bool = False) -> Tensor:
    """torch's ``softmax`` (``log_softmax`` with ``log``) of ``x`` over dim 1, written into
    ``out`` (``x``'s shape and dtype) instead of a new tensor. ``out`` may be ``x`` itself on
    a CPU, whose kernels read every value of a softmax before writing it (checked against the
    out-of-place result in the tests of its callers); bf16 ``x`` is computed in float32 and
    each result rounded once."""
    op = torch.ops.aten._log_softmax.out if log else torch.ops.aten._softmax.out
    op(x, 1, False, out=out)
    return out
