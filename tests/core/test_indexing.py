"""``_core.indexing``: ``per_class``, the values and gradient of advanced indexing
``table[index]`` (the operation it replaces on the hot paths, through ``index_select``); and
``flat_class_positions``, the flat positions that ``scatter_`` along the class dim would
write."""

from __future__ import annotations

import pytest
import torch

from visionloss._core.indexing import flat_class_positions, per_class


@pytest.mark.parametrize("shape", [(), (7,), (3, 5), (2, 4, 6)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_equals_advanced_indexing_values_and_gradient(shape, dtype):
    g = torch.Generator().manual_seed(0)
    table = torch.rand(5, generator=g, dtype=dtype, requires_grad=True)
    index = torch.randint(0, 5, shape, generator=g)
    ours = per_class(table, index)
    ref = table[index]
    assert ours.shape == ref.shape and torch.equal(ours, ref)
    out = torch.randn(shape, generator=g, dtype=dtype)
    (g_ours,) = torch.autograd.grad(ours, table, out)
    (g_ref,) = torch.autograd.grad(ref, table, out)
    torch.testing.assert_close(g_ours, g_ref, rtol=0, atol=1e-15)
    assert g_ref.abs().sum() > 0 or index.numel() == 0


def test_out_of_range_index_raises():
    with pytest.raises(IndexError):
        per_class(torch.ones(3), torch.tensor([0, 3]))


@pytest.mark.parametrize("shape", [(6, 1, 9), (4, 1, 1), (5,)])
def test_flat_class_positions_are_where_scatter_writes(shape):
    g = torch.Generator().manual_seed(1)
    c = 7
    index = torch.randint(0, c, shape, generator=g)
    full = (shape[0], c, shape[2]) if len(shape) == 3 else (shape[0], c)
    dim_index = index if len(shape) == 3 else index.unsqueeze(1)
    ref = torch.zeros(full).scatter_(1, dim_index, 1.0)
    ours = torch.zeros(full)
    ours.view(-1).index_fill_(0, flat_class_positions(index, c), 1.0)
    assert torch.equal(ours, ref) and ref.sum() == index.numel()
