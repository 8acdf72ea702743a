"""CrossBatchMemory against pytorch-metric-learning's CrossBatchMemory over several batches
(the queue wraps), with circle, multi-similarity and generalized lifted structure losses.

Convention mapping: PML ``CrossBatchMemory(loss, embedding_size, memory_size)`` enqueues the
batch (detached), then computes ``loss(embeddings, labels, pairs, E_mem, L_mem)`` over every
(anchor, memory slot) pair but the anchor's own slot: ours, with the wrapped loss's PML
options mapped as in test_pair_losses.py / test_lifted_npair.py.
"""

from __future__ import annotations

import pytest
import torch
from pytorch_metric_learning import losses, miners

import visionloss as vl
from visionloss.errors import InputError

from ._data import clustered

D, M = 4, 20
CASES = {
    "circle": (lambda: losses.CircleLoss(m=0.25, gamma=8.0), vl.CircleLoss(margin=0.25, gamma=8.0)),
    "multi_similarity": (
        lambda: losses.MultiSimilarityLoss(alpha=2.0, beta=10.0, base=0.5),
        vl.MultiSimilarityLoss(beta=10.0, mine=False),
    ),
    "generalized_lifted": (
        lambda: losses.GeneralizedLiftedStructureLoss(neg_margin=1.0),
        vl.LiftedStructureLoss(generalized=True, normalize=True),
    ),
}


def _batches():
    out = []
    for seed, n in enumerate((8, 9, 7, 8)):  # 32 samples into 20 slots: the queue wraps
        out.append(clustered(n, 3, D, spread=0.9, seed=seed))
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_matches_pml_over_batches(name):
    make_pml, ours = CASES[name]
    pml = losses.CrossBatchMemory(make_pml(), D, memory_size=M)
    xbm = vl.CrossBatchMemory(ours, D, memory_size=M).double()
    for x, y in _batches():
        a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
        expected = pml(a, y)
        value = xbm(b, y)
        torch.testing.assert_close(value, expected)
        (ga,) = torch.autograd.grad(expected, a)
        (gb,) = torch.autograd.grad(value, b)
        torch.testing.assert_close(gb, ga)
    assert bool(xbm.filled) and int(xbm.position) == 32 % M
    torch.testing.assert_close(xbm.embeddings, pml.embedding_memory)
    torch.testing.assert_close(xbm.labels, pml.label_memory)


def test_mined_multi_similarity_matches_pml_with_miner():
    pml = losses.CrossBatchMemory(
        losses.MultiSimilarityLoss(), D, memory_size=M, miner=miners.MultiSimilarityMiner(0.1)
    )
    xbm = vl.CrossBatchMemory(vl.MultiSimilarityLoss(), D, memory_size=M).double()
    for x, y in _batches():
        torch.testing.assert_close(xbm(x, y), pml(x, y))


def test_state_dict_round_trip_resumes_exactly():
    batches = _batches()
    a = vl.CrossBatchMemory(vl.circle_loss, D, memory_size=M).double()
    for x, y in batches[:2]:
        a(x, y)
    b = vl.CrossBatchMemory(vl.circle_loss, D, memory_size=M).double()
    b.load_state_dict(a.state_dict())
    for x, y in batches[2:]:
        torch.testing.assert_close(a(x, y), b(x, y))
    assert set(a.state_dict()) == {"embeddings", "labels", "position", "filled"}
    a.reset()
    assert int(a.position) == 0 and not bool(a.filled) and a.embeddings.abs().sum() == 0


def test_first_batch_alone_equals_the_plain_loss():
    x, y = _batches()[0]
    xbm = vl.CrossBatchMemory(vl.circle_loss, D, memory_size=M).double()
    torch.testing.assert_close(xbm(x, y), vl.circle_loss(x, y))


def test_rejects_losses_without_memory_and_bad_shapes():
    x, y = _batches()[0]
    with pytest.raises(InputError, match="CrossBatchMemory: the loss .* does not take"):
        vl.CrossBatchMemory(vl.BatchTripletLoss(), D, memory_size=M).double()(x, y)
    with pytest.raises(InputError, match=r"CrossBatchMemory: expected embeddings of shape"):
        vl.CrossBatchMemory(vl.circle_loss, D, memory_size=4).double()(x, y)
    with pytest.raises(ValueError, match="memory_size"):
        vl.CrossBatchMemory(vl.circle_loss, D, memory_size=0)
