"""Lookups of per-class values by class index (shared by the families)."""

from __future__ import annotations

from torch import Tensor

__all__ = ["per_class"]


def per_class(table: Tensor, index: Tensor) -> Tensor:
    """``table[index]`` for a 1-D ``table`` (a value per class) and an integer ``index`` of any
    shape, through ``index_select``: the same values and gradient as advanced indexing, about
    8x faster on the CPU (32k class indices: 11 against 91 us, one thread), where
    ``aten::index`` was the slowest operation of a Dice + CE call at ``(8, 3, 64, 64)``."""
    return table.index_select(0, index.reshape(-1)).view(index.shape)
