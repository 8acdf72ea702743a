"""Cross-batch memory (Wang et al., XBM, CVPR 2020): past embeddings as extra keys."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from .._core.checks import check_tensor, shape_str
from ..errors import InputError, OptionError
from ._common import check_embeddings_labels
from ._pairs import Memory, memory_keys


class CrossBatchMemory(nn.Module):
    """A queue of the last ``memory_size`` embeddings and labels that a pair loss uses as its
    keys (Wang et al., *Cross-Batch Memory for Embedding Learning*, CVPR 2020).

    ``forward(embeddings, labels)`` first enqueues the batch (detached: the memory holds no
    graph, so it is O(memory_size x D) whatever the number of steps), then calls
    ``loss(embeddings, labels)`` with the batch as the anchors and every filled slot of the
    memory (this batch included, each anchor's own slot left out) as the positives and
    negatives. Gradients reach the current batch through the anchors only, as in the paper
    and pytorch-metric-learning. The losses that take the memory's keys are
    :func:`circle_loss`, :func:`multi_similarity_loss` and
    ``lifted_structure_loss(generalized=True)`` (functions or Modules); any other raises an
    ``InputError``. The memory is per process (not gathered).

    The state is the buffers ``embeddings`` ``(memory_size, D)``, ``labels``, ``position``
    (the next slot) and ``filled`` (whether the queue has wrapped), so ``state_dict`` and
    ``load_state_dict`` resume it exactly; ``reset()`` empties it.

    pytorch-metric-learning ``CrossBatchMemory(loss, embedding_size, memory_size)``: the same
    queue and the same pairs (its ``enqueue_mask`` and ``miner`` are not offered).

    Args:
        loss: the pair loss, ``loss(embeddings, labels) -> Tensor`` (a Module is registered as
            a submodule).
        embedding_size: ``D``.
        memory_size: the number of slots (default 1024); a batch may not exceed it.

    Example:
        >>> import torch
        >>> from visionloss.metric import CircleLoss
        >>> xbm = CrossBatchMemory(CircleLoss(gamma=16.0), embedding_size=8, memory_size=64)
        >>> value = xbm(torch.randn(16, 8), torch.arange(16) % 4)
        >>> int(xbm.position), bool(xbm.filled)
        (16, False)
    """

    embeddings: Tensor
    labels: Tensor
    position: Tensor
    filled: Tensor

    def __init__(
        self, loss: Callable[[Tensor, Tensor], Tensor], embedding_size: int, memory_size: int = 1024
    ) -> None:
        super().__init__()
        fn = "CrossBatchMemory"
        for name, value in (("embedding_size", embedding_size), ("memory_size", memory_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise OptionError(f"{fn}: expected {name} to be a positive int, got {value!r}")
        if not callable(loss):
            raise OptionError(f"{fn}: expected loss to be callable, got {type(loss).__name__}")
        self.loss = loss
        self.embedding_size, self.memory_size = embedding_size, memory_size
        self.register_buffer("embeddings", torch.zeros(memory_size, embedding_size))
        self.register_buffer("labels", torch.zeros(memory_size, dtype=torch.long))
        self.register_buffer("position", torch.zeros((), dtype=torch.long))
        self.register_buffer("filled", torch.zeros((), dtype=torch.bool))

    def reset(self) -> None:
        """Empty the memory."""
        self.embeddings.zero_()
        self.labels.zero_()
        self.position.zero_()
        self.filled.zero_()

    @torch.no_grad()
    def _enqueue(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        n = embeddings.shape[0]
        start = int(self.position)
        slots = (start + torch.arange(n, device=labels.device)) % self.memory_size
        self.embeddings[slots] = embeddings.detach().to(self.embeddings.dtype)
        self.labels[slots] = labels.to(self.labels.device)
        end = (start + n) % self.memory_size
        if n > 0 and end <= start:
            self.filled.fill_(True)
        self.position.fill_(end)
        return slots

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        fn = "CrossBatchMemory"
        check_embeddings_labels(embeddings, labels, fn)
        x = check_tensor(embeddings, "embeddings", fn)
        if x.shape[1] != self.embedding_size or x.shape[0] > self.memory_size:
            raise InputError(
                f"{fn}: expected embeddings of shape (B <= {self.memory_size}, "
                f"{self.embedding_size}), got {shape_str(x)}"
            )
        slots = self._enqueue(embeddings, labels)
        used = self.memory_size if bool(self.filled) else int(self.position)
        memory = Memory(self.embeddings[:used], self.labels[:used], slots, [])
        with memory_keys(memory):
            value = self.loss(embeddings, labels)
        if not memory.used:
            name = getattr(self.loss, "__name__", type(self.loss).__name__)
            raise InputError(
                f"{fn}: the loss {name} does not take the memory's keys; use circle, "
                f"multi-similarity or generalized lifted structure"
            )
        return value

    def extra_repr(self) -> str:
        return f"embedding_size={self.embedding_size}, memory_size={self.memory_size}"
