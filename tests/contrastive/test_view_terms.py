"""The label-free multi-view path of ``_core.multiview_terms`` (NT-Xent, multi-view InfoNCE):
``view_terms`` (a cross entropy per anchor, no mask of the logits' size) equals the generic
label path (``label_terms`` with positives by sample id) in value and gradient, for two and
more views, in one block and in checkpointed row blocks, and equals plain matmul + cross
entropy."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import visionloss as vl
from visionloss.contrastive import _core


def _generic(x, temperature, views):
    rows = torch.arange(x.shape[0])
    labels = rows // views
    return _core.label_terms(x, x, temperature, labels, labels, mode="out", anchor_rows=rows)


@pytest.mark.parametrize("views", [2, 3])
@pytest.mark.parametrize("blocks", [False, True])
def test_equals_the_label_path(views, blocks, monkeypatch):
    if blocks:
        monkeypatch.setattr(_core, "MAX_CHUNK_ELEMENTS", 50)
        monkeypatch.setattr(_core, "BLOCK_ELEMENTS", 40)
    gen = torch.Generator().manual_seed(0)
    base = F.normalize(torch.randn(6 * views, 5, generator=gen, dtype=torch.float64), dim=1)
    a = base.clone().requires_grad_(True)
    b = base.clone().requires_grad_(True)
    rows = torch.arange(6 * views)
    fast = _core.view_terms(a, a, 0.3, rows, views)
    slow = _generic(b, 0.3, views)
    assert slow.valid.all()
    torch.testing.assert_close(fast, slow.loss)
    w = torch.rand(6 * views, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(
        torch.autograd.grad((fast * w).sum(), a)[0],
        torch.autograd.grad((slow.loss * w).sum(), b)[0],
    )


def test_nt_xent_equals_matmul_cross_entropy_and_gradcheck():
    gen = torch.Generator().manual_seed(1)
    z1 = torch.randn(7, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    z2 = torch.randn(7, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = (z @ z.T / 0.5).fill_diagonal_(float("-inf"))
    ref = F.cross_entropy(logits, torch.cat([torch.arange(7, 14), torch.arange(7)]))
    torch.testing.assert_close(vl.nt_xent_loss(z1, z2, temperature=0.5), ref)
    assert torch.autograd.gradcheck(lambda u, v: vl.nt_xent_loss(u, v, temperature=0.5), (z1, z2))


def test_one_sample_gives_zero_with_finite_gradient():
    z1 = torch.randn(1, 4, requires_grad=True)
    z2 = torch.randn(1, 4, requires_grad=True)
    loss = vl.nt_xent_loss(z1, z2)
    assert loss == 0
    assert all(torch.isfinite(g).all() for g in torch.autograd.grad(loss, (z1, z2)))
