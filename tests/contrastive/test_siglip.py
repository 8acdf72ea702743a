"""siglip_loss against OpenCLIP's ``SigLipLoss`` (values and gradients, also of the learned
temperature and bias), a float64 loop of the paper's Algorithm 1, the row-block path and
degenerate inputs. The ring across processes is in ``tests/distributed/test_ssl.py``.

Mapping: OpenCLIP's ``SigLipLoss()(image_features, text_features, logit_scale, logit_bias)``
takes normalised features, the scale itself (``t = log_scale.exp()``) and the bias, and
returns ``-sum(logsigmoid(labels * logits)) / N``, the paper's Algorithm 1; ours takes raw
features (cosine similarity), ``log_scale`` and ``bias``.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from open_clip.loss import SigLipLoss

import visionloss as vl
from tests.helpers import assert_finite_graph, gradcheck
from tests.reference import self_supervised as ref
from visionloss.contrastive import _image_text

from ._data import vectors
from ._pairs import degenerate_pairs

N, D = 7, 5


@pytest.mark.parametrize("t, b", [(math.log(10.0), -10.0), (0.5, 0.3), (2.0, -1.0)])
def test_matches_open_clip_values_and_gradients(t, b):
    q, k = vectors(N, D), vectors(N, D, seed=1)
    params = (torch.tensor(t, dtype=torch.float64), torch.tensor(b, dtype=torch.float64))
    leaves = [x.clone().requires_grad_() for x in (q, k, *params)]
    ours = vl.siglip_loss(leaves[0], leaves[1], log_scale=leaves[2], bias=leaves[3])
    g_ours = torch.autograd.grad(ours, leaves)
    peer_leaves = [x.detach().clone().requires_grad_() for x in leaves]
    qp, kp, tp, bp = peer_leaves
    peer = SigLipLoss()(F.normalize(qp, dim=-1), F.normalize(kp, dim=-1), tp.exp(), bp)
    g_peer = torch.autograd.grad(peer, peer_leaves)
    torch.testing.assert_close(ours, peer)
    for a, c in zip(g_ours, g_peer):
        torch.testing.assert_close(a, c)


def test_matches_the_papers_algorithm_per_image():
    q, k = vectors(N, D), vectors(N, D, seed=1)
    out = vl.siglip_loss(q, k, log_scale=1.0, bias=-2.0, reduction="none")
    torch.testing.assert_close(out, ref.siglip_rows(q, k, math.e, -2.0))
    torch.testing.assert_close(
        vl.siglip_loss(q, k, log_scale=1.0, bias=-2.0, reduction="sum"), out.sum()
    )


def test_row_block_path_equals_the_whole_matrix(monkeypatch):
    q, k = vectors(N, D), vectors(N, D, seed=1)
    whole, g_whole = _value_and_grads(q, k)
    monkeypatch.setattr(_image_text, "MAX_CHUNK_ELEMENTS", 4)
    monkeypatch.setattr(_image_text, "BLOCK_ELEMENTS", 3 * N)  # three rows per block
    calls = []
    real = _image_text._sigmoid_rows
    monkeypatch.setattr(
        _image_text, "_sigmoid_rows", lambda *a: calls.append(len(a[0])) or real(*a)
    )
    blocked, g_blocked = _value_and_grads(q, k)
    assert calls and max(calls) == 3
    torch.testing.assert_close(blocked, whole)
    for a, c in zip(g_blocked, g_whole):
        torch.testing.assert_close(a, c)


def _value_and_grads(q, k):
    leaves = [
        q.clone().requires_grad_(),
        k.clone().requires_grad_(),
        torch.tensor(-3.0, dtype=torch.float64, requires_grad=True),
    ]
    value = vl.siglip_loss(leaves[0], leaves[1], bias=leaves[2])
    return value.detach(), torch.autograd.grad(value, leaves)


def test_gradcheck_float64_with_learned_scale_and_bias():
    q, k = vectors(4, 3), vectors(4, 3, seed=1)
    t, b = torch.tensor(1.0, dtype=torch.float64), torch.tensor(-1.0, dtype=torch.float64)
    gradcheck(lambda q, k, t, b: vl.siglip_loss(q, k, log_scale=t, bias=b), q, k, t, b)


@pytest.mark.parametrize(
    "q, k", degenerate_pairs(pytest.param(1e4 * vectors(3, 4), vectors(3, 4), id="large"))
)
def test_degenerate_inputs_are_finite(q, k):
    q, k = q.clone().requires_grad_(), k.clone().requires_grad_()
    assert_finite_graph(vl.siglip_loss(q, k, log_scale=5.0), q, k)


def test_hand_value_one_pair():
    x = torch.tensor([[1.0, 0.0]])
    # one positive pair with logit e^0 * 1 + 0: log(1 + e^-1)
    torch.testing.assert_close(
        vl.siglip_loss(x, x, log_scale=0.0, bias=0.0), torch.tensor(math.log1p(math.exp(-1)))
    )
