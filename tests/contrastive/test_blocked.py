"""The bounded-memory torch path: when an anchors x keys logit matrix exceeds the block size, the
rows go in checkpointed blocks (recomputed in the backward pass). These tests shrink the block
size so that small inputs take that path, and check that every loss of the family gives the
same values and gradients (features and a learnable temperature) as the one-block path, which
the other test files check against the references, and that no block ever holds more logits
than the bound, in the forward or the recomputing backward pass."""

from __future__ import annotations

import pytest
import torch

import visionloss as vl
from visionloss.contrastive import _core

from ._data import forgery_mask, labels, vectors

BLOCK = 24  # logits per block: a few rows of the small problems below


def _cases():
    n, v, d = 7, 2, 5
    z = vectors(n, v, d, seed=1)
    y = labels(n, 3, seed=2)
    q, k = vectors(9, d, seed=3), vectors(9, d, seed=4)
    f, mask = vectors(2, 4, 4, 5, seed=5), forgery_mask(2, 4, 5, seed=6)
    return {
        "info_nce": (lambda t, a, b: vl.info_nce_loss(a, b, temperature=t), (q, k)),
        "info_nce_symmetric": (
            lambda t, a, b: vl.info_nce_loss(a, b, temperature=t, symmetric=True),
            (q, k),
        ),
        "nt_xent": (lambda t, a, b: vl.nt_xent_loss(a, b, temperature=t), (q, k)),
        "supcon_out": (lambda t, a: vl.supcon_loss(a, y, temperature=t), (z,)),
        "supcon_in": (lambda t, a: vl.supcon_loss(a, y, temperature=t, variant="in"), (z,)),
        "pixel_image_mean_exp": (
            lambda t, a: vl.pixel_info_nce_loss(a, mask, temperature=t, positive="mean_exp"),
            (f,),
        ),
        "pixel_image_both_none": (
            lambda t, a: vl.pixel_info_nce_loss(
                a, mask, temperature=t, anchors="both", reduction="none"
            ),
            (f,),
        ),
        "pixel_batch": (
            lambda t, a: vl.pixel_info_nce_loss(a, mask, temperature=t, scope="batch"),
            (f,),
        ),
        "pixel_batch_none": (
            lambda t, a: vl.pixel_info_nce_loss(
                a, mask, temperature=t, scope="batch", reduction="none", positive="mean_exp"
            ),
            (f,),
        ),
        "patch_contrast": (
            lambda t, a: vl.patch_contrast_loss(a, mask, patch_size=1, temperature=t),
            (f,),
        ),
    }


CASES = _cases()


def _run(case, block):
    fn, inputs = CASES[case]
    leaves = [x.clone().requires_grad_(True) for x in inputs]
    tau = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    with pytest.MonkeyPatch.context() as mp:
        if block is not None:
            mp.setattr(_core, "MAX_CHUNK_ELEMENTS", block)
            mp.setattr(_core, "BLOCK_ELEMENTS", block)
        value = fn(tau, *leaves)
        # an incoming gradient that is not all ones
        weight = torch.linspace(0.5, 1.5, value.numel(), dtype=value.dtype).view(value.shape)
        g = torch.autograd.grad((value * weight).sum(), [tau, *leaves])
    return value.detach(), g


@pytest.mark.parametrize("case", sorted(CASES))
def test_blocks_equal_one_block(case):
    value, g = _run(case, None)
    blocked, gb = _run(case, BLOCK)
    torch.testing.assert_close(blocked, value)
    for a, b in zip(gb, g):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("case", sorted(CASES))
def test_no_block_exceeds_the_bound(case, monkeypatch):
    sizes = []
    original = _core.similarity_logits

    def recording(anchors, keys, temperature, **kw):
        out = original(anchors, keys, temperature, **kw)
        one_row = out.numel() // out.shape[-2]  # a block holds at least one row
        sizes.append((out.numel(), max(BLOCK, one_row)))
        return out

    monkeypatch.setattr(_core, "similarity_logits", recording)
    _run(case, BLOCK)
    assert sizes, "the loss formed no logit matrix through the shared path"
    forward = len(sizes)
    assert all(size <= bound for size, bound in sizes), sizes
    assert forward > 1  # several blocks


def test_backward_recomputes_instead_of_keeping_blocks(monkeypatch):
    fn, (z,) = CASES["supcon_out"]
    calls = []
    original = _core.similarity_logits

    def counting(anchors, keys, temperature, **kw):
        calls.append(torch.is_grad_enabled())
        return original(anchors, keys, temperature, **kw)

    monkeypatch.setattr(_core, "similarity_logits", counting)
    monkeypatch.setattr(_core, "MAX_CHUNK_ELEMENTS", BLOCK)
    monkeypatch.setattr(_core, "BLOCK_ELEMENTS", BLOCK)
    leaf = z.clone().requires_grad_(True)
    value = fn(0.3, leaf)
    forward = len(calls)
    value.backward()
    assert forward > 1
    assert len(calls) == 2 * forward  # each block formed once more in the backward pass


def test_no_recompute_without_grad(monkeypatch):
    fn, (z,) = CASES["supcon_out"]
    expected = fn(0.3, z)
    monkeypatch.setattr(_core, "MAX_CHUNK_ELEMENTS", BLOCK)
    monkeypatch.setattr(_core, "BLOCK_ELEMENTS", BLOCK)
    with torch.no_grad():
        value = fn(0.3, z)
    assert not value.requires_grad
    torch.testing.assert_close(value, expected)


def test_gradcheck_through_blocks(monkeypatch):
    monkeypatch.setattr(_core, "MAX_CHUNK_ELEMENTS", BLOCK)
    monkeypatch.setattr(_core, "BLOCK_ELEMENTS", BLOCK)
    y = labels(6, 2, seed=8)
    z = vectors(6, 2, 3, seed=9).requires_grad_(True)
    tau = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, t: vl.supcon_loss(a, y, temperature=t), (z, tau))


def test_half_precision_blocks_accumulate_in_fp32(monkeypatch):
    fn, (z,) = CASES["supcon_out"]
    expected = fn(0.3, z.float())
    monkeypatch.setattr(_core, "MAX_CHUNK_ELEMENTS", BLOCK)
    monkeypatch.setattr(_core, "BLOCK_ELEMENTS", BLOCK)
    value = fn(0.3, z.to(torch.bfloat16))
    assert value.dtype == torch.float32
    torch.testing.assert_close(value, expected, rtol=4e-2, atol=1e-2)
