"""A MoCo-style queue of detached keys, the negatives of :func:`info_nce_loss`."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from .. import distributed as vdist
from .._core.checks import check_tensor, shape_str
from ..errors import InputError, OptionError


class MoCoQueue(nn.Module):
    """A fixed-size first-in first-out buffer of keys (MoCo's dictionary).

    ``enqueue(keys)`` appends detached keys, overwriting the oldest once ``size`` are held;
    ``dequeue(n)`` drops the ``n`` oldest; ``negatives()`` returns the held keys (oldest first,
    shape ``(len(queue), dim)``), ready as the shared ``negative_keys`` of
    :func:`info_nce_loss`. The queue starts empty (MoCo starts from random unit vectors:
    ``queue.enqueue(F.normalize(torch.randn(size, dim), dim=1))`` does that); an empty queue
    gives ``(0, dim)`` negatives, for which InfoNCE is 0.

    Keys are stored detached (no gradient flows into the queue) in the buffer's dtype, and
    ``enqueue`` writes out of place, so negatives taken before an ``enqueue`` stay valid for the
    backward pass (calling ``enqueue`` before ``loss.backward()`` is fine). The buffer and its
    pointers are in ``state_dict``. ``enqueue(keys, gather=True)`` first gathers the keys of
    every process (MoCo's ``concat_all_gather``), so every process holds the same queue.

    Args:
        size: the number of keys held (MoCo: 65536).
        dim: the key size.
        dtype: the buffer's dtype (default float32).

    Example:
        >>> import torch
        >>> queue = MoCoQueue(size=3, dim=2)
        >>> queue.enqueue(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
        >>> queue.enqueue(torch.tensor([[2.0, 0.0], [0.0, 2.0]]))  # overwrites the oldest
        >>> queue.negatives()
        tensor([[0., 1.],
                [2., 0.],
                [0., 2.]])
        >>> len(queue), queue.dequeue(2), len(queue)
        (3, None, 1)
    """

    queue: Tensor

    def __init__(self, size: int, dim: int, *, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        for name, value in (("size", size), ("dim", dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise OptionError(f"MoCoQueue: expected {name} to be a positive int, got {value!r}")
        self.size, self.dim = size, dim
        self.register_buffer("queue", torch.zeros(size, dim, dtype=dtype))
        self._ptr = 0  # next row to write
        self._count = 0  # rows held

    def __len__(self) -> int:
        return self._count

    @torch.no_grad()
    def enqueue(self, keys: Tensor, *, gather: bool = False) -> None:
        """Append ``keys`` ``(n, dim)`` (detached); with ``n > size`` only the last ``size``
        are kept. ``gather=True`` appends every process's keys, in rank order."""
        check_tensor(keys, "keys", "MoCoQueue.enqueue", floating=True, ndim=2)
        if keys.shape[1] != self.dim:
            raise InputError(
                f"MoCoQueue.enqueue: expected keys of shape (n, {self.dim}), got {shape_str(keys)}"
            )
        keys = keys.detach()
        if gather:
            keys = vdist.all_gather_no_grad(keys)
        keys = keys[-self.size :].to(device=self.queue.device, dtype=self.queue.dtype)
        n = keys.shape[0]
        if n == 0:
            return
        rows = (self._ptr + torch.arange(n, device=self.queue.device)) % self.size
        self.queue = self.queue.index_copy(0, rows, keys)  # out of place: see the class doc
        self._ptr = (self._ptr + n) % self.size
        self._count = min(self._count + n, self.size)

    def dequeue(self, n: int) -> None:
        """Drop the ``n`` oldest keys (all of them when ``n >= len(self)``)."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise OptionError(f"MoCoQueue.dequeue: expected n to be an int >= 0, got {n!r}")
        self._count = max(self._count - n, 0)

    def clear(self) -> None:
        """Drop every key."""
        self._count = 0

    def negatives(self) -> Tensor:
        """The held keys, oldest first: ``(len(self), dim)``, detached."""
        start = (self._ptr - self._count) % self.size
        if self._count == self.size and start == 0:
            return self.queue
        rows = (start + torch.arange(self._count, device=self.queue.device)) % self.size
        return self.queue.index_select(0, rows)

    def forward(self) -> Tensor:
        """Same as :meth:`negatives`."""
        return self.negatives()

    def get_extra_state(self) -> Any:
        return {"ptr": self._ptr, "count": self._count}

    def set_extra_state(self, state: Any) -> None:
        self._ptr, self._count = int(state["ptr"]), int(state["count"])

    def extra_repr(self) -> str:
        return f"size={self.size}, dim={self.dim}, held={self._count}"
