"""CUT's PatchNCE (``patch_nce_loss``) against a float64 reimplementation of the authors'
``PatchSampleF`` + ``PatchNCELoss`` forward (tests/reference/patch_nce.py, which cites the lines
of ``taesungp/contrastive-unpaired-translation`` that fix each convention), on the same sampled
patches: values and gradients, both negative sets, the sampling convention, the bounded-memory
row blocks, degenerate and bad inputs.

Convention mapping (visionloss -> CUT):
* ``query`` = ``feat_q`` (output image, ``netF(feat_q, num_patches, sample_ids)``), ``key`` =
  ``feat_k`` (input image), detached (patchnce.py l. 16) unless ``detach_key=False``;
* ``indices`` = ``patch_ids`` (flat locations of the row-major ``H*W`` grid, shared by the
  batch); ``num_patches`` clamped to ``H*W`` (``min(num_patches, patch_id.shape[0])``);
* ``negatives="image"`` = ``nce_includes_all_negatives_from_minibatch=False`` (CUT's default),
  ``"batch"`` = ``True`` (patchnce.py l. 32-36);
* ``temperature`` = ``nce_T`` (0.07); the diagonal slot ``-10 / nce_T`` (l. 46-50) is kept;
* ``reduction="none"`` = the per-patch ``CrossEntropyLoss(reduction='none')`` (l. 52) reshaped
  ``(B, n)`` image-major; ``"mean"`` = ``cut_model.py``'s ``loss.mean()`` for one layer.
* CUT's ``Normalize`` divides by ``||x|| + 1e-7``, visionloss by ``||x||``: the tight
  comparisons use the reference with ``eps=0``, one comparison CUT's eps at ~1e-6.
"""

from __future__ import annotations

import math

import pytest
import torch

import visionloss as vl
from tests.reference import patch_nce as ref
from visionloss.contrastive import _core
from visionloss.errors import InputError, InputTypeError, OptionError

from ._data import vectors

B, C, H, W = 2, 5, 3, 4
IDS = torch.tensor([0, 3, 5, 6, 9, 11])


def _maps(seed=0, dtype=torch.float64):
    q = vectors(B, C, H, W, seed=seed, dtype=dtype)
    k = (q.double() + 0.7 * vectors(B, C, H, W, seed=seed + 1)).to(dtype)
    return q, k


def _reference(q, k, ids, tau, *, all_batch=False, eps=0.0):
    qs, ks = ref.normalize(ref.sample(q, ids), eps), ref.normalize(ref.sample(k, ids), eps)
    return ref.patch_nce(qs, ks, tau, all_batch=all_batch)


@pytest.mark.parametrize("negatives", ["image", "batch"])
@pytest.mark.parametrize("tau", [0.07, 0.5])
def test_values_and_gradients_match_cut(negatives, tau):
    q, k = _maps()
    qa, ka = q.clone().requires_grad_(True), k.clone().requires_grad_(True)
    value = vl.patch_nce_loss(
        qa,
        ka,
        indices=IDS,
        temperature=tau,
        negatives=negatives,
        detach_key=False,
        reduction="none",
    )
    qb, kb = q.clone().requires_grad_(True), k.clone().requires_grad_(True)
    expected = _reference(qb, kb, IDS, tau, all_batch=negatives == "batch")
    assert value.shape == (B, len(IDS))
    torch.testing.assert_close(value, expected)
    w = torch.linspace(0.5, 1.5, value.numel(), dtype=value.dtype).view(value.shape)
    g = torch.autograd.grad((value * w).sum(), (qa, ka))
    ge = torch.autograd.grad((expected * w).sum(), (qb, kb))
    for a, b in zip(g, ge):
        torch.testing.assert_close(a, b)


def test_mean_equals_cut_mean_with_its_normalize_eps():
    q, k = _maps(seed=3)
    value = vl.patch_nce_loss(q, k, indices=IDS)
    expected = _reference(q, k, IDS, 0.07, eps=1e-7).mean()  # CUT's Normalize(x/(|x|+1e-7))
    torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-5)


def test_key_is_detached_by_default():
    q, k = _maps()
    q.requires_grad_(True)
    k.requires_grad_(True)
    value = vl.patch_nce_loss(q, k, indices=IDS)
    gq, gk = torch.autograd.grad(value, (q, k), allow_unused=True)
    assert gk is None and gq is not None and gq.abs().sum() > 0
    # detach_key=False: the same value, and the key gets a gradient
    value2 = vl.patch_nce_loss(q, k, indices=IDS, detach_key=False)
    torch.testing.assert_close(value2, value)
    assert torch.autograd.grad(value2, k)[0].abs().sum() > 0


def test_sampling_is_one_permutation_shared_by_the_batch():
    # CUT (PatchSampleF): patch_id = randperm(H*W)[:min(num_patches, H*W)], same for all images
    q, k = _maps(seed=5)
    value = vl.patch_nce_loss(
        q, k, num_patches=7, generator=torch.Generator().manual_seed(11), reduction="none"
    )
    ids = torch.randperm(H * W, generator=torch.Generator().manual_seed(11))[:7]
    torch.testing.assert_close(value, _reference(q, k, ids, 0.07))
    # reproducible with the same generator, and different from another draw
    again = vl.patch_nce_loss(
        q, k, num_patches=7, generator=torch.Generator().manual_seed(11), reduction="none"
    )
    torch.testing.assert_close(again, value)


@pytest.mark.parametrize("num_patches", [H * W, H * W + 5, 1000, None])
def test_num_patches_clamped_to_every_location(num_patches):
    q, k = _maps(seed=6)
    value = vl.patch_nce_loss(q, k, num_patches=num_patches, reduction="none")
    expected = _reference(q, k, torch.arange(H * W), 0.07)
    torch.testing.assert_close(value, expected)


def test_per_image_indices():
    q, k = _maps(seed=7)
    ids = torch.tensor([[1, 4, 2, 8], [11, 0, 5, 6]])
    value = vl.patch_nce_loss(q, k, indices=ids, reduction="none")
    for b in range(B):
        expected = _reference(q[b : b + 1], k[b : b + 1], ids[b], 0.07)
        torch.testing.assert_close(value[b : b + 1], expected)


def test_sampled_patch_features_equal_maps():
    q, k = _maps(seed=8)
    qs, ks = ref.sample(q, IDS), ref.sample(k, IDS)  # (B, n, C)
    for negatives in ("image", "batch"):
        torch.testing.assert_close(
            vl.patch_nce_loss(qs, ks, negatives=negatives),
            vl.patch_nce_loss(q, k, indices=IDS, negatives=negatives),
        )


def test_dot_similarity_takes_features_as_given():
    q, k = _maps(seed=9)
    qs = ref.normalize(ref.sample(q, IDS), 0.0)
    ks = ref.normalize(ref.sample(k, IDS), 0.0)
    torch.testing.assert_close(
        vl.patch_nce_loss(qs, ks, similarity="dot", reduction="none"),
        ref.patch_nce(qs, ks, 0.07),
    )


def test_diagonal_constant_is_cuts_not_minus_inf():
    # at tau = 1 the e^{-10/tau} slot is visible: the value is CUT's, not the -inf mask's
    q, k = _maps(seed=10)
    value = vl.patch_nce_loss(q, k, indices=IDS, temperature=1.0, reduction="none")
    torch.testing.assert_close(value, _reference(q, k, IDS, 1.0))
    qs = ref.normalize(ref.sample(q, IDS), 0.0)
    ks = ref.normalize(ref.sample(k, IDS), 0.0)
    logits = qs @ ks.transpose(1, 2)
    without = torch.logsumexp(logits, -1) - logits.diagonal(dim1=1, dim2=2)
    assert (value - without).min() > 1e-6


def test_one_patch():
    # the only negative is CUT's diagonal slot: log(1 + e^{-10/tau - l_pos})
    q, k = _maps(seed=11)
    value = vl.patch_nce_loss(q, k, indices=torch.tensor([4]), temperature=0.5, reduction="none")
    qs = ref.normalize(ref.sample(q, torch.tensor([4])), 0.0)
    ks = ref.normalize(ref.sample(k, torch.tensor([4])), 0.0)
    pos = (qs * ks).sum(-1) / 0.5
    torch.testing.assert_close(value, torch.log1p(torch.exp(-10 / 0.5 - pos)))


@pytest.mark.parametrize("negatives", ["image", "batch"])
def test_gradcheck(negatives):
    q, k = _maps(seed=12)
    q.requires_grad_(True)
    k.requires_grad_(True)
    tau = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, b, t: vl.patch_nce_loss(
            a, b, indices=IDS, temperature=t, negatives=negatives, detach_key=False
        ),
        (q, k, tau),
    )


BLOCK = 10  # logits per block: one row of the 6 x 6 per-image matrices


@pytest.mark.parametrize("negatives", ["image", "batch"])
def test_blocks_equal_one_block_and_stay_bounded(negatives, monkeypatch):
    q, k = _maps(seed=13)

    def run():
        qa, ka = q.clone().requires_grad_(True), k.clone().requires_grad_(True)
        tau = torch.tensor(0.2, dtype=torch.float64, requires_grad=True)
        value = vl.patch_nce_loss(
            qa,
            ka,
            indices=IDS,
            temperature=tau,
            negatives=negatives,
            detach_key=False,
            reduction="none",
        )
        w = torch.linspace(0.5, 1.5, value.numel(), dtype=value.dtype).view(value.shape)
        return value.detach(), torch.autograd.grad((value * w).sum(), (qa, ka, tau))

    value, g = run()
    sizes = []
    original = _core.similarity_logits

    def recording(anchors, keys, temperature):
        out = original(anchors, keys, temperature)
        sizes.append((out.numel(), max(BLOCK, out.numel() // out.shape[-2])))
        return out

    monkeypatch.setattr(_core, "similarity_logits", recording)
    monkeypatch.setattr(_core, "MAX_CHUNK_ELEMENTS", BLOCK)
    monkeypatch.setattr(_core, "BLOCK_ELEMENTS", BLOCK)
    blocked, gb = run()
    torch.testing.assert_close(blocked, value)
    for a, b in zip(gb, g):
        torch.testing.assert_close(a, b)
    assert len(sizes) > 2 and all(size <= bound for size, bound in sizes), sizes


def test_zero_features_finite():
    q, k = _maps(seed=14)
    q = q.clone()
    q[:, :, 0, 0] = 0.0  # location 0 of the output is a zero vector
    k = torch.zeros_like(k)  # and every key
    qa, ka = q.requires_grad_(True), k.requires_grad_(True)
    value = vl.patch_nce_loss(qa, ka, indices=IDS, detach_key=False)
    gq, gk = torch.autograd.grad(value, (qa, ka))
    # all logits 0: log(n + e^{-10/tau})
    n = len(IDS)
    torch.testing.assert_close(value, torch.tensor(math.log(n + math.exp(-10 / 0.07))).double())
    assert torch.isfinite(gq).all() and torch.isfinite(gk).all()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_inputs_computed_in_fp32(dtype):
    q, k = _maps(seed=15)
    qh = q.to(dtype).requires_grad_(True)
    value = vl.patch_nce_loss(qh, k.to(dtype), indices=IDS)
    assert value.dtype == torch.float32
    expected = vl.patch_nce_loss(q.to(dtype).float(), k.to(dtype).float(), indices=IDS)
    torch.testing.assert_close(value, expected, rtol=1e-4, atol=1e-4)
    (g,) = torch.autograd.grad(value, qh)
    assert g.dtype == dtype and torch.isfinite(g).all()


def test_empty_batch_is_zero_with_graph():
    q = torch.zeros(0, C, H, W, requires_grad=True)
    value = vl.patch_nce_loss(q, torch.zeros(0, C, H, W))
    assert value.item() == 0.0 and value.requires_grad


def test_reductions():
    q, k = _maps(seed=16)
    none = vl.patch_nce_loss(q, k, indices=IDS, reduction="none")
    torch.testing.assert_close(vl.patch_nce_loss(q, k, indices=IDS, reduction="sum"), none.sum())
    torch.testing.assert_close(vl.patch_nce_loss(q, k, indices=IDS), none.mean())


def test_module_takes_indices_per_call():
    q, k = _maps(seed=17)
    module = vl.PatchNCELoss(temperature=0.2, negatives="batch")
    torch.testing.assert_close(
        module(q, k, indices=IDS),
        vl.patch_nce_loss(q, k, indices=IDS, temperature=0.2, negatives="batch"),
    )


@pytest.mark.parametrize(
    "query, key, kwargs, error, match",
    [
        (torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 5), {}, InputError, "same shape"),
        (torch.randn(2, 3, 4, 4), torch.randn(2, 4, 3), {}, InputError, "same shape"),
        (torch.randn(2, 3), torch.randn(2, 3), {}, InputError, "query"),
        (torch.randn(2, 0, 4, 4), torch.randn(2, 0, 4, 4), {}, InputError, "C > 0"),
        (
            torch.randn(2, 3, 2, 2),
            torch.randn(2, 3, 2, 2),
            {"indices": torch.tensor([0, 4])},
            InputError,
            r"indices in \[0, H\*W = 4\), got values in \[0, 4\]",
        ),
        (
            torch.randn(2, 3, 2, 2),
            torch.randn(2, 3, 2, 2),
            {"indices": torch.tensor([[0, 1]])},
            InputError,
            "B = 2",
        ),
        (
            torch.randn(2, 3, 2, 2),
            torch.randn(2, 3, 2, 2),
            {"indices": torch.tensor([0.0, 1.0])},
            InputError,
            "integer indices",
        ),
        (
            torch.randn(2, 3, 2, 2),
            torch.randn(2, 3, 2, 2),
            {"indices": [0, 1]},
            InputTypeError,
            "indices to be a tensor",
        ),
        (
            torch.randn(2, 4, 3),
            torch.randn(2, 4, 3),
            {"indices": torch.tensor([0, 1])},
            InputError,
            "used as they are",
        ),
        (torch.randn(1, 2, 2, 2), torch.randn(1, 2, 2, 2), {"num_patches": 0}, OptionError, ""),
        (torch.randn(1, 2, 2, 2), torch.randn(1, 2, 2, 2), {"negatives": "all"}, OptionError, ""),
    ],
)
def test_bad_inputs(query, key, kwargs, error, match):
    with pytest.raises(error, match="patch_nce_loss.*" + match):
        vl.patch_nce_loss(query, key, **kwargs)
