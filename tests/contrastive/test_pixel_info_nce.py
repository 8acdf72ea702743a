"""pixel_info_nce_loss against a float64 loop of FOCAL's InfoNCE++ (both positive forms, both
anchor sets, image and batch scope), against FOCAL's official training code (re-expressed),
the per-class sampling, the mask at other resolutions and degenerate inputs."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import visionloss as vl
from tests.helpers import assert_finite_graph, grads
from tests.reference import contrastive as ref
from visionloss.contrastive._core import sample_per_class

from ._data import REDUCE, forgery_mask, vectors

B, D, H, W = 3, 4, 4, 5


def _inputs(seed=0):
    return vectors(B, D, H, W, seed=seed), forgery_mask(B, H, W, seed=seed + 2)


@pytest.mark.parametrize("positive", ["mean_logit", "mean_exp"])
@pytest.mark.parametrize("anchors", ["pristine", "both"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_image_scope_matches_float64_loop(positive, anchors, reduction):
    f, mask = _inputs()
    mask[1] = 0  # a single-class image: contributes nothing
    tau = 0.3

    def loop(x):
        means, _ = ref.pixel_info_nce(x, mask, tau, positive=positive, anchors=anchors)
        per_image = torch.stack(means)
        valid = torch.isfinite(per_image)
        if reduction == "none":
            return torch.where(valid, per_image, torch.zeros(()))
        return REDUCE[reduction](per_image[valid])

    def ours(x):
        return vl.pixel_info_nce_loss(
            x, mask, temperature=tau, positive=positive, anchors=anchors, reduction=reduction
        )

    value, (g,) = grads(ours, f)
    expected, (r,) = grads(loop, f)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(g, r)


@pytest.mark.parametrize("positive", ["mean_logit", "mean_exp"])
@pytest.mark.parametrize("anchors", ["pristine", "both"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_batch_scope_is_the_loop_over_the_pooled_pixels(positive, anchors, reduction):
    f, mask = _inputs(seed=4)
    tau = 0.3
    pooled_mask = mask.reshape(1, 1, B * H * W)

    def loop(x):
        pooled = x.permute(1, 0, 2, 3).reshape(1, D, 1, B * H * W)
        _, terms = ref.pixel_info_nce(pooled, pooled_mask, tau, positive=positive, anchors=anchors)
        return REDUCE[reduction](torch.stack(terms[0]))

    def ours(x):
        return vl.pixel_info_nce_loss(
            x,
            mask,
            temperature=tau,
            scope="batch",
            positive=positive,
            anchors=anchors,
            reduction=reduction,
        )

    value, (g,) = grads(ours, f)
    expected, (r,) = grads(loop, f)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(g, r)


def test_batch_scope_none_is_a_per_query_map():
    f, mask = _inputs()
    none = vl.pixel_info_nce_loss(f, mask, scope="batch", reduction="none")
    assert none.shape == (B, H, W)
    assert (none[mask.bool()] == 0).all() and (none[~mask.bool()] > 0).all()
    torch.testing.assert_close(
        none.sum(), vl.pixel_info_nce_loss(f, mask, scope="batch", reduction="sum")
    )
    torch.testing.assert_close(
        none[~mask.bool()].mean(), vl.pixel_info_nce_loss(f, mask, scope="batch")
    )


def focal_official(features, masks, temperature=0.1, dict_size=1000):
    """FOCAL's ``FOCAL.process(isTrain=True)`` loss with ``losses.info_nce`` (metric="cosine",
    explicit negatives, "unpaired"), re-expressed: per image, pristine queries (up to
    ``dict_size``) against forged negatives; positive logit = mean similarity to the other
    queries; mean over the images that have both classes (``torch.stack`` of an empty list
    raises when none has)."""
    fo = F.normalize(features.permute(0, 2, 3, 1), dim=3)
    losses = []
    for idx in range(fo.shape[0]):
        query = fo[idx][masks[idx] == 0]
        negative = fo[idx][masks[idx] == 1]
        if negative.size(0) == 0 or query.size(0) == 0:
            continue
        query = query[torch.randperm(query.size(0))[:dict_size]]
        negative = negative[torch.randperm(negative.size(0))[:dict_size]]
        q = F.normalize(query, dim=-1)
        n = F.normalize(negative, dim=-1)
        sim = q @ q.T
        off = (torch.ones_like(sim) - torch.eye(sim.shape[0])).bool()
        sim = sim.masked_select(off).view(sim.shape[0], -1)
        positive_logit = torch.mean(sim, dim=1, keepdim=True)
        logits = torch.cat([positive_logit, q @ n.T], dim=1)
        labels = torch.zeros(len(logits), dtype=torch.long)
        losses.append(F.cross_entropy(logits / temperature, labels))
    return torch.mean(torch.stack(losses).squeeze())


def test_matches_focal_official_code():
    f, mask = _inputs(seed=6)
    value, (g,) = grads(lambda x: vl.pixel_info_nce_loss(x, mask), f)
    expected, (r,) = grads(lambda x: focal_official(x, mask), f)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(g, r)
    # with max_samples above the class sizes the official 1,000 cap changes nothing
    torch.testing.assert_close(vl.pixel_info_nce_loss(f, mask, max_samples=1000), value)


def test_all_single_class_batch_is_zero_where_the_official_code_crashes():
    f = vectors(2, D, H, W).requires_grad_()
    mask = torch.zeros(2, H, W, dtype=torch.long)
    with pytest.raises(RuntimeError):
        focal_official(f, mask)
    for scope in ("image", "batch"):
        out = vl.pixel_info_nce_loss(f, mask, scope=scope)
        assert out.item() == 0.0
        assert_finite_graph(out, f)


def test_mean_exp_is_supcon_in_per_image():
    # Eq. (2) of FOCAL: -log(mean_j e^{l_j+} / sum_k e^{l_k}), the denominator over every key of
    # the image's dictionary (the J positives and the negatives). It is SupCon's L^in with the
    # image's pixels as samples; an earlier version of ours put only the mean positive
    # exponential in the denominator, which neither the paper nor the code does.
    f, mask = _inputs()
    ours = vl.pixel_info_nce_loss(f, mask, temperature=0.5, positive="mean_exp", anchors="both")
    per_image = []
    for b in range(B):
        x = f[b].reshape(D, -1).T[:, None, :]  # (H*W, 1 view, D)
        lab = mask[b].flatten()
        per_image.append(vl.supcon_loss(x, lab, temperature=0.5, variant="in"))
    torch.testing.assert_close(ours, torch.stack(per_image).mean())


def test_mean_exp_hand_value():
    # two pristine pixels along x, one forged along y: J = 1, so Eq. (2) is plain InfoNCE
    # log(1 + e^{-1/tau}); with three pristine pixels (J = 2 positives of logit 1/tau each) it
    # is -log(e^{1/tau} / (2 e^{1/tau} + 1)) = log 2 + log(1 + e^{-1/tau} / 2)
    f = torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]).reshape(1, 2, 1, 3)
    mask = torch.tensor([[[0, 0, 1]]])
    out = vl.pixel_info_nce_loss(f, mask, temperature=0.5, positive="mean_exp")
    torch.testing.assert_close(out.item(), math.log1p(math.exp(-2.0)))
    f = torch.tensor([[1.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]).reshape(1, 2, 1, 4)
    mask = torch.tensor([[[0, 0, 0, 1]]])
    out = vl.pixel_info_nce_loss(f, mask, temperature=0.5, positive="mean_exp")
    torch.testing.assert_close(out.item(), math.log(2.0) + math.log1p(math.exp(-2.0) / 2))


def test_hand_value():
    # two pristine pixels along x, one forged along y: positive logit 1/tau, negative 0
    f = torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]).reshape(1, 2, 1, 3)
    mask = torch.tensor([[[0, 0, 1]]])
    for tau in (1.0, 0.1):
        out = vl.pixel_info_nce_loss(f, mask, temperature=tau)
        torch.testing.assert_close(out.item(), math.log1p(math.exp(-1.0 / tau)))
    # anchors="both": the forged pixel has no positive and leaves the mean
    torch.testing.assert_close(
        vl.pixel_info_nce_loss(f, mask, temperature=1.0, anchors="both"),
        vl.pixel_info_nce_loss(f, mask, temperature=1.0),
    )


def test_image_scope_differs_from_batch_scope():
    f, mask = _inputs()
    assert not torch.allclose(
        vl.pixel_info_nce_loss(f, mask), vl.pixel_info_nce_loss(f, mask, scope="batch")
    )


def test_sample_per_class_takes_at_most_k_distinct_members_of_each_class():
    labels = forgery_mask(4, 6, 6, seed=9).flatten(1)
    index, taken = sample_per_class(labels, 5, torch.Generator().manual_seed(0))
    assert index.shape == taken.shape == (4, 10)
    for i in range(4):
        for cls, part in ((0, slice(0, 5)), (1, slice(5, 10))):
            idx = index[i, part][taken[i, part]]
            assert len(set(idx.tolist())) == len(idx) == min(5, int((labels[i] == cls).sum()))
            assert (labels[i, idx] == cls).all()


@pytest.mark.parametrize("scope", ["image", "batch"])
def test_max_samples_is_the_loss_on_the_sampled_pixels(scope):
    f = vectors(B, D, H, W, seed=3)
    mask = torch.zeros(B, H, W, dtype=torch.long)
    mask[:, :, :2] = 1  # 8 forged, 12 pristine pixels per image: 3 of each are sampled
    out = vl.pixel_info_nce_loss(
        f, mask, max_samples=3, scope=scope, generator=torch.Generator().manual_seed(7)
    )
    index, taken = sample_per_class(mask.flatten(1), 3, torch.Generator().manual_seed(7))
    assert taken.all()
    sub_f = torch.gather(f.flatten(2), 2, index[:, None].expand(-1, D, -1))[:, :, None]
    sub_mask = torch.gather(mask.flatten(1), 1, index)[:, None]
    torch.testing.assert_close(out, vl.pixel_info_nce_loss(sub_f, sub_mask, scope=scope))
    again = vl.pixel_info_nce_loss(
        f, mask, max_samples=3, scope=scope, generator=torch.Generator().manual_seed(7)
    )
    torch.testing.assert_close(out, again)


def test_batch_scope_none_with_max_samples_maps_back_to_pixels():
    f, mask = _inputs(seed=3)
    g = torch.Generator().manual_seed(1)
    none = vl.pixel_info_nce_loss(
        f, mask, scope="batch", max_samples=2, reduction="none", generator=g
    )
    assert none.shape == (B, H, W) and int((none > 0).sum()) == 2 * B
    assert (none[mask.bool()] == 0).all()


def test_mask_at_twice_the_resolution_is_area_averaged():
    f = vectors(2, D, 3, 3)
    big = forgery_mask(2, 6, 6, seed=8)
    fraction = F.avg_pool2d(big[:, None].double(), 2)[:, 0]
    torch.testing.assert_close(
        vl.pixel_info_nce_loss(f, big), vl.pixel_info_nce_loss(f, fraction > 0.5)
    )
    torch.testing.assert_close(
        vl.pixel_info_nce_loss(f, big[:, None].bool(), threshold=0.2),
        vl.pixel_info_nce_loss(f, fraction > 0.2),
    )


def test_single_class_image_contributes_nothing_to_the_image_mean():
    f, mask = _inputs()
    per_image = vl.pixel_info_nce_loss(f, mask, reduction="none")
    mask2 = mask.clone()
    mask2[0] = 1
    per_image2 = vl.pixel_info_nce_loss(f, mask2, reduction="none")
    assert per_image2[0] == 0
    torch.testing.assert_close(vl.pixel_info_nce_loss(f, mask2), per_image[1:].mean())


def test_a_lone_pristine_pixel_has_no_positive():
    f = vectors(1, D, 2, 2).requires_grad_()
    mask = torch.tensor([[[0, 1], [1, 1]]])
    out = vl.pixel_info_nce_loss(f, mask)
    assert out.item() == 0.0
    assert_finite_graph(out, f)
    assert vl.pixel_info_nce_loss(f, mask, anchors="both").item() > 0


BAD = [
    pytest.param({"scope": "pixel"}, "expected scope to be one of 'image', 'batch'", id="scope"),
    pytest.param(
        {"positive": "mean"},
        "expected positive to be one of 'mean_logit', 'mean_exp'",
        id="positive",
    ),
    pytest.param(
        {"anchors": "forged"}, "expected anchors to be one of 'pristine', 'both'", id="anchors"
    ),
    pytest.param(
        {"max_samples": 0},
        "expected max_samples to be None or an int >= 1, got 0",
        id="max-samples-zero",
    ),
    pytest.param(
        {"max_samples": 2.5},
        "expected max_samples to be None or an int >= 1",
        id="max-samples-float",
    ),
    pytest.param({"threshold": -0.1}, r"expected threshold in \[0, 1\)", id="threshold"),
]


@pytest.mark.parametrize("opts, match", BAD)
def test_bad_options(opts, match):
    f, mask = _inputs()
    with pytest.raises(ValueError, match=f"pixel_info_nce_loss: {match}"):
        vl.pixel_info_nce_loss(f, mask, **opts)
    with pytest.raises(ValueError, match=f"PixelInfoNCELoss: {match}"):
        vl.PixelInfoNCELoss(**opts)


def test_bad_shapes():
    f, mask = _inputs()
    with pytest.raises(ValueError, match=r"pixel_info_nce_loss: expected mask with batch size 3"):
        vl.pixel_info_nce_loss(f, mask[:2])
    with pytest.raises(ValueError, match="pixel_info_nce_loss: expected features to be 4-D"):
        vl.pixel_info_nce_loss(f[0], mask)
    with pytest.raises(TypeError, match="pixel_info_nce_loss: expected threshold to be a float"):
        vl.pixel_info_nce_loss(f, mask, threshold="half")
    # 0/255 masks (as read from PNG files) must be scaled to 0/1 first
    with pytest.raises(
        ValueError,
        match=r"expected mask values in \[0, 1\] \(1 = forged\), got "
        r"values in \[0, 255\]",
    ):
        vl.pixel_info_nce_loss(f, mask * 255)
