"""MoCoQueue: first-in first-out ring semantics, detached keys, out-of-place writes (negatives
taken before an enqueue survive the backward), state_dict round trip, and use as the shared
negatives of info_nce_loss (MoCo's training step)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import visionloss as vl

from ._data import vectors


def _keys(start, n, dim=2):
    return torch.arange(start, start + n, dtype=torch.float32)[:, None].repeat(1, dim)


def test_fills_then_overwrites_the_oldest():
    q = vl.MoCoQueue(size=4, dim=2)
    assert len(q) == 0 and q.negatives().shape == (0, 2)
    q.enqueue(_keys(0, 3))
    torch.testing.assert_close(q.negatives(), _keys(0, 3))
    q.enqueue(_keys(3, 3))  # 0 and 1 fall out
    torch.testing.assert_close(q.negatives(), _keys(2, 4))
    assert len(q) == 4


def test_enqueue_more_than_size_keeps_the_last():
    q = vl.MoCoQueue(size=3, dim=2)
    q.enqueue(_keys(0, 7))
    torch.testing.assert_close(q.negatives(), _keys(4, 3))


def test_dequeue_and_clear():
    q = vl.MoCoQueue(size=4, dim=2)
    q.enqueue(_keys(0, 4))
    q.dequeue(3)
    torch.testing.assert_close(q.negatives(), _keys(3, 1))
    q.enqueue(_keys(4, 2))
    torch.testing.assert_close(q.negatives(), _keys(3, 3))
    q.dequeue(10)
    assert len(q) == 0
    q.enqueue(_keys(9, 1))
    q.clear()
    assert q.negatives().shape == (0, 2)


def test_keys_are_detached_and_cast_to_the_buffer_dtype():
    q = vl.MoCoQueue(size=4, dim=2, dtype=torch.float64)
    k = _keys(0, 2).requires_grad_()
    q.enqueue(k * 2)
    assert not q.negatives().requires_grad and q.negatives().dtype == torch.float64


def test_negatives_taken_before_an_enqueue_survive_the_backward():
    # MoCo enqueues the new keys inside the step, before loss.backward()
    q = vl.MoCoQueue(size=8, dim=4)
    q.enqueue(F.normalize(vectors(8, 4, dtype=torch.float32), dim=1))
    query = vectors(3, 4, seed=1, dtype=torch.float32).requires_grad_()
    key = vectors(3, 4, seed=2, dtype=torch.float32)
    loss = vl.info_nce_loss(query, key, q.negatives())
    expected = vl.info_nce_loss(query, key, q.negatives().clone())
    q.enqueue(key)
    loss.backward()  # no "modified by an inplace operation" error
    torch.testing.assert_close(loss, expected)
    assert torch.isfinite(query.grad).all()


def test_queue_negatives_equal_explicit_shared_negatives():
    q = vl.MoCoQueue(size=16, dim=4)
    bank = vectors(16, 4, dtype=torch.float32)
    q.enqueue(bank[:10])
    q.enqueue(bank[10:])
    query, key = (
        vectors(5, 4, seed=1, dtype=torch.float32),
        vectors(5, 4, seed=2, dtype=torch.float32),
    )
    torch.testing.assert_close(
        vl.info_nce_loss(query, key, q.negatives()), vl.info_nce_loss(query, key, bank)
    )


def test_empty_queue_gives_zero_loss():
    q = vl.MoCoQueue(size=4, dim=3)
    query = vectors(2, 3, dtype=torch.float32).requires_grad_()
    out = vl.info_nce_loss(query, query.detach(), q.negatives())
    assert out.item() == 0.0 and out.requires_grad


def test_state_dict_round_trip_keeps_order_and_pointer():
    q = vl.MoCoQueue(size=4, dim=2)
    q.enqueue(_keys(0, 6))
    restored = vl.MoCoQueue(size=4, dim=2)
    restored.load_state_dict(q.state_dict())
    torch.testing.assert_close(restored.negatives(), q.negatives())
    q.enqueue(_keys(6, 1))
    restored.enqueue(_keys(6, 1))
    torch.testing.assert_close(restored.negatives(), q.negatives())
    assert "held=4" in repr(restored)


def test_follows_module_to():
    q = vl.MoCoQueue(size=4, dim=2).to(torch.float64)
    q.enqueue(_keys(0, 2))
    assert q.negatives().dtype == torch.float64 and q().shape == (2, 2)


@pytest.mark.parametrize(
    "make, match",
    [
        pytest.param(
            lambda: vl.MoCoQueue(0, 2), "expected size to be a positive int, got 0", id="size"
        ),
        pytest.param(
            lambda: vl.MoCoQueue(4, 2.0), "expected dim to be a positive int, got 2.0", id="dim"
        ),
        pytest.param(
            lambda: vl.MoCoQueue(4, 2).enqueue(torch.zeros(3, 5)),
            r"expected keys of shape \(n, 2\), got \(3, 5\)",
            id="key-size",
        ),
        pytest.param(
            lambda: vl.MoCoQueue(4, 2).enqueue(torch.zeros(2)),
            "expected keys to be 2-D",
            id="key-rank",
        ),
        pytest.param(
            lambda: vl.MoCoQueue(4, 2).dequeue(-1), "expected n to be an int >= 0", id="dequeue"
        ),
    ],
)
def test_bad_inputs(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_integer_keys_raise():
    with pytest.raises(TypeError, match="MoCoQueue.enqueue: expected keys to be a floating"):
        vl.MoCoQueue(4, 2).enqueue(torch.zeros(3, 2, dtype=torch.long))
