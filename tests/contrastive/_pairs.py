"""Degenerate pairs of views shared by the two-view tests (CLIP, SigLIP, DCL)."""

from __future__ import annotations

import pytest
import torch

from ._data import vectors


def degenerate_pairs(*extra) -> list:
    """``pytest.param(q, k, id=...)``: a batch of one pair, collapsed embeddings (every row
    the same), zero vectors, and ``extra`` params."""
    ones = torch.ones(5, 4, dtype=torch.float64)
    return [
        pytest.param(vectors(1, 4), vectors(1, 4, seed=1), id="batch-of-1"),
        pytest.param(ones, ones.clone(), id="collapsed"),
        pytest.param(torch.zeros(3, 4, dtype=torch.float64), vectors(3, 4), id="zero-vectors"),
        *extra,
    ]
