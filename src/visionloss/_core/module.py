"""Base class for the Module form of a functional loss."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from .reduction import check_reduction


class LossModule(nn.Module):
    """Module form of a functional loss: stores its options, tensors as buffers.

    A subclass sets ``function`` (the functional form) and calls
    ``super().__init__(**options)`` with its keyword options; ``forward(*args, **kwargs)``
    calls ``function(*args, **options, **kwargs)``. Tensor options become (non-persistent)
    buffers so they follow ``.to(device)``; nothing is mutated in ``forward``.
    """

    function: ClassVar[Callable[..., Tensor]]

    def __init__(self, **options: Any) -> None:
        super().__init__()
        if "reduction" in options:
            check_reduction(options["reduction"], type(self).__name__)
        self._option_names = tuple(options)
        for key, value in options.items():
            if isinstance(value, Tensor):
                self.register_buffer(key, value, persistent=False)
            else:
                setattr(self, key, value)

    def options(self) -> dict[str, Any]:
        """The keyword options passed to the functional form."""
        return {k: getattr(self, k) for k in self._option_names}

    def forward(self, *args: Any, **kwargs: Any) -> Tensor:
        return type(self).function(*args, **{**self.options(), **kwargs})

    def extra_repr(self) -> str:
        parts = []
        for key, value in self.options().items():
            if isinstance(value, Tensor):
                value = f"tensor(shape={tuple(value.shape)})"
            else:
                value = repr(value)
            parts.append(f"{key}={value}")
        return ", ".join(parts)


def as_tensor_option(value: Any, dtype: torch.dtype = torch.float32) -> Any:
    """Lists/tuples of numbers become tensors (so they can be buffers); other values pass."""
    if isinstance(value, (list, tuple)) and all(isinstance(v, (int, float)) for v in value):
        return torch.tensor(value, dtype=dtype)
    return value
