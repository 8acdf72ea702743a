"""The every-key path of ``label_terms`` (``contrastive/_core.py``: a plain ``log_softmax`` /
``logsumexp`` with the anchor's own key at ``-inf``, used when no ``key_valid`` mask is given)
against the masked path of ``contrast_terms`` it replaces: same terms and gradients, for
``"out"`` and ``"in"``, with singleton classes (no positive), with and without the anchor's
own row among the keys."""

from __future__ import annotations

import pytest
import torch

from visionloss.contrastive import _core


def _masked(anchors, keys, t, a_labels, k_labels, mode, rows):
    logits = _core.similarity_logits(anchors, keys, t)
    positive, negative = _core.label_masks(a_labels, k_labels, rows)
    terms = _core.contrast_terms(logits, positive, negative, mode)
    return terms.loss, terms.valid


@pytest.mark.parametrize("mode", ["out", "in"])
@pytest.mark.parametrize("own_rows", [True, False], ids=["self-excluded", "cross"])
def test_every_key_terms_equal_the_masked_terms(mode, own_rows):
    g = torch.Generator().manual_seed(0)
    keys = torch.nn.functional.normalize(
        torch.randn(12, 5, generator=g, dtype=torch.float64), dim=1
    )
    labels = torch.tensor([0, 0, 1, 1, 1, 2, 3, 3, 4, 5, 5, 5])  # 2 and 4: singletons
    rows = torch.tensor([0, 2, 5, 8, 9, 11])
    anchors = keys[rows].clone() if own_rows else keys[rows].flip(1).clone()
    a_labels = labels[rows]
    a_rows = rows if own_rows else None
    for fast in (True, False):
        k = keys.clone().requires_grad_()
        a = anchors.clone().requires_grad_()
        if fast:
            loss, valid = _core.label_terms(
                a, k, 0.5, a_labels, labels, mode=mode, anchor_rows=a_rows
            )
        else:
            loss, valid = _masked(a, k, 0.5, a_labels, labels, mode, a_rows)
        grads = torch.autograd.grad(loss.sum(), (a, k))
        if fast:
            got = (loss, valid, grads)
        else:
            want = (loss, valid, grads)
    torch.testing.assert_close(got[0], want[0])
    assert torch.equal(got[1], want[1])
    assert torch.isfinite(got[0]).all()
    for x, y in zip(got[2], want[2]):
        torch.testing.assert_close(x, y)
