"""supcon_loss against pytorch-metric-learning's SupConLoss, SupContrast's code, a float64 loop
(both variants, several views, no labels), hand values and degenerate inputs.

Convention mapping: PML's ``SupConLoss(temperature=t)(x, y)`` is our ``supcon_loss(x, y,
temperature=t)`` for ``(N, D)`` features (PML's ``AvgNonZeroReducer`` drops anchors without a
positive, whose loss is 0, as our mean does). PML's ``NTXentLoss`` with several positives per
anchor is *not* SupCon: it scores each positive against the negatives only (our
``patch_contrast_loss`` form), while SupCon's denominator holds every other sample.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from pytorch_metric_learning.losses import NTXentLoss as PMLNTXent
from pytorch_metric_learning.losses import SupConLoss as PMLSupCon

import visionloss as vl
from tests.helpers import assert_finite_graph, grads
from tests.reference import contrastive as ref

from ._data import REDUCE, labels, vectors

LABELS = [
    pytest.param(torch.tensor([0, 0, 1, 1, 1, 2, 2, 0]), id="three-classes"),
    pytest.param(torch.tensor([0, 0, 1, 1, 1, 2, 3, 0]), id="with-singletons"),
    pytest.param(torch.zeros(8, dtype=torch.long), id="one-class-no-negative"),
]


@pytest.mark.parametrize("y", LABELS[:2])
@pytest.mark.parametrize("tau", [0.1, 0.5])
def test_matches_pytorch_metric_learning(y, tau):
    x = vectors(8, 5)
    value, (g,) = grads(lambda a: vl.supcon_loss(a, y, temperature=tau), x)
    expected, (r,) = grads(lambda a: PMLSupCon(temperature=tau)(a, y), x)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(g, r)


@pytest.mark.parametrize("y", LABELS[:2])
def test_matches_supcontrast_where_it_is_defined(y):
    # SupContrast divides by |P(i)| = 0 for a singleton anchor: NaN there; ours leaves it out
    x = F.normalize(vectors(8, 1, 5), dim=-1)
    # SupContrast before commit 72fd989 (the reference's before_fix), per anchor
    theirs = ref.supcontrast(x, y, 0.07, 0.07, before_fix=True, per_anchor=True).T
    ours = vl.supcon_loss(x, y, temperature=0.07, reduction="none")
    defined = torch.isfinite(theirs)
    assert torch.equal(defined[:, 0], y.bincount()[y] > 1)
    torch.testing.assert_close(ours[defined], theirs[defined])
    assert (ours[~defined] == 0).all()
    torch.testing.assert_close(vl.supcon_loss(x, y, temperature=0.07), theirs[defined].mean())


@pytest.mark.parametrize("y", [*LABELS, pytest.param(None, id="no-labels")])
@pytest.mark.parametrize("views", [1, 2])
@pytest.mark.parametrize("tau, base", [(0.07, 0.07), (0.1, 0.07), (0.5, 1.0)])
def test_matches_current_supcontrast_reference(y, views, tau, base):
    """SupContrast since its December 2023 fix (losses.py lines 98-100): an anchor without a
    positive has loss 0 and stays in the mean over all N V anchors, and the loss is scaled by
    temperature / base_temperature. It takes dot products of the features as given: ours with
    ``similarity="dot"``, the mean of the per-anchor losses times tau / base (values and
    gradients); on L2-normalised features the default cosine gives the same value, and our
    default mean is the same number when every anchor has a positive."""
    x = F.normalize(vectors(8, views, 5), dim=-1) * 1.5
    expected, (r,) = grads(lambda a: ref.supcontrast(a, y, tau, base), x)

    def ours(a, **opts):
        return vl.supcon_loss(a, y, temperature=tau, **opts) * tau / base

    value, (g,) = grads(lambda a: ours(a, similarity="dot", reduction="none").mean(), x)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(g, r)
    unit = F.normalize(x, dim=-1)
    theirs = ref.supcontrast(unit, y, tau, base)
    torch.testing.assert_close(ours(unit, reduction="none").mean(), theirs)
    lone = views == 1 and (y is None or bool((y.bincount()[y] == 1).any()))
    if lone and y is not None:  # ours leaves the anchors without a positive out of the mean
        assert not torch.allclose(ours(unit), theirs)
    elif not lone:
        torch.testing.assert_close(ours(unit), theirs)


@pytest.mark.parametrize("variant", ["out", "in"])
@pytest.mark.parametrize(
    "shape, y",
    [
        pytest.param((8, 5), LABELS[0].values[0], id="one-view"),
        pytest.param((8, 5), LABELS[1].values[0], id="one-view-singletons"),
        pytest.param((8, 5), LABELS[2].values[0], id="one-class"),
        pytest.param((5, 3, 4), labels(5, 2), id="three-views"),
        pytest.param((4, 2, 4), None, id="no-labels"),
    ],
)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_matches_float64_loop(variant, shape, y, reduction):
    x = vectors(*shape)
    tau = 0.3

    def loop(a):
        per_anchor = ref.supcon(a, y, tau, variant)
        per_anchor = per_anchor[:, 0] if a.dim() == 2 else per_anchor
        valid = torch.isfinite(per_anchor)
        if reduction == "none":
            return torch.where(valid, per_anchor, torch.zeros(()))
        return REDUCE[reduction](per_anchor[valid])

    value, (g,) = grads(
        lambda a: vl.supcon_loss(a, y, temperature=tau, variant=variant, reduction=reduction), x
    )
    expected, (r,) = grads(loop, x)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(g, r)


def test_variant_in_is_at_most_out():
    # Jensen: -log(mean(p)) <= mean(-log(p)) per anchor
    x, y = vectors(8, 5), LABELS[0].values[0]
    out = vl.supcon_loss(x, y, variant="out", reduction="none")
    inside = vl.supcon_loss(x, y, variant="in", reduction="none")
    assert (inside <= out + 1e-12).all() and (inside < out).any()


def test_pml_ntxent_with_several_positives_is_the_pair_form():
    # the mapping the issue asks for: PML NT-Xent = each positive against the negatives only
    x, y = vectors(8, 5), LABELS[0].values[0]
    pml = PMLNTXent(temperature=0.2)(x, y)
    torch.testing.assert_close(pml, ref.nt_xent_pml_style(x, y, 0.2))
    assert abs(float(pml - vl.supcon_loss(x, y, temperature=0.2))) > 0.1


def test_hand_value_two_classes_on_orthogonal_axes():
    # each anchor: its positive at 1, two negatives at 0: -log(e / (e + 2)) = log(1 + 2/e)
    x = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, 3.0]])
    out = vl.supcon_loss(x, torch.tensor([0, 0, 1, 1]), temperature=1.0, reduction="none")
    torch.testing.assert_close(out, torch.full((4,), math.log1p(2 * math.exp(-1.0))))


def test_no_positive_anywhere_is_zero_with_graph():
    x = vectors(5, 3).requires_grad_()
    out = vl.supcon_loss(x, torch.arange(5))
    assert out.item() == 0.0
    assert_finite_graph(out, x)
    single = vl.supcon_loss(x[:1], torch.zeros(1, dtype=torch.long))
    assert single.item() == 0.0


def test_a_singleton_leaves_the_mean_but_stays_a_negative():
    x, y = vectors(8, 5), LABELS[1].values[0]
    none = vl.supcon_loss(x, y, reduction="none")
    has_pos = y.bincount()[y] > 1
    torch.testing.assert_close(vl.supcon_loss(x, y), none[has_pos].mean())
    # removing the singletons changes the others' denominators
    without = vl.supcon_loss(x[has_pos], y[has_pos], reduction="none")
    assert not torch.allclose(without, none[has_pos])


BAD = [
    pytest.param(
        lambda x, y: (x, y.float()),
        TypeError,
        "expected labels of integer class indices, got torch.float32",
        id="float-labels",
    ),
    pytest.param(
        lambda x, y: (x, y[:5]),
        ValueError,
        r"expected labels of shape \(8,\) matching features \(8, 5\), got \(5,\)",
        id="labels-length",
    ),
    pytest.param(
        lambda x, y: (x, y[:, None]), ValueError, "expected labels to be 1-D", id="labels-2-D"
    ),
    pytest.param(
        lambda x, y: (x[None, None], y),
        ValueError,
        "expected features to be 2-D or 3-D",
        id="features-4-D",
    ),
]


@pytest.mark.parametrize("make, error, match", BAD)
def test_bad_inputs(make, error, match):
    x, y = vectors(8, 5), LABELS[0].values[0]
    with pytest.raises(error, match=f"supcon_loss: {match}"):
        vl.supcon_loss(*make(x, y))


def test_bad_variant():
    with pytest.raises(ValueError, match="supcon_loss: expected variant to be one of 'out', 'in'"):
        vl.supcon_loss(vectors(4, 3), torch.arange(4), variant="mean")
    with pytest.raises(ValueError, match="SupConLoss: expected variant"):
        vl.SupConLoss(variant="mean")
