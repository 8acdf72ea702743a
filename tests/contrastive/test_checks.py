"""Checks of the contrastive family that hold on every path: NaN inputs with either similarity
and in the dense losses (also where the loss leaves pixels out), the forgery mask's values
(an immediate error in eager mode, a device-side assertion under torch.compile), and a tensor
temperature's range."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import visionloss as vl
from tests.helpers import grads
from visionloss.errors import InputError, OptionError

from ._data import forgery_mask, labels, vectors

SIMILARITIES = ["cosine", "dot"]


def _with_nan(x: torch.Tensor, index: tuple[int, ...]) -> torch.Tensor:
    y = x.clone()
    y[index] = math.nan
    return y


def _assert_nan(fn, *inputs: torch.Tensor) -> None:
    """``fn(*inputs)`` is NaN somewhere, and so is the gradient of its sum."""
    leaves = [x.detach().clone().requires_grad_(x.is_floating_point()) for x in inputs]
    value = fn(*leaves)
    assert not torch.isfinite(value).all(), value
    grads = torch.autograd.grad(value.sum(), [x for x in leaves if x.requires_grad])
    assert any(not torch.isfinite(g).all() for g in grads)


# ------------------------------------------------------------------------------ NaN inputs
@pytest.mark.parametrize("similarity", SIMILARITIES)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize(
    "negatives, which",
    [
        pytest.param(negatives, which, id=f"{layout}-{name}")
        for layout, negatives in (("in-batch", None), ("shared", (12, 4)), ("per-query", (6, 3, 4)))
        for which, name in enumerate(("query", "positive_key", "negative_keys"))
        if negatives is not None or which < 2
    ],
)
def test_info_nce_nan(similarity, reduction, negatives, which):
    args = [vectors(6, 4, seed=1), vectors(6, 4, seed=2)]
    if negatives is not None:
        args.append(vectors(*negatives, seed=3))
    args[which] = _with_nan(args[which], (0,) * args[which].dim())
    opts = dict(similarity=similarity, reduction=reduction)
    _assert_nan(lambda *t: vl.info_nce_loss(*t, **opts), *args)


@pytest.mark.parametrize("similarity", SIMILARITIES)
@pytest.mark.parametrize("symmetric", [False, True])
def test_info_nce_in_batch_symmetric_nan(similarity, symmetric):
    q, k = vectors(6, 4, seed=1), _with_nan(vectors(6, 4, seed=2), (4, 1))
    opts = dict(similarity=similarity, symmetric=symmetric)
    _assert_nan(lambda a, b: vl.info_nce_loss(a, b, **opts), q, k)


@pytest.mark.parametrize("similarity", SIMILARITIES)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("which", [0, 1])
def test_nt_xent_nan(similarity, reduction, which):
    args = [vectors(5, 4, seed=4), vectors(5, 4, seed=5)]
    args[which] = _with_nan(args[which], (3, 0))
    opts = dict(similarity=similarity, reduction=reduction)
    _assert_nan(lambda a, b: vl.nt_xent_loss(a, b, **opts), *args)


@pytest.mark.parametrize("similarity", SIMILARITIES)
@pytest.mark.parametrize("variant", ["out", "in"])
@pytest.mark.parametrize(
    "shape, y",
    [
        pytest.param((8, 4), torch.tensor([0, 0, 1, 1, 2, 2, 3, 3]), id="one-view"),
        # the NaN sample (row 7) is the only one of its class: no anchor, only a negative
        pytest.param((8, 4), torch.tensor([0, 0, 1, 1, 2, 2, 0, 3]), id="nan-in-a-singleton"),
        pytest.param((6, 2, 4), labels(6, 3), id="two-views"),
        pytest.param((6, 2, 4), None, id="no-labels"),
    ],
)
def test_supcon_nan(similarity, variant, shape, y):
    x = _with_nan(vectors(*shape, seed=6), (7, 0) if len(shape) == 2 else (5, 1, 0))
    opts = dict(similarity=similarity, variant=variant)
    _assert_nan(lambda a: vl.supcon_loss(a, y, **opts), x)


DENSE = [
    pytest.param(vl.patch_contrast_loss, {"patch_size": 1}, id="patch-1"),
    pytest.param(vl.patch_contrast_loss, {"patch_size": 2}, id="patch-2"),
    *[
        pytest.param(
            vl.pixel_info_nce_loss,
            {"scope": scope, "positive": positive, "anchors": anchors},
            id=f"pixel-{scope}-{positive}-{anchors}",
        )
        for scope in ("image", "batch")
        for positive in ("mean_logit", "mean_exp")
        for anchors in ("pristine", "both")
    ],
]


@pytest.mark.parametrize("fn, opts", DENSE)
@pytest.mark.parametrize("similarity", SIMILARITIES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("pixel", ["forged", "pristine"])
def test_dense_nan_feature(fn, opts, similarity, reduction, pixel):
    mask = torch.zeros(2, 4, 4, dtype=torch.long)
    mask[:, :2] = 1  # rows 0-1 forged, rows 2-3 pristine
    row = 0 if pixel == "forged" else 3
    f = _with_nan(vectors(2, 3, 4, 4, seed=7), (1, 0, row, 1))
    kw = dict(opts, similarity=similarity, reduction=reduction)
    _assert_nan(lambda a: fn(a, mask, **kw), f)


@pytest.mark.parametrize("fn, opts", DENSE)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_dense_nan_in_an_image_that_does_not_count(fn, opts, reduction):
    """Image 1 has one class (no negatives): it adds nothing to the loss, but a NaN in its
    features still makes the loss NaN (never the finite mean of the other images)."""
    mask = forgery_mask(2, 4, 4)
    mask[1] = 0
    f = vectors(2, 3, 4, 4, seed=8)
    kw = dict(opts, reduction=reduction)
    assert torch.isfinite(fn(f, mask, **kw)).all()
    _assert_nan(lambda a: fn(a, mask, **kw), _with_nan(f, (1, 2, 3, 3)))


@pytest.mark.parametrize("scope", ["image", "batch"])
def test_pixel_info_nce_nan_in_a_pixel_that_is_not_sampled(scope):
    mask = forgery_mask(1, 6, 6)
    f = _with_nan(vectors(1, 3, 6, 6, seed=9), (0, 0, 5, 5))
    gen = torch.Generator().manual_seed(0)
    _assert_nan(lambda a: vl.pixel_info_nce_loss(a, mask, max_samples=1, generator=gen), f)


# ------------------------------------------------------------------------ the mask's values
MASK_LOSSES = [
    pytest.param(vl.patch_contrast_loss, {"patch_size": 2}, id="patch_contrast"),
    pytest.param(vl.pixel_info_nce_loss, {}, id="pixel_info_nce"),
]


@pytest.mark.parametrize("fn, opts", MASK_LOSSES)
@pytest.mark.parametrize(
    "value, found",
    [
        pytest.param(2, r"got values in \[0, 2\]", id="label-2"),
        pytest.param(-1, r"got values in \[-1, 1\]", id="minus-1"),
        pytest.param(1.5, r"got values in \[0, 1.5\]", id="fraction-1.5"),
        pytest.param(math.nan, r"got values in \[nan, nan\]", id="nan"),
    ],
)
def test_mask_values_outside_the_unit_interval_raise(fn, opts, value, found):
    mask = forgery_mask(2, 4, 4).double() if isinstance(value, float) else forgery_mask(2, 4, 4)
    mask[0, 0, 0] = value
    name = fn.__name__
    with pytest.raises(InputError, match=rf"{name}: expected mask values in \[0, 1\].*{found}"):
        fn(vectors(2, 3, 4, 4), mask, **opts)


@pytest.mark.parametrize("fn, opts", MASK_LOSSES)
def test_mask_check_holds_under_compile(fn, opts):
    """Under torch.compile the check is a device-side assertion: it stops the call with the
    same message (a RuntimeError), never a finite loss from a mask of 0/2 labels."""
    mask = forgery_mask(2, 4, 4).double()
    mask[0, 0, 0] = 1.5
    torch._dynamo.reset()
    try:
        compiled = torch.compile(fn, backend="eager")
        with pytest.raises(RuntimeError, match=rf"{fn.__name__}: expected mask values in \[0, 1\]"):
            compiled(vectors(2, 3, 4, 4), mask, **opts)
    finally:
        torch._dynamo.reset()


@pytest.mark.parametrize("fn, opts", MASK_LOSSES)
def test_mask_check_is_a_value_check(fn, opts):
    mask = forgery_mask(2, 4, 4)
    mask[0, 0, 0] = 2
    previous = vl.set_value_checks(False)
    try:
        assert torch.isfinite(fn(vectors(2, 3, 4, 4), mask, **opts))
    finally:
        vl.set_value_checks(previous)


# ------------------------------------------------------------------- a tensor temperature
@pytest.mark.parametrize(
    "temperature",
    [
        pytest.param(torch.tensor(-0.5), id="negative"),
        pytest.param(torch.tensor(0.0), id="zero"),
        pytest.param(torch.tensor(math.nan), id="nan"),
        pytest.param(torch.tensor(math.inf), id="inf"),
        pytest.param(torch.tensor([[-0.5]]), id="one-element-negative"),
    ],
)
def test_tensor_temperature_out_of_range_raises(temperature):
    with pytest.raises(OptionError, match=r"nt_xent_loss: expected temperature > 0, got"):
        vl.nt_xent_loss(vectors(4, 3), vectors(4, 3, seed=1), temperature=temperature)


def test_tensor_temperature_check_holds_under_compile():
    torch._dynamo.reset()
    try:
        compiled = torch.compile(vl.supcon_loss, backend="eager")
        x = vectors(6, 3)
        assert torch.isfinite(compiled(x, temperature=torch.tensor(0.5)))
        with pytest.raises(RuntimeError, match="supcon_loss: expected temperature > 0"):
            compiled(x, temperature=torch.tensor(-0.5))
    finally:
        torch._dynamo.reset()


def test_learned_temperature_gets_its_gradient():
    t = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    vl.nt_xent_loss(vectors(4, 3), vectors(4, 3, seed=1), temperature=t).backward()
    assert t.grad is not None and torch.isfinite(t.grad)


# ------------------------------------------------------------------------------------ peers
@pytest.mark.parametrize("tau", [0.1, 0.3])
def test_pair_form_is_pml_ntxent_with_several_positives(tau):
    """``contrast_terms(mode="pair")`` (CFL-Net's form, the one patch_contrast_loss uses):
    pytorch-metric-learning's ``NTXentLoss`` with labels scores each positive pair against the
    anchor's negatives and averages over the positive pairs; ours averages each anchor's
    positives, then the anchors: the same number when every anchor has as many positives (a
    mask forged on half of the pixels), values and gradients."""
    pml_losses = pytest.importorskip("pytorch_metric_learning.losses")
    mask = torch.zeros(1, 4, 4, dtype=torch.long)
    mask[0, :, :2] = 1
    f = vectors(1, 5, 4, 4, seed=10)

    def ours(a):
        return vl.patch_contrast_loss(a, mask, patch_size=1, temperature=tau)

    def pml(a):
        return pml_losses.NTXentLoss(temperature=tau)(a[0].flatten(1).T, mask[0].flatten())

    value, (g,) = grads(ours, f)
    expected, (r,) = grads(pml, f)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(g, r)


@pytest.mark.parametrize("tau", [0.07, 0.5])
def test_symmetric_in_batch_is_clips_loss(tau):
    """CLIP's pseudocode: ``(cross_entropy(L, arange(N)) + cross_entropy(L.T, arange(N))) / 2``
    with ``L`` the scaled cosine similarities of queries (images) and keys (texts)."""
    q, k = vectors(6, 4, seed=11), vectors(6, 4, seed=12)

    def clip(a, b):
        logits = F.normalize(a, dim=1) @ F.normalize(b, dim=1).T / tau
        target = torch.arange(len(a))
        return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))

    value, (g1, g2) = grads(
        lambda a, b: vl.info_nce_loss(a, b, temperature=tau, symmetric=True), q, k
    )
    expected, (r1, r2) = grads(clip, q, k)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(g1, r1)
    torch.testing.assert_close(g2, r2)
